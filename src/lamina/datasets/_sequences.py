"""Token-sequence processing shared by the IMDB and Reuters loaders, with Keras's semantics.

The order of the steps is Keras's: shuffle with ``np.random.RandomState(seed)``, prepend
``start_char`` and shift every word index by ``index_from``, drop sequences whose length
(start character included) is not below ``maxlen``, then replace indices outside
``[skip_top, num_words)`` with ``oov_char`` (or drop them when ``oov_char`` is ``None``).

Example:
    >>> encode([[0, 5]], start_char=1, index_from=3)
    [[1, 3, 8]]
    >>> limit_vocabulary([[1, 3, 8]], num_words=5, skip_top=2, oov_char=2)
    [[2, 3, 2]]
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = [
    "check_options",
    "encode",
    "drop_long",
    "limit_vocabulary",
    "object_array",
    "read_word_index",
]


def _optional_int(name: str, value: Any, minimum: int) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be None or an integer >= {minimum}, got {value!r}.")


def check_options(
    num_words: Any, skip_top: Any, maxlen: Any, start_char: Any, oov_char: Any, index_from: Any
) -> None:
    """Refuse option values Keras would fail on later with an obscure error."""
    _optional_int("num_words", num_words, 0)
    _optional_int("maxlen", maxlen, 0)
    _optional_int("start_char", start_char, 0)
    _optional_int("oov_char", oov_char, 0)
    if skip_top is None:
        raise ValueError("skip_top must be an integer >= 0 (0 skips nothing), got None.")
    _optional_int("skip_top", skip_top, 0)
    if index_from is None:
        raise ValueError("index_from must be an integer >= 0, got None.")
    _optional_int("index_from", index_from, 0)


def _as_list(sequence: Any) -> list[int]:
    return sequence.tolist() if isinstance(sequence, np.ndarray) else list(sequence)


def encode(sequences: Sequence[Any], start_char: int | None, index_from: int) -> list[list[int]]:
    """Shift each word index by ``index_from`` and prepend ``start_char`` when it is not None."""
    head = [] if start_char is None else [start_char]
    return [head + [w + index_from for w in _as_list(s)] for s in sequences]


def drop_long(
    sequences: list[list[int]], labels: np.ndarray, maxlen: int | None
) -> tuple[list[list[int]], np.ndarray]:
    """Keep the sequences shorter than ``maxlen`` (Keras keeps ``len < maxlen``), with labels."""
    if not maxlen:
        return sequences, labels
    keep = [i for i, s in enumerate(sequences) if len(s) < maxlen]
    return [sequences[i] for i in keep], labels[np.asarray(keep, dtype=np.int64)]


def limit_vocabulary(
    sequences: list[list[int]], num_words: int | None, skip_top: int, oov_char: int | None
) -> list[list[int]]:
    """Map indices outside ``[skip_top, num_words)`` to ``oov_char``, or drop them if it is None.

    Without ``num_words`` the bound is the largest index present, so, as in Keras, that one
    index itself becomes out of vocabulary.
    """
    if not num_words:
        num_words = max((max(s) for s in sequences if s), default=0)
    if oov_char is not None:
        return [[w if skip_top <= w < num_words else oov_char for w in s] for s in sequences]
    return [[w for w in s if skip_top <= w < num_words] for s in sequences]


def object_array(sequences: list[list[int]]) -> np.ndarray:
    """A 1-D ``dtype=object`` array of lists, even when all the lists have the same length."""
    out = np.empty(len(sequences), dtype=object)
    for i, sequence in enumerate(sequences):
        out[i] = sequence
    return out


def read_word_index(path: str) -> dict[str, int]:
    """Read a word-index JSON file, checking that it maps words to integers."""
    with open(path, encoding="utf-8") as f:
        index = json.load(f)
    if not isinstance(index, dict) or not all(
        isinstance(k, str) and type(v) is int for k, v in index.items()
    ):
        raise ValueError(f"{path} is not a word index (a JSON object of word: integer).")
    return index
