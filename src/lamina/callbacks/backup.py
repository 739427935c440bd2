"""``BackupAndRestore``: run the same script again after a crash and training continues where
it stopped.

At each epoch end (or every N batches) the callback writes one file,
``backup_dir/backup.safetensors``, holding everything the rest of the run depends on: the
model weights, the optimizer state, the epoch (and batch) reached, the random-number-generator
states (torch, CUDA, NumPy, Python ``random``), ``History`` so far, and the state of every
callback that has ``state_dict()`` / ``load_state_dict()`` (``EarlyStopping``,
``ReduceLROnPlateau``, ``ModelCheckpoint``). Tensors go to safetensors, the rest to JSON in the
file's header: no pickle. The file is written to a temporary name, synced to disk and renamed
over the previous one, so a crash during a save leaves the previous good backup intact.

When ``fit`` starts and a backup exists, all of it is restored and ``fit`` skips the finished
epochs. With a fixed seed on CPU the resumed run ends with the same weights as a run that was
never interrupted (at epoch granularity; with an integer ``save_freq`` the resumed epoch's
logged metrics cover only the batches run after the restart). When training completes the
backup is deleted.

Example:
    >>> import tempfile
    >>> from lamina.callbacks import BackupAndRestore
    >>> cb = BackupAndRestore(tempfile.mkdtemp())
    >>> cb.save_freq, cb.delete_checkpoint
    ('epoch', True)
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

from lamina.callbacks._monitor import is_main_process
from lamina.callbacks._training_state import (
    FORMAT,
    atomic_write,
    flatten,
    read,
    rng_state,
    set_rng_state,
    unflatten,
)
from lamina.callbacks.base import Callback, History
from lamina.errors import LaminaWarning, LoadError

__all__ = ["BackupAndRestore"]

_FILE = "backup.safetensors"


class BackupAndRestore(Callback):
    """Back up the whole training state so that a killed run can be restarted and continue.

    Args:
        backup_dir: Folder for the backup file. Use one folder per training run.
        save_freq: ``"epoch"`` (at every epoch end) or an integer: every that many batches.
        delete_checkpoint: Delete the backup when ``fit`` completes (not when it is
            interrupted).

    Example:
        >>> import tempfile
        >>> import numpy as np
        >>> from lamina import Sequential, layers
        >>> from lamina.callbacks import BackupAndRestore
        >>> model = Sequential([layers.Dense(1, input_shape=(2,))])
        >>> model.compile(optimizer="sgd", loss="mse")
        >>> backup = BackupAndRestore(tempfile.mkdtemp())
        >>> history = model.fit(np.ones((4, 2)), np.zeros((4, 1)), epochs=2, verbose=0,
        ...                     callbacks=[backup])
        >>> import os; os.path.exists(backup.path)  # deleted once training completed
        False
    """

    # The trainer runs callbacks with this flag after all the others in every hook: the
    # backup then sees their end-of-epoch state, and the restore comes after their resets.
    _runs_last = True

    def __init__(
        self,
        backup_dir: str | os.PathLike,
        save_freq: str | int = "epoch",
        delete_checkpoint: bool = True,
    ):
        super().__init__()
        if not backup_dir:
            raise ValueError("BackupAndRestore needs a backup_dir, e.g. 'backups/run1'.")
        if save_freq != "epoch" and (
            isinstance(save_freq, bool) or not isinstance(save_freq, int) or save_freq < 1
        ):
            raise ValueError(
                f"save_freq must be 'epoch' or a number of batches >= 1, got {save_freq!r}."
            )
        self.backup_dir = os.fspath(backup_dir)
        self.save_freq = save_freq
        self.delete_checkpoint = delete_checkpoint
        self.path = os.path.join(self.backup_dir, _FILE)
        self._epochs_done = 0
        self._epoch = 0
        self._batches_since_save = 0
        self._epoch_rng: tuple[dict, dict] | None = None
        self._resume: tuple[int, int] | None = None  # (epoch, batch) a restore resumes at
        self._resume_rng: tuple[dict, dict] | None = None

    # ------------------------------------------------------------------ what is backed up
    def _stateful_callbacks(self) -> dict[str, Any]:
        """``{"<ClassName>.<n>": callback}`` for the other callbacks that have state."""
        found: dict[str, Any] = {}
        counts: dict[str, int] = {}
        for cb in getattr(self.model, "_fit_callbacks", None) or []:
            if cb is self or isinstance(cb, History):
                continue
            if callable(getattr(cb, "state_dict", None)) and callable(
                getattr(cb, "load_state_dict", None)
            ):
                name = type(cb).__name__
                found[f"{name}.{counts.get(name, 0)}"] = cb
                counts[name] = counts.get(name, 0) + 1
        return found

    def _save(self, epoch: int, step: int, logs: Mapping | None) -> None:
        if not is_main_process():  # under torchrun rank 0 writes, every rank restores
            return
        tensors: dict[str, torch.Tensor] = {}
        weights = self.model.get_weights()
        for i, w in enumerate(weights):
            tensors[f"model.{i:05d}"] = torch.from_numpy(np.ascontiguousarray(w)).clone()
        optimizer = getattr(self.model, "optimizer", None)
        opt_json = None
        if optimizer is not None and callable(getattr(optimizer, "state_dict", None)):
            opt_state = optimizer.state_dict()
            tensors.update({f"optimizer.{k}": v.cpu() for k, v in opt_state["tensors"].items()})
            opt_json = opt_state["json"]
        history = getattr(self.model, "history", None)
        hist: dict[str, Any] | None = None
        if isinstance(history, History):
            hist = {
                "history": {k: list(v) for k, v in history.history.items()},
                "epoch": list(history.epoch),
            }
            if step == 0 and (not history.epoch or history.epoch[-1] != epoch - 1):
                # History runs after this callback (trainer without the ordering): add the
                # epoch it has not recorded yet.
                hist["epoch"].append(epoch - 1)
                for k, v in (logs or {}).items():
                    hist["history"].setdefault(k, []).append(float(v))
        callbacks = {
            key: flatten(cb.state_dict(), f"callback.{key}", tensors)
            for key, cb in self._stateful_callbacks().items()
        }
        meta = {
            "format": FORMAT,
            "epoch": epoch,
            "step": step,
            "num_weights": len(weights),
            "optimizer": opt_json,
            "history": hist,
            "callbacks": callbacks,
            "rng": rng_state(tensors, "rng"),
        }
        if step and self._epoch_rng is not None:  # mid-epoch: also the state the epoch began with
            meta["epoch_rng"] = self._epoch_rng[0]
            tensors.update(self._epoch_rng[1])
        atomic_write(self.path, tensors, meta)

    def _restore(self) -> None:
        tensors, meta = read(self.path)
        n = meta["num_weights"]
        weights = [tensors[f"model.{i:05d}"].numpy() for i in range(n)]
        current = self.model.get_weights()
        if len(current) != n or any(a.shape != b.shape for a, b in zip(current, weights)):
            raise LoadError(
                f"The backup {self.path} was written for a different model ({n} weight arrays; "
                f"this model has {len(current)}, or the shapes differ). Use another backup_dir "
                "or delete this one to start from the beginning."
            )
        self.model.set_weights(weights)
        optimizer = getattr(self.model, "optimizer", None)
        if meta["optimizer"] is not None and optimizer is not None:
            opt_tensors = {
                k[len("optimizer.") :]: v for k, v in tensors.items() if k.startswith("optimizer.")
            }
            optimizer.load_state_dict({"tensors": opt_tensors, "json": meta["optimizer"]})
        history = getattr(self.model, "history", None)
        if meta["history"] is not None and isinstance(history, History):
            history.history = {k: list(v) for k, v in meta["history"]["history"].items()}
            history.epoch = list(meta["history"]["epoch"])
        mine = self._stateful_callbacks()
        for key, state in meta["callbacks"].items():
            if key in mine:
                mine[key].load_state_dict(unflatten(state, tensors))
            else:
                warnings.warn(
                    f"The backup holds the state of a {key.split('.')[0]} callback that this "
                    "fit() does not have; it is not restored.",
                    LaminaWarning,
                    stacklevel=4,
                )
        step = int(meta["step"])
        if step:
            # Restart the interrupted epoch from its own RNG state (same shuffle); the RNG at
            # the backup is put back when its first remaining batch starts.
            set_rng_state(tensors, "epoch_rng", meta["epoch_rng"])
            self._resume_rng = (tensors, meta["rng"])
        else:
            set_rng_state(tensors, "rng", meta["rng"])
        self._resume = (int(meta["epoch"]), step)
        self._epochs_done = int(meta["epoch"])
        self.model._initial_epoch_override = int(meta["epoch"])
        self.model._initial_step_override = step

    # ------------------------------------------------------------------ hooks
    def on_train_begin(self, logs: Mapping | None = None) -> None:
        self._resume = self._resume_rng = None
        self._epochs_done = 0
        self._batches_since_save = 0
        if os.path.isfile(self.path):
            self._restore()

    def on_epoch_begin(self, epoch: int, logs: Mapping | None = None) -> None:
        if self._resume is not None and self._resume[0] != epoch:
            raise RuntimeError(
                f"BackupAndRestore restored the state after {self._resume[0]} epochs, but fit() "
                f"started at epoch {epoch}: this version of the trainer cannot skip epochs "
                "(it does not read model._initial_epoch_override)."
            )
        self._epoch = epoch
        if self.save_freq != "epoch":
            tensors: dict[str, torch.Tensor] = {}
            self._epoch_rng = (rng_state(tensors, "epoch_rng"), tensors)

    def on_train_batch_begin(self, batch: int, logs: Mapping | None = None) -> None:
        if self._resume is None:
            return
        _, step = self._resume
        if step and batch != step:
            raise RuntimeError(
                f"BackupAndRestore restored the state after batch {step} of epoch "
                f"{self._resume[0] + 1}, but fit() started at batch {batch}: this version of "
                "the trainer cannot skip batches (model._initial_step_override)."
            )
        if self._resume_rng is not None:
            set_rng_state(self._resume_rng[0], "rng", self._resume_rng[1])
        self._resume = self._resume_rng = None

    def on_train_batch_end(self, batch: int, logs: Mapping | None = None) -> None:
        if self.save_freq == "epoch":
            return
        self._batches_since_save += 1
        last = batch + 1 >= (self.params.get("steps") or float("inf"))
        if self._batches_since_save >= self.save_freq and not last:  # epoch end saves the last
            self._batches_since_save = 0
            self._save(self._epoch, batch + 1, None)

    def on_epoch_end(self, epoch: int, logs: Mapping | None = None) -> None:
        self._resume = None
        self._epochs_done = epoch + 1
        self._save(epoch + 1, 0, logs)

    def on_train_end(self, logs: Mapping | None = None) -> None:
        completed = self._epochs_done >= self.params.get("epochs", 0) or self.model.stop_training
        if self.delete_checkpoint and completed and is_main_process() and os.path.isfile(self.path):
            os.remove(self.path)
            try:
                os.rmdir(self.backup_dir)  # only if nothing else is in it
            except OSError:
                pass
