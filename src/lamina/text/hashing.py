"""The hashing trick with a stable hash, and a report of hash collisions.

Keras's ``one_hot`` and ``hashing_trick`` hash words with Python's ``hash()``, which is randomized
per process (``PYTHONHASHSEED``): the same word gets a different index in every run, so a model
trained in one process reads garbage in another. lamina never uses ``hash()``: the default is the
MD5 digest of the word's UTF-8 bytes, the same as Keras's ``hash_function='md5'``, so indices are
identical in every process, on every machine, and equal to Keras's with ``'md5'``.

Index ``i = hash(word) % (n - 1) + 1`` lies in ``1 .. n - 1``; 0 is left for padding.

**Collision warning.** When the words of the text being hashed collide too often, a
:class:`lamina.LaminaWarning` is given: the threshold is :data:`COLLISION_WARNING_THRESHOLD`
(0.1), meaning more than 10% of the text's distinct words share their index with another word.
:func:`hashing_collisions` gives the full report for a whole vocabulary.

Example:
    >>> from lamina.text import one_hot, hashing_collisions
    >>> one_hot("the cat sat on the mat", 1000)
    [132, 759, 622, 379, 132, 962]
    >>> hashing_collisions(["the", "cat", "sat"], 1000)["rate"]
    0.0
"""

from __future__ import annotations

import hashlib
import math
import numbers
import warnings
from collections.abc import Callable, Iterable

from lamina.errors import LaminaWarning
from lamina.text.tokenize import DEFAULT_FILTERS, text_to_word_sequence

__all__ = [
    "COLLISION_WARNING_THRESHOLD",
    "stable_hash",
    "hashing_trick",
    "one_hot",
    "hashing_collisions",
]

#: one_hot / hashing_trick warn when more than this fraction of a text's distinct words share
#: their index with another word.
COLLISION_WARNING_THRESHOLD = 0.1

HashFunction = None | str | Callable[[str], int]


def stable_hash(word: str) -> int:
    """The MD5 digest of ``word`` (UTF-8) as a non-negative integer; the same everywhere.

    Example:
        >>> stable_hash("cat") % 1000
        632
    """
    return int.from_bytes(hashlib.md5(word.encode("utf-8"), usedforsecurity=False).digest(), "big")


def _resolve(hash_function: HashFunction, stacklevel: int) -> Callable[[str], int]:
    if hash_function is None or hash_function == "md5":
        return stable_hash
    if hash_function is hash:
        warnings.warn(
            "hash_function=hash: Python's hash() is randomized per process (PYTHONHASHSEED), so "
            "the same word gets different indices in different runs. Leave hash_function=None "
            "for lamina's stable MD5 hash.",
            LaminaWarning,
            stacklevel=stacklevel,
        )
        return hash
    if isinstance(hash_function, str):
        raise ValueError(
            f"Unknown hash_function {hash_function!r}: use None or 'md5' (both the stable MD5 "
            f"hash) or a function str -> int."
        )
    if not callable(hash_function):
        raise TypeError(f"hash_function must be None, 'md5' or callable, got {hash_function!r}.")
    return hash_function


def _check_n(n: object, fn: str) -> int:
    if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 2:
        raise ValueError(
            f"{fn}: n must be an integer >= 2 (indices run 1 .. n-1, 0 is reserved), got {n!r}."
        )
    return int(n)


def _indices(words: Iterable[str], n: int, fn: Callable[[str], int]) -> dict[str, int]:
    out: dict[str, int] = {}
    for w in words:
        if w not in out:
            h = fn(w)
            if isinstance(h, bool) or not isinstance(h, numbers.Integral):
                raise TypeError(f"hash_function returned {h!r} for {w!r}; it must return an int.")
            out[w] = int(h) % (n - 1) + 1
    return out


def _hash_text(text, n, hash_function, filters, lower, split, analyzer, fn_name) -> list[int]:
    n = _check_n(n, fn_name)
    fn = _resolve(hash_function, stacklevel=4)
    if analyzer is not None:
        seq = list(analyzer(text))
    else:
        seq = text_to_word_sequence(text, filters=filters, lower=lower, split=split)
    index = _indices(seq, n, fn)
    if len(index) > 1:
        # cheap test first: any shared index at all?
        if len(set(index.values())) < len(index) and _rate(index) > COLLISION_WARNING_THRESHOLD:
            warnings.warn(
                f"{fn_name}: with n={n}, more than {COLLISION_WARNING_THRESHOLD:.0%} of the text's "
                f"distinct words share an index with another word (hash collisions). Use a larger "
                f"n (about 10x the vocabulary size keeps collisions near 10%); "
                f"lamina.text.hashing_collisions(words, n) reports them for a whole vocabulary.",
                LaminaWarning,
                stacklevel=3,  # _hash_text -> hashing_trick / one_hot -> the caller
            )
    return [index[w] for w in seq]


def _groups(index: dict[str, int]) -> dict[int, list[str]]:
    groups: dict[int, list[str]] = {}
    for w, i in index.items():
        groups.setdefault(i, []).append(w)
    return groups


def _rate(index: dict[str, int]) -> float:
    groups = _groups(index)
    return sum(len(g) for g in groups.values() if len(g) > 1) / len(index)


def hashing_trick(
    text: str,
    n: int,
    hash_function: HashFunction = None,
    filters: str = DEFAULT_FILTERS,
    lower: bool = True,
    split: str = " ",
    analyzer: Callable[[str], Iterable[str]] | None = None,
) -> list[int]:
    """Split a text into words and hash each to an index in ``1 .. n - 1``.

    Args:
        text: The text.
        n: Size of the hashing space (indices ``1 .. n - 1``; 0 is reserved for padding).
        hash_function: ``None`` or ``'md5'``: the stable MD5 hash (same as Keras's ``'md5'``); or
            a function ``str -> int`` (it should be deterministic; Python's ``hash`` is not and
            gives a warning).
        filters, lower, split: As :func:`lamina.text.text_to_word_sequence`.
        analyzer: Optional function ``str -> tokens`` used instead of the word splitter.

    Returns:
        One index per word. Warns (:class:`lamina.LaminaWarning`) when more than 10% of the
        text's distinct words collide.

    Example:
        >>> hashing_trick("Cat cat dog", 100)
        [3, 3, 33]
    """
    return _hash_text(text, n, hash_function, filters, lower, split, analyzer, "hashing_trick")


def one_hot(
    input_text: str,
    n: int,
    filters: str = DEFAULT_FILTERS,
    lower: bool = True,
    split: str = " ",
    analyzer: Callable[[str], Iterable[str]] | None = None,
) -> list[int]:
    """Keras's ``one_hot``: word indices from the stable hash (``hashing_trick`` with MD5).

    Unlike Keras (randomized ``hash()``), the result is the same in every process.

    Example:
        >>> one_hot("dog cat", 100)
        [33, 3]
    """
    return _hash_text(input_text, n, None, filters, lower, split, analyzer, "one_hot")


def hashing_collisions(words: Iterable[str], n: int, hash_function: HashFunction = None) -> dict:
    """Report how the distinct ``words`` collide when hashed into ``n`` (indices 1 .. n-1).

    Args:
        words: A vocabulary (an iterable of words; a ``word_index`` dict works too).
        n: Size of the hashing space, as given to :func:`hashing_trick` / :func:`one_hot`.
        hash_function: As :func:`hashing_trick`.

    Returns:
        A dict with ``rate`` (fraction of distinct words sharing an index with another word),
        ``num_words``, ``num_colliding``, ``colliding_words`` (in first-seen order),
        ``collisions`` (``{index: [words]}`` for shared indices), ``buckets`` (n - 1),
        ``expected_rate`` (for random hashing: ``1 - (1 - 1/(n-1))**(num_words-1)``) and
        ``suggested_n`` (smallest n whose expected rate is at most
        :data:`COLLISION_WARNING_THRESHOLD`).

    Example:
        >>> report = hashing_collisions(["a", "b", "c", "d"], 8)
        >>> report["rate"], report["collisions"], report["colliding_words"]
        (0.5, {1: ['a', 'c']}, ['a', 'c'])
        >>> report["suggested_n"]
        30
    """
    n = _check_n(n, "hashing_collisions")
    index = _indices(words, n, _resolve(hash_function, stacklevel=3))
    groups = _groups(index)
    shared = {i: g for i, g in groups.items() if len(g) > 1}
    colliding = [w for w in index if len(groups[index[w]]) > 1]
    v = len(index)
    buckets = n - 1
    expected = 1.0 - (1.0 - 1.0 / buckets) ** (v - 1) if v > 1 else 0.0
    if v > 1:
        t = COLLISION_WARNING_THRESHOLD
        m = 1.0 / -math.expm1(math.log1p(-t) / (v - 1))
        suggested = max(2, math.ceil(m - 1e-9) + 1)
    else:
        suggested = 2
    return {
        "rate": len(colliding) / v if v else 0.0,
        "num_words": v,
        "num_colliding": len(colliding),
        "colliding_words": colliding,
        "collisions": shared,
        "buckets": buckets,
        "expected_rate": expected,
        "suggested_n": suggested,
    }
