"""Progress output for ``fit`` / ``evaluate`` / ``predict``, suited to where it runs.

* a terminal: a live tqdm bar per epoch, its metrics refreshed at most twice a second (reading
  them is the only time the loop waits for the device);
* Jupyter: tqdm's notebook bar;
* a file, a pipe or a CI log: one line per epoch, no carriage returns;
* ``verbose=0``: nothing.

Example:
    >>> from lamina.callbacks.progbar import format_logs
    >>> format_logs({"loss": 0.25, "accuracy": 0.9})
    'loss: 0.2500 - accuracy: 0.9000'
"""

from __future__ import annotations

import sys
import time
from collections.abc import Mapping
from typing import Any

from lamina.callbacks.base import Callback

__all__ = ["ProgbarLogger", "LineLogger", "progress_mode", "format_logs"]

_REFRESH_SECONDS = 0.5


def progress_mode(verbose: Any, stream: Any = None) -> str:
    """``"bar"``, ``"notebook"``, ``"line"`` or ``"silent"`` for a ``verbose`` setting."""
    if verbose in (0, False, None):
        return "silent"
    if verbose == 2:
        return "line"
    stream = stream or sys.stdout
    if "ipykernel" in sys.modules and not _isatty(stream):
        return "notebook"
    return "bar" if _isatty(stream) else "line"


def _isatty(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


def format_logs(logs: Mapping | None) -> str:
    parts = []
    for k, v in (logs or {}).items():
        try:
            parts.append(f"{k}: {float(v):.4f}")
        except (TypeError, ValueError):
            parts.append(f"{k}: {v}")
    return " - ".join(parts)


def _duration(seconds: float) -> str:
    return f"{seconds:.0f}s" if seconds >= 10 else f"{seconds:.1f}s"


def _per_step(seconds: float, steps: int) -> str:
    if not steps:
        return ""
    per = seconds / steps
    return f"{per * 1000:.0f}ms/step" if per >= 1e-3 else f"{per * 1e6:.0f}us/step"


class LineLogger(Callback):
    """One line per epoch: ``Epoch 3/5 - 469/469 - 2.1s - 4ms/step - loss: ... - val_loss: ...``."""

    def __init__(self, stream: Any = None):
        super().__init__()
        self.stream = stream
        self._start = 0.0
        self._steps = 0

    def _print(self, text: str) -> None:
        print(text, file=self.stream or sys.stdout, flush=True)

    def on_epoch_begin(self, epoch: int, logs: Mapping | None = None) -> None:
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch: int, logs: Mapping | None = None) -> None:
        elapsed = time.perf_counter() - self._start
        steps = self.params.get("steps_done") or self.params.get("steps") or 0
        head = f"Epoch {epoch + 1}/{self.params.get('epochs', '?')}"
        if steps:
            head += f" - {steps}/{self.params.get('steps') or steps}"
        head += f" - {_duration(elapsed)}"
        if steps:
            head += f" - {_per_step(elapsed, steps)}"
        self._print(f"{head} - {format_logs(logs)}")

    def on_test_begin(self, logs: Mapping | None = None) -> None:
        self._test_start = time.perf_counter()

    def on_test_end(self, logs: Mapping | None = None) -> None:
        if self.params.get("mode") == "evaluate":
            elapsed = time.perf_counter() - self._test_start
            self._print(f"Evaluate - {_duration(elapsed)} - {format_logs(logs)}")


class ProgbarLogger(LineLogger):
    """A live tqdm bar per epoch (terminal or notebook)."""

    def __init__(self, stream: Any = None, notebook: bool = False):
        super().__init__(stream)
        self.notebook = notebook
        self._bar: Any = None
        self._last_refresh = 0.0

    def _new_bar(self, total: int | None, desc: str) -> Any:
        if self.notebook:
            from tqdm.auto import tqdm
        else:
            from tqdm import tqdm
        return tqdm(
            total=total,
            desc=desc,
            unit="step",
            file=self.stream or sys.stdout,
            dynamic_ncols=True,
            leave=True,
            mininterval=_REFRESH_SECONDS,
        )

    def on_epoch_begin(self, epoch: int, logs: Mapping | None = None) -> None:
        super().on_epoch_begin(epoch, logs)
        desc = f"Epoch {epoch + 1}/{self.params.get('epochs', '?')}"
        self._bar = self._new_bar(self.params.get("steps"), desc)
        self._last_refresh = time.perf_counter()

    def on_train_batch_end(self, batch: int, logs: Mapping | None = None) -> None:
        if self._bar is None:
            return
        self._bar.update(1)
        now = time.perf_counter()
        if now - self._last_refresh >= _REFRESH_SECONDS:
            self._last_refresh = now
            self._bar.set_postfix_str(format_logs(logs), refresh=False)

    def on_epoch_end(self, epoch: int, logs: Mapping | None = None) -> None:
        if self._bar is None:
            return
        self._bar.set_postfix_str(format_logs(logs), refresh=True)
        self._bar.close()
        self._bar = None

    def on_train_end(self, logs: Mapping | None = None) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
