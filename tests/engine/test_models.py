import numpy as np
import pytest
import torch

import lamina
from lamina import Input, Model, Sequential, layers


def test_sequential_add_pop_and_list_constructor():
    model = Sequential(name="seq")
    model.add(layers.Dense(8, activation="relu", input_shape=(4,)))
    model.add(layers.Dense(2))
    assert model.output_shape == (None, 2) and model.count_params() == 40 + 18
    popped = model.pop()
    assert isinstance(popped, layers.Dense) and model.output_shape == (None, 8)
    model2 = Sequential([Input((4,)), layers.Dense(3)])
    assert model2.layers[0].name.startswith("dense") and model2.count_params() == 15


def test_sequential_builds_lazily_on_first_call():
    model = Sequential([layers.Dense(5), layers.Dense(1)])
    assert not model.built
    out = model(torch.zeros(2, 7))
    assert out.shape == (2, 1) and model.built
    assert model.count_params() == 7 * 5 + 5 + 6
    assert model.output_shape == (None, 1)


def test_sequential_rejects_duplicate_names_and_non_layers():
    model = Sequential([layers.Dense(2, name="a", input_shape=(3,))])
    with pytest.raises(ValueError, match="unique names"):
        model.add(layers.Dense(2, name="a"))
    with pytest.raises(TypeError, match="takes a layer"):
        model.add("dense")


def test_sequential_add_with_incompatible_shape_names_layer_and_keeps_model():
    model = Sequential([layers.Input((4, 5)), layers.Flatten()])
    with pytest.raises(ValueError, match=r"'bad'.*rank"):
        model.add(layers.Permute((2, 1), name="bad"))
    assert len(model.layers) == 1


def test_functional_dag_multiple_inputs_outputs_shared_layer():
    a, b = Input((4,), name="a"), Input((4,), name="b")
    shared = layers.Dense(3, name="shared")
    merged = layers.Concatenate()([shared(a), shared(b)])
    out1 = layers.Dense(1, name="out1")(merged)
    out2 = layers.Dense(2, activation="softmax", name="out2")(merged)
    model = Model([a, b], [out1, out2])
    assert model.output_names == ["out1", "out2"]
    assert model.count_params() == 15 + 7 + 14
    xa, xb = torch.randn(5, 4), torch.randn(5, 4)
    y1, y2 = model([xa, xb])
    assert y1.shape == (5, 1) and y2.shape == (5, 2)
    # The shared layer is one set of weights applied twice.
    ref = torch.cat([shared(xa), shared(xb)], -1)
    torch.testing.assert_close(y1, model.get_layer("out1")(ref))
    # Inputs can be given by name.
    y1b, _ = model({"a": xa, "b": xb})
    torch.testing.assert_close(y1, y1b)


def test_functional_graph_disconnected_error():
    a, b = Input((2,)), Input((2,))
    out = layers.Add()([a, b])
    with pytest.raises(ValueError, match="Graph disconnected"):
        Model(a, out)


def test_functional_inputs_must_be_symbolic():
    with pytest.raises(TypeError, match="symbolic tensors"):
        Model(torch.zeros(1), torch.zeros(1))


def test_nested_model_as_layer():
    inner = Sequential([layers.Dense(4, input_shape=(3,)), layers.Dense(2)], name="inner")
    x = Input((3,))
    outer = Model(x, layers.Dense(1)(inner(x)))
    assert outer.output_shape == (None, 1)
    assert outer.count_params() == inner.count_params() + 3
    assert outer(torch.zeros(2, 3)).shape == (2, 1)


def test_subclassed_model_trains():
    class Net(Model):
        def __init__(self, units=8):
            super().__init__()
            self.units = units
            self.hidden = layers.Dense(units, activation="relu")
            self.out = layers.Dense(1)

        def call(self, x):
            return self.out(self.hidden(x))

    net = Net()
    net.compile(optimizer="adam", loss="mse")
    x = np.random.rand(64, 3).astype("float32")
    y = x.sum(1, keepdims=True)
    hist = net.fit(x, y, epochs=30, batch_size=16, verbose=0)
    assert hist.history["loss"][-1] < hist.history["loss"][0] * 0.5
    assert len(net.layers) == 2 and net.count_params() == 3 * 8 + 8 + 9


def test_symbolic_arithmetic_gives_helpful_error():
    x = Input((2,))
    with pytest.raises(TypeError, match="layers.Add"):
        x + x


def test_get_config_round_trip_functional_and_sequential():
    x = Input((4,), name="inp")
    h = layers.Dense(3, activation="relu")(x)
    model = Model(x, [layers.Dense(1)(h), layers.Dense(2)(h)])
    clone = Model.from_config(model.get_config())
    clone.set_weights(model.get_weights())
    data = torch.randn(3, 4)
    for a, b in zip(model(data), clone(data)):
        torch.testing.assert_close(a, b)
    seq = Sequential([layers.Dense(2, input_shape=(3,)), layers.Dropout(0.1)])
    seq2 = Sequential.from_config(seq.get_config())
    assert [type(layer) for layer in seq2.layers] == [layers.Dense, layers.Dropout]
    assert seq2.output_shape == (None, 2)


def test_summary_totals_match_keras_counts(capsys):
    model = Sequential(
        [
            layers.Dense(512, activation="relu", input_shape=(784,)),
            layers.Dropout(0.5),
            layers.Dense(10, activation="softmax"),
        ]
    )
    model.summary()
    out = capsys.readouterr().out
    assert "Total params: 407,050" in out
    assert "Trainable params: 407,050" in out
    assert "Non-trainable params: 0" in out
    model.layers[0].trainable = False
    model.summary()
    out = capsys.readouterr().out
    assert "Trainable params: 5,130" in out and "Non-trainable params: 401,920" in out


def test_top_level_names():
    assert lamina.Sequential is lamina.models.Sequential
    assert lamina.Model is lamina.models.Model
    assert lamina.Input is lamina.layers.Input
    for module in ("optimizers", "losses", "metrics", "callbacks", "regularizers", "utils"):
        assert getattr(lamina, module) is not None


def test_layer_calls_honour_torch_module_hooks():
    """Layers skip nn.Module.__call__ when no hook is registered; with hooks (on the layer, or
    global ones) every hook still runs, in fit and predict alike."""
    model = Sequential([Input((4,)), layers.Dense(3, activation="relu"), layers.Dense(2)])
    seen = []
    handle = model.layers[0].register_forward_hook(lambda m, i, o: seen.append(tuple(o.shape)))
    pre = model.layers[1].register_forward_pre_hook(lambda m, args: (args[0] * 0,))
    out = model.predict(np.ones((5, 4), np.float32), batch_size=5, verbose=0)
    assert seen == [(5, 3)]
    # the pre-hook replaced the second layer's input with zeros: output = its bias (zeros)
    np.testing.assert_array_equal(out, np.zeros((5, 2), np.float32))
    handle.remove()
    pre.remove()
    calls = []
    glob = torch.nn.modules.module.register_module_forward_hook(
        lambda m, i, o: calls.append(type(m).__name__)
    )
    try:
        model.predict(np.ones((2, 4), np.float32), verbose=0)
    finally:
        glob.remove()
    assert calls.count("Dense") == 2
    model.predict(np.ones((2, 4), np.float32), verbose=0)
    assert seen == [(5, 3)]  # removed hooks stay removed
