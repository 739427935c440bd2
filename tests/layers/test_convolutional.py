"""Conv1D, Conv2D, their transposes, separable and depthwise convolutions.

The oracle is a direct NumPy loop over output positions and kernel taps written here from the
TF/Keras definitions (channels-last data, Keras weight layouts), plus PyTorch's own modules
where they compute the same thing.
"""

import numpy as np
import pytest
import torch
from helpers import check_layer
from torch import nn

import lamina
from lamina import layers, regularizers
from lamina.layers.convolutional import Conv1D, Conv1DTranspose, Conv2D, Conv2DTranspose
from lamina.layers.depthwise import (
    DepthwiseConv1D,
    DepthwiseConv2D,
    SeparableConv1D,
    SeparableConv2D,
)


# ---------------------------------------------------------------------- NumPy references
def tf_pads(n, k, s, d, padding):
    """(before, after) as TF: 'same' gives ceil(n / s) outputs, the odd extra goes after."""
    span = (k - 1) * d + 1
    if padding == "valid":
        return 0, 0
    if padding == "causal":
        return span - 1, 0
    out = -(-n // s)
    total = max((out - 1) * s + span - n, 0)
    return total // 2, total - total // 2


def np_conv(x, kernel, bias, strides, padding, dilation, groups=1):
    """y[n, pos, f] = sum over taps t and channels c of the group of
    xpad[n, pos * s + t * d, c] * kernel[t, c, f]; kernel in Keras layout (*k, in/g, out)."""
    rank = x.ndim - 2
    ks = kernel.shape[:rank]
    pads = [
        tf_pads(n, k, s, d, padding) for n, k, s, d in zip(x.shape[1:-1], ks, strides, dilation)
    ]
    xp = np.pad(x, [(0, 0), *pads, (0, 0)])
    out_shape = [
        (n - ((k - 1) * d + 1)) // s + 1
        for n, k, s, d in zip(xp.shape[1:-1], ks, strides, dilation)
    ]
    gi, go = x.shape[-1] // groups, kernel.shape[-1] // groups
    y = np.zeros((x.shape[0], *out_shape, kernel.shape[-1]))
    for pos in np.ndindex(*out_shape):
        for tap in np.ndindex(*ks):
            idx = tuple(p * s + t * d for p, t, s, d in zip(pos, tap, strides, dilation))
            xv = xp[(slice(None), *idx)]
            for g in range(groups):
                out = (slice(None), *pos, slice(g * go, (g + 1) * go))
                y[out] += xv[:, g * gi : (g + 1) * gi] @ kernel[tap][:, g * go : (g + 1) * go]
    return y if bias is None else y + bias


def np_conv_transpose(x, kernel, bias, strides, padding, dilation, out_shape):
    """The adjoint of the forward convolution that maps (n, *out_shape, filters) to x's shape
    (TF's conv_transpose = gradient of conv): each input position scatters kernel[t] @ x into
    output position pos * s + t * d - pad_before, pad_before from the forward rule on the
    output length. Kernel in Keras layout (*k, filters, in)."""
    rank = x.ndim - 2
    ks = kernel.shape[:rank]
    before = [
        tf_pads(o, k, s, d, padding)[0] for o, k, s, d in zip(out_shape, ks, strides, dilation)
    ]
    y = np.zeros((x.shape[0], *out_shape, kernel.shape[-2]))
    for pos in np.ndindex(*x.shape[1:-1]):
        for tap in np.ndindex(*ks):
            p = tuple(
                i * s + t * d - b for i, t, s, d, b in zip(pos, tap, strides, dilation, before)
            )
            if all(0 <= q < o for q, o in zip(p, out_shape)):
                y[(slice(None), *p)] += x[(slice(None), *pos)] @ kernel[tap].T
    return y + bias


def np_depthwise(x, dw, strides, padding, dilation):
    """Each channel c convolved with its own filters dw[..., c, m]: output channel c*dm + m."""
    channels, dm = dw.shape[-2:]
    outs = []
    for c in range(channels):
        for m in range(dm):
            k = dw[..., c : c + 1, m : m + 1]
            outs.append(np_conv(x[..., c : c + 1], k, None, strides, padding, dilation))
    return np.concatenate(outs, axis=-1)


def _set_random_weights(layer, rng):
    weights = [rng.standard_normal(w.shape).astype("float32") for w in layer.get_weights()]
    layer.set_weights(weights)
    return weights


def _load_torch(layer, module):
    """The stored kernel is PyTorch's layout: a torch module's weight loads as is."""
    layer.load_state_dict({"kernel": module.weight.detach(), "bias": module.bias.detach()})


def _run(layer, x):
    return layer(torch.from_numpy(x)).detach().numpy()


# ---------------------------------------------------------------------- Conv1D
CONV1D_CASES = [
    # kernel, strides, padding, dilation, groups, expected steps for 11 input steps
    (3, 1, "valid", 1, 1, 9),
    (3, 2, "valid", 1, 1, 5),
    (4, 1, "same", 1, 1, 11),  # even kernel: 3 padded, 1 before, 2 after
    (4, 3, "same", 1, 1, 4),  # stride 3: total 2, 1 before, 1 after
    (5, 2, "same", 1, 1, 6),
    (2, 2, "same", 1, 1, 6),  # total 1: 0 before, 1 after
    (3, 1, "same", 2, 1, 11),
    (3, 1, "causal", 2, 1, 11),
    (2, 2, "causal", 1, 1, 6),
    (3, 1, "same", 1, 2, 11),
    (1, 1, "valid", 1, 4, 11),
]


@pytest.mark.parametrize("k, s, padding, d, groups, steps", CONV1D_CASES)
def test_conv1d_matches_numpy_reference(k, s, padding, d, groups, steps):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 11, 4)).astype("float32")
    layer = Conv1D(4, k, strides=s, padding=padding, dilation_rate=d, groups=groups)
    layer(torch.from_numpy(x))
    kernel, bias = _set_random_weights(layer, rng)
    assert kernel.shape == (k, 4 // groups, 4)
    expected = np_conv(x, kernel, bias, (s,), padding, (d,), groups)
    assert expected.shape == (2, steps, 4)
    np.testing.assert_allclose(_run(layer, x), expected, rtol=1e-4, atol=1e-5)


def test_tf_same_padding_puts_the_extra_position_after():
    # length 10, kernel 4, stride 3: ceil(10/3) = 4 outputs, 3 padded -> 1 before, 2 after.
    from lamina.layers._conv_utils import same_padding

    assert same_padding(10, 4, 3) == (1, 2)
    assert same_padding(11, 2, 2) == (0, 1)
    assert same_padding(5, 3, 1) == (1, 1)
    assert same_padding(9, 1, 2) == (0, 0)
    # With a kernel of ones, the first output of 'same' sees 1 padded zero before x[0].
    layer = Conv1D(1, 4, padding="same", use_bias=False, kernel_initializer="ones")
    out = layer(torch.arange(1.0, 6.0).reshape(1, 5, 1)).flatten().tolist()
    assert out == [1 + 2 + 3, 1 + 2 + 3 + 4, 2 + 3 + 4 + 5, 3 + 4 + 5, 4 + 5]


def test_causal_output_sees_only_the_past():
    layer = Conv1D(1, 3, padding="causal", dilation_rate=2, use_bias=False)
    x = torch.randn(1, 12, 1)
    base = layer(x)
    x2 = x.clone()
    x2[0, 7] += 10.0  # changing step 7 changes only outputs 7, 9, 11
    changed = (layer(x2) - base).abs().flatten() > 1e-6
    assert changed.nonzero().flatten().tolist() == [7, 9, 11]


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(kernel_size=3),
        dict(kernel_size=4, padding=3, dilation=2),
        dict(kernel_size=3, stride=2, padding=1),
        dict(kernel_size=3, groups=2, padding=1),
    ],
)
def test_conv1d_matches_torch_conv1d(kwargs):
    torch_conv = nn.Conv1d(4, 6, **kwargs)
    keras_padding = "valid" if "padding" not in kwargs else "same"
    layer = Conv1D(
        6,
        kwargs["kernel_size"],
        strides=kwargs.get("stride", 1),
        padding=keras_padding,
        dilation_rate=kwargs.get("dilation", 1),
        groups=kwargs.get("groups", 1),
    )
    x = torch.randn(3, 9, 4)
    layer(x)
    _load_torch(layer, torch_conv)
    expected = torch_conv(x.transpose(1, 2)).transpose(1, 2)
    torch.testing.assert_close(layer(x), expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(
        layer.get_weights()[0], torch_conv.weight.detach().permute(2, 1, 0).numpy()
    )


def test_conv1d_check_layer_and_keras_layout():
    layer = check_layer(Conv1D, {"filters": 32, "kernel_size": 7}, (2, 20, 16), (2, 14, 32))
    assert layer.count_params() == 7 * 16 * 32 + 32
    kernel, bias = layer.get_weights()
    assert kernel.shape == (7, 16, 32) and bias.shape == (32,)
    assert tuple(layer.kernel.shape) == (32, 16, 7)  # PyTorch layout inside


def test_conv1d_glorot_uses_keras_fans():
    layer = Conv1D(32, 7)
    layer(torch.zeros(1, 20, 128))
    limit = (6 / (7 * 128 + 7 * 32)) ** 0.5  # fan_in = k * in, fan_out = k * out
    kernel = layer.get_weights()[0]
    assert np.abs(kernel).max() <= limit and np.abs(kernel).max() > 0.95 * limit


def test_conv1d_channels_first_matches_channels_last():
    x = torch.randn(2, 9, 3)
    last = Conv1D(5, 3, padding="same", strides=2)
    first = Conv1D(5, 3, padding="same", strides=2, data_format="channels_first")
    last(x)
    first(x.transpose(1, 2))
    first.set_weights(last.get_weights())
    torch.testing.assert_close(first(x.transpose(1, 2)), last(x).transpose(1, 2))


def test_conv1d_regularizer_sees_keras_layout_and_constraint_applies():
    layer = Conv1D(2, 3, kernel_regularizer=regularizers.l1(0.1), kernel_constraint="non_neg")
    layer(torch.zeros(1, 5, 4))
    (penalty,) = layer.losses
    assert penalty.item() == pytest.approx(0.1 * np.abs(layer.get_weights()[0]).sum(), rel=1e-5)
    with torch.no_grad():
        layer.kernel.fill_(-1.0)
    layer._apply_constraints()
    assert layer.kernel.detach().min().item() == 0.0


# ---------------------------------------------------------------------- Conv2D
CONV2D_CASES = [
    # kernel, strides, padding, dilation, groups, expected (h, w) for 9 x 10 input
    ((3, 3), (1, 1), "valid", (1, 1), 1, (7, 8)),
    ((2, 4), (2, 2), "same", (1, 1), 1, (5, 5)),
    ((3, 3), (3, 2), "same", (1, 1), 1, (3, 5)),
    ((4, 4), (1, 1), "same", (1, 1), 1, (9, 10)),
    ((3, 3), (1, 1), "same", (2, 2), 1, (9, 10)),
    ((2, 2), (1, 1), "valid", (1, 1), 2, (8, 9)),
    ((3, 2), (2, 3), "valid", (1, 1), 1, (4, 3)),
]


@pytest.mark.parametrize("k, s, padding, d, groups, out_hw", CONV2D_CASES)
def test_conv2d_matches_numpy_reference(k, s, padding, d, groups, out_hw):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 9, 10, 4)).astype("float32")
    layer = Conv2D(6, k, strides=s, padding=padding, dilation_rate=d, groups=groups)
    layer(torch.from_numpy(x))
    kernel, bias = _set_random_weights(layer, rng)
    assert kernel.shape == (*k, 4 // groups, 6)
    expected = np_conv(x, kernel, bias, s, padding, d, groups)
    assert expected.shape == (2, *out_hw, 6)
    np.testing.assert_allclose(_run(layer, x), expected, rtol=1e-4, atol=1e-5)


def test_conv2d_matches_torch_conv2d_and_channels_first():
    torch_conv = nn.Conv2d(3, 8, (3, 5), stride=(1, 2), padding=(1, 2))
    layer = Conv2D(8, (3, 5), strides=(1, 2), padding="same")
    first = Conv2D(8, (3, 5), strides=(1, 2), padding="same", data_format="channels_first")
    x = torch.randn(2, 7, 11, 3)
    layer(x)
    first(x.permute(0, 3, 1, 2))
    _load_torch(layer, torch_conv)
    first.set_weights(layer.get_weights())
    expected = torch_conv(x.permute(0, 3, 1, 2))
    torch.testing.assert_close(layer(x), expected.permute(0, 2, 3, 1), rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(first(x.permute(0, 3, 1, 2)), expected, rtol=1e-5, atol=1e-5)


def test_conv2d_check_layer_and_book_param_count():
    # The book's first convnet: Conv2D(32, 3) on 28x28x1 has 320 parameters.
    check_layer(
        Conv2D,
        {"filters": 32, "kernel_size": (3, 3), "activation": "relu"},
        (2, 28, 28, 1),
        (2, 26, 26, 32),
        320,
    )
    check_layer(
        Conv2D,
        {"filters": 4, "kernel_size": 3, "strides": 2, "padding": "same", "use_bias": False},
        (2, 9, 9, 6),
        (2, 5, 5, 4),
        3 * 3 * 6 * 4,
    )


# ---------------------------------------------------------------------- transposes
TRANSPOSE_CASES = [
    # kernel, strides, padding, output_padding, expected (h, w) for a 5 x 6 input
    (3, 1, "valid", None, (7, 8)),
    (3, 2, "same", None, (10, 12)),
    (4, 2, "same", None, (10, 12)),
    (2, 3, "valid", None, (15, 18)),  # stride > kernel: (n - 1) * s + max(k, s)
    (3, 2, "same", 1, (10, 12)),
    (3, 2, "valid", 1, (12, 14)),
    (1, 2, "same", None, (10, 12)),
    ((3, 4), (2, 3), "same", None, (10, 18)),
    ((2, 3), (2, 2), "same", (1, 0), (9, 11)),
]


@pytest.mark.parametrize("k, s, padding, out_pad, out_hw", TRANSPOSE_CASES)
def test_conv2d_transpose_matches_adjoint_reference(k, s, padding, out_pad, out_hw):
    rng = np.random.default_rng(2)
    x = rng.standard_normal((2, 5, 6, 4)).astype("float32")
    layer = Conv2DTranspose(3, k, strides=s, padding=padding, output_padding=out_pad)
    assert layer.compute_output_shape((None, 5, 6, 4)) == (None, *out_hw, 3)
    layer(torch.from_numpy(x))
    kernel, bias = _set_random_weights(layer, rng)
    assert kernel.shape[-2:] == (3, 4)  # Keras: (*k, filters, in)
    strides = (s, s) if isinstance(s, int) else s
    expected = np_conv_transpose(x, kernel, bias, strides, padding, (1, 1), out_hw)
    np.testing.assert_allclose(_run(layer, x), expected, rtol=1e-4, atol=1e-5)


def test_conv_transpose_is_the_adjoint_of_conv():
    # <conv(z), x> == <z, conv_transpose(x)> for the same Keras kernel.
    z = torch.randn(2, 12, 3, dtype=torch.float64)
    x = torch.randn(2, 6, 5, dtype=torch.float64)
    conv = Conv1D(5, 4, strides=2, padding="same", use_bias=False, dtype="float64")
    deconv = Conv1DTranspose(3, 4, strides=2, padding="same", use_bias=False, dtype="float64")
    conv(z)
    deconv(x)
    deconv.set_weights(conv.get_weights())  # (k, 3, 5) is conv's (k, in, out) = deconv's
    lhs = (conv(z) * x).sum().detach()
    rhs = (z * deconv(x)).sum().detach()
    assert lhs.item() == pytest.approx(rhs.item(), rel=1e-10)


def test_conv_transpose_matches_torch_and_check_layer():
    torch_deconv = nn.ConvTranspose2d(4, 3, 3, stride=2)
    layer = Conv2DTranspose(3, 3, strides=2)
    x = torch.randn(2, 5, 6, 4)
    layer(x)
    _load_torch(layer, torch_deconv)
    expected = torch_deconv(x.permute(0, 3, 1, 2)).permute(0, 2, 3, 1)
    torch.testing.assert_close(layer(x), expected, rtol=1e-5, atol=1e-5)
    check_layer(
        Conv2DTranspose,
        {"filters": 8, "kernel_size": 3, "strides": 2, "padding": "same"},
        (2, 7, 7, 16),
        (2, 14, 14, 8),
        3 * 3 * 8 * 16 + 8,
    )
    check_layer(Conv1DTranspose, {"filters": 2, "kernel_size": 3}, (2, 5, 4), (2, 7, 2), 26)


def test_conv_transpose_rejects_output_padding_not_below_strides():
    with pytest.raises(ValueError, match="output_padding must be smaller than strides"):
        Conv2DTranspose(3, 3, strides=2, output_padding=2)


# ---------------------------------------------------------------------- depthwise / separable
@pytest.mark.parametrize(
    "k, s, padding, dm",
    [(3, 1, "valid", 1), ((2, 3), 2, "same", 3), (4, 1, "same", 2)],
)
def test_depthwise_conv2d_matches_numpy(k, s, padding, dm):
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 9, 8, 3)).astype("float32")
    layer = DepthwiseConv2D(k, strides=s, padding=padding, depth_multiplier=dm)
    layer(torch.from_numpy(x))
    dw, bias = _set_random_weights(layer, rng)
    ks = (k, k) if isinstance(k, int) else k
    assert dw.shape == (*ks, 3, dm) and bias.shape == (3 * dm,)
    expected = np_depthwise(x, dw, (s, s), padding, (1, 1)) + bias
    np.testing.assert_allclose(_run(layer, x), expected, rtol=1e-4, atol=1e-5)


def test_depthwise_conv1d_matches_numpy_and_check_layer():
    rng = np.random.default_rng(4)
    x = rng.standard_normal((2, 10, 3)).astype("float32")
    layer = DepthwiseConv1D(4, padding="causal", depth_multiplier=2, dilation_rate=2)
    layer(torch.from_numpy(x))
    dw, bias = _set_random_weights(layer, rng)
    expected = np_depthwise(x, dw, (1,), "causal", (2,)) + bias
    np.testing.assert_allclose(_run(layer, x), expected, rtol=1e-4, atol=1e-5)
    check_layer(DepthwiseConv2D, {"kernel_size": 3}, (2, 6, 6, 4), (2, 4, 4, 4), 40)


@pytest.mark.parametrize(
    "cls, shape", [(SeparableConv1D, (2, 11, 4)), (SeparableConv2D, (2, 9, 8, 4))]
)
@pytest.mark.parametrize("padding, s, dm", [("same", 1, 2), ("same", 2, 1), ("valid", 1, 1)])
def test_separable_conv_is_depthwise_then_pointwise(cls, shape, padding, s, dm):
    rng = np.random.default_rng(5)
    x = rng.standard_normal(shape).astype("float32")
    layer = cls(5, 3, strides=s, padding=padding, depth_multiplier=dm)
    layer(torch.from_numpy(x))
    dw, pw, bias = _set_random_weights(layer, rng)
    rank = len(shape) - 2
    assert pw.shape == (*([1] * rank), 4 * dm, 5)
    mid = np_depthwise(x, dw, (s,) * rank, padding, (1,) * rank)
    expected = mid @ pw.reshape(4 * dm, 5) + bias
    np.testing.assert_allclose(_run(layer, x), expected, rtol=1e-4, atol=1e-5)


def test_separable_check_layer_and_param_counts():
    check_layer(SeparableConv1D, {"filters": 16, "kernel_size": 5}, (2, 30, 8), (2, 26, 16), 184)
    check_layer(
        SeparableConv2D,
        {"filters": 8, "kernel_size": 3, "padding": "same", "depth_multiplier": 2},
        (2, 6, 6, 4),
        (2, 6, 6, 8),
        3 * 3 * 4 * 2 + 8 * 8 + 8,
    )


# ---------------------------------------------------------------------- gradients
def _gradcheck_layer(layer, x):
    layer(x)
    params = dict(layer.named_parameters())

    def fn(inp, *values):
        return torch.func.functional_call(layer, dict(zip(params, values)), (inp,))

    assert torch.autograd.gradcheck(fn, (x.requires_grad_(), *params.values()), eps=1e-6)


@pytest.mark.parametrize(
    "layer, shape",
    [
        (lambda: Conv1D(2, 4, strides=2, padding="same", dtype="float64"), (2, 7, 3)),
        (lambda: Conv1D(2, 2, padding="causal", dilation_rate=2, dtype="float64"), (1, 6, 2)),
        (lambda: Conv2D(2, (2, 3), strides=2, padding="same", dtype="float64"), (1, 5, 6, 2)),
        (lambda: Conv2DTranspose(2, 3, strides=2, padding="same", dtype="float64"), (1, 3, 3, 2)),
        (lambda: SeparableConv1D(3, 3, padding="same", dtype="float64"), (1, 5, 2)),
        (lambda: DepthwiseConv2D(2, depth_multiplier=2, dtype="float64"), (1, 4, 4, 2)),
    ],
)
def test_gradcheck_float64(layer, shape):
    _gradcheck_layer(layer(), torch.randn(shape, dtype=torch.float64))


# ---------------------------------------------------------------------- errors
def test_unknown_padding_lists_the_allowed_ones():
    with pytest.raises(ValueError, match="'valid', 'same', 'causal'.*padding='full'"):
        Conv1D(4, 3, padding="full")
    with pytest.raises(ValueError, match=r"Conv2D padding must be one of 'valid', 'same'"):
        Conv2D(4, 3, padding="causal")


def test_wrong_rank_names_the_expected_layout():
    with pytest.raises(
        ValueError,
        match=r"Conv2D expects inputs of shape \(batch, height, width, "
        r"channels\).*'conv'.*\(None, 28, 28\).*Add a channels axis",
    ):
        Conv2D(4, 3, name="conv")(torch.zeros(2, 28, 28))
    with pytest.raises(ValueError, match=r"\(batch, steps, channels\).*Embedding"):
        Conv1D(4, 3)(layers.Input((100,)))
    layer = Conv2D(4, 3)
    layer(torch.zeros(1, 5, 5, 1))
    with pytest.raises(ValueError, match="rank 4"):
        layer(torch.zeros(1, 5, 5))


def test_kernel_larger_than_input_fails_at_build_and_call():
    with pytest.raises(
        ValueError, match=r"'c1' \(Conv1D\).*kernel \(7,\).*\(5,\).*padding='valid'"
    ):
        Conv1D(4, 7, name="c1")(layers.Input((5, 3)))
    layer = Conv1D(4, 3, dilation_rate=3)
    layer(layers.Input((None, 3)))
    with pytest.raises(ValueError, match="dilated by"):
        layer(torch.zeros(1, 6, 3))
    with pytest.raises(ValueError, match=r"\(Conv2D\).*\(3, 3\).*\(2, 9\)"):
        Conv2D(1, 3)(torch.zeros(1, 2, 9, 1))
    assert Conv1D(4, 7, padding="same")(torch.zeros(1, 5, 3)).shape == (1, 5, 4)


def test_groups_must_divide_channels_and_filters():
    with pytest.raises(ValueError, match=r"groups=2 must divide the number of input channels.*3"):
        Conv1D(4, 3, groups=2)(torch.zeros(1, 5, 3))
    with pytest.raises(ValueError, match="divides filters=5"):
        Conv1D(5, 3, groups=2)


def test_bad_arguments():
    with pytest.raises(ValueError, match="filters must be a positive integer"):
        Conv2D(0, 3)
    with pytest.raises(ValueError, match="kernel_size.*2 positive integers"):
        Conv2D(4, (3, 3, 3))
    with pytest.raises(ValueError, match="strides > 1 with dilation_rate > 1"):
        Conv1D(4, 3, strides=2, dilation_rate=2)
    with pytest.raises(ValueError, match="data_format"):
        Conv1D(4, 3, data_format="NWC")


def test_conv_layers_save_and_load_in_a_model(tmp_path):
    model = lamina.Sequential(
        [
            Conv2D(4, 3, padding="same", activation="relu", input_shape=(8, 8, 2)),
            SeparableConv2D(3, 3, strides=2, padding="same"),
            Conv2DTranspose(2, 3, strides=2, padding="same"),
        ]
    )
    x = torch.randn(2, 8, 8, 2)
    path = str(tmp_path / "m.lamina")
    if not hasattr(model, "save"):
        pytest.skip("model saving is not available yet")
    model.save(path)
    loaded = lamina.models.load_model(path)
    torch.testing.assert_close(loaded(x), model(x))
