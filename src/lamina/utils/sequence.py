"""``pad_sequences``: make a list of variable-length sequences into one rectangular array.

Example:
    >>> from lamina.utils.sequence import pad_sequences
    >>> pad_sequences([[1, 2, 3], [4]], maxlen=2)
    array([[2, 3],
           [0, 4]], dtype=int32)
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = ["pad_sequences"]


def _is_str_dtype(dtype: Any) -> bool:
    try:
        return np.issubdtype(np.dtype(dtype), np.str_)
    except TypeError:
        return False


def pad_sequences(
    sequences: Sequence[Sequence[Any]],
    maxlen: int | None = None,
    dtype: Any = "int32",
    padding: str = "pre",
    truncating: str = "pre",
    value: Any = 0.0,
) -> np.ndarray:
    """Pad (and truncate) sequences to the same length, as Keras's ``pad_sequences``.

    Args:
        sequences: A list of sequences (lists or arrays); each step may itself be an array of a
            fixed shape, which becomes trailing dimensions of the result.
        maxlen: Length of the result; default: the longest sequence.
        dtype: Type of the result. Strings need ``dtype=object`` (or a NumPy str dtype) and a
            string ``value``.
        padding: ``'pre'`` (default) or ``'post'``: where the padding goes.
        truncating: ``'pre'`` (default) or ``'post'``: drop steps from the start or the end of
            sequences longer than ``maxlen``.
        value: The padding value.

    Returns:
        An array of shape ``(len(sequences), maxlen) + step_shape``. Empty sequences become
        rows of ``value``.

    Example:
        >>> pad_sequences([[1, 2, 3], [4]], maxlen=2, padding="post", truncating="post")
        array([[1, 2],
               [4, 0]], dtype=int32)
    """
    if padding not in ("pre", "post"):
        raise ValueError(f"pad_sequences: padding must be 'pre' or 'post', got {padding!r}.")
    if truncating not in ("pre", "post"):
        raise ValueError(f"pad_sequences: truncating must be 'pre' or 'post', got {truncating!r}.")
    if maxlen is not None and (
        isinstance(maxlen, bool) or not isinstance(maxlen, numbers.Integral) or maxlen < 0
    ):
        raise ValueError(
            f"pad_sequences: maxlen must be a non-negative int or None, got {maxlen!r}."
        )
    if not hasattr(sequences, "__len__"):
        raise ValueError(
            "pad_sequences: `sequences` must be a list (or array) of sequences, got "
            f"{type(sequences).__name__}; wrap a generator in list()."
        )
    lengths = []
    step_shape: tuple[int, ...] = ()
    found_step = False
    for i, s in enumerate(sequences):
        if isinstance(s, str | bytes):
            raise TypeError(
                f"pad_sequences: the sequence at position {i} is a string ({s[:30]!r}); pad lists "
                f"of tokens or of integers, e.g. from Tokenizer.texts_to_sequences(texts)."
            )
        try:
            lengths.append(len(s))
        except TypeError as e:
            raise ValueError(
                f"pad_sequences: `sequences` must be a list of sequences; found the non-sequence "
                f"{s!r} at position {i}. For a single sequence use pad_sequences([seq])."
            ) from e
        if not found_step and len(s):
            try:
                step_shape = np.asarray(s).shape[1:]
            except ValueError as e:
                raise ValueError(
                    f"pad_sequences: the steps of the sequence at position {i} have different "
                    f"shapes ({e}); every step must have the same shape."
                ) from e
            found_step = True
    if maxlen is None:
        maxlen = max(lengths, default=0)
    maxlen = int(maxlen)
    if isinstance(value, str) and np.dtype(dtype) != object and not _is_str_dtype(dtype):
        raise ValueError(
            f"pad_sequences: dtype {dtype!r} cannot hold the string value {value!r}; use "
            f"dtype=object for variable-length strings."
        )
    x = np.full((len(sequences), maxlen) + tuple(step_shape), value, dtype=dtype)
    if maxlen == 0:
        return x
    for i, s in enumerate(sequences):
        if not len(s):
            continue
        trunc = s[-maxlen:] if truncating == "pre" else s[:maxlen]
        try:
            trunc = np.asarray(trunc, dtype=dtype)
        except (TypeError, ValueError) as e:
            raise ValueError(
                f"pad_sequences: the sequence at position {i} cannot be converted to {dtype!r} "
                f"({e}). Use dtype=object for strings, or convert the tokens to integers first."
            ) from e
        if trunc.shape[1:] != tuple(step_shape):
            raise ValueError(
                f"pad_sequences: the steps of the sequence at position {i} have shape "
                f"{trunc.shape[1:]}, expected {tuple(step_shape)} (the shape of the first "
                f"non-empty sequence's steps); every step must have the same shape."
            )
        if padding == "post":
            x[i, : len(trunc)] = trunc
        else:
            x[i, -len(trunc) :] = trunc
    return x
