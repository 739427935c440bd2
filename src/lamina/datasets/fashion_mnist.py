"""Fashion-MNIST: 70,000 28x28 grey images of 10 kinds of clothing, shaped like MNIST.

Labels: 0 T-shirt/top, 1 Trouser, 2 Pullover, 3 Dress, 4 Coat, 5 Sandal, 6 Shirt, 7 Sneaker,
8 Bag, 9 Ankle boot. Fashion-MNIST is (c) Zalando SE, under the MIT license.

Example:
    >>> from lamina.datasets import fashion_mnist
    >>> len(fashion_mnist.FILE_HASHES)
    4
"""

from __future__ import annotations

import gzip

import numpy as np

from lamina.datasets._download import fetch
from lamina.errors import LoadError

__all__ = ["load_data"]

BASE_URL = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"
CACHE_SUBDIR = "datasets/fashion-mnist"
# SHA-256 of each file as published by Keras.
FILE_HASHES: dict[str, str | None] = {
    "train-labels-idx1-ubyte.gz": (
        "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845"
    ),
    "train-images-idx3-ubyte.gz": (
        "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84"
    ),
    "t10k-labels-idx1-ubyte.gz": (
        "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5"
    ),
    "t10k-images-idx3-ubyte.gz": (
        "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073"
    ),
}

Split = tuple[np.ndarray, np.ndarray]
# IDX magic numbers: 0x00000801 for uint8 vectors (labels), 0x00000803 for uint8 3-D arrays.
_LABELS_MAGIC, _IMAGES_MAGIC = 2049, 2051


def _read_idx(name: str, magic: int) -> np.ndarray:
    path = fetch(name, BASE_URL + name, FILE_HASHES[name], cache_subdir=CACHE_SUBDIR)
    with gzip.open(path, "rb") as f:
        raw = f.read()
    ndim = 1 if magic == _LABELS_MAGIC else 3
    header = 4 + 4 * ndim
    if len(raw) < header or int.from_bytes(raw[:4], "big") != magic:
        raise LoadError(f"{path} is not an IDX file of uint8 data: delete it and download again.")
    shape = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    if len(raw) - header != int(np.prod(shape)):
        raise LoadError(f"{path} is truncated (shape {shape}): delete it and download again.")
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(shape).copy()


def load_data() -> tuple[Split, Split]:
    """Load Fashion-MNIST, downloading four ``.gz`` files (30 MB) on first use.

    Returns:
        ``(x_train, y_train), (x_test, y_test)``: uint8 images ``(n, 28, 28)`` and uint8
        labels 0-9 ``(n,)``, with 60,000 training and 10,000 test images.

    Example:
        >>> from lamina.datasets import fashion_mnist
        >>> (x_train, y_train), (x_test, y_test) = fashion_mnist.load_data()  # doctest: +SKIP
        >>> x_train.shape, y_train.dtype  # doctest: +SKIP
        ((60000, 28, 28), dtype('uint8'))
    """
    y_train = _read_idx("train-labels-idx1-ubyte.gz", _LABELS_MAGIC)
    x_train = _read_idx("train-images-idx3-ubyte.gz", _IMAGES_MAGIC)
    y_test = _read_idx("t10k-labels-idx1-ubyte.gz", _LABELS_MAGIC)
    x_test = _read_idx("t10k-images-idx3-ubyte.gz", _IMAGES_MAGIC)
    return (x_train, y_train), (x_test, y_test)
