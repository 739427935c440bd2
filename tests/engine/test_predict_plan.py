"""predict's fast path for a Sequential (``Sequential._inference_plan``): after the first batch
has gone through ``Layer.__call__``, later batches call each layer's ``call`` directly. It must
give the same outputs, and step aside wherever ``__call__`` has work to do."""

import numpy as np
import pytest
import torch

from lamina import Input, Sequential, layers
from lamina.engine import layer as layer_module
from lamina.engine.layer import Layer, direct_inference_call
from lamina.utils import set_random_seed


@pytest.fixture
def call_counter(monkeypatch):
    """Counts Layer.__call__ invocations per layer name (the class attribute is wrapped, so
    every layer class still resolves ``__call__`` to it and stays eligible)."""
    counts: dict[str, int] = {}
    original = Layer.__call__

    def counting(self, *args, **kwargs):
        counts[self.name] = counts.get(self.name, 0) + 1
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Layer, "__call__", counting)
    return counts


def _mlp(features=6):
    return Sequential(
        [
            Input((features,)),
            layers.Dense(16, activation="relu", name="hidden"),
            layers.BatchNormalization(name="bn"),
            layers.Dropout(0.5, name="drop"),
            layers.Dense(3, activation="softmax", name="out"),
        ]
    )


def _reference(model, x, batch_size):
    """The outputs batch by batch through the model's full __call__."""
    with torch.inference_mode():
        parts = [
            model(torch.from_numpy(x[i : i + batch_size]), training=False)
            for i in range(0, len(x), batch_size)
        ]
    return torch.cat(parts).numpy()


def test_later_batches_skip_layer_call_and_give_the_same_outputs(call_counter):
    set_random_seed(0)
    model = _mlp()
    x = np.random.default_rng(0).normal(size=(50, 6)).astype("float32")
    y = np.random.default_rng(1).integers(0, 3, 50)
    model.compile("adam", "sparse_categorical_crossentropy")
    model.fit(x, y, epochs=2, verbose=0)  # moving statistics away from their start
    want = _reference(model, x, 8)
    call_counter.clear()
    got = model.predict(x, batch_size=8, verbose=0)  # 7 batches
    np.testing.assert_array_equal(got, want)
    # __call__ ran for the first batch only: once for the model, once per layer
    assert call_counter == {model.name: 1, "hidden": 1, "bn": 1, "drop": 1, "out": 1}


def test_predict_restores_training_mode_and_dropout_stays_off():
    model = _mlp()
    model.train()
    x = np.ones((20, 6), "float32")
    out = model.predict(x, batch_size=4, verbose=0)
    np.testing.assert_allclose(out, np.repeat(out[:1], 20, axis=0), rtol=1e-6)  # no dropout
    assert model.training


def test_a_batch_of_another_shape_goes_through_call_and_its_checks():
    model = Sequential([Input((4,)), layers.Dense(2)])

    def batches():
        yield np.ones((3, 4), "float32")
        yield np.ones((3, 4), "float32")
        yield np.ones((3, 5), "float32")  # not what the model was built for

    with pytest.raises(ValueError, match=r"expects inputs of shape \(None, 4\)"):
        model.predict(batches(), verbose=0)


def test_sequences_of_another_length_give_what_calling_the_model_gives():
    set_random_seed(0)
    model = Sequential([Input((None, 3)), layers.GlobalAveragePooling1D(), layers.Dense(2)])
    rng = np.random.default_rng(0)
    first, second = rng.normal(size=(4, 5, 3)), rng.normal(size=(4, 7, 3))
    first, second = first.astype("float32"), second.astype("float32")

    def batches():
        yield first
        yield first
        yield second

    got = model.predict(batches(), verbose=0)
    with torch.inference_mode():
        want = np.concatenate(
            [model(torch.from_numpy(b), training=False).numpy() for b in (first, first, second)]
        )
    np.testing.assert_allclose(got, want, rtol=1e-6)


def test_forward_hooks_fire_for_every_batch():
    model = _mlp()
    seen = []
    model.layers[0].register_forward_hook(lambda mod, args, out: seen.append(out.shape[0]))
    model.predict(np.zeros((20, 6), "float32"), batch_size=8, verbose=0)
    assert seen == [8, 8, 4]


def test_layers_with_masks_keep_them_in_predict():
    # Embedding(mask_zero=True) computes a mask the LSTM must see: no fast path there.
    set_random_seed(0)
    model = Sequential(
        [Input((6,), dtype="int32"), layers.Embedding(20, 4, mask_zero=True), layers.LSTM(3)]
    )
    x = np.array([[3, 4, 0, 0, 0, 0], [3, 4, 5, 6, 0, 0]] * 6, dtype="int32")
    got = model.predict(x, batch_size=4, verbose=0)
    # padding ignored: the sequence [3, 4] gives the same output whatever zeros follow it
    short = model.predict(np.array([[3, 4]] * 4, dtype="int32"), verbose=0)
    np.testing.assert_allclose(got[0], short[0], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(got, _reference(model, x, 4), rtol=1e-6)


def test_losses_added_in_call_are_not_collected_across_batches():
    class Penalised(layers.Dense):
        def call(self, inputs):
            out = super().call(inputs)
            self.add_loss(out.abs().mean())
            return out

    model = Sequential([Input((3,)), Penalised(2)])
    model.predict(np.ones((12, 3), "float32"), batch_size=2, verbose=0)  # 6 batches
    assert len(model.losses) == 1


def test_direct_inference_call_refuses_what_call_must_handle():
    dense = layers.Dense(2)
    assert direct_inference_call(dense) is None  # not built
    dense.build((None, 3))
    assert direct_inference_call(dense) is not None
    dense.activity_regularizer = lambda t: t.sum()
    assert direct_inference_call(dense) is None
    dense.activity_regularizer = None
    handle = dense.register_forward_pre_hook(lambda mod, args: None)
    assert direct_inference_call(dense) is None
    handle.remove()
    emb = layers.Embedding(5, 2)
    emb.build((None, 4))
    assert direct_inference_call(emb) is None  # computes an output mask
    drop = layers.Dropout(0.5)
    ones = torch.ones(4, 4)
    drop(ones)  # the first call builds
    step = direct_inference_call(drop)
    assert torch.equal(step(ones), ones)  # training=False is passed


def test_a_sequential_subclass_with_its_own_call_is_left_alone():
    class Doubled(Sequential):
        def call(self, inputs, training=None):
            return super().call(inputs, training=training) * 2

    model = Doubled([Input((3,)), layers.Dense(2)])
    x = np.random.default_rng(0).normal(size=(10, 3)).astype("float32")
    assert model._inference_plan(torch.from_numpy(x[:2])) is None
    got = model.predict(x, batch_size=3, verbose=0)
    with torch.inference_mode():
        want = model.layers[0](torch.from_numpy(x)).numpy() * 2
    np.testing.assert_allclose(got, want, rtol=1e-6)


def test_call_state_depth_is_back_to_zero_after_a_failing_batch():
    class Boom(Layer):
        def call(self, inputs):
            if inputs.shape[0] == 1:
                raise RuntimeError("boom")
            return inputs

    model = Sequential([Input((2,)), Boom()])
    with pytest.raises(RuntimeError, match="boom"):
        model.predict(np.ones((5, 2), "float32"), batch_size=2, verbose=0)  # 2, 2, then 1
    assert layer_module._CALL_STATE.depth == 0


def test_every_batch_gets_training_false():
    seen = []

    class Records(Layer):
        def call(self, inputs, training=None):
            seen.append(training)
            return inputs

    model = Sequential([Input((2,)), Records()])
    seen.clear()  # (building from the Input ran `call` once on a placeholder)
    model.predict(np.ones((9, 2), "float32"), batch_size=2, verbose=0)
    assert seen == [False] * 5


def test_outputs_buffer_keeps_a_batch_of_another_dtype_exact():
    from lamina.engine.trainer import _Outputs

    collector = _Outputs(4)
    collector.add(torch.ones(2, 2))
    collector.add(torch.full((2, 2), 1 / 3, dtype=torch.float64))  # not squeezed into float32
    got = collector.result()
    assert got.dtype == np.float64
    np.testing.assert_array_equal(got[2:], np.full((2, 2), 1 / 3))
    np.testing.assert_array_equal(got[:2], np.ones((2, 2)))
