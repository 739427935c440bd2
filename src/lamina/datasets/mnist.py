"""MNIST handwritten digits: 60,000 training and 10,000 test images of 28x28 grey pixels.

Example:
    >>> from lamina.datasets import mnist
    >>> mnist.FILE_HASHES["mnist.npz"][:12]
    '731c5ac60275'
"""

from __future__ import annotations

import numpy as np

from lamina.datasets._download import fetch
from lamina.datasets._safe_pickle import load_npz

__all__ = ["load_data"]

BASE_URL = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"
# SHA-256 as published by Keras. Tests and mirrors of different files replace the entry.
FILE_HASHES: dict[str, str | None] = {
    "mnist.npz": "731c5ac602752760c8e48fbffcf8c3b850d9dc2a2aedcf2cc48468fc17b673d1",
}

Split = tuple[np.ndarray, np.ndarray]


def load_data(path: str = "mnist.npz") -> tuple[Split, Split]:
    """Load MNIST, downloading ``mnist.npz`` (11 MB) on first use.

    Args:
        path: File name in the cache (``~/.lamina/datasets``).

    Returns:
        ``(x_train, y_train), (x_test, y_test)``: uint8 images of shape ``(n, 28, 28)`` with
        values 0-255, and uint8 labels 0-9 of shape ``(n,)``.

    Example:
        >>> from lamina.datasets import mnist
        >>> (x_train, y_train), (x_test, y_test) = mnist.load_data()  # doctest: +SKIP
        >>> x_train.shape, x_train.dtype, y_test.shape  # doctest: +SKIP
        ((60000, 28, 28), dtype('uint8'), (10000,))
    """
    arrays = load_npz(fetch(path, BASE_URL + "mnist.npz", FILE_HASHES["mnist.npz"]))
    return (arrays["x_train"], arrays["y_train"]), (arrays["x_test"], arrays["y_test"])
