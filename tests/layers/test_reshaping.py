"""UpSampling, ZeroPadding, Cropping and SpatialDropout2D against NumPy."""

import numpy as np
import pytest
import torch
from helpers import check_layer

from lamina import layers
from lamina.layers.reshaping import (
    Cropping1D,
    Cropping2D,
    SpatialDropout2D,
    UpSampling1D,
    UpSampling2D,
    ZeroPadding1D,
    ZeroPadding2D,
)


def _x(shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype("float32")


def test_upsampling1d_repeats_steps():
    x = _x((2, 4, 3))
    check_layer(UpSampling1D, {"size": 3}, (2, 4, 3), (2, 12, 3), 0, input_data=torch.tensor(x))
    np.testing.assert_array_equal(UpSampling1D(3)(x).numpy(), np.repeat(x, 3, axis=1))
    assert UpSampling1D(3).get_config()["size"] == 3


def test_upsampling2d_nearest_and_channels_first():
    x = _x((2, 3, 4, 5))
    check_layer(UpSampling2D, {"size": (2, 3)}, (2, 3, 4, 5), (2, 6, 12, 5), 0)
    expected = np.repeat(np.repeat(x, 2, axis=1), 3, axis=2)
    np.testing.assert_array_equal(UpSampling2D((2, 3))(x).numpy(), expected)
    first = UpSampling2D(2, data_format="channels_first")(np.moveaxis(x, -1, 1)).numpy()
    np.testing.assert_array_equal(first, np.moveaxis(np.repeat(np.repeat(x, 2, 1), 2, 2), -1, 1))


def test_upsampling2d_bilinear_uses_half_pixel_centres():
    # 1-D row [0, 4] doubled with half-pixel centres: sample points -0.25, 0.25, 0.75, 1.25
    # (clamped at the edges) -> [0, 1, 3, 4].
    x = torch.tensor([0.0, 4.0]).reshape(1, 1, 2, 1)
    out = UpSampling2D((1, 2), interpolation="bilinear")(x).flatten().tolist()
    assert out == [0.0, 1.0, 3.0, 4.0]
    with pytest.raises(ValueError, match="interpolation must be one of 'nearest', 'bilinear'"):
        UpSampling2D(interpolation="area")


def test_zero_padding():
    x = _x((2, 4, 3))
    check_layer(ZeroPadding1D, {"padding": (1, 2)}, (2, 4, 3), (2, 7, 3), 0)
    np.testing.assert_array_equal(
        ZeroPadding1D((1, 2))(x).numpy(), np.pad(x, [(0, 0), (1, 2), (0, 0)])
    )
    np.testing.assert_array_equal(ZeroPadding1D(2)(x).numpy(), np.pad(x, [(0, 0), (2, 2), (0, 0)]))
    y = _x((2, 3, 4, 2))
    check_layer(ZeroPadding2D, {"padding": ((1, 0), (2, 3))}, (2, 3, 4, 2), (2, 4, 9, 2), 0)
    np.testing.assert_array_equal(
        ZeroPadding2D(((1, 0), (2, 3)))(y).numpy(), np.pad(y, [(0, 0), (1, 0), (2, 3), (0, 0)])
    )
    np.testing.assert_array_equal(
        ZeroPadding2D((1, 2))(y).numpy(), np.pad(y, [(0, 0), (1, 1), (2, 2), (0, 0)])
    )
    first = ZeroPadding2D(1, data_format="channels_first")(np.moveaxis(y, -1, 1)).numpy()
    np.testing.assert_array_equal(first, np.pad(np.moveaxis(y, -1, 1), [(0, 0)] * 2 + [(1, 1)] * 2))


def test_cropping():
    x = _x((2, 6, 3))
    check_layer(Cropping1D, {"cropping": (1, 2)}, (2, 6, 3), (2, 3, 3), 0)
    np.testing.assert_array_equal(Cropping1D((1, 2))(x).numpy(), x[:, 1:4])
    np.testing.assert_array_equal(Cropping1D(1)(x).numpy(), x[:, 1:5])
    y = _x((2, 6, 5, 3))
    check_layer(Cropping2D, {"cropping": ((1, 2), (0, 3))}, (2, 6, 5, 3), (2, 3, 2, 3), 0)
    np.testing.assert_array_equal(Cropping2D(((1, 2), (0, 3)))(y).numpy(), y[:, 1:4, 0:2])
    np.testing.assert_array_equal(Cropping2D((1, 2))(y).numpy(), y[:, 1:5, 2:3])


def test_reshaping_errors():
    with pytest.raises(ValueError, match=r"'crop' \(Cropping1D\): cropping \(3, 3\) removes all 6"):
        Cropping1D(3, name="crop")(torch.zeros(1, 6, 2))
    with pytest.raises(ValueError, match=r"removes all"):
        Cropping2D(((2, 2), (0, 0)))(layers.Input((4, 4, 1)))
    with pytest.raises(ValueError, match=r"\(top, bottom\), \(left, right\)"):
        ZeroPadding2D((1, 2, 3))
    with pytest.raises(ValueError, match="non-negative"):
        ZeroPadding1D(-1)
    with pytest.raises(ValueError, match=r"UpSampling2D expects inputs of shape \(batch, height"):
        UpSampling2D()(torch.zeros(1, 4, 4))


def test_spatial_dropout2d_drops_whole_channels():
    layer = check_layer(
        SpatialDropout2D, {"rate": 0.5}, (8, 5, 5, 16), (8, 5, 5, 16), 0, stochastic=True
    )
    y = layer(torch.ones(8, 5, 5, 16), training=True)
    per_map = y.reshape(8, 25, 16)
    assert ((per_map == 0).all(1) | (per_map == 2).all(1)).all()
    assert 0.3 < (per_map[:, 0] == 0).float().mean() < 0.7
    first = SpatialDropout2D(0.5, data_format="channels_first")(
        torch.ones(4, 6, 3, 3), training=True
    )
    assert ((first == 0).all(dim=(2, 3)) | (first == 2).all(dim=(2, 3))).all()
    torch.testing.assert_close(layer(y), y)  # inference: identity
