"""Writing training curves to files: ``CSVLogger`` (one row per epoch) and ``TensorBoard``
(event files through ``torch.utils.tensorboard``).

Example:
    >>> import os, tempfile
    >>> from lamina.callbacks import CSVLogger
    >>> path = os.path.join(tempfile.mkdtemp(), "log.csv")
    >>> cb = CSVLogger(path)
    >>> cb.on_train_begin()
    >>> cb.on_epoch_end(0, {"loss": 0.5, "accuracy": 0.75})
    >>> cb.on_train_end()
    >>> print(open(path).read().strip())
    epoch,accuracy,loss
    0,0.75,0.5
"""

from __future__ import annotations

import csv
import io
import os
import time
import warnings
from collections.abc import Mapping
from typing import Any

from lamina.callbacks._monitor import is_main_process
from lamina.callbacks.base import Callback
from lamina.errors import LaminaWarning

__all__ = ["CSVLogger", "TensorBoard"]


class CSVLogger(Callback):
    """Stream the epoch logs to a CSV file: a header, then one row per epoch.

    Columns are ``epoch`` (0-based, as Keras) and the logged keys in sorted order. The file is
    flushed and synced to disk after every row, so a killed run keeps every finished epoch.

    Args:
        filename: Path of the CSV file.
        separator: Field separator.
        append: Append to an existing file (to continue after a restart, e.g. with
            :class:`BackupAndRestore`): its header is kept, and new rows follow its columns.

    Example:
        >>> import os, tempfile
        >>> import numpy as np
        >>> from lamina import Sequential, layers
        >>> from lamina.callbacks import CSVLogger
        >>> model = Sequential([layers.Dense(1, input_shape=(2,))])
        >>> model.compile(optimizer="sgd", loss="mse")
        >>> path = os.path.join(tempfile.mkdtemp(), "training.csv")
        >>> _ = model.fit(np.ones((4, 2)), np.zeros((4, 1)), epochs=2, verbose=0,
        ...               callbacks=[CSVLogger(path)])
        >>> [line.split(",")[0] for line in open(path).read().splitlines()]
        ['epoch', '0', '1']
    """

    def __init__(self, filename: str | os.PathLike, separator: str = ",", append: bool = False):
        super().__init__()
        self.filename = os.fspath(filename)
        if not isinstance(separator, str) or len(separator) != 1:
            raise ValueError(f"separator must be one character, got {separator!r}.")
        self.sep = separator
        self.append = append
        self.keys: list[str] | None = None
        self._file: io.TextIOBase | None = None
        self._writer: Any = None

    def _existing_header(self) -> list[str] | None:
        if not (self.append and os.path.isfile(self.filename)):
            return None
        with open(self.filename, newline="") as f:
            first = f.readline()
        if not first.strip():
            return None
        return next(csv.reader([first], delimiter=self.sep))

    def on_train_begin(self, logs: Mapping | None = None) -> None:
        self._close()
        if not is_main_process():  # under torchrun only rank 0 writes
            return
        header = self._existing_header()
        folder = os.path.dirname(self.filename)
        if folder:
            os.makedirs(folder, exist_ok=True)
        self._file = open(self.filename, "a" if self.append else "w", newline="")  # noqa: SIM115
        self.keys = None
        self._writer = None
        if header is not None:
            if header[0] != "epoch":
                raise ValueError(
                    f"CSVLogger(append=True): {self.filename} does not start with an 'epoch' "
                    "header; it was not written by CSVLogger. Use another file name."
                )
            self.keys = header[1:]
            self._make_writer(write_header=False)

    def _make_writer(self, write_header: bool) -> None:
        self._writer = csv.writer(self._file, delimiter=self.sep, lineterminator="\n")
        if write_header:
            self._writer.writerow(["epoch", *self.keys])

    def on_epoch_end(self, epoch: int, logs: Mapping | None = None) -> None:
        if self._file is None:  # driven by hand without on_train_begin, or not rank 0
            self.on_train_begin()
            if self._file is None:
                return
        logs = logs or {}
        if self.keys is None:
            self.keys = sorted(logs)
            self._make_writer(write_header=True)
        dropped = sorted(set(logs) - set(self.keys))
        if dropped:
            warnings.warn(
                f"CSVLogger: {self.filename} has no column for {dropped}; those values are not "
                "written. Start a new file (append=False) to record them.",
                LaminaWarning,
                stacklevel=2,
            )
        self._writer.writerow([epoch, *(_cell(logs.get(k, "NA")) for k in self.keys)])
        self._file.flush()
        os.fsync(self._file.fileno())

    def on_train_end(self, logs: Mapping | None = None) -> None:
        self._close()

    def _close(self) -> None:
        if self._file is not None and not self._file.closed:
            self._file.close()
        self._file = None
        self._writer = None


def _cell(value: Any) -> Any:
    if isinstance(value, str):
        return value
    try:
        return float(value)
    except (TypeError, ValueError):
        return str(value)


class _NullWriter:
    """Accepts and drops every summary (processes other than rank 0)."""

    def __getattr__(self, name: str) -> Any:
        return lambda *args, **kwargs: None


def _named_weights(model: Any) -> list[tuple[str, Any]]:
    """``("<layer name>/<weight>", tensor)`` for every weight (Keras-style tags)."""
    layers = getattr(model, "layers", None)
    if not layers:
        return [(n.replace(".", "/"), p) for n, p in model.named_parameters()]
    return [
        (f"{layer.name}/{n.replace('.', '/')}", p)
        for layer in layers
        for n, p in layer.named_parameters()
    ]


class TensorBoard(Callback):
    """Write losses, metrics, the learning rate and (optionally) weight histograms as
    TensorBoard event files, through ``torch.utils.tensorboard.SummaryWriter``.

    As Keras does, training values go to ``log_dir/train`` and validation values to
    ``log_dir/validation``, tagged ``epoch_<name>`` (``epoch_loss`` in both, so the two curves
    share one chart), batch values ``batch_<name>``. View them with
    ``tensorboard --logdir logs``. Needs the ``tensorboard`` package
    (``pip install tensorboard``).

    Args:
        log_dir: Folder for the event files.
        histogram_freq: Every this many epochs, write a histogram of each weight (0: never).
        write_graph: Write the model summary (the Text tab).
        write_steps_per_second: Also log the training speed each epoch.
        update_freq: ``"epoch"``, ``"batch"``, or an integer: also log the running batch
            values every that many batches.
        write_images, profile_batch, embeddings_freq, embeddings_metadata: Keras arguments
            lamina does not implement; setting them gives a warning.

    Example:
        >>> import tempfile
        >>> from lamina.callbacks import TensorBoard
        >>> tb = TensorBoard(log_dir=tempfile.mkdtemp(), histogram_freq=1)
        >>> tb.on_epoch_end(0, {"loss": 0.5, "val_loss": 0.6})
        >>> tb.on_train_end()
    """

    def __init__(
        self,
        log_dir: str | os.PathLike = "logs",
        histogram_freq: int = 0,
        write_graph: bool = True,
        write_images: bool = False,
        write_steps_per_second: bool = False,
        update_freq: str | int = "epoch",
        profile_batch: int = 0,
        embeddings_freq: int = 0,
        embeddings_metadata: Any = None,
    ):
        super().__init__()
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError as e:
            raise ImportError(
                "The TensorBoard callback needs the tensorboard package: "
                "pip install tensorboard (or pip install 'lamina[tensorboard]')."
            ) from e
        self._writer_cls = SummaryWriter
        unsupported = {
            "write_images": write_images,
            "profile_batch": profile_batch,
            "embeddings_freq": embeddings_freq,
            "embeddings_metadata": embeddings_metadata,
        }
        ignored = [k for k, v in unsupported.items() if v]
        if ignored:
            warnings.warn(
                f"TensorBoard: {', '.join(ignored)} are not supported by lamina and are ignored "
                "(use torch.profiler for profiling).",
                LaminaWarning,
                stacklevel=2,
            )
        if update_freq == "batch":
            update_freq = 1
        if update_freq != "epoch" and (
            isinstance(update_freq, bool) or not isinstance(update_freq, int) or update_freq < 1
        ):
            raise ValueError(
                f"update_freq must be 'epoch', 'batch' or an integer >= 1, got {update_freq!r}."
            )
        if int(histogram_freq) != histogram_freq or histogram_freq < 0:
            raise ValueError(f"histogram_freq must be an integer >= 0, got {histogram_freq!r}.")
        self.log_dir = os.fspath(log_dir)
        self.histogram_freq = int(histogram_freq)
        self.write_graph = write_graph
        self.write_steps_per_second = write_steps_per_second
        self.update_freq = update_freq
        self._writers: dict[str, Any] = {}
        self._global_batch = 0
        self._epoch_start = 0.0

    def _writer(self, which: str) -> Any:
        if not is_main_process():  # under torchrun only rank 0 writes
            return _NullWriter()
        if which not in self._writers:
            self._writers[which] = self._writer_cls(os.path.join(self.log_dir, which))
        return self._writers[which]

    def on_train_begin(self, logs: Mapping | None = None) -> None:
        self._global_batch = 0
        if self.write_graph and hasattr(self.model, "summary"):
            lines: list[str] = []
            try:
                self.model.summary(print_fn=lambda line, *a, **k: lines.append(str(line)))
            except (AttributeError, TypeError, ValueError, RuntimeError):
                lines = []  # an unbuilt subclassed model has no summary yet: nothing to write
            if lines:
                # Markdown needs the indentation kept: a code block.
                text = "\n".join("    " + line for line in lines)
                self._writer("train").add_text("model_summary", text, 0)

    def on_epoch_begin(self, epoch: int, logs: Mapping | None = None) -> None:
        self._epoch_start = time.perf_counter()

    def on_train_batch_end(self, batch: int, logs: Mapping | None = None) -> None:
        self._global_batch += 1
        if self.update_freq == "epoch" or self._global_batch % self.update_freq:
            return
        writer = self._writer("train")
        for name, value in (logs or {}).items():
            writer.add_scalar(f"batch_{name}", float(value), self._global_batch)

    def on_epoch_end(self, epoch: int, logs: Mapping | None = None) -> None:
        logs = dict(logs or {})
        train = {k: v for k, v in logs.items() if not k.startswith("val_")}
        val = {k[4:]: v for k, v in logs.items() if k.startswith("val_")}
        optimizer = getattr(self.model, "optimizer", None)
        if "learning_rate" not in train and optimizer is not None:
            try:
                train["learning_rate"] = float(optimizer.learning_rate)
            except (AttributeError, TypeError, ValueError):
                pass
        if self.write_steps_per_second and self.params.get("steps_done"):
            elapsed = time.perf_counter() - self._epoch_start
            train["steps_per_second"] = self.params["steps_done"] / max(elapsed, 1e-9)
        for which, values in (("train", train), ("validation", val)):
            if values:
                writer = self._writer(which)
                for name, value in values.items():
                    writer.add_scalar(f"epoch_{name}", float(value), epoch)
        if self.histogram_freq and epoch % self.histogram_freq == 0 and self.model is not None:
            writer = self._writer("train")
            for name, param in _named_weights(self.model):
                writer.add_histogram(name, param.detach().cpu(), epoch)
        for writer in self._writers.values():
            writer.flush()

    def on_test_end(self, logs: Mapping | None = None) -> None:
        if self.params.get("mode") != "evaluate":
            return
        step = int(getattr(getattr(self.model, "optimizer", None), "iterations", 0) or 0)
        writer = self._writer("validation")
        for name, value in (logs or {}).items():
            writer.add_scalar(f"evaluation_{name}_vs_iterations", float(value), step)
        writer.flush()

    def on_train_end(self, logs: Mapping | None = None) -> None:
        for writer in self._writers.values():
            writer.close()
        self._writers = {}
