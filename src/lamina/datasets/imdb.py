"""IMDB movie reviews labelled by sentiment: 25,000 for training and 25,000 for testing.

Each review is a list of word indices; words are indexed by frequency (index 1 is the most
frequent word of the original index, before ``index_from`` shifts it). Labels are 1 (positive)
and 0 (negative).

Example:
    >>> from lamina.datasets import imdb
    >>> sorted(imdb.FILE_HASHES)
    ['imdb.npz', 'imdb_word_index.json']
"""

from __future__ import annotations

import numpy as np

from lamina.datasets import _sequences
from lamina.datasets._download import fetch
from lamina.datasets._safe_pickle import load_npz

__all__ = ["load_data", "get_word_index"]

BASE_URL = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"
# SHA-256 of imdb.npz as published by Keras; Keras publishes only an MD5 for the word index.
# Tests and mirrors of different files replace the entries of this table.
FILE_HASHES: dict[str, str | None] = {
    "imdb.npz": "69664113be75683a8fe16e3ed0ab59fda8886cb3cd7ada244f7d9544e4676b9f",
    "imdb_word_index.json": "bfafd718b763782e994055a2d397834f",
}

Split = tuple[np.ndarray, np.ndarray]


def load_data(
    path: str = "imdb.npz",
    num_words: int | None = None,
    skip_top: int = 0,
    maxlen: int | None = None,
    seed: int = 113,
    start_char: int | None = 1,
    oov_char: int | None = 2,
    index_from: int = 3,
) -> tuple[Split, Split]:
    """Load the IMDB reviews, downloading ``imdb.npz`` (17 MB) on first use.

    Args:
        path: File name in the cache (``~/.lamina/datasets``).
        num_words: Keep only indices below this (the most frequent words); others become
            ``oov_char``. ``None`` keeps all words.
        skip_top: Indices below this (the most frequent words) also become ``oov_char``.
        maxlen: Drop reviews whose length, start character included, is ``maxlen`` or more.
        seed: Seed of the shuffle applied to the training and then the test reviews.
        start_char: Index put at the start of every review (``None``: no start index).
        oov_char: Index for words cut by ``num_words`` / ``skip_top`` (``None``: drop them).
        index_from: Added to every word index, reserving ``0..index_from-1`` (0 is padding).

    Returns:
        ``(x_train, y_train), (x_test, y_test)``: ``x`` are 1-D object arrays of lists of int,
        ``y`` int64 arrays of 0/1 labels.

    Raises:
        ValueError: An option is invalid, or ``maxlen`` keeps no review.

    Example:
        >>> from lamina.datasets import imdb
        >>> (x_train, y_train), (x_test, y_test) = imdb.load_data(num_words=10000)  # doctest: +SKIP
        >>> len(x_train), x_train[0][:4], y_train[:4]  # doctest: +SKIP
        (25000, [1, 14, 22, 16], array([1, 0, 0, 1]))
    """
    _sequences.check_options(num_words, skip_top, maxlen, start_char, oov_char, index_from)
    arrays = load_npz(fetch(path, BASE_URL + "imdb.npz", FILE_HASHES["imdb.npz"]))
    x_train, y_train = arrays["x_train"], arrays["y_train"]
    x_test, y_test = arrays["x_test"], arrays["y_test"]

    rng = np.random.RandomState(seed)
    order = np.arange(len(x_train))
    rng.shuffle(order)
    x_train, y_train = x_train[order], y_train[order]
    order = np.arange(len(x_test))
    rng.shuffle(order)
    x_test, y_test = x_test[order], y_test[order]

    train = _sequences.encode(x_train, start_char, index_from)
    test = _sequences.encode(x_test, start_char, index_from)
    train, y_train = _sequences.drop_long(train, y_train, maxlen)
    test, y_test = _sequences.drop_long(test, y_test, maxlen)
    if maxlen and (not train or not test):
        raise ValueError(
            f"No review is shorter than maxlen={maxlen} in the training or the test set: "
            "increase maxlen."
        )

    sequences = _sequences.limit_vocabulary(train + test, num_words, skip_top, oov_char)
    cut = len(train)
    return (
        (_sequences.object_array(sequences[:cut]), y_train),
        (_sequences.object_array(sequences[cut:]), y_test),
    )


def get_word_index(path: str = "imdb_word_index.json") -> dict[str, int]:
    """The dict from word to its index in the data (before ``index_from`` is added).

    Example:
        >>> from lamina.datasets import imdb
        >>> index = imdb.get_word_index()  # doctest: +SKIP
        >>> index["the"]  # doctest: +SKIP
        1
    """
    return _sequences.read_word_index(
        fetch(path, BASE_URL + "imdb_word_index.json", FILE_HASHES["imdb_word_index.json"])
    )
