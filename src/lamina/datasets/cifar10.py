"""CIFAR-10: 60,000 32x32 colour images in 10 classes, 50,000 for training and 10,000 for testing.

Labels: 0 airplane, 1 automobile, 2 bird, 3 cat, 4 deer, 5 dog, 6 frog, 7 horse, 8 ship,
9 truck. The batches inside the archive are Python pickles; they are read with lamina's
restricted unpickler, which rebuilds only dicts, lists, bytes and NumPy arrays.

Example:
    >>> from lamina.datasets import cifar10
    >>> cifar10.LABEL_NAMES[:3]
    ('airplane', 'automobile', 'bird')
"""

from __future__ import annotations

import os

import numpy as np

from lamina.datasets._download import fetch
from lamina.datasets._safe_pickle import restricted_load
from lamina.errors import LoadError

__all__ = ["load_data", "LABEL_NAMES"]

URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
FOLDER = "cifar-10-batches-py"  # what the archive extracts to
FILE_HASHES: dict[str, str | None] = {
    "cifar-10-python.tar.gz": "6d958be074577803d12ecdefd02955f39262c83c16fe9348329d7fe0b5c001ce",
}
LABEL_NAMES = (
    "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck",
)  # fmt: skip

Split = tuple[np.ndarray, np.ndarray]


def _load_batch(path: str) -> tuple[np.ndarray, np.ndarray]:
    """Images ``(n, 32, 32, 3)`` uint8 and labels ``(n,)`` uint8 of one pickled batch."""
    with open(path, "rb") as f:
        batch = restricted_load(f, encoding="bytes")
    if not isinstance(batch, dict) or b"data" not in batch or b"labels" not in batch:
        raise LoadError(f"{path} is not a CIFAR-10 batch (a dict with b'data' and b'labels').")
    data, labels = batch[b"data"], np.asarray(batch[b"labels"])
    if not (
        isinstance(data, np.ndarray)
        and data.dtype == np.uint8
        and data.ndim == 2
        and data.shape[1] == 3 * 32 * 32
        and labels.shape == (len(data),)
        and labels.dtype.kind in "iu"
    ):
        raise LoadError(f"{path} does not hold n x 3072 uint8 images with n integer labels.")
    # Each row is 1024 red, then 1024 green, then 1024 blue values; make it channels-last.
    images = data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    return np.ascontiguousarray(images), labels.astype(np.uint8)


def load_data() -> tuple[Split, Split]:
    """Load CIFAR-10, downloading and extracting ``cifar-10-python.tar.gz`` (163 MB) on first use.

    Returns:
        ``(x_train, y_train), (x_test, y_test)``: uint8 images ``(n, 32, 32, 3)`` (channels
        last) and uint8 labels of shape ``(n, 1)``, as Keras returns them.

    Example:
        >>> from lamina.datasets import cifar10
        >>> (x_train, y_train), (x_test, y_test) = cifar10.load_data()  # doctest: +SKIP
        >>> x_train.shape, y_train.shape  # doctest: +SKIP
        ((50000, 32, 32, 3), (50000, 1))
    """
    name = "cifar-10-python.tar.gz"
    archive = fetch(name, URL, FILE_HASHES[name], extract=True)
    folder = os.path.join(os.path.dirname(archive), FOLDER)
    train = [_load_batch(os.path.join(folder, f"data_batch_{i}")) for i in range(1, 6)]
    x_test, y_test = _load_batch(os.path.join(folder, "test_batch"))
    x_train = np.concatenate([x for x, _ in train])
    y_train = np.concatenate([y for _, y in train])
    return (x_train, y_train.reshape(-1, 1)), (x_test, y_test.reshape(-1, 1))
