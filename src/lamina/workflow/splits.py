"""Evaluation protocols as index sets: hold-out, K-fold, iterated K-fold with shuffling, and
time-ordered splits whose validation data always comes after the training data.

Every function takes the number of samples (or anything with a length) and returns or yields
NumPy index arrays, so the same split can be applied to inputs, targets and sample weights.
They are built on scikit-learn's splitters (``KFold``, ``StratifiedKFold``, ``RepeatedKFold``,
``TimeSeriesSplit``).

Example:
    >>> from lamina.workflow import k_fold
    >>> [(len(tr), len(va)) for tr, va in k_fold(10, k=4, shuffle=False)]
    [(7, 3), (7, 3), (8, 2), (8, 2)]
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from lamina.workflow._data import as_numpy, n_samples as _length

__all__ = ["holdout_split", "k_fold", "iterated_k_fold", "time_series_split"]

Split = tuple[np.ndarray, np.ndarray]


def _count(n: Any) -> int:
    if isinstance(n, (int, np.integer)):
        if n < 2:
            raise ValueError(f"Splitting needs at least 2 samples, got n_samples={n}.")
        return int(n)
    return _count(_length(n, "the data"))


def _resolve_shuffle(shuffle: bool | None, time_ordered: bool, where: str) -> bool:
    if time_ordered:
        if shuffle:
            raise ValueError(
                f"{where}: shuffle=True with time_ordered=True would put future samples in the "
                "training data and let the model look ahead. Leave shuffle unset (or False) for "
                "data ordered in time."
            )
        return False
    return True if shuffle is None else bool(shuffle)


def _labels(stratify: Any, n: int) -> np.ndarray | None:
    if stratify is None:
        return None
    y = as_numpy(stratify, "stratify")
    if len(y) != n:
        raise ValueError(f"stratify has {len(y)} labels for {n} samples; give one per sample.")
    if y.ndim > 1:
        y = y.argmax(-1) if y.shape[-1] > 1 else y.reshape(len(y))
    return y


def holdout_split(
    n_samples: Any,
    validation_split: float = 0.2,
    shuffle: bool | None = None,
    seed: int | None = None,
    time_ordered: bool = False,
    stratify: Any = None,
) -> Split:
    """Simple hold-out validation: ``(train_index, val_index)``.

    Args:
        n_samples: number of samples, or the data itself (its length is used).
        validation_split: fraction (0, 1) of samples held out, or an integer count.
        shuffle: shuffle before splitting (default: yes, unless ``time_ordered``).
        seed: seed of the shuffle, for a reproducible split.
        time_ordered: the samples are in time order: no shuffling (``shuffle=True`` is an
            error), and the validation samples are the last ones, later than all training ones.
        stratify: class labels; the split keeps their proportions in both parts.

    Returns:
        Two sorted index arrays, disjoint, covering every sample.

    Example:
        >>> tr, va = holdout_split(10, 0.3, time_ordered=True)
        >>> tr.tolist(), va.tolist()
        ([0, 1, 2, 3, 4, 5, 6], [7, 8, 9])
    """
    n = _count(n_samples)
    do_shuffle = _resolve_shuffle(shuffle, time_ordered, "holdout_split")
    if isinstance(validation_split, (int, np.integer)) and not isinstance(validation_split, bool):
        n_val = int(validation_split)
    elif 0 < validation_split < 1:
        n_val = int(round(n * validation_split))
    else:
        raise ValueError(
            f"validation_split must be a fraction in (0, 1) or a sample count, got "
            f"{validation_split!r}."
        )
    if not 0 < n_val < n:
        raise ValueError(
            f"validation_split={validation_split!r} leaves {n_val} validation samples out of {n}; "
            "both parts need at least one sample."
        )
    labels = _labels(stratify, n)
    if labels is not None:
        if time_ordered:
            raise ValueError("stratify reorders samples; it cannot be used with time_ordered=True.")
        from sklearn.model_selection import train_test_split

        tr, va = train_test_split(
            np.arange(n), test_size=n_val, random_state=seed, shuffle=True, stratify=labels
        )
        return np.sort(tr), np.sort(va)
    order = np.random.default_rng(seed).permutation(n) if do_shuffle else np.arange(n)
    return np.sort(order[: n - n_val]), np.sort(order[n - n_val :])


def k_fold(
    n_samples: Any,
    k: int = 4,
    shuffle: bool = True,
    seed: int | None = None,
    stratify: Any = None,
) -> Iterator[Split]:
    """K-fold validation: ``k`` pairs ``(train_index, val_index)``; each sample is validated once.

    Args:
        n_samples: number of samples, or the data itself.
        k: number of folds (at least 2).
        shuffle: shuffle once before cutting the folds (sklearn ``KFold(shuffle=...)``).
        seed: seed of that shuffle.
        stratify: class labels; each fold keeps their proportions (``StratifiedKFold``).

    Example:
        >>> folds = list(k_fold(8, k=2, seed=0))
        >>> sorted(folds[0][1].tolist() + folds[1][1].tolist())
        [0, 1, 2, 3, 4, 5, 6, 7]
    """
    from sklearn.model_selection import KFold, StratifiedKFold

    n = _count(n_samples)
    _check_k(k, n)
    labels = _labels(stratify, n)
    state = seed if shuffle else None
    if labels is not None:
        splitter: Any = StratifiedKFold(k, shuffle=shuffle, random_state=state)
    else:
        splitter = KFold(k, shuffle=shuffle, random_state=state)
    yield from splitter.split(np.zeros((n, 1)), labels)


def iterated_k_fold(
    n_samples: Any,
    k: int = 4,
    repeats: int = 3,
    seed: int | None = None,
    stratify: Any = None,
) -> Iterator[Split]:
    """Iterated K-fold with shuffling: ``repeats`` rounds of K-fold, reshuffled before each
    round (``RepeatedKFold``), ``k * repeats`` pairs in all; for small data sets where the score
    must be precise.

    Example:
        >>> len(list(iterated_k_fold(12, k=3, repeats=2, seed=0)))
        6
    """
    from sklearn.model_selection import RepeatedKFold, RepeatedStratifiedKFold

    n = _count(n_samples)
    _check_k(k, n)
    if not isinstance(repeats, (int, np.integer)) or repeats < 1:
        raise ValueError(f"repeats must be a positive integer, got {repeats!r}.")
    labels = _labels(stratify, n)
    cls = RepeatedStratifiedKFold if labels is not None else RepeatedKFold
    yield from cls(n_splits=k, n_repeats=repeats, random_state=seed).split(np.zeros((n, 1)), labels)


def time_series_split(
    n_samples: Any,
    n_splits: int = 5,
    gap: int = 0,
    test_size: int | None = None,
    max_train_size: int | None = None,
) -> Iterator[Split]:
    """Time-ordered splits for time series: each ``(train_index, test_index)`` pair trains on a
    prefix of the series and tests on the block right after it, so test data is always later
    than training data (sklearn ``TimeSeriesSplit``, expanding window).

    Args:
        n_samples: number of samples (in time order), or the data itself.
        n_splits: number of pairs.
        gap: samples left out between the training and test blocks, e.g. the forecast horizon or
            window length when samples are overlapping windows (they would otherwise leak).
        test_size: samples per test block (default ``n // (n_splits + 1)``).
        max_train_size: keep only the most recent samples for training (a sliding window).

    Example:
        >>> [(int(tr.max()), int(te.min())) for tr, te in time_series_split(10, n_splits=3)]
        [(3, 4), (5, 6), (7, 8)]
    """
    from sklearn.model_selection import TimeSeriesSplit

    n = _count(n_samples)
    if not isinstance(n_splits, (int, np.integer)) or n_splits < 2:
        raise ValueError(f"n_splits must be an integer of at least 2, got {n_splits!r}.")
    size = test_size or n // (n_splits + 1)
    if size < 1 or n - gap - n_splits * size < 1:
        raise ValueError(
            f"{n} samples are too few for {n_splits} time-ordered splits with test_size={size} "
            f"and gap={gap}; use fewer splits or a smaller gap."
        )
    splitter = TimeSeriesSplit(
        n_splits=n_splits, gap=gap, test_size=test_size, max_train_size=max_train_size
    )
    yield from splitter.split(np.zeros((n, 1)))


def _check_k(k: Any, n: int) -> None:
    if not isinstance(k, (int, np.integer)) or isinstance(k, bool) or k < 2:
        raise ValueError(f"k must be an integer of at least 2 folds, got {k!r}.")
    if k > n:
        raise ValueError(f"k={k} folds need at least {k} samples, but there are {n}.")
