"""Leakage checks: samples shared between splits (exact duplicates, found by content hash),
time-order violations, and class balance per split.

Example:
    >>> import numpy as np
    >>> from lamina.workflow import check_splits
    >>> train = np.arange(12).reshape(6, 2)
    >>> report = check_splits(train, val=train[:2])
    >>> report.shared["train/val"], report.ok
    (2, False)
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from lamina.workflow._data import as_numpy, common_dtypes, content_ids, n_samples, sample_rows

__all__ = ["count_shared_samples", "check_splits", "SplitReport", "LeakageError"]

_NAMES = ("train", "val", "test")


class LeakageError(ValueError):
    """Raised by :meth:`SplitReport.raise_for_issues` when splits leak into each other.

    Example:
        >>> issubclass(LeakageError, ValueError)
        True
    """


def count_shared_samples(train_x: Any, val_x: Any) -> int:
    """How many samples of ``val_x`` also appear (byte for byte) in ``train_x``.

    ``x`` may be an array, tensor or frame, or a list / dict of them (several inputs: a sample
    is shared when all of its inputs are). Fast: one vectorized 64-bit hash per row, bytes
    compared only where hashes match (MNIST's 60,000 x 784 takes about 0.1 s).

    Example:
        >>> import numpy as np
        >>> count_shared_samples(np.eye(4), np.eye(4)[[0, 0, 2]])
        3
    """
    dtypes = common_dtypes(train_x, val_x)
    train_ids, val_ids = content_ids(sample_rows(train_x, dtypes), sample_rows(val_x, dtypes))
    return int(np.isin(val_ids, train_ids).sum())


@dataclasses.dataclass
class SplitReport:
    """What :func:`check_splits` found. ``issues`` lists the problems in words; ``ok`` is True
    when there are none.

    Attributes:
        sizes: samples per split.
        shared: for each pair ``"train/val"``, the number of samples of the later split that
            also appear in the earlier one.
        shared_index: for each pair, the indices (in the later split) of those samples.
        internal_duplicates: per split, samples that repeat another sample of the same split.
        time_violations: for each pair, samples of the later split that are not strictly later
            than the latest sample of the earlier split (``timestamps`` given).
        class_balance: per split, ``{class: share}`` (classification labels) or
            ``{"mean": ..., "std": ...}`` (continuous targets).

    Example:
        >>> r = check_splits(np.zeros((4, 1)), np.ones((2, 1)))
        >>> r.ok, r.sizes
        (True, {'train': 4, 'val': 2})
    """

    sizes: dict[str, int]
    shared: dict[str, int]
    shared_index: dict[str, np.ndarray]
    internal_duplicates: dict[str, int]
    time_violations: dict[str, int]
    class_balance: dict[str, dict[Any, float]]
    issues: list[str]

    @property
    def ok(self) -> bool:
        return not self.issues

    def raise_for_issues(self) -> None:
        """Raise :class:`LeakageError` listing the issues, if there are any."""
        if self.issues:
            raise LeakageError("The splits leak:\n- " + "\n- ".join(self.issues))

    def __str__(self) -> str:
        lines = ["Split check: " + ", ".join(f"{k} {v}" for k, v in self.sizes.items())]
        for pair, count in self.shared.items():
            first, second = pair.split("/")
            lines.append(f"  {second} samples also in {first}: {count}")
        for name, count in self.internal_duplicates.items():
            if count:
                lines.append(f"  repeated samples within {name}: {count}")
        for pair, count in self.time_violations.items():
            first, second = pair.split("/")
            lines.append(f"  {second} samples not later than all of {first}: {count}")
        if self.class_balance:
            lines.append("  targets per split:")
            for name, shares in self.class_balance.items():
                body = ", ".join(f"{k}: {v:.3g}" for k, v in shares.items())
                lines.append(f"    {name}: {body}")
        lines.append("  OK: no leakage found." if self.ok else "  Issues:")
        lines += [f"  - {issue}" for issue in self.issues]
        return "\n".join(lines)


def _per_split(value: Any, names: list[str], what: str) -> dict[str, Any]:
    if value is None:
        return {}
    if isinstance(value, dict):
        unknown = set(value) - set(names)
        if unknown:
            raise ValueError(f"{what} names splits {sorted(unknown)}; the splits are {names}.")
        return {k: v for k, v in value.items() if v is not None}
    if not isinstance(value, (list, tuple)) or len(value) != len(names):
        raise ValueError(
            f"{what} must be a list with one entry per split ({len(names)}: {names}) or a dict "
            "keyed by split name."
        )
    return {k: v for k, v in zip(names, value) if v is not None}


def check_splits(
    train: Any,
    val: Any = None,
    test: Any = None,
    timestamps: Any = None,
    labels: Any = None,
    max_shift: float = 0.1,
    strict: bool = False,
) -> SplitReport:
    """Look for leakage between training, validation and test data.

    Reports (1) samples of a later split that also appear in an earlier one, byte for byte
    (data redundancy); (2) with ``timestamps``, samples of a later split that are not strictly
    later than every sample of the earlier splits (the arrow of time); (3) with ``labels``, the
    class shares per split, flagging classes missing from a split or shares that differ by more
    than ``max_shift`` (data representativeness).

    Args:
        train, val, test: the inputs of each split (arrays, tensors, frames, or a list / dict of
            them for several inputs); ``val`` and ``test`` are optional.
        timestamps: one array of times (numbers or ``datetime64``) per split given, as a list
            in train/val/test order or a dict keyed by split name.
        labels: the targets of each split, in the same form.
        max_shift: largest acceptable difference between two splits' share of a class (a
            larger one is flagged when a chi-square test finds it unlikely by chance).
        strict: raise :class:`LeakageError` when there are issues (default: only report them).

    Returns:
        A :class:`SplitReport`; ``print(report)`` shows it.

    Example:
        >>> import numpy as np
        >>> r = check_splits(np.zeros((3, 1)), np.ones((2, 1)),
        ...                  timestamps=[np.array([1, 2, 3]), np.array([3, 4])])
        >>> r.time_violations
        {'train/val': 1}
    """
    given = [(n, s) for n, s in zip(_NAMES, (train, val, test)) if s is not None]
    if not given:
        raise ValueError("check_splits() needs at least the training data.")
    names = [n for n, _ in given]
    sizes = {n: n_samples(s, n) for n, s in given}
    dtypes = common_dtypes(*(s for _, s in given))
    ids = dict(zip(names, content_ids(*(sample_rows(s, dtypes) for _, s in given))))
    issues: list[str] = []

    shared: dict[str, int] = {}
    shared_index: dict[str, np.ndarray] = {}
    for i, later in enumerate(names):
        for earlier in names[:i]:
            pair = f"{earlier}/{later}"
            where = np.nonzero(np.isin(ids[later], ids[earlier]))[0]
            shared[pair], shared_index[pair] = int(where.size), where
            if where.size:
                issues.append(
                    f"{where.size} of {sizes[later]} {later} samples also appear in {earlier} "
                    f"(e.g. {later} index {where[0]}): scores on {later} will be optimistic. "
                    "Remove duplicates before splitting (np.unique(x, axis=0, return_index=True))."
                )
    internal = {n: int(sizes[n] - np.unique(ids[n]).size) for n in names}

    violations: dict[str, int] = {}
    times = _per_split(timestamps, names, "timestamps")
    for name, t in times.items():
        if len(as_numpy(t)) != sizes[name]:
            raise ValueError(
                f"timestamps for {name} has {len(as_numpy(t))} entries for {sizes[name]} samples."
            )
    for i, later in enumerate(names):
        for earlier in names[:i]:
            if later in times and earlier in times:
                latest = as_numpy(times[earlier]).max()
                bad = int((as_numpy(times[later]) <= latest).sum())
                violations[f"{earlier}/{later}"] = bad
                if bad:
                    issues.append(
                        f"{bad} {later} samples are not later than the latest {earlier} sample "
                        f"({latest}): the model would be evaluated on the past. Split by time "
                        "(lamina.workflow.time_series_split / holdout_split(time_ordered=True))."
                    )

    balance = _balance(_per_split(labels, names, "labels"), sizes, max_shift, issues)
    report = SplitReport(sizes, shared, shared_index, internal, violations, balance, issues)
    if strict:
        report.raise_for_issues()
    return report


def _balance(
    labels: dict[str, Any], sizes: dict[str, int], max_shift: float, issues: list[str]
) -> dict[str, dict[Any, float]]:
    """Class shares per split (multi-hot labels: the share of samples with each label)."""
    if not labels:
        return {}
    arrays = {}
    for n, y in labels.items():
        y = as_numpy(y, f"labels[{n}]")
        if len(y) != sizes[n]:
            raise ValueError(f"labels for {n} has {len(y)} entries for {sizes[n]} samples.")
        arrays[n] = y.reshape(len(y), -1) if y.ndim > 1 else y
    if all(y.ndim == 2 and y.shape[1] > 1 for y in arrays.values()):
        if all(np.isin(y, (0, 1)).all() for y in arrays.values()):
            one_hot = all((y.sum(1) == 1).all() for y in arrays.values())
            if one_hot:
                arrays = {n: y.argmax(1) for n, y in arrays.items()}
            else:
                shares = {
                    n: {f"label {j}": float(v) for j, v in enumerate(y.mean(0))}
                    for n, y in arrays.items()
                }
                _flag_shifts(shares, sizes, max_shift, issues, "label")
                return shares
    arrays = {n: y[:, 0] if y.ndim == 2 and y.shape[1] == 1 else y for n, y in arrays.items()}
    if any(y.ndim != 1 for y in arrays.values()):
        return {}
    discrete = all(y.dtype.kind in "iubUSO" for y in arrays.values()) or all(
        np.isin(y, (0, 1)).all() for y in arrays.values()
    )
    if not discrete or sum(len(np.unique(y)) for y in arrays.values()) > 300:
        return {n: {"mean": float(np.mean(y)), "std": float(np.std(y))} for n, y in arrays.items()}
    classes = sorted(set().union(*(np.unique(y).tolist() for y in arrays.values())), key=str)
    shares = {n: {c: float(np.mean(y == c)) for c in classes} for n, y in arrays.items()}
    _flag_shifts(shares, sizes, max_shift, issues, "class")
    return shares


def _flag_shifts(
    shares: dict[str, dict[Any, float]],
    sizes: dict[str, int],
    max_shift: float,
    issues: list[str],
    what: str,
) -> None:
    """Flag a class whose share differs between splits by more than ``max_shift`` when a
    chi-square test says the difference is unlikely to come from a random split (p < 0.01),
    and classes absent from a split where at least 3 samples were expected."""
    from scipy.stats import chi2_contingency

    if len(shares) < 2:
        return
    total = sum(sizes[n] for n in shares)
    for c in next(iter(shares.values())):
        pos = np.array([shares[n][c] * sizes[n] for n in shares])
        overall = pos.sum() / total
        missing = [n for n in shares if shares[n][c] == 0 and overall * sizes[n] >= 3]
        if missing:
            issues.append(
                f"{what} {c!r} is missing from {', '.join(missing)} (about "
                f"{overall:.0%} of all samples): shuffle before splitting, or stratify."
            )
            continue
        values = [shares[n][c] for n in shares]
        if max(values) - min(values) <= max_shift or overall in (0, 1):
            continue
        table = np.stack([pos, np.array([sizes[n] for n in shares]) - pos])
        if chi2_contingency(table)[1] < 0.01:
            detail = ", ".join(f"{n} {shares[n][c]:.0%}" for n in shares)
            issues.append(
                f"{what} {c!r} has different shares across splits ({detail}); shuffle before "
                "splitting, or stratify (holdout_split(..., stratify=y))."
            )
