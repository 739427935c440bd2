"""Baselines a model must beat: the majority class and class-prior guessing for classification,
the mean and median predictors for regression, and the naive last-value forecast for time
series. A model that does not beat them has learned nothing useful.

Example:
    >>> import numpy as np
    >>> from lamina.workflow import baseline
    >>> b = baseline(np.array([0, 0, 0, 1]), np.array([0, 1, 0, 0]))
    >>> b.kind, b.scores["accuracy"]
    ('binary', 0.75)
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import numpy as np

from lamina.callbacks.base import Callback
from lamina.workflow._data import as_numpy

__all__ = ["Baseline", "baseline", "last_value_forecast", "BaselineCallback"]

# Metric names a History may use for the same quantity.
_ALIASES = {
    "acc": "accuracy",
    "sparse_categorical_accuracy": "accuracy",
    "categorical_accuracy": "accuracy",
    "mean_absolute_error": "mae",
    "mean_squared_error": "mse",
    "binary_crossentropy": "crossentropy",
    "categorical_crossentropy": "crossentropy",
    "sparse_categorical_crossentropy": "crossentropy",
}
_HIGHER_IS_BETTER = ("accuracy", "binary_accuracy", "prior_accuracy", "auc", "precision", "recall")


@dataclasses.dataclass(frozen=True)
class Baseline:
    """Scores of a model-free predictor on the evaluation targets.

    ``scores`` holds, by kind: classification ``accuracy`` (always predicting the majority
    class of the training targets), ``prior_accuracy`` (guessing at random with the training
    class shares) and ``crossentropy`` (predicting the training class shares); multi-label
    ``binary_accuracy`` and ``crossentropy`` per label; regression ``mae`` (median predictor),
    ``mse`` (mean predictor) and ``mean_mae`` / ``median_mse``; time series ``mae`` / ``mse``
    of the last-value forecast.

    Example:
        >>> Baseline("regression", {"mae": 2.0, "mse": 5.0}, "median").get("val_loss")
        5.0
    """

    kind: str
    scores: dict[str, float]
    predictor: str

    def get(self, metric: str) -> float | None:
        """The baseline for a History key such as ``'val_accuracy'``, ``'mae'`` or
        ``'val_loss'`` (the loss matches ``mse`` or ``crossentropy``); None if unknown.

        Example:
            >>> baseline(np.array([1.0, 3.0]), np.array([2.0, 2.0])).get("val_mean_absolute_error")
            0.0
        """
        name = metric[4:] if metric.startswith("val_") else metric
        name = name if name in self.scores else _ALIASES.get(name, name)
        if name == "loss" and name not in self.scores:
            name = "crossentropy" if "crossentropy" in self.scores else "mse"
        return self.scores.get(name)

    def compare(self, metric: str, value: float) -> str:
        """One sentence: how ``value`` of ``metric`` compares with this baseline.

        Example:
            >>> print(baseline(np.array([0, 0, 1]), np.array([0, 1, 1])).compare("accuracy", 0.9))
            accuracy 0.9 beats the baseline (majority class 0: 0.3333) by 0.5667.
        """
        base = self.get(metric)
        if base is None:
            return f"No baseline for {metric!r}; known: {sorted(self.scores)}."
        name = metric[4:] if metric.startswith("val_") else metric
        higher = _ALIASES.get(name, name) in _HIGHER_IS_BETTER
        margin = value - base if higher else base - value
        verb = "beats" if margin > 0 else "does not beat"
        return f"{metric} {value:.4g} {verb} the baseline ({self.predictor}: {base:.4g})" + (
            f" by {margin:.4g}." if margin > 0 else f"; it is {-margin:.4g} worse."
        )

    def margin(self, metric: str, value: float) -> float | None:
        """How much better than the baseline ``value`` is (positive: better)."""
        base = self.get(metric)
        if base is None:
            return None
        name = metric[4:] if metric.startswith("val_") else metric
        return value - base if _ALIASES.get(name, name) in _HIGHER_IS_BETTER else base - value

    def __str__(self) -> str:
        body = ", ".join(f"{k} {v:.4g}" for k, v in self.scores.items())
        return f"Baseline ({self.kind}, {self.predictor}): {body}"


def _xent(p: np.ndarray, counts: np.ndarray) -> float:
    p = np.clip(p, 1e-7, 1 - 1e-7)
    return float(-(counts * np.log(p)).sum() / counts.sum())


def baseline(y_train: Any, y_test: Any = None, kind: str | None = None, lag: int = 1) -> Baseline:
    """The model-free baseline for the targets: what a model has to beat.

    Args:
        y_train: training targets; the constant predictor is fitted on them.
        y_test: targets to score it on (default: ``y_train``); give the validation or test
            targets to compare with ``val_`` metrics.
        kind: one of ``lamina.workflow.PROBLEMS`` or ``"time_series"`` (default: inferred with
            :func:`suggest`). For ``"time_series"`` the targets are the series in time order and
            each value is forecast as the value ``lag`` steps earlier (``y_test`` continues
            ``y_train``).
        lag: forecast horizon of the naive forecast, in samples.

    Example:
        >>> b = baseline(np.array([1.0, 2.0, 3.0, 10.0]))
        >>> b.kind, b.scores["mae"], b.scores["mse"]
        ('regression', 2.5, 12.5)
    """
    from lamina.workflow.advisor import suggest

    train = as_numpy(y_train, "y_train")
    test = train if y_test is None else as_numpy(y_test, "y_test")
    if kind == "time_series":
        return _naive_series(train, None if y_test is None else test, lag)
    problem = suggest(train, kind=kind).problem
    if problem in ("binary", "multiclass"):
        return _classification(train, test, problem)
    if problem == "multilabel":
        return _multilabel(train, test)
    return _regression(train, test, problem)


_make_baseline = baseline


def _labels(y: np.ndarray) -> np.ndarray:
    if y.ndim > 1 and y.shape[-1] > 1:
        return y.argmax(-1).reshape(-1)
    return y.reshape(-1)


def _classification(train: np.ndarray, test: np.ndarray, problem: str) -> Baseline:
    tr, te = _labels(train), _labels(test)
    classes, counts = np.unique(tr, return_counts=True)
    priors = counts / counts.sum()
    majority = classes[np.argmax(counts)]
    test_counts = np.array([(te == c).sum() for c in classes])
    unseen = len(te) - test_counts.sum()
    scores = {
        "accuracy": float(np.mean(te == majority)),
        "prior_accuracy": float((priors * test_counts).sum() / len(te)),
    }
    probs = np.append(priors, 1e-7) if unseen else priors
    scores["crossentropy"] = _xent(probs, np.append(test_counts, unseen) if unseen else test_counts)
    majority = majority.item() if hasattr(majority, "item") else majority
    return Baseline(problem, scores, f"majority class {majority!r}")


def _multilabel(train: np.ndarray, test: np.ndarray) -> Baseline:
    rate = train.reshape(-1, train.shape[-1]).mean(0)
    te = test.reshape(-1, test.shape[-1])
    majority = (rate >= 0.5).astype(te.dtype)
    p = np.clip(rate, 1e-7, 1 - 1e-7)
    xent = -(te * np.log(p) + (1 - te) * np.log(1 - p)).mean()
    return Baseline(
        "multilabel",
        {"binary_accuracy": float(np.mean(te == majority)), "crossentropy": float(xent)},
        "majority value per label",
    )


def _regression(train: np.ndarray, test: np.ndarray, problem: str) -> Baseline:
    tr = train.reshape(len(train), -1).astype(np.float64)
    te = test.reshape(len(test), -1).astype(np.float64)
    mean, median = tr.mean(0), np.median(tr, 0)
    scores = {
        "mae": float(np.abs(te - median).mean()),
        "mse": float(((te - mean) ** 2).mean()),
        "mean_mae": float(np.abs(te - mean).mean()),
        "median_mse": float(((te - median) ** 2).mean()),
    }
    return Baseline(problem, scores, "median (mae) / mean (mse) of the training targets")


def _naive_series(train: np.ndarray, test: np.ndarray | None, lag: int) -> Baseline:
    if not isinstance(lag, (int, np.integer)) or lag < 1:
        raise ValueError(f"lag must be a positive integer, got {lag!r}.")
    series = train if test is None else np.concatenate([train, test])
    series = series.astype(np.float64)
    start = lag if test is None else len(train)
    if len(series) <= lag or start < lag:
        raise ValueError(f"The series needs more than lag={lag} values before the scored part.")
    err = series[start:] - series[start - lag : len(series) - lag]
    return Baseline(
        "time_series",
        {"mae": float(np.abs(err).mean()), "mse": float((err**2).mean())},
        f"last value {lag} step(s) earlier",
    )


def last_value_forecast(
    x: Any, y: Any, feature: int = -1, scale: float = 1.0, offset: float = 0.0
) -> Baseline:
    """The naive forecast for windowed samples: predict the target as the last value of the
    window's ``feature`` column (``x`` of shape ``(samples, steps, features)``).

    ``scale`` and ``offset`` undo a normalization of that column (``x * scale + offset``)
    when ``y`` is in original units.

    Example:
        >>> x = np.array([[[1.0], [2.0]], [[2.0], [3.0]]]); y = np.array([3.0, 5.0])
        >>> last_value_forecast(x, y).scores["mae"]
        1.5
    """
    xs, ys = as_numpy(x, "x"), as_numpy(y, "y").astype(np.float64)
    if xs.ndim != 3:
        raise ValueError(f"x must be windows of shape (samples, steps, features); got {xs.shape}.")
    pred = xs[:, -1, feature].astype(np.float64) * scale + offset
    err = ys.reshape(len(ys), -1)[:, 0] - pred if ys.ndim > 1 else ys - pred
    return Baseline(
        "time_series",
        {"mae": float(np.abs(err).mean()), "mse": float((err**2).mean())},
        f"last value of feature {feature}",
    )


class BaselineCallback(Callback):
    """At the end of ``fit``, say whether the model beats a baseline, and by how much.

    Args:
        baseline: a :class:`Baseline`, a number, or None to compute one from ``y_train`` /
            ``y_val``.
        monitor: History key to compare (default ``'val_loss'``, compared with the baseline
            of the compiled loss, e.g. its ``mae``; or a metric such as ``'val_accuracy'``).
        y_train, y_val: targets to compute the baseline from.
        verbose: print the sentence (it is kept in ``.message`` and ``.margin`` either way).

    Example:
        >>> cb = BaselineCallback(0.5, monitor="val_accuracy", verbose=0)
        >>> cb.on_train_end({"val_accuracy": 0.8}); round(cb.margin, 3)
        0.3
    """

    def __init__(
        self,
        baseline: Baseline | float | None = None,
        monitor: str = "val_loss",
        y_train: Any = None,
        y_val: Any = None,
        verbose: int = 1,
    ):
        super().__init__()
        if baseline is None and y_train is None:
            raise ValueError("BaselineCallback needs baseline=... or the targets y_train=....")
        self.baseline = baseline
        self.monitor = monitor
        self.y_train = y_train
        self.y_val = y_val
        self.verbose = verbose
        self.margin: float | None = None
        self.message: str | None = None

    def _resolve(self) -> Baseline:
        b = self.baseline
        if b is None:
            b = _make_baseline(self.y_train, self.y_val)
        elif not isinstance(b, Baseline):
            name = self.monitor[4:] if self.monitor.startswith("val_") else self.monitor
            b = Baseline("given", {_ALIASES.get(name, name): float(b)}, "given value")
        return b

    def _lookup_name(self, b: Baseline) -> str:
        """``val_loss`` is compared under the name of the compiled loss (e.g. ``val_mae``)."""
        prefix = "val_" if self.monitor.startswith("val_") else ""
        if self.monitor[len(prefix) :] != "loss" or "loss" in b.scores:
            return self.monitor
        compiled = getattr(self.model, "_compiled_loss", None)
        names = [getattr(fn, "name", None) for fn in getattr(compiled, "losses", [])]
        if len(names) == 1 and names[0] and b.get(names[0]) is not None:
            return prefix + names[0]
        return self.monitor

    def on_train_end(self, logs: Mapping | None = None) -> None:
        value = (logs or {}).get(self.monitor)
        if value is None:
            self.message = (
                f"BaselineCallback: {self.monitor!r} is not in the logs "
                f"({sorted(logs or {})}); pass validation data or another monitor."
            )
        else:
            b = self._resolve()
            key = self._lookup_name(b)
            self.margin = b.margin(key, float(value))
            self.message = b.compare(key, float(value))
        if self.verbose:
            print(self.message)
