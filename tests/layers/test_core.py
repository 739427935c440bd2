import numpy as np
import pytest
import torch
from helpers import check_layer

import lamina
from lamina import layers, regularizers


def test_dense_matches_formula_and_keras_layout():
    layer = check_layer(layers.Dense, {"units": 3, "activation": "tanh"}, (4, 5), (4, 3), 18)
    kernel, bias = layer.get_weights()
    assert kernel.shape == (5, 3) and bias.shape == (3,)
    x = torch.randn(4, 5)
    expected = np.tanh(x.numpy() @ kernel + bias)
    np.testing.assert_allclose(layer(x).detach().numpy(), expected, rtol=1e-5, atol=1e-6)


def test_dense_on_sequences_applies_to_last_axis():
    check_layer(layers.Dense, {"units": 2}, (3, 7, 4), (3, 7, 2), 10)


def test_dense_glorot_uniform_bounds_and_zero_bias():
    layer = layers.Dense(300)
    layer(torch.zeros(1, 200))
    limit = (6 / (200 + 300)) ** 0.5
    kernel, bias = layer.get_weights()
    assert np.abs(kernel).max() <= limit
    assert np.abs(kernel).max() > 0.9 * limit  # actually spans the range
    assert not bias.any()


def test_dense_without_bias_and_regularizer_loss():
    layer = layers.Dense(2, use_bias=False, kernel_regularizer=regularizers.l2(0.5))
    layer(torch.zeros(1, 3))
    assert len(layer.get_weights()) == 1
    (kernel,) = layer.get_weights()
    (penalty,) = layer.losses
    assert float(penalty.detach()) == pytest.approx(0.5 * (kernel**2).sum(), rel=1e-5)


def test_dense_shape_mismatch_names_the_layer():
    layer = layers.Dense(2, name="hidden")
    layer(torch.zeros(1, 3))
    with pytest.raises(ValueError, match=r"'hidden'.*\(None, 3\).*\(None, 4\)"):
        layer(torch.zeros(2, 4))


def test_dense_rejects_bad_units_and_unknown_activation():
    with pytest.raises(ValueError, match="positive integer"):
        layers.Dense(0)
    with pytest.raises(ValueError, match="Did you mean 'relu'"):
        layers.Dense(3, activation="rellu")


def test_dense_constraint_applied():
    from lamina.constraints import NonNeg

    layer = layers.Dense(4, kernel_constraint=NonNeg())
    layer(torch.zeros(1, 3))
    with torch.no_grad():
        layer.kernel.fill_(-1.0)
    layer._apply_constraints()
    assert float(layer.kernel.detach().min()) == 0.0


def test_activation_layer():
    check_layer(layers.Activation, {"activation": "relu"}, (2, 3), (2, 3), 0)
    out = layers.Activation("softmax")(torch.tensor([[1.0, 2.0, 3.0]]))
    e = np.exp([1.0, 2.0, 3.0])
    np.testing.assert_allclose(out.numpy()[0], e / e.sum(), rtol=1e-6)


def test_dropout_scales_and_is_identity_at_inference():
    check_layer(layers.Dropout, {"rate": 0.5}, (8, 16), (8, 16), 0, stochastic=True)
    layer = layers.Dropout(0.25)
    out = layer(torch.ones(200, 200), training=True)
    kept = out != 0
    assert torch.allclose(out[kept], torch.full_like(out[kept], 1 / 0.75))
    assert abs(kept.float().mean().item() - 0.75) < 0.01
    with pytest.raises(ValueError, match=r"\[0, 1\)"):
        layers.Dropout(1.5)


def test_dropout_noise_shape_shares_mask():
    out = layers.Dropout(0.5, noise_shape=(None, 1, 4))(torch.ones(3, 5, 4), training=True)
    assert torch.equal(out, out[:, :1, :].expand_as(out))


def test_flatten_reshape_permute_repeat():
    check_layer(layers.Flatten, {}, (2, 3, 4), (2, 12), 0)
    x = torch.arange(24.0).reshape(2, 3, 4)
    np.testing.assert_array_equal(layers.Flatten()(x).numpy(), x.numpy().reshape(2, 12))
    check_layer(layers.Reshape, {"target_shape": (4, 3)}, (2, 12), (2, 4, 3), 0)
    check_layer(layers.Reshape, {"target_shape": (-1, 2)}, (2, 12), (2, 6, 2), 0)
    with pytest.raises(ValueError, match="cannot reshape"):
        layers.Reshape((5, 5))(layers.Input((12,)))
    check_layer(layers.Permute, {"dims": (2, 1)}, (2, 3, 4), (2, 4, 3), 0)
    check_layer(layers.RepeatVector, {"n": 3}, (2, 4), (2, 3, 4), 0)


def test_lambda_layer_and_identity():
    out = layers.Lambda(lambda x: x**2)(torch.tensor([[2.0]]))
    assert float(out) == 4.0
    assert layers.Identity()(torch.ones(1)).item() == 1.0


def test_activity_regularization_adds_loss():
    layer = layers.ActivityRegularization(l1=0.1)
    layer(torch.ones(2, 3))
    (loss,) = layer.losses
    assert float(loss) == pytest.approx(0.1 * 6 / 2)


def test_torch_module_wrapper_trains_inside_model():
    model = lamina.Sequential([layers.Input((4,)), torch.nn.Linear(4, 1)])
    assert model.count_params() == 5
    model.compile(optimizer="sgd", loss="mse")
    before = model.get_weights()[0].copy()
    model.fit(np.ones((8, 4), "float32"), np.zeros((8, 1), "float32"), verbose=0)
    assert not np.allclose(before, model.get_weights()[0])


def test_input_layer_shapes_and_dtype():
    x = layers.Input((None,), dtype="int32")
    assert x.shape == (None, None) and x.dtype == "int32"
    with pytest.raises(ValueError, match="needs a `shape`"):
        layers.Input()


def test_set_weights_checks_count_and_shapes():
    layer = layers.Dense(2)
    layer(torch.zeros(1, 3))
    with pytest.raises(ValueError, match="expects 2 weight arrays"):
        layer.set_weights([np.zeros((3, 2))])
    with pytest.raises(ValueError, match=r"shape \(3, 2\).*\(2, 3\)"):
        layer.set_weights([np.zeros((2, 3)), np.zeros(2)])


def test_trainable_false_freezes_weights():
    layer = layers.Dense(2)
    layer(torch.zeros(1, 3))
    layer.trainable = False
    assert layer.trainable_weights == [] and len(layer.non_trainable_weights) == 2
    layer.trainable = True
    assert len(layer.trainable_weights) == 2


def test_layers_get_suggests_names():
    assert layers.get("Dense") is layers.Dense
    with pytest.raises(ValueError, match="Did you mean 'Dense'"):
        layers.get("Dence")


@pytest.mark.parametrize("rate", [0.1, 0.3, 0.5, 0.9, 0.25, 0.75, 0.125, 1 / 256])
def test_fast_dropout_masks_have_the_right_statistics(rate):
    from lamina.layers._dropout import dropout_mask

    torch.manual_seed(1)
    mask = dropout_mask((400, 500), rate, torch.float32, torch.device("cpu"))
    kept = (mask > 0).float()
    assert abs(kept.mean().item() - (1 - rate)) < 0.005
    torch.testing.assert_close(mask[mask > 0], torch.full_like(mask[mask > 0], 1 / (1 - rate)))
    # Neighbouring elements (which share a 64-bit random word) are independent.
    a, b = kept[:, :-1].flatten(), kept[:, 1:].flatten()
    corr = torch.corrcoef(torch.stack([a, b]))[0, 1].item()
    assert abs(corr) < 0.01
    # The expected value of dropout(x) is x.
    x = torch.ones(200, 200)
    assert abs(layers.Dropout(rate)(x, training=True).mean().item() - 1) < 0.05


@pytest.mark.parametrize(
    "rate, bits",
    [(0.5, 1), (0.25, 2), (0.75, 2), (0.125, 4), (3 / 16, 4), (1 / 256, 8), (0.2, 16)],
)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16])
def test_dropout_masks_decide_each_element_from_its_own_bits(monkeypatch, rate, bits, dtype):
    """The mask is a function of the random words: for a rate k / 2**b (b <= 8) element i keeps
    when its b-bit field is >= k, otherwise when its 16-bit slice is >= the threshold; checked
    against the same rule written with numpy on the same words. (A float32 mask at rate 0.5
    takes bits 0-30 of each 32-bit word, 31 elements a word.)"""
    from lamina.layers import _dropout

    words = torch.randint(-(2**63), 2**63 - 1, (4096,), dtype=torch.int64)
    threshold = round(-32768 + rate * 65536)
    edges = [threshold - 1, threshold, threshold + 1, -32768, 32767]
    words.view(torch.int16)[: len(edges)] = torch.tensor(edges, dtype=torch.int16)
    monkeypatch.setattr(_dropout, "_random_words", lambda count, *_: words[:count])
    shape = (37, 29)  # not a multiple of a word's fields
    n = shape[0] * shape[1]
    mask = _dropout.dropout_mask(shape, rate, dtype, torch.device("cpu"))
    assert mask.dtype == dtype and mask.shape == shape
    raw = words.numpy().view(np.uint32 if bits < 16 else np.uint16)
    if bits == 1 and dtype == torch.float32:
        fields = (raw[:, None] >> np.arange(0, 31, dtype=np.uint32)) & 1
        keep = fields.reshape(-1)[:n] >= 1
    elif bits < 16:
        fields = (raw[:, None] >> np.arange(0, 32, bits, dtype=np.uint32)) & ((1 << bits) - 1)
        keep = fields.reshape(-1)[:n] >= round(rate * (1 << bits))
    else:
        signed = raw.view(np.int16)[:n]
        keep = signed >= threshold
    scale = torch.tensor(1 / (1 - rate), dtype=dtype)
    expected = torch.from_numpy(keep.reshape(shape)).to(dtype) * scale
    assert torch.equal(mask, expected)


def test_dropout_mask_extreme_rates_on_the_slice_path():
    from lamina.layers._dropout import dropout_mask

    cpu = torch.device("cpu")
    kept = dropout_mask((100, 100), 1e-7, torch.float32, cpu)  # below 16-bit resolution
    assert torch.equal(kept, torch.full((100, 100), 1 / (1 - 1e-7)))
    dropped = dropout_mask((100, 100), 1 - 1e-7, torch.float32, cpu)
    assert not dropped.any()


def test_dropout_is_reproducible_with_a_seed():
    layer = layers.Dropout(0.5)
    lamina.utils.set_random_seed(3)
    a = layer(torch.ones(10, 10), training=True)
    lamina.utils.set_random_seed(3)
    b = layer(torch.ones(10, 10), training=True)
    assert torch.equal(a, b)


def test_dense_inference_weight_cache_follows_every_change_of_the_kernel():
    """predict uses a cached (out, in) copy of the kernel; it must never be stale."""
    model = lamina.Sequential([layers.Dense(3, input_shape=(4,))])
    model.compile("sgd", "mse")
    x = np.random.default_rng(0).normal(size=(8, 4)).astype("float32")

    def expected():
        kernel, bias = model.layers[0].get_weights()
        return x @ kernel + bias

    np.testing.assert_allclose(model.predict(x, verbose=0), expected(), rtol=1e-5, atol=1e-6)
    model.fit(x, np.ones((8, 3), "float32"), epochs=1, verbose=0)  # in-place optimizer update
    np.testing.assert_allclose(model.predict(x, verbose=0), expected(), rtol=1e-5, atol=1e-6)
    kernel, bias = model.layers[0].get_weights()
    model.layers[0].set_weights([kernel * 2, bias])
    np.testing.assert_allclose(model.predict(x, verbose=0), expected(), rtol=1e-5, atol=1e-6)
    with torch.no_grad():
        model.layers[0].kernel.mul_(-1)
    np.testing.assert_allclose(model.predict(x, verbose=0), expected(), rtol=1e-5, atol=1e-6)
    assert "_inference_cache" not in "".join(model.state_dict())


@pytest.mark.parametrize("use_bias", [True, False])
@pytest.mark.parametrize("activation", [None, "relu"])
def test_dense_trains_through_one_product_node_with_the_kernel_as_it_is(use_bias, activation):
    """For a batch of vectors the training forward pass is one addmm / mm on the (in, out)
    kernel, with no transposed views in the graph (relu applied in place on the product);
    values and gradients match the formulas, in training and in inference."""
    layer = layers.Dense(3, use_bias=use_bias, activation=activation)
    x = torch.randn(5, 4, dtype=torch.float64)
    layer(x.float())
    layer.to(torch.float64)
    kernel = layer.kernel.detach()
    pre = x @ kernel + (layer.bias.detach() if use_bias else 0)
    act = pre.relu() if activation else pre
    out = layer(x)
    node = out.grad_fn
    if activation:
        assert node.name() == "ReluBackward0"
        node = node.next_functions[0][0]
    assert node.name() == ("AddmmBackward0" if use_bias else "MmBackward0")
    leaves = [f for f, _ in node.next_functions if f is not None]
    assert all(f.name() == "torch::autograd::AccumulateGrad" for f in leaves)
    torch.testing.assert_close(out, act)
    g = torch.randn(5, 3, dtype=torch.float64)
    out.backward(g)
    g_pre = g * (pre > 0) if activation else g
    torch.testing.assert_close(layer.kernel.grad, x.T @ g_pre)
    if use_bias:
        torch.testing.assert_close(layer.bias.grad, g_pre.sum(0))
    with torch.inference_mode():
        torch.testing.assert_close(layer(x), act)
    # sequences keep the general path
    seq = torch.randn(2, 6, 4, dtype=torch.float64)
    expected = seq @ kernel + (layer.bias.detach() if use_bias else 0)
    torch.testing.assert_close(layer(seq), expected.relu() if activation else expected)


@pytest.mark.parametrize(
    ("n_in", "units", "stored_transposed"),
    [
        (512, 10, True),
        (64, 2, True),
        (784, 11, True),
        (512, 1, False),
        (512, 12, False),
        (32, 10, False),
        (784, 512, False),
    ],  # fmt: skip
)
def test_small_dense_kernels_are_stored_transposed_with_the_same_values(
    n_in, units, stored_transposed, monkeypatch
):
    """2 to 11 units on 64+ inputs: the (in, units) kernel lives in memory as (units, in), where
    MKL's products are several times faster (bench/dense_layout.py); shape, values, Keras
    weights and initialisation are those of the default layout."""
    from lamina.layers import core

    torch.manual_seed(0)
    layer = layers.Dense(units)
    layer.build((None, n_in))
    monkeypatch.setattr(core, "_store_kernel_transposed", lambda n_in, units: False)
    torch.manual_seed(0)
    plain = layers.Dense(units)
    plain.build((None, n_in))
    assert layer.kernel.shape == plain.kernel.shape == (n_in, units)
    assert layer.kernel.stride() == ((1, n_in) if stored_transposed else (units, 1))
    assert plain.kernel.stride() == (units, 1)
    assert torch.equal(layer.kernel, plain.kernel)
    kernel, _ = layer.get_weights()
    assert kernel.flags["C_CONTIGUOUS"] and kernel.shape == (n_in, units)
    np.testing.assert_array_equal(kernel, plain.get_weights()[0])
    with torch.no_grad():
        layer.bias.uniform_(-1, 1)
        layer.kernel.mul_(-3)  # in place: inference must see it (no stale copy of the kernel)
    x = torch.randn(6, n_in, dtype=torch.float64)
    want = x @ layer.kernel.detach().double() + layer.bias.detach().double()
    for mode in (torch.enable_grad, torch.inference_mode):
        with mode():
            torch.testing.assert_close(layer(x.float()).double(), want, rtol=1e-5, atol=1e-5)


def test_a_transposed_kernel_trains_saves_and_loads_like_the_default_layout(tmp_path, monkeypatch):
    """The same model with the kernel stored transposed and stored (in, out) follows the same
    training trajectory (gradients land in the parameter's layout, the fused optimizer step
    runs on it), and a saved model loads back into the transposed layout."""
    from lamina.layers import core
    from lamina.optimizers import kernels

    rng = np.random.default_rng(0)
    x = rng.normal(size=(256, 96)).astype("float32")
    y = lamina.utils.to_categorical((x[:, :4].sum(1) > 0).astype(int) + 2 * (x[:, 4] > 0), 4)

    def make():
        model = lamina.Sequential([layers.Input((96,)), layers.Dense(4, activation="softmax")])
        opt = lamina.optimizers.RMSprop(learning_rate=0.02)
        model.compile(opt, "categorical_crossentropy", metrics=["accuracy"])
        return model

    fused_calls = []
    fused = kernels._FUSED_ADAGRAD
    monkeypatch.setattr(
        kernels, "_FUSED_ADAGRAD", lambda *a, **k: fused_calls.append(1) or fused(*a, **k)
    )
    ours = make()
    with monkeypatch.context() as m:
        m.setattr(core, "_store_kernel_transposed", lambda n_in, units: False)
        plain = make()
    plain.set_weights(ours.get_weights())
    assert ours.layers[0].kernel.stride() == (1, 96)
    history = ours.fit(x, y, batch_size=32, epochs=5, verbose=0, shuffle=False)
    steps = len(fused_calls)
    plain.fit(x, y, batch_size=32, epochs=5, verbose=0, shuffle=False)
    assert steps == 40 and len(fused_calls) == 80
    assert ours.layers[0].kernel.stride() == (1, 96)
    for a, b in zip(ours.get_weights(), plain.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)
    assert history.history["accuracy"][-1] > 0.8
    path = tmp_path / "m.lamina"
    ours.save(path)
    loaded = lamina.models.load_model(path)
    assert loaded.layers[0].kernel.stride() == (1, 96)
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), ours.predict(x, verbose=0))
    for a, b in zip(loaded.get_weights(), ours.get_weights()):
        np.testing.assert_array_equal(a, b)
