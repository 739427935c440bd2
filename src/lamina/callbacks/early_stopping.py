"""Stopping training: ``EarlyStopping`` when a monitored value stops improving, and
``TerminateOnNaN`` when the loss stops being a number.

Example:
    >>> from lamina.callbacks import EarlyStopping
    >>> stop = EarlyStopping(monitor="val_loss", patience=1)
    >>> for epoch, value in enumerate([0.9, 0.8, 0.85]):
    ...     stop.on_epoch_end(epoch, {"val_loss": value})
    >>> stop.stopped_epoch, stop.best, stop.best_epoch
    (2, 0.8, 1)
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from lamina.callbacks._monitor import MonitorMixin
from lamina.callbacks.base import Callback
from lamina.errors import TrainingStopped

__all__ = ["EarlyStopping", "TerminateOnNaN"]


class _NoModel:
    """Stands in for the model when a callback is driven by hand (no ``fit``)."""

    stop_training = False
    history = None
    metrics: list = []


def _stop(model: Any, reason: str) -> None:
    model.stop_training = True
    history = getattr(model, "history", None)
    if history is not None and getattr(history, "stopped_reason", None) is None:
        history.stopped_reason = reason


class EarlyStopping(MonitorMixin, Callback):
    """Stop training when a monitored value has stopped improving.

    At each epoch end the value of ``monitor`` is compared with the best so far. After
    ``patience`` epochs in a row without an improvement larger than ``min_delta``,
    ``model.stop_training`` is set and ``fit`` ends after that epoch.

    Args:
        monitor: The logged value to watch (``"val_loss"``, ``"val_accuracy"``, ``"loss"``...).
        min_delta: Changes smaller than this (in absolute value) do not count as improvements.
        patience: Epochs without improvement after which training stops.
        verbose: ``1`` prints a line when stopping and when restoring weights.
        mode: ``"min"``, ``"max"`` or ``"auto"`` (read from the name: accuracies go up, losses
            down).
        baseline: Training also stops if the value does not beat this within ``patience``
            epochs.
        restore_best_weights: At the end of training (early stop **or** the last epoch), put
            back the weights of the best epoch.
        start_from_epoch: Epochs of warm-up during which nothing is monitored.

    Example:
        >>> import numpy as np
        >>> from lamina import Sequential, layers
        >>> from lamina.callbacks import EarlyStopping
        >>> model = Sequential([layers.Dense(1, input_shape=(2,))])
        >>> model.compile(optimizer="sgd", loss="mse")
        >>> stop = EarlyStopping(monitor="loss", min_delta=100.0, patience=2)
        >>> history = model.fit(np.ones((4, 2)), np.zeros((4, 1)), epochs=10, verbose=0,
        ...                     callbacks=[stop])
        >>> len(history.history["loss"]), stop.stopped_epoch
        (3, 2)
    """

    def __init__(
        self,
        monitor: str = "val_loss",
        min_delta: float = 0,
        patience: int = 0,
        verbose: int = 0,
        mode: str = "auto",
        baseline: float | None = None,
        restore_best_weights: bool = False,
        start_from_epoch: int = 0,
    ):
        super().__init__()
        self._init_monitor(monitor, mode, min_delta)
        if int(patience) != patience or patience < 0:
            raise ValueError(f"patience must be an integer >= 0, got {patience!r}.")
        if int(start_from_epoch) != start_from_epoch or start_from_epoch < 0:
            raise ValueError(f"start_from_epoch must be an integer >= 0, got {start_from_epoch!r}.")
        self.patience = int(patience)
        self.verbose = verbose
        self.baseline = baseline
        self.restore_best_weights = restore_best_weights
        self.start_from_epoch = int(start_from_epoch)
        self.model = _NoModel()
        self._reset()

    def _reset(self) -> None:
        self.wait = 0
        self.stopped_epoch = 0
        self.best: float | None = None
        self.best_epoch = 0
        self.best_weights: list[Any] | None = None
        self._warned_missing = False

    def on_train_begin(self, logs: Mapping | None = None) -> None:
        self._reset()
        self._direction = None
        self._resolve_direction()  # a metric name with no direction fails before training

    def on_epoch_end(self, epoch: int, logs: Mapping | None = None) -> None:
        current = self._monitor_value(logs)
        if current is None or epoch < self.start_from_epoch:
            return
        if self.best is None:
            self.best = self._worst()
        if self.restore_best_weights and self.best_weights is None:
            # Until something improves, the first monitored epoch is the best one.
            self.best_weights = self.model.get_weights()
            self.best_epoch = epoch
        self.wait += 1
        if self._is_improvement(current, self.best):
            self.best = current
            self.best_epoch = epoch
            if self.restore_best_weights:
                self.best_weights = self.model.get_weights()
            # The count restarts only when the baseline is beaten as well.
            if self.baseline is None or self._is_improvement(current, self.baseline):
                self.wait = 0
            return
        if self.wait >= self.patience and epoch > 0:
            self.stopped_epoch = epoch
            _stop(
                self.model,
                f"early stopping: '{self.monitor}' did not improve for "
                f"{self.wait} epochs (best {self.best:.6g} at epoch "
                f"{self.best_epoch + 1})",
            )

    def on_train_end(self, logs: Mapping | None = None) -> None:
        if self.stopped_epoch > 0 and self.verbose > 0:
            print(f"Epoch {self.stopped_epoch + 1}: early stopping")
        if self.restore_best_weights and self.best_weights is not None:
            if self.verbose > 0:
                print(
                    f"Restoring model weights from the end of the best epoch: "
                    f"{self.best_epoch + 1}."
                )
            self.model.set_weights(self.best_weights)

    # ------------------------------------------------------------- state (BackupAndRestore)
    def state_dict(self) -> dict[str, Any]:
        """Counters, best value and best weights, for :class:`BackupAndRestore`."""
        return {
            "wait": self.wait,
            "stopped_epoch": self.stopped_epoch,
            "best": self.best,
            "best_epoch": self.best_epoch,
            "best_weights": self.best_weights,
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned."""
        self.wait = int(state["wait"])
        self.stopped_epoch = int(state["stopped_epoch"])
        self.best = None if state["best"] is None else float(state["best"])
        self.best_epoch = int(state["best_epoch"])
        weights = state["best_weights"]
        self.best_weights = None if weights is None else list(weights)


class TerminateOnNaN(Callback):
    """Stop training as soon as the batch loss is NaN or infinite.

    Reads ``logs["loss"]`` after every batch (which waits for the device each step). On CPU
    the trainer already refuses to apply a non-finite batch; this callback gives the same
    stop everywhere, the Keras way.

    Args:
        raise_error: Raise :class:`lamina.errors.TrainingStopped` instead of stopping
            gracefully (then ``on_train_end`` hooks do not run).

    Example:
        >>> from lamina.callbacks import TerminateOnNaN
        >>> cb = TerminateOnNaN()
        >>> cb.on_batch_end(3, {"loss": float("nan")})
        Batch 3: Invalid loss, terminating training
        >>> cb.model.stop_training
        True
    """

    def __init__(self, raise_error: bool = False):
        super().__init__()
        self.raise_error = raise_error
        self.model = _NoModel()

    def on_batch_end(self, batch: int, logs: Mapping | None = None) -> None:
        loss = (logs or {}).get("loss")
        if loss is None or math.isfinite(float(loss)):
            return
        if self.raise_error:
            raise TrainingStopped(
                f"The loss became {float(loss)} at batch {batch}: training stopped "
                "(TerminateOnNaN(raise_error=True))."
            )
        print(f"Batch {batch}: Invalid loss, terminating training")
        _stop(self.model, f"TerminateOnNaN: the loss became {float(loss)} at batch {batch}")
