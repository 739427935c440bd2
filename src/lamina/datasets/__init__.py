"""Datasets that download once, verify their checksum, and load as NumPy arrays, like Keras's.

``mnist``, ``fashion_mnist``, ``cifar10``, ``imdb``, ``reuters``, ``boston_housing`` and
``jena_climate`` download from the public origins Keras uses into ``~/.lamina/datasets``
(``LAMINA_HOME`` replaces ``~/.lamina``; ``LAMINA_DATASETS_ORIGIN`` points every loader at a
mirror). ``digits`` needs no network. See ``docs/datasets.md``.

Example:
    >>> from lamina.datasets import digits
    >>> (x_train, y_train), (x_test, y_test) = digits.load_data()
    >>> x_train.shape
    (1500, 28, 28)
"""

from lamina.datasets import (
    boston_housing,
    cifar10,
    digits,
    fashion_mnist,
    imdb,
    jena_climate,
    mnist,
    reuters,
)
from lamina.datasets._download import ChecksumError, DownloadError, cache_home, get_file
from lamina.datasets._safe_pickle import UnsafeDataError, load_npz, restricted_load

__all__ = [
    "boston_housing",
    "cifar10",
    "digits",
    "fashion_mnist",
    "imdb",
    "jena_climate",
    "mnist",
    "reuters",
    "get_file",
    "cache_home",
    "load_npz",
    "restricted_load",
    "ChecksumError",
    "DownloadError",
    "UnsafeDataError",
]
