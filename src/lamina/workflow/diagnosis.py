"""Overfitting diagnosis on a ``History``: the epoch of best validation score, whether the model
still underfits, overfits or has converged, and the gap between training and validation.

Example:
    >>> from lamina.workflow import diagnose
    >>> d = diagnose({"loss": [1.0, 0.6, 0.4, 0.3, 0.2],
    ...               "val_loss": [1.1, 0.8, 0.7, 0.8, 0.95]})
    >>> d.status, d.best_epoch
    ('overfitting', 3)
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from lamina.workflow.cross_validation import _save, higher_is_better

__all__ = ["Diagnosis", "diagnose", "plot_diagnosis"]

_ADVICE = {
    "not learning": (
        "the training loss does not go down: check the learning rate (try 10x smaller or "
        "larger), the input normalization, and that the loss and last layer fit the targets "
        "(lamina.workflow.suggest(y))."
    ),
    "underfitting": (
        "the validation score is still improving at the last epoch: train for more epochs, or "
        "make the model bigger (more units or layers)."
    ),
    "overfitting": (
        "the validation score got worse after epoch {best}: train for {best} epochs (or use "
        "EarlyStopping(patience=..., restore_best_weights=True)), then regularize: dropout, L2 "
        "weight penalties, a smaller model, or more training data."
    ),
    "converged": (
        "the validation score has levelled off since epoch {best}: more epochs will not help; "
        "try a bigger model to reach the overfitting point, then regularize and tune."
    ),
    "no validation": (
        "there is no validation curve: fit with validation_split=... or validation_data=... to "
        "see overfitting."
    ),
}


@dataclasses.dataclass(frozen=True)
class Diagnosis:
    """What :func:`diagnose` found.

    Attributes:
        status: ``"underfitting"``, ``"overfitting"``, ``"converged"``, ``"not learning"`` or
            ``"no validation"``.
        monitor: the validation key examined (e.g. ``"val_loss"``).
        epochs: number of epochs in the History.
        best_epoch: 1-based epoch of the best validation value (train this many epochs).
        best_value, final_value: the validation value there and at the last epoch.
        gap: validation minus training value at the last epoch, signed so that positive means
            validation is worse (the generalization gap).
        gap_at_best: the same gap at ``best_epoch``.

    Example:
        >>> d = diagnose({"loss": [1.0, 0.5, 0.2], "val_loss": [1.0, 0.6, 0.8]})
        >>> d.best_epoch, round(d.gap, 2)
        (2, 0.6)
    """

    status: str
    monitor: str
    epochs: int
    best_epoch: int | None
    best_value: float | None
    final_value: float | None
    gap: float | None
    gap_at_best: float | None

    @property
    def advice(self) -> str:
        return _ADVICE[self.status].format(best=self.best_epoch)

    def __str__(self) -> str:
        if self.best_epoch is None:
            return f"{self.status}: {self.advice}"
        text = (
            f"{self.status} ({self.monitor}: best {self.best_value:.4g} at epoch "
            f"{self.best_epoch} of {self.epochs}, last {self.final_value:.4g}"
        )
        if self.gap is not None:
            text += f", train/validation gap {self.gap:.3g}"
        return text + f"): {self.advice}"


def _record(history: Any) -> dict[str, list[float]]:
    record = history.history if hasattr(history, "history") else dict(history)
    if not record:
        raise ValueError("The history is empty: train for at least one epoch first.")
    return record


def diagnose(
    history: Any, monitor: str = "val_loss", tolerance: float = 0.02, patience: int | None = None
) -> Diagnosis:
    """Diagnose a training run from its ``History`` (or its ``.history`` dict).

    Args:
        history: the value ``fit`` returned.
        monitor: validation key to examine; its training twin (``monitor`` without ``val_``)
            gives the gap.
        tolerance: relative change below which the validation value counts as unchanged.
        patience: epochs at the end within which a best value still means "improving"
            (default: 10% of the epochs, at least 1).

    Example:
        >>> diagnose({"loss": [1.0, 0.8, 0.6], "val_loss": [1.0, 0.85, 0.7]}).status
        'underfitting'
    """
    record = _record(history)
    train_key = monitor[4:] if monitor.startswith("val_") else monitor
    train = np.asarray(record.get(train_key, []), dtype=float)
    val = np.asarray(record.get(monitor, []), dtype=float)
    n = max(len(train), len(val))
    if len(train) >= 2:
        better = higher_is_better(train_key)
        change = (train[-1] - train[0]) * (1 if better else -1)
        if change <= tolerance * abs(train[0]) or not np.isfinite(train[-1]):
            return _result("not learning", monitor, n, val, train, better)
    if len(val) == 0:
        return Diagnosis("no validation", monitor, n, None, None, None, None, None)
    better = higher_is_better(monitor)
    best = int(np.nanargmax(val) if better else np.nanargmin(val))
    window = patience if patience is not None else max(1, n // 10)
    worse_by = (val[best] - val[-1]) if better else (val[-1] - val[best])
    if best >= len(val) - window:
        status = "underfitting"
    elif worse_by > tolerance * abs(val[best]):
        status = "overfitting"
    else:
        status = "converged"
    return _result(status, monitor, n, val, train, better, best)


def _result(
    status: str,
    monitor: str,
    n: int,
    val: np.ndarray,
    train: np.ndarray,
    better: bool,
    best: int | None = None,
) -> Diagnosis:
    if len(val) == 0:
        return Diagnosis(status, monitor, n, None, None, None, None, None)
    if best is None:
        best = int(np.nanargmax(val) if better else np.nanargmin(val))
    sign = -1.0 if better else 1.0

    def gap_at(i: int) -> float | None:
        return float(sign * (val[i] - train[i])) if i < len(train) else None

    return Diagnosis(
        status,
        monitor,
        n,
        best + 1,
        float(val[best]),
        float(val[-1]),
        gap_at(len(val) - 1),
        gap_at(best),
    )


def plot_diagnosis(
    history: Any,
    path: str | None = None,
    monitor: str = "val_loss",
    metrics: list[str] | None = None,
) -> Any:
    """The training curves (:func:`lamina.utils.plot_history`) annotated with the diagnosis:
    the overfitting region after the best epoch shaded, the train/validation gap at the last
    epoch drawn as an arrow, and the verdict as the title. Saves a PNG to ``path`` when given;
    returns the figure.

    Example:
        >>> import os, tempfile
        >>> path = os.path.join(tempfile.mkdtemp(), "diagnosis.png")
        >>> fig = plot_diagnosis({"loss": [1.0, 0.5, 0.3, 0.2],
        ...                       "val_loss": [1.0, 0.7, 0.8, 0.9]}, path)
        >>> os.path.getsize(path) > 0
        True
    """
    from lamina.utils.plotting import plot_history

    record = _record(history)
    diagnosis = diagnose(record, monitor=monitor)
    fig = plot_history(record, metrics=metrics, title=None)
    train_key = monitor[4:] if monitor.startswith("val_") else monitor
    n = diagnosis.epochs
    for ax in fig.axes:
        if diagnosis.status == "overfitting" and diagnosis.best_epoch is not None:
            ax.axvspan(
                diagnosis.best_epoch, n, color="tab:red", alpha=0.08, label="overfitting region"
            )
        if ax.get_title() == train_key and diagnosis.gap is not None:
            t, v = record[train_key][-1], record[monitor][-1]
            ax.annotate(
                "",
                xy=(n, v),
                xytext=(n, t),
                arrowprops={"arrowstyle": "<->", "color": "tab:purple"},
            )
            ax.text(
                n,
                (t + v) / 2,
                f" gap {diagnosis.gap:.3g}",
                color="tab:purple",
                va="center",
                ha="right",
            )
        ax.legend(fontsize="small")
    summary = f"{diagnosis.status}"
    if diagnosis.best_epoch is not None:
        summary += f" — best {monitor} at epoch {diagnosis.best_epoch} of {n}"
    fig.suptitle(summary)
    fig.tight_layout()
    if path is not None:
        _save(fig, path)
    return fig
