"""``ModelCheckpoint``: save the model (or its weights) during training, every epoch, every N
batches, or only when a monitored value improves.

Files are written through :mod:`lamina.saving` (``model.save`` / ``model.save_weights``), which
writes to a temporary file and renames it into place, so a crash during a save never leaves a
half-written checkpoint where a good one was.

Example:
    >>> from lamina.callbacks import ModelCheckpoint
    >>> cb = ModelCheckpoint("ckpt/model-{epoch:02d}-{val_loss:.2f}.lamina")
    >>> cb.format_path(epoch=2, logs={"val_loss": 0.4567})
    'ckpt/model-03-0.46.lamina'
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from lamina.callbacks._monitor import MonitorMixin, is_main_process
from lamina.callbacks.base import Callback

__all__ = ["ModelCheckpoint"]


class ModelCheckpoint(MonitorMixin, Callback):
    """Save the model or its weights during ``fit``.

    Args:
        filepath: Where to save. May hold ``str.format`` fields filled at each save with
            ``epoch`` (1-based, as Keras), ``batch`` (with an integer ``save_freq``) and any
            logged value: ``"ckpt/{epoch:02d}-{val_loss:.2f}.lamina"``.
        monitor: The logged value that decides what "best" is (with ``save_best_only``).
        verbose: ``1`` prints a line at each save (or skipped save).
        save_best_only: Save only when ``monitor`` improves on the best value so far.
        save_weights_only: ``model.save_weights(path)`` instead of ``model.save(path)``.
        mode: ``"min"``, ``"max"`` or ``"auto"`` (from the name).
        save_freq: ``"epoch"`` (at each epoch end) or an integer: every that many batches.
        initial_value_threshold: With ``save_best_only``, the value to beat for the first save.

    Example:
        >>> import os, tempfile
        >>> import numpy as np
        >>> from lamina import Sequential, layers
        >>> from lamina.callbacks import ModelCheckpoint
        >>> model = Sequential([layers.Dense(1, input_shape=(2,))])
        >>> model.compile(optimizer="sgd", loss="mse")
        >>> folder = tempfile.mkdtemp()
        >>> cb = ModelCheckpoint(os.path.join(folder, "w-{epoch}.weights.safetensors"),
        ...                      save_weights_only=True)
        >>> _ = model.fit(np.ones((4, 2)), np.zeros((4, 1)), epochs=2, verbose=0, callbacks=[cb])
        >>> sorted(os.listdir(folder))
        ['w-1.weights.safetensors', 'w-2.weights.safetensors']
    """

    def __init__(
        self,
        filepath: str | os.PathLike,
        monitor: str = "val_loss",
        verbose: int = 0,
        save_best_only: bool = False,
        save_weights_only: bool = False,
        mode: str = "auto",
        save_freq: str | int = "epoch",
        initial_value_threshold: float | None = None,
    ):
        super().__init__()
        self._init_monitor(monitor, mode, 0)
        self.filepath = os.fspath(filepath)
        if not self.filepath:
            raise ValueError("ModelCheckpoint needs a filepath, e.g. 'ckpt/model.lamina'.")
        if save_freq != "epoch" and (
            isinstance(save_freq, bool) or not isinstance(save_freq, int) or save_freq < 1
        ):
            raise ValueError(
                f"save_freq must be 'epoch' or a number of batches >= 1, got {save_freq!r}."
            )
        self.verbose = verbose
        self.save_best_only = save_best_only
        self.save_weights_only = save_weights_only
        self.save_freq = save_freq
        self.initial_value_threshold = initial_value_threshold
        self.best: float | None = initial_value_threshold
        self._batches_since_save = 0
        self._epoch = 0

    def format_path(self, epoch: int, logs: Mapping | None = None, batch: int | None = None) -> str:
        """The file name for a save at 0-based ``epoch`` (and ``batch``) with these logs."""
        values = dict(logs or {})
        fields: dict[str, Any] = {**values, "epoch": epoch + 1}
        if batch is not None:
            fields["batch"] = batch + 1
        try:
            return self.filepath.format(**fields)
        except KeyError as e:
            raise KeyError(
                f"ModelCheckpoint filepath {self.filepath!r} uses {{{e.args[0]}}}, which is not "
                f"a logged value. Available: epoch, {', '.join(values) or '(no logs)'}"
                + (", batch" if batch is not None else "")
                + ". Monitor validation values only with validation_data."
            ) from None
        except (ValueError, IndexError) as e:
            raise ValueError(
                f"ModelCheckpoint filepath {self.filepath!r} cannot be formatted: {e}"
            ) from None

    def on_train_begin(self, logs: Mapping | None = None) -> None:
        self._warned_missing = False
        if self.save_best_only:
            self._direction = None
            self._resolve_direction()

    def on_epoch_begin(self, epoch: int, logs: Mapping | None = None) -> None:
        self._epoch = epoch

    def on_train_batch_end(self, batch: int, logs: Mapping | None = None) -> None:
        if self.save_freq == "epoch":
            return
        self._batches_since_save += 1
        if self._batches_since_save >= self.save_freq:
            self._batches_since_save = 0
            self._save(self._epoch, logs, batch)

    def on_epoch_end(self, epoch: int, logs: Mapping | None = None) -> None:
        if self.save_freq == "epoch":
            self._save(epoch, logs, None)

    def _should_save(self, epoch: int, logs: Mapping | None, path: str) -> bool:
        if not self.save_best_only:
            if self.verbose > 0:
                print(f"\nEpoch {epoch + 1}: saving model to {path}")
            return True
        current = self._monitor_value(logs)
        if current is None:
            return True  # as Keras: without the value, save every time (a warning was given)
        best = "None" if self.best is None else f"{self.best:.5f}"
        if self._is_improvement(current, self.best):
            if self.verbose > 0:
                print(
                    f"\nEpoch {epoch + 1}: {self.monitor} improved from {best} to "
                    f"{current:.5f}, saving model to {path}"
                )
            self.best = current
            return True
        if self.verbose > 0:
            print(f"\nEpoch {epoch + 1}: {self.monitor} did not improve from {best}")
        return False

    def _save(self, epoch: int, logs: Mapping | None, batch: int | None) -> None:
        path = self.format_path(epoch, logs, batch)
        if not self._should_save(epoch, logs, path) or not is_main_process():
            return
        if os.path.isdir(path):
            raise IsADirectoryError(
                f"ModelCheckpoint filepath {path!r} is a directory; give a file name, e.g. "
                f"{os.path.join(path, 'model.lamina')!r}."
            )
        folder = os.path.dirname(path)
        if folder:
            os.makedirs(folder, exist_ok=True)
        if self.save_weights_only:
            self.model.save_weights(path, overwrite=True)
        else:
            self.model.save(path, overwrite=True)

    # ------------------------------------------------------------- state (BackupAndRestore)
    def state_dict(self) -> dict[str, Any]:
        """The best value so far and the batch counter, for :class:`BackupAndRestore`."""
        return {"best": self.best, "batches_since_save": self._batches_since_save}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned."""
        self.best = None if state["best"] is None else float(state["best"])
        self._batches_since_save = int(state["batches_since_save"])
