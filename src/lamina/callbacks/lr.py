"""Changing the learning rate during ``fit``: ``LearningRateScheduler`` (a function of the
epoch) and ``ReduceLROnPlateau`` (divide it when a monitored value stalls). Both write the
rate into the epoch logs as ``learning_rate``, so ``History`` records it.

Example:
    >>> from lamina.callbacks import LearningRateScheduler
    >>> halve = LearningRateScheduler(lambda epoch, lr: lr if epoch < 2 else lr / 2)
    >>> halve.schedule(3, 0.1)
    0.05
"""

from __future__ import annotations

import inspect
import numbers
from collections.abc import Callable, Mapping
from typing import Any

from lamina.callbacks._monitor import MonitorMixin
from lamina.callbacks.base import Callback

__all__ = ["LearningRateScheduler", "ReduceLROnPlateau"]


def _optimizer(model: Any, who: str) -> Any:
    optimizer = getattr(model, "optimizer", None)
    if optimizer is None or not hasattr(optimizer, "learning_rate"):
        raise ValueError(
            f"{who} needs a compiled model whose optimizer has a learning_rate; call "
            "model.compile(optimizer=...) first."
        )
    return optimizer


def _check_settable(optimizer: Any, who: str) -> None:
    """A schedule-driven optimizer cannot take a float rate: say so before training."""
    from lamina.optimizers.schedules import LearningRateSchedule

    if isinstance(getattr(optimizer, "_learning_rate", None), LearningRateSchedule):
        raise ValueError(
            f"{who} sets the learning rate, but this optimizer's learning rate is a "
            f"{type(optimizer._learning_rate).__name__} schedule. Use one or the other: create "
            "the optimizer with a float learning_rate to use the callback."
        )


def _current_lr(model: Any, who: str) -> float:
    return float(_optimizer(model, who).learning_rate)


def _n_positional(fn: Callable) -> int | None:
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return None
    if any(p.kind == p.VAR_POSITIONAL for p in params):
        return 2
    return sum(p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) for p in params)


class LearningRateScheduler(Callback):
    """Set the learning rate at the start of each epoch from ``schedule(epoch, lr)``.

    Args:
        schedule: ``schedule(epoch, lr) -> new_lr`` with the 0-based epoch and the current rate
            (Keras 3), or the classic one-argument ``schedule(epoch) -> lr``.
        verbose: ``1`` prints the rate set at each epoch.

    Example:
        >>> import numpy as np
        >>> from lamina import Sequential, layers
        >>> from lamina.callbacks import LearningRateScheduler
        >>> model = Sequential([layers.Dense(1, input_shape=(2,))])
        >>> model.compile(optimizer="sgd", loss="mse")
        >>> cb = LearningRateScheduler(lambda epoch: 0.1 / (epoch + 1))
        >>> h = model.fit(np.ones((4, 2)), np.zeros((4, 1)), epochs=3, verbose=0, callbacks=[cb])
        >>> [round(v, 4) for v in h.history["learning_rate"]]
        [0.1, 0.05, 0.0333]
    """

    def __init__(self, schedule: Callable[..., float], verbose: int = 0):
        super().__init__()
        if not callable(schedule):
            raise TypeError(
                f"schedule must be a function schedule(epoch, lr) -> lr, got {schedule!r}."
            )
        self.schedule = schedule
        self.verbose = verbose
        self._n_args = _n_positional(schedule)

    def on_train_begin(self, logs: Mapping | None = None) -> None:
        _check_settable(_optimizer(self.model, "LearningRateScheduler"), "LearningRateScheduler")

    def on_epoch_begin(self, epoch: int, logs: Mapping | None = None) -> None:
        optimizer = _optimizer(self.model, "LearningRateScheduler")
        if self._n_args == 1:
            lr = self.schedule(epoch)
        else:
            lr = self.schedule(epoch, float(optimizer.learning_rate))
        if hasattr(lr, "item") and getattr(lr, "ndim", 0) == 0:  # numpy / torch scalars
            lr = lr.item()
        if isinstance(lr, bool) or not isinstance(lr, numbers.Real):
            raise ValueError(
                f"The schedule must return a number (the learning rate); at epoch {epoch} it "
                f"returned {lr!r}."
            )
        optimizer.learning_rate = float(lr)
        if self.verbose > 0:
            print(f"\nEpoch {epoch + 1}: LearningRateScheduler setting learning rate to {lr}.")

    def on_epoch_end(self, epoch: int, logs: Mapping | None = None) -> None:
        if isinstance(logs, dict):
            logs["learning_rate"] = _current_lr(self.model, "LearningRateScheduler")


class ReduceLROnPlateau(MonitorMixin, Callback):
    """Multiply the learning rate by ``factor`` when ``monitor`` has not improved for
    ``patience`` epochs.

    Args:
        monitor: The logged value to watch.
        factor: ``new_lr = lr * factor`` (must be < 1).
        patience: Epochs without improvement before reducing.
        verbose: ``1`` prints a line at each reduction.
        mode: ``"min"``, ``"max"`` or ``"auto"`` (from the name).
        min_delta: Improvements smaller than this do not count.
        cooldown: Epochs to wait after a reduction before counting again.
        min_lr: The rate never goes below this.

    Example:
        >>> from lamina.callbacks import ReduceLROnPlateau
        >>> cb = ReduceLROnPlateau(monitor="val_loss", factor=0.5, patience=1)
        >>> cb.factor, cb.patience, cb.min_delta
        (0.5, 1, 0.0001)
    """

    def __init__(
        self,
        monitor: str = "val_loss",
        factor: float = 0.1,
        patience: int = 10,
        verbose: int = 0,
        mode: str = "auto",
        min_delta: float = 1e-4,
        cooldown: int = 0,
        min_lr: float = 0.0,
    ):
        super().__init__()
        self._init_monitor(monitor, mode, min_delta)
        if not 0 < factor < 1:
            raise ValueError(
                f"ReduceLROnPlateau needs 0 < factor < 1 (new_lr = lr * factor), got {factor}."
            )
        if int(patience) != patience or patience < 0:
            raise ValueError(f"patience must be an integer >= 0, got {patience!r}.")
        if min_lr < 0:
            raise ValueError(f"min_lr must be >= 0, got {min_lr}.")
        self.factor = float(factor)
        self.patience = int(patience)
        self.verbose = verbose
        self.cooldown = int(cooldown)
        self.min_lr = float(min_lr)
        self._reset()

    def _reset(self) -> None:
        self.wait = 0
        self.cooldown_counter = 0
        self.best: float | None = None
        self._warned_missing = False

    def in_cooldown(self) -> bool:
        return self.cooldown_counter > 0

    def on_train_begin(self, logs: Mapping | None = None) -> None:
        self._reset()
        self._direction = None
        self._resolve_direction()
        _check_settable(_optimizer(self.model, "ReduceLROnPlateau"), "ReduceLROnPlateau")

    def on_epoch_end(self, epoch: int, logs: Mapping | None = None) -> None:
        lr = _current_lr(self.model, "ReduceLROnPlateau")
        if isinstance(logs, dict):
            logs["learning_rate"] = lr  # the rate this epoch trained with
        current = self._monitor_value(logs)
        if current is None:
            return
        if self.best is None:
            self.best = self._worst()
        if self.in_cooldown():
            self.cooldown_counter -= 1
            self.wait = 0
        if self._is_improvement(current, self.best):
            self.best = current
            self.wait = 0
            return
        if self.in_cooldown():
            return
        self.wait += 1
        if self.wait >= self.patience and lr > self.min_lr:
            new_lr = max(lr * self.factor, self.min_lr)
            self.model.optimizer.learning_rate = new_lr
            if self.verbose > 0:
                print(f"\nEpoch {epoch + 1}: ReduceLROnPlateau reducing learning rate to {new_lr}.")
            self.cooldown_counter = self.cooldown
            self.wait = 0

    # ------------------------------------------------------------- state (BackupAndRestore)
    def state_dict(self) -> dict[str, Any]:
        """Counters and best value, for :class:`BackupAndRestore`."""
        return {"wait": self.wait, "cooldown_counter": self.cooldown_counter, "best": self.best}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned."""
        self.wait = int(state["wait"])
        self.cooldown_counter = int(state["cooldown_counter"])
        self.best = None if state["best"] is None else float(state["best"])
