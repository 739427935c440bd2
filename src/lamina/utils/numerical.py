"""Array helpers of the classic workflow: one-hot encoding and normalization.

Example:
    >>> from lamina.utils import to_categorical
    >>> to_categorical([0, 2, 1])
    array([[1., 0., 0.],
           [0., 0., 1.],
           [0., 1., 0.]], dtype=float32)
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["to_categorical", "normalize", "multi_hot"]


def to_categorical(y: Any, num_classes: int | None = None, dtype: str = "float32") -> np.ndarray:
    """One-hot encode integer class labels: shape ``(n,)`` becomes ``(n, num_classes)``.

    A trailing axis of size 1 is dropped first, as in Keras. Labels must be integers in
    ``[0, num_classes)``.

    Example:
        >>> to_categorical([[1], [0]], num_classes=3).tolist()
        [[0.0, 1.0, 0.0], [1.0, 0.0, 0.0]]
    """
    y = np.asarray(y)
    if y.dtype.kind == "f":
        if not np.all(np.isfinite(y)) or not np.all(y == np.round(y)):
            raise ValueError(
                "to_categorical needs integer class labels; the input has fractional or "
                "non-finite values."
            )
    elif y.dtype.kind not in "iub":
        raise ValueError(f"to_categorical needs integer class labels, got dtype {y.dtype}.")
    y = y.astype(np.int64)
    shape = y.shape
    if shape and shape[-1] == 1 and len(shape) > 1:
        shape = shape[:-1]
    y = y.reshape(-1)
    if y.size and y.min() < 0:
        raise ValueError(f"to_categorical needs labels >= 0, got {int(y.min())}.")
    if num_classes is None:
        num_classes = int(y.max()) + 1 if y.size else 0
    elif y.size and y.max() >= num_classes:
        raise ValueError(
            f"Label {int(y.max())} is out of range for num_classes={num_classes} (labels must be "
            f"0..{num_classes - 1})."
        )
    out = np.zeros((y.size, num_classes), dtype=dtype)
    out[np.arange(y.size), y] = 1
    return out.reshape((*shape, num_classes))


def multi_hot(labels: Any, num_classes: int, dtype: str = "float32") -> np.ndarray:
    """Multi-label targets: each sample's list of class indices becomes a 0/1 vector.

    Example:
        >>> multi_hot([[0, 2], [], [1]], 3).tolist()
        [[1.0, 0.0, 1.0], [0.0, 0.0, 0.0], [0.0, 1.0, 0.0]]
    """
    out = np.zeros((len(labels), num_classes), dtype=dtype)
    for i, sample in enumerate(labels):
        for label in sample:
            if not 0 <= int(label) < num_classes:
                raise ValueError(f"Sample {i} has label {label}, outside 0..{num_classes - 1}.")
            out[i, int(label)] = 1
    return out


def normalize(x: Any, axis: int = -1, order: int = 2) -> np.ndarray:
    """Scale each vector along ``axis`` to unit ``order``-norm (zero vectors stay zero).

    Example:
        >>> normalize([[3.0, 4.0]]).tolist()
        [[0.6, 0.8]]
    """
    x = np.asarray(x, dtype=np.float64 if np.asarray(x).dtype == np.float64 else np.float32)
    norm = np.linalg.norm(x, ord=order, axis=axis, keepdims=True)
    norm[norm == 0] = 1
    return x / norm
