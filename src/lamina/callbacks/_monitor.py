"""What "better" means for a monitored quantity: shared by EarlyStopping, ModelCheckpoint and
ReduceLROnPlateau.

``mode="auto"`` reads the direction from the metric's name: accuracies, AUC, precision, recall,
F-scores and IoU go up; losses and errors go down. A name that says neither is an error at the
start of training (pass ``mode="min"`` or ``mode="max"``), not a silent guess.

Example:
    >>> from lamina.callbacks._monitor import infer_mode
    >>> infer_mode("val_accuracy"), infer_mode("val_loss"), infer_mode("mae")
    ('max', 'min', 'min')
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping
from typing import Any

from lamina.errors import LaminaWarning

__all__ = ["infer_mode", "MonitorMixin", "is_main_process"]

_MODES = ("auto", "min", "max")
# Substrings of metric names whose value should grow / shrink. Losses are checked first, so
# "precision_loss" is minimised.
_UP = (
    "acc",
    "auc",
    "precision",
    "recall",
    "f1",
    "fbeta",
    "fmeasure",
    "iou",
    "r2",
    "cosine_similarity",
    "true_positives",
    "true_negatives",
)
_DOWN = (
    "loss",
    "error",
    "mse",
    "mae",
    "mape",
    "msle",
    "rmse",
    "crossentropy",
    "hinge",
    "divergence",
    "poisson",
    "logcosh",
    "log_cosh",
    "huber",
    "false_positives",
    "false_negatives",
)


def is_main_process() -> bool:
    """Whether this process writes files: under ``torchrun`` only rank 0 does."""
    try:
        from lamina import distributed
    except ImportError:
        return True
    return distributed.is_main_process()


def infer_mode(monitor: str, model: Any = None) -> str | None:
    """``"min"`` or ``"max"`` for a monitored key, or ``None`` when the name says neither.

    A metric object on ``model`` with a ``_direction`` attribute (``"up"`` / ``"down"``)
    decides first, as in Keras 3.
    """
    name = monitor.lower().removeprefix("val_")
    for metric in getattr(model, "metrics", None) or []:
        direction = getattr(metric, "_direction", None)
        if getattr(metric, "name", None) == name and direction in ("up", "down"):
            return "max" if direction == "up" else "min"
    if name.endswith("loss"):
        return "min"
    if any(part in name for part in _UP):
        return "max"
    if any(part in name for part in _DOWN):
        return "min"
    return None


class MonitorMixin:
    """Holds ``monitor`` / ``mode`` / ``min_delta`` and decides what counts as an improvement."""

    monitor: str
    mode: str
    min_delta: float
    model: Any

    def _init_monitor(self, monitor: str, mode: str, min_delta: float) -> None:
        if not isinstance(monitor, str) or not monitor:
            raise ValueError(f"monitor must be the name of a logged value, got {monitor!r}.")
        if mode not in _MODES:
            raise ValueError(f"{type(self).__name__}: mode must be one of {_MODES}, got {mode!r}.")
        self.monitor = monitor
        self.mode = mode
        self.min_delta = abs(float(min_delta))
        self._direction: str | None = None  # "min" / "max" once resolved
        self._warned_missing = False

    def _resolve_direction(self) -> str:
        if self._direction is None:
            direction = self.mode if self.mode != "auto" else infer_mode(self.monitor, self.model)
            if direction is None:
                raise ValueError(
                    f"{type(self).__name__} cannot tell whether '{self.monitor}' should go up or "
                    "down. Pass mode='max' (accuracy-like metrics) or mode='min' (loss-like)."
                )
            self._direction = direction
        return self._direction

    def _worst(self) -> float:
        return math.inf if self._resolve_direction() == "min" else -math.inf

    def _is_improvement(self, current: float, reference: float | None) -> bool:
        if reference is None:
            return True
        if self._resolve_direction() == "min":
            return current + self.min_delta < reference
        return current - self.min_delta > reference

    def _monitor_value(self, logs: Mapping | None) -> float | None:
        """The monitored value, or ``None`` with a warning (once per fit) naming the keys."""
        logs = logs or {}
        if self.monitor not in logs:
            if not self._warned_missing:
                self._warned_missing = True
                keys = ", ".join(logs) or "none"
                hint = (
                    " Pass validation_data or validation_split to fit() to get val_* values."
                    if self.monitor.startswith("val_")
                    else ""
                )
                warnings.warn(
                    f"{type(self).__name__} is conditioned on '{self.monitor}', which is not in "
                    f"the logs. Available keys: {keys}.{hint}",
                    LaminaWarning,
                    stacklevel=3,
                )
            return None
        return float(logs[self.monitor])
