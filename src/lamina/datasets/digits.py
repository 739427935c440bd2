"""Handwritten digits bundled with scikit-learn, shaped like MNIST, for work without a network.

scikit-learn ships 1,797 digits of 8x8 pixels with values 0-16. This loader scales each to
20x20 with bilinear interpolation and centres it in a 28x28 frame (MNIST draws its digits in a
20x20 box centred in 28x28), with values 0-255. The split is fixed: a permutation drawn from
``np.random.RandomState(0)`` puts 1,500 images in training and 297 in test.

Example:
    >>> from lamina.datasets import digits
    >>> (x_train, y_train), (x_test, y_test) = digits.load_data()
    >>> x_train.shape, x_train.dtype, y_train.dtype, x_test.shape
    ((1500, 28, 28), dtype('uint8'), dtype('uint8'), (297, 28, 28))
"""

from __future__ import annotations

import numpy as np

__all__ = ["load_data"]

NUM_TRAIN = 1500
_BOX, _FRAME = 20, 28

Split = tuple[np.ndarray, np.ndarray]


def _interpolation_matrix(size_in: int, size_out: int) -> np.ndarray:
    """``(size_out, size_in)`` weights of 1-D linear interpolation, pixel centres aligned."""
    centres = (np.arange(size_out) + 0.5) * size_in / size_out - 0.5
    centres = np.clip(centres, 0, size_in - 1)
    low = np.floor(centres).astype(int)
    high = np.minimum(low + 1, size_in - 1)
    frac = centres - low
    weights = np.zeros((size_out, size_in))
    weights[np.arange(size_out), low] += 1 - frac
    weights[np.arange(size_out), high] += frac
    return weights


def load_data() -> tuple[Split, Split]:
    """scikit-learn's digits as MNIST-like ``(x_train, y_train), (x_test, y_test)``.

    Returns:
        uint8 images ``(n, 28, 28)`` with values 0-255 and uint8 labels 0-9 ``(n,)``:
        1,500 training and 297 test images, the same on every call.

    Example:
        >>> from lamina.datasets import digits
        >>> (x_train, y_train), _ = digits.load_data()
        >>> int(x_train.max()), sorted(set(y_train.tolist())) == list(range(10))
        (255, True)
    """
    from sklearn.datasets import load_digits  # bundled with scikit-learn: no download

    bunch = load_digits()
    images = bunch.images / 16.0  # (1797, 8, 8) in [0, 1]
    weights = _interpolation_matrix(8, _BOX)
    scaled = np.einsum("ij,njk,lk->nil", weights, images, weights)
    pad = (_FRAME - _BOX) // 2
    framed = np.zeros((len(images), _FRAME, _FRAME))
    framed[:, pad : pad + _BOX, pad : pad + _BOX] = scaled
    x = np.clip(np.rint(framed * 255), 0, 255).astype(np.uint8)
    y = bunch.target.astype(np.uint8)
    order = np.random.RandomState(0).permutation(len(x))
    train, test = order[:NUM_TRAIN], order[NUM_TRAIN:]
    return (x[train], y[train]), (x[test], y[test])
