"""Boston housing prices: 506 suburbs described by 13 features, targets in thousands of dollars.

The data has an ethical problem: one feature ("B") encodes the share of Black residents in a
way that presumes racial self-segregation affects prices. Prefer another regression dataset
unless the point is to discuss that problem.

Example:
    >>> from lamina.datasets import boston_housing
    >>> boston_housing.FILE_HASHES["boston_housing.npz"][:12]
    'f553886a1f8d'
"""

from __future__ import annotations

import numpy as np

from lamina.datasets._download import fetch
from lamina.datasets._safe_pickle import load_npz

__all__ = ["load_data"]

BASE_URL = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"
FILE_HASHES: dict[str, str | None] = {
    "boston_housing.npz": "f553886a1f8d56431e820c5b82552d9d95cfcb96d1e678153f8839538947dff5",
}

Split = tuple[np.ndarray, np.ndarray]


def load_data(
    path: str = "boston_housing.npz", test_split: float = 0.2, seed: int = 113
) -> tuple[Split, Split]:
    """Load the Boston housing data, downloading ``boston_housing.npz`` (57 kB) on first use.

    The rows are shuffled with ``np.random.RandomState(seed)``; the first
    ``int(n * (1 - test_split))`` form the training set.

    Args:
        path: File name in the cache (``~/.lamina/datasets``).
        test_split: Fraction of the rows in the test set, in ``[0, 1)``.
        seed: Seed of the shuffle.

    Returns:
        ``(x_train, y_train), (x_test, y_test)``: float64 features ``(n, 13)`` and float64
        targets ``(n,)`` (404 and 102 rows with the defaults).

    Example:
        >>> from lamina.datasets import boston_housing
        >>> (x_train, y_train), (x_test, y_test) = boston_housing.load_data()  # doctest: +SKIP
        >>> x_train.shape, x_test.shape  # doctest: +SKIP
        ((404, 13), (102, 13))
    """
    if not 0 <= test_split < 1:
        raise ValueError(f"test_split must be in [0, 1), got {test_split!r}.")
    name = "boston_housing.npz"
    arrays = load_npz(fetch(path, BASE_URL + name, FILE_HASHES[name]))
    x, y = arrays["x"], arrays["y"]
    order = np.arange(len(x))
    np.random.RandomState(seed).shuffle(order)
    x, y = x[order], y[order]
    cut = int(len(x) * (1 - test_split))
    return (x[:cut], y[:cut]), (x[cut:], y[cut:])
