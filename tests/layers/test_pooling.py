"""Max, average and global pooling against a NumPy loop written from TF's definitions:
'same' pads the odd extra position after, max ignores padding, and average pooling divides by
the number of real (unpadded) values in each window."""

import numpy as np
import pytest
import torch
from helpers import check_layer
from torch import nn

from lamina import layers
from lamina.layers.pooling import (
    AveragePooling1D,
    AveragePooling2D,
    GlobalAveragePooling1D,
    GlobalAveragePooling2D,
    GlobalMaxPooling1D,
    GlobalMaxPooling2D,
    MaxPooling1D,
    MaxPooling2D,
)


def np_pool(x, pool, strides, padding, mode):
    """Loop over output windows of a channels-last array; windows clipped to the real input."""
    spatial = x.shape[1:-1]
    starts, outs = [], []
    for n, k, s in zip(spatial, pool, strides):
        if padding == "valid":
            out, before = (n - k) // s + 1, 0
        else:
            out = -(-n // s)
            before = max((out - 1) * s + k - n, 0) // 2
        outs.append(out)
        starts.append(before)
    y = np.zeros((x.shape[0], *outs, x.shape[-1]))
    for pos in np.ndindex(*outs):
        window = tuple(
            slice(max(p * s - b, 0), min(p * s - b + k, n))
            for p, s, b, k, n in zip(pos, strides, starts, pool, spatial)
        )
        values = x[(slice(None), *window)].reshape(x.shape[0], -1, x.shape[-1])
        y[(slice(None), *pos)] = values.max(1) if mode == "max" else values.mean(1)
    return y


CASES_1D = [
    # pool, strides, padding, expected steps for 11 steps
    (2, None, "valid", 5),
    (5, 2, "valid", 4),
    (3, None, "same", 4),
    (3, 2, "same", 6),
    (4, 1, "same", 11),  # 3 padded: 1 before, 2 after
    (2, 3, "same", 4),
    (5, 5, "same", 3),
]


@pytest.mark.parametrize("cls, mode", [(MaxPooling1D, "max"), (AveragePooling1D, "avg")])
@pytest.mark.parametrize("pool, strides, padding, steps", CASES_1D)
def test_pooling1d_matches_numpy(cls, mode, pool, strides, padding, steps):
    x = np.random.default_rng(0).standard_normal((2, 11, 3)).astype("float32")
    out = cls(pool, strides=strides, padding=padding)(torch.from_numpy(x)).numpy()
    expected = np_pool(x, (pool,), (strides or pool,), padding, mode)
    assert expected.shape == (2, steps, 3)
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-6)


CASES_2D = [
    ((2, 2), None, "valid", (3, 4)),
    ((3, 3), None, "same", (3, 3)),
    ((2, 3), (2, 2), "same", (4, 4)),
    ((3, 2), (1, 3), "same", (7, 3)),
    ((3, 3), (2, 2), "valid", (3, 3)),
]


@pytest.mark.parametrize("cls, mode", [(MaxPooling2D, "max"), (AveragePooling2D, "avg")])
@pytest.mark.parametrize("pool, strides, padding, out_hw", CASES_2D)
def test_pooling2d_matches_numpy(cls, mode, pool, strides, padding, out_hw):
    x = np.random.default_rng(1).standard_normal((2, 7, 8, 3)).astype("float32")
    out = cls(pool, strides=strides, padding=padding)(torch.from_numpy(x)).numpy()
    expected = np_pool(x, pool, strides or pool, padding, mode)
    assert expected.shape == (2, *out_hw, 3)
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-6)


def test_average_same_divides_by_real_values_only():
    # Steps [1, 2, 3], window 2, stride 2, 'same': windows [1, 2] and [3] (+ 1 padded zero).
    x = torch.tensor([[[1.0], [2.0], [3.0]]])
    assert AveragePooling1D(2, padding="same")(x).flatten().tolist() == [1.5, 3.0]
    # All-negative inputs: max pooling never returns a padded value.
    assert MaxPooling1D(2, padding="same")(-x).flatten().tolist() == [-1.0, -3.0]


def test_pooling_matches_torch_modules_and_channels_first():
    x = torch.randn(2, 8, 9, 3)
    cf = x.permute(0, 3, 1, 2)
    torch.testing.assert_close(MaxPooling2D(2)(x), nn.MaxPool2d(2)(cf).permute(0, 2, 3, 1))
    torch.testing.assert_close(
        AveragePooling2D(3, strides=1, padding="same", data_format="channels_first")(cf),
        nn.AvgPool2d(3, 1, padding=1, count_include_pad=False)(cf),
    )
    seq = torch.randn(2, 10, 4)
    torch.testing.assert_close(
        MaxPooling1D(3, strides=2, data_format="channels_first")(seq.transpose(1, 2)),
        nn.MaxPool1d(3, 2)(seq.transpose(1, 2)),
    )


def test_pooling_check_layer():
    check_layer(MaxPooling1D, {"pool_size": 5}, (2, 494, 32), (2, 98, 32), 0)
    check_layer(MaxPooling2D, {"pool_size": (2, 2)}, (2, 26, 26, 32), (2, 13, 13, 32), 0)
    check_layer(AveragePooling1D, {"padding": "same"}, (2, 7, 3), (2, 4, 3), 0)
    check_layer(AveragePooling2D, {"pool_size": 3, "strides": 2}, (2, 9, 9, 2), (2, 4, 4, 2), 0)
    layer = MaxPooling2D()
    assert layer.get_config()["pool_size"] == [2, 2] and layer.get_config()["strides"] == [2, 2]
    assert layers.get("MaxPool1D") is MaxPooling1D and layers.get("AvgPool2D") is AveragePooling2D


@pytest.mark.parametrize(
    "cls, fn, shape, axes",
    [
        (GlobalMaxPooling1D, np.max, (2, 7, 3), (1,)),
        (GlobalAveragePooling1D, np.mean, (2, 7, 3), (1,)),
        (GlobalMaxPooling2D, np.max, (2, 5, 6, 3), (1, 2)),
        (GlobalAveragePooling2D, np.mean, (2, 5, 6, 3), (1, 2)),
    ],
)
def test_global_pooling(cls, fn, shape, axes):
    x = np.random.default_rng(2).standard_normal(shape).astype("float32")
    check_layer(cls, {}, shape, (2, 3), 0, input_data=torch.from_numpy(x))
    np.testing.assert_allclose(cls()(x).numpy(), fn(x, axis=axes), rtol=1e-6)
    kept = cls(keepdims=True)(x).numpy()
    assert kept.shape == (2, *([1] * len(axes)), 3)
    np.testing.assert_allclose(kept, fn(x, axis=axes, keepdims=True), rtol=1e-6)
    first = np.moveaxis(x, -1, 1)
    out = cls(data_format="channels_first")(first).numpy()
    np.testing.assert_allclose(out, fn(x, axis=axes), rtol=1e-6)
    assert cls(keepdims=True).compute_output_shape((None, *shape[1:])) == (
        None,
        *([1] * len(axes)),
        3,
    )


def test_global_average_pooling1d_respects_the_mask():
    x = torch.tensor([[[1.0, 10.0], [3.0, 30.0], [float("nan"), 0.0]]])
    mask = torch.tensor([[True, True, False]])
    out = GlobalAveragePooling1D()(x, mask=mask)
    assert out.tolist() == [[2.0, 20.0]]  # masked NaN step ignored
    x._keras_mask = mask  # masks travel on tensors between layers
    assert GlobalAveragePooling1D(keepdims=True)(x).tolist() == [[[2.0, 20.0]]]
    assert GlobalAveragePooling1D().compute_mask(x, mask) is None


def test_pooling_gradients_float64():
    x = torch.randn(1, 7, 2, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(AveragePooling1D(2, padding="same"), (x,))
    y = torch.randn(1, 5, 6, 2, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(AveragePooling2D((2, 3), 2, padding="same"), (y,))
    assert torch.autograd.gradcheck(MaxPooling2D(2, padding="same"), (y,))
    assert torch.autograd.gradcheck(GlobalMaxPooling1D(), (x,))


def test_pooling_errors():
    with pytest.raises(ValueError, match="MaxPooling1D padding must be one of 'valid', 'same'"):
        MaxPooling1D(padding="causal")
    with pytest.raises(ValueError, match=r"'p' \(MaxPooling2D\).*pool_size \(5, 5\).*\(3, 8\)"):
        MaxPooling2D(5, name="p")(torch.zeros(1, 3, 8, 2))
    with pytest.raises(ValueError, match=r"MaxPooling2D expects inputs of shape \(batch, height"):
        MaxPooling2D()(layers.Input((28, 28)))
    with pytest.raises(ValueError, match="pool_size"):
        MaxPooling1D(0)
    assert MaxPooling1D(5, padding="same")(torch.zeros(1, 3, 2)).shape == (1, 1, 2)
