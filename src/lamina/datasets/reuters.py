"""Reuters newswires labelled over 46 topics: 11,228 wires, split 80/20 by default.

Each newswire is a list of word indices, words indexed by frequency as in :mod:`imdb`.

Example:
    >>> from lamina.datasets import reuters
    >>> names = reuters.get_label_names()
    >>> len(names), names[3], names[4]
    (46, 'earn', 'acq')
"""

from __future__ import annotations

import numpy as np

from lamina.datasets import _sequences
from lamina.datasets._download import fetch
from lamina.datasets._safe_pickle import load_npz

__all__ = ["load_data", "get_word_index", "get_label_names"]

BASE_URL = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"
# SHA-256 of reuters.npz as published by Keras; Keras publishes only an MD5 for the word index.
FILE_HASHES: dict[str, str | None] = {
    "reuters.npz": "d6586e694ee56d7a4e65172e12b3e987c03096cb01eab99753921ef915959916",
    "reuters_word_index.json": "4d44cc38712099c9e383dc6e5f11a921",
}

# Topic names in label order (the order Keras documents for this file).
_LABEL_NAMES = (
    "cocoa grain veg-oil earn acq wheat copper housing money-supply coffee sugar trade reserves "
    "ship cotton carcass crude nat-gas cpi money-fx interest gnp meal-feed alum oilseed gold tin "
    "strategic-metal livestock retail ipi iron-steel rubber heat jobs lei bop zinc orange "
    "pet-chem dlr gas silver wpi hog lead"
).split()

Split = tuple[np.ndarray, np.ndarray]


def load_data(
    path: str = "reuters.npz",
    num_words: int | None = None,
    skip_top: int = 0,
    maxlen: int | None = None,
    test_split: float = 0.2,
    seed: int = 113,
    start_char: int | None = 1,
    oov_char: int | None = 2,
    index_from: int = 3,
) -> tuple[Split, Split]:
    """Load the Reuters newswires, downloading ``reuters.npz`` (2 MB) on first use.

    The options mean what they mean in :func:`lamina.datasets.imdb.load_data`. The wires are
    shuffled with ``seed`` and processed before the split, and the first
    ``int(n * (1 - test_split))`` become the training set.

    Args:
        path: File name in the cache (``~/.lamina/datasets``).
        num_words: Keep only indices below this; others become ``oov_char``.
        skip_top: Indices below this also become ``oov_char``.
        maxlen: Drop wires whose length, start character included, is ``maxlen`` or more.
        test_split: Fraction of the wires in the test set, in ``[0, 1)``.
        seed: Seed of the shuffle.
        start_char: Index put at the start of every wire (``None``: no start index).
        oov_char: Index for words cut by ``num_words`` / ``skip_top`` (``None``: drop them).
        index_from: Added to every word index.

    Returns:
        ``(x_train, y_train), (x_test, y_test)``: ``x`` are 1-D object arrays of lists of int,
        ``y`` int64 arrays of topic labels in ``0..45``.

    Example:
        >>> from lamina.datasets import reuters
        >>> (x_train, y_train), (x_test, y_test) = reuters.load_data(  # doctest: +SKIP
        ...     num_words=10000
        ... )
        >>> len(x_train), len(x_test)  # doctest: +SKIP
        (8982, 2246)
    """
    _sequences.check_options(num_words, skip_top, maxlen, start_char, oov_char, index_from)
    if not 0 <= test_split < 1:
        raise ValueError(f"test_split must be in [0, 1), got {test_split!r}.")
    arrays = load_npz(fetch(path, BASE_URL + "reuters.npz", FILE_HASHES["reuters.npz"]))
    xs, labels = arrays["x"], arrays["y"]

    rng = np.random.RandomState(seed)
    order = np.arange(len(xs))
    rng.shuffle(order)
    xs, labels = xs[order], labels[order]

    sequences = _sequences.encode(xs, start_char, index_from)
    sequences, labels = _sequences.drop_long(sequences, labels, maxlen)
    if not sequences:
        raise ValueError(f"No newswire is shorter than maxlen={maxlen}: increase maxlen.")
    sequences = _sequences.limit_vocabulary(sequences, num_words, skip_top, oov_char)

    cut = int(len(sequences) * (1 - test_split))
    return (
        (_sequences.object_array(sequences[:cut]), np.array(labels[:cut])),
        (_sequences.object_array(sequences[cut:]), np.array(labels[cut:])),
    )


def get_word_index(path: str = "reuters_word_index.json") -> dict[str, int]:
    """The dict from word to its index in the data (before ``index_from`` is added).

    Example:
        >>> from lamina.datasets import reuters
        >>> index = reuters.get_word_index()  # doctest: +SKIP
        >>> index["the"]  # doctest: +SKIP
        1
    """
    return _sequences.read_word_index(
        fetch(path, BASE_URL + "reuters_word_index.json", FILE_HASHES["reuters_word_index.json"])
    )


def get_label_names() -> tuple[str, ...]:
    """The 46 topic names, indexed by label.

    Example:
        >>> from lamina.datasets import reuters
        >>> reuters.get_label_names()[:3]
        ('cocoa', 'grain', 'veg-oil')
    """
    return tuple(_LABEL_NAMES)
