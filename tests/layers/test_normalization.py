"""BatchNormalization and LayerNormalization against the formulas, PyTorch's modules and
Keras's update rules (moving = moving * momentum + batch * (1 - momentum), biased variance)."""

import numpy as np
import pytest
import torch
from helpers import check_layer
from torch import nn

import lamina
from lamina.layers.core import Dense
from lamina.layers.normalization import BatchNormalization, LayerNormalization


def np_bn_train(x, gamma, beta, eps, axis=-1):
    axes = tuple(i for i in range(x.ndim) if i != axis % x.ndim)
    mean = x.mean(axis=axes, keepdims=True)
    var = x.var(axis=axes, keepdims=True)  # biased (ddof=0), as Keras
    shape = [1] * x.ndim
    shape[axis] = -1
    out = (x - mean) / np.sqrt(var + eps) * gamma.reshape(shape) + beta.reshape(shape)
    return out, mean.reshape(-1), var.reshape(-1)


def _bn_with_random_weights(rng, channels, **kwargs):
    bn = BatchNormalization(**kwargs)
    return bn, [
        rng.standard_normal(channels).astype("float32"),
        rng.standard_normal(channels).astype("float32"),
        rng.standard_normal(channels).astype("float32"),
        (rng.random(channels) + 0.5).astype("float32"),
    ]


@pytest.mark.parametrize("shape, axis", [((16, 5), -1), ((4, 6, 5), -1), ((3, 5, 4, 6), 1)])
def test_batchnorm_training_output_and_moving_stats(shape, axis):
    rng = np.random.default_rng(0)
    channels = shape[axis]
    bn, weights = _bn_with_random_weights(rng, channels, axis=axis, momentum=0.9)
    bn(torch.zeros(shape))
    bn.set_weights(weights)
    gamma, beta, moving_mean, moving_var = (w.astype("float64") for w in weights)
    for _ in range(2):
        x = (rng.standard_normal(shape) * 3 + 1).astype("float32")
        out = bn(torch.from_numpy(x), training=True).detach().numpy()
        expected, mean, var = np_bn_train(x.astype("float64"), gamma, beta, 1e-3, axis)
        np.testing.assert_allclose(out, expected, rtol=1e-4, atol=1e-4)
        moving_mean = moving_mean * 0.9 + mean * 0.1
        moving_var = moving_var * 0.9 + var * 0.1
        got = bn.get_weights()
        np.testing.assert_allclose(got[2], moving_mean, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(got[3], moving_var, rtol=1e-5, atol=1e-6)
    # Inference uses the moving statistics and leaves them alone.
    x = rng.standard_normal(shape).astype("float32")
    out = bn(torch.from_numpy(x)).detach().numpy()
    bshape = [1] * len(shape)
    bshape[axis] = -1
    expected = (x - moving_mean.reshape(bshape)) / np.sqrt(moving_var.reshape(bshape) + 1e-3)
    expected = expected * gamma.reshape(bshape) + beta.reshape(bshape)
    np.testing.assert_allclose(out, expected, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(bn.get_weights()[3], moving_var, rtol=1e-5)


def test_batchnorm_against_torch_batchnorm():
    # Same normalization in both modes; PyTorch's running variance is the unbiased one and its
    # momentum is 1 - Keras's, so the moving variance differs by exactly n / (n - 1).
    x = torch.randn(8, 4) * 2 + 3
    ours = BatchNormalization(momentum=0.99, epsilon=1e-3)
    theirs = nn.BatchNorm1d(4, eps=1e-3, momentum=0.01)
    out = ours(x, training=True)
    torch.testing.assert_close(out, theirs(x), rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(ours.moving_mean, theirs.running_mean)
    batch_var = x.var(0, unbiased=False)
    torch.testing.assert_close(ours.moving_variance, 0.99 + 0.01 * batch_var)
    torch.testing.assert_close(theirs.running_var, 0.99 + 0.01 * batch_var * 8 / 7)
    theirs.eval()
    theirs.running_var.copy_(ours.moving_variance)
    torch.testing.assert_close(ours(x), theirs(x), rtol=1e-5, atol=1e-5)


def test_batchnorm_params_and_check_layer():
    layer = check_layer(BatchNormalization, {}, (8, 5), (8, 5), 20, expected_trainable=10)
    assert [w.shape for w in layer.get_weights()] == [(5,)] * 4
    assert {n for n, _ in layer.named_parameters()} == {"gamma", "beta"}
    assert {n for n, _ in layer.named_buffers()} == {"moving_mean", "moving_variance"}
    assert len(layer.non_trainable_weights) == 2
    check_layer(BatchNormalization, {"axis": 1, "center": False}, (4, 3, 5, 5), (4, 3, 5, 5), 9)
    model = lamina.Sequential([Dense(4, input_shape=(3,)), BatchNormalization()])
    assert model.count_params() == 16 + 16
    assert sum(w.numel() for w in model.trainable_weights) == 16 + 8


def test_batchnorm_frozen_runs_in_inference_mode_even_in_fit():
    # Keras 3: trainable=False makes BatchNormalization use (and keep) its moving statistics.
    bn = BatchNormalization()
    x = torch.randn(16, 3) * 5 + 2
    bn(x)
    bn.trainable = False
    before = [w.copy() for w in bn.get_weights()]
    torch.testing.assert_close(bn(x, training=True), bn(x, training=False))
    model = lamina.Sequential([bn, Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    model.fit(x.numpy(), np.ones((16, 1), "float32"), epochs=2, batch_size=8, verbose=0)
    for a, b in zip(before, bn.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert sum(w.numel() for w in model.trainable_weights) == 4  # only the Dense


def test_batchnorm_fit_updates_moving_stats_and_evaluate_does_not():
    x = (np.random.default_rng(1).standard_normal((64, 3)) * 4 + 10).astype("float32")
    model = lamina.Sequential([BatchNormalization(momentum=0.5, input_shape=(3,)), Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    model.fit(x, np.zeros((64, 1), "float32"), epochs=3, batch_size=16, verbose=0)
    moving_mean = model.layers[0].get_weights()[2]
    np.testing.assert_allclose(moving_mean, x.mean(0), rtol=0.1)
    before = model.layers[0].get_weights()
    model.evaluate(x, np.zeros((64, 1), "float32"), verbose=0)
    for a, b in zip(before, model.layers[0].get_weights()):
        np.testing.assert_array_equal(a, b)


def test_batchnorm_mask_restricts_batch_statistics():
    x = torch.randn(2, 5, 3)
    mask = torch.tensor([[True, True, True, False, False], [True, True, True, True, False]])
    bn = BatchNormalization(momentum=0.0)
    out = bn(x, training=True, mask=mask)
    real = x[mask]  # (7, 3): the unmasked steps
    mean, var = real.mean(0), real.var(0, unbiased=False)
    torch.testing.assert_close(out[mask], (real - mean) / torch.sqrt(var + 1e-3), atol=1e-4, rtol=0)
    torch.testing.assert_close(bn.moving_mean, mean, atol=1e-5, rtol=0)
    torch.testing.assert_close(bn.moving_variance, var, atol=1e-5, rtol=0)
    with pytest.raises(ValueError, match="one axis fewer"):
        bn(x, training=True, mask=torch.ones(2, 5, 3, dtype=torch.bool))


def test_batchnorm_fused_path_agrees_with_textbook_formula_and_gradcheck():
    from lamina.layers.normalization import _normalize

    x = torch.randn(6, 4, 3, dtype=torch.float64, requires_grad=True)
    bn = BatchNormalization(dtype="float64")
    bn(x)
    with torch.no_grad():
        bn.gamma.uniform_(0.5, 2)
        bn.beta.normal_()
    fused = bn(x, training=True)
    var, mean = torch.var_mean(x, dim=(0, 1), correction=0)
    reference = _normalize(x, mean, var, bn.gamma, bn.beta, 1e-3)
    torch.testing.assert_close(fused, reference)
    g = torch.randn_like(fused)
    grads = torch.autograd.grad(fused, (x, bn.gamma, bn.beta), g)
    ref_grads = torch.autograd.grad(reference, (x, bn.gamma, bn.beta), g)
    for a, b in zip(grads, ref_grads):
        torch.testing.assert_close(a, b)
    assert torch.autograd.gradcheck(lambda t: bn(t, training=True), (x,))


def test_batchnorm_single_value_per_channel_and_half_precision():
    bn = BatchNormalization(momentum=0.5)
    out = bn(torch.tensor([[2.0, -1.0]]), training=True)
    assert out.tolist() == [[0.0, 0.0]]  # variance 0: the output is beta
    torch.testing.assert_close(bn.moving_mean, torch.tensor([1.0, -0.5]))
    half = BatchNormalization()(torch.randn(4, 3).half(), training=True)
    assert half.dtype == torch.float16 and torch.isfinite(half).all()


def test_batchnorm_bad_arguments():
    with pytest.raises(ValueError, match=r"synchronized=True\) is not supported"):
        BatchNormalization(synchronized=True)
    with pytest.raises(ValueError, match="axis=0 is not a feature axis"):
        BatchNormalization(axis=0)(torch.zeros(2, 3))
    with pytest.raises(TypeError, match="axis must be an integer"):
        BatchNormalization(axis=[1, 2])
    layer = BatchNormalization()
    layer(torch.zeros(2, 3))
    with pytest.raises(ValueError, match=r"axis -1 is 4, not 3"):
        layer(torch.zeros(2, 4))


# ---------------------------------------------------------------------- LayerNormalization
@pytest.mark.parametrize(
    "shape, axis",
    [((4, 6), -1), ((3, 4, 5), -1), ((3, 4, 5), [1, 2]), ((3, 4, 5), 1), ((2, 3, 4, 5), [1, 3])],
)
def test_layernorm_matches_numpy(shape, axis):
    rng = np.random.default_rng(3)
    x = (rng.standard_normal(shape) * 2 + 1).astype("float32")
    layer = LayerNormalization(axis=axis)
    layer(torch.from_numpy(x))
    gamma, beta = (rng.standard_normal(w.shape).astype("float32") for w in layer.get_weights())
    layer.set_weights([gamma, beta])
    axes = tuple(a % len(shape) for a in (axis if isinstance(axis, list) else [axis]))
    mean = x.mean(axis=axes, keepdims=True)
    var = x.var(axis=axes, keepdims=True)
    bshape = [shape[i] if i in axes else 1 for i in range(len(shape))]
    expected = (x - mean) / np.sqrt(var + 1e-3) * gamma.reshape(bshape) + beta.reshape(bshape)
    np.testing.assert_allclose(
        layer(torch.from_numpy(x)).detach().numpy(), expected, rtol=1e-4, atol=1e-5
    )


def test_layernorm_against_torch_and_check_layer():
    x = torch.randn(3, 7, 8)
    theirs = nn.LayerNorm(8, eps=1e-3)
    with torch.no_grad():
        theirs.weight.uniform_(0.5, 2)
        theirs.bias.normal_()
    ours = check_layer(LayerNormalization, {}, (3, 7, 8), (3, 7, 8), 16)
    ours.set_weights([theirs.weight.detach().numpy(), theirs.bias.detach().numpy()])
    torch.testing.assert_close(ours(x), theirs(x))
    check_layer(LayerNormalization, {"axis": [1, 2], "center": False}, (2, 3, 4), (2, 3, 4), 12)
    # The same in training and inference; no state.
    torch.testing.assert_close(ours(x, training=True), ours(x, training=False))


def test_layernorm_gradcheck_and_errors():
    layer = LayerNormalization(axis=1, dtype="float64")
    x = torch.randn(2, 3, 4, dtype=torch.float64, requires_grad=True)
    layer(x)
    assert torch.autograd.gradcheck(layer, (x,))
    with pytest.raises(ValueError, match="out of range"):
        LayerNormalization(axis=3)(torch.zeros(2, 3))
    with pytest.raises(TypeError, match="int or a list of ints"):
        LayerNormalization(axis="last")
