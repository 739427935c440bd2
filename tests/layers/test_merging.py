import numpy as np
import pytest
import torch
from helpers import check_layer

from lamina import layers


def _pair(shape=(2, 3)):
    return [torch.randn(shape), torch.randn(shape)]


@pytest.mark.parametrize(
    "cls, fn",
    [
        (layers.Add, lambda a, b: a + b),
        (layers.Subtract, lambda a, b: a - b),
        (layers.Multiply, lambda a, b: a * b),
        (layers.Average, lambda a, b: (a + b) / 2),
        (layers.Maximum, np.maximum),
        (layers.Minimum, np.minimum),
    ],
)
def test_elementwise_merges_match_numpy(cls, fn):
    a, b = _pair()
    out = cls()([a, b])
    np.testing.assert_allclose(out.numpy(), fn(a.numpy(), b.numpy()), rtol=1e-6)
    sym = cls()([layers.Input((3,)), layers.Input((3,))])
    assert sym.shape == (None, 3)


def test_concatenate_axis_and_shape_errors():
    a, b = torch.randn(2, 3), torch.randn(2, 5)
    out = layers.Concatenate()([a, b])
    np.testing.assert_array_equal(out.numpy(), np.concatenate([a.numpy(), b.numpy()], -1))
    out = layers.concatenate([torch.randn(2, 3, 4), torch.randn(2, 1, 4)], axis=1)
    assert out.shape == (2, 4, 4)
    with pytest.raises(ValueError, match="other axes to match"):
        layers.Concatenate()([layers.Input((3, 4)), layers.Input((2, 5))])


def test_merge_errors_are_clear():
    with pytest.raises(ValueError, match="same shape"):
        layers.Add()([layers.Input((3,)), layers.Input((4,))])
    with pytest.raises(ValueError, match="list of"):
        layers.Add()(layers.Input((3,)))
    with pytest.raises(ValueError, match="exactly 2"):
        layers.Subtract()([layers.Input((3,))] * 3)


def test_dot_matches_numpy_and_cosine():
    a, b = torch.randn(4, 3), torch.randn(4, 3)
    out = layers.Dot(axes=1)([a, b])
    np.testing.assert_allclose(out.numpy()[:, 0], (a.numpy() * b.numpy()).sum(1), rtol=1e-5)
    cos = layers.Dot(axes=1, normalize=True)([a, b]).numpy()[:, 0]
    an, bn = a.numpy(), b.numpy()
    expected = (an * bn).sum(1) / np.linalg.norm(an, axis=1) / np.linalg.norm(bn, axis=1)
    np.testing.assert_allclose(cos, expected, rtol=1e-5)
    x, y = torch.randn(2, 5, 3), torch.randn(2, 4, 3)
    out = layers.Dot(axes=(2, 2))([x, y])
    np.testing.assert_allclose(out.numpy(), np.einsum("bik,bjk->bij", x, y), rtol=1e-5, atol=1e-6)
    assert layers.Dot(axes=(2, 2))([layers.Input((5, 3)), layers.Input((4, 3))]).shape == (
        None,
        5,
        4,
    )


def test_merge_layer_config_round_trip():
    layer = layers.Concatenate(axis=1, name="cat")
    clone = layers.Concatenate.from_config(layer.get_config())
    assert clone.axis == 1 and clone.name == "cat"
    check_layer(layers.Identity, {}, (2, 3), (2, 3), 0)
