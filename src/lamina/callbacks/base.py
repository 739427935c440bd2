"""The callback protocol (Keras hook names, 0-based epochs), the list that dispatches hooks,
and ``History``.

Batch-level logs are lazy: a value is computed (and the device synchronised) only when a
callback reads it, so callbacks that do not look at every batch cost nothing per step.

Example:
    >>> from lamina.callbacks import Callback
    >>> class Printer(Callback):
    ...     def on_epoch_end(self, epoch, logs=None):
    ...         print(epoch, sorted(logs))
    >>> Printer().on_epoch_end(0, {"loss": 0.5})
    0 ['loss']
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

__all__ = ["Callback", "CallbackList", "History", "LazyLogs"]

_BATCH_HOOKS = (
    "on_train_batch_begin",
    "on_train_batch_end",
    "on_test_batch_begin",
    "on_test_batch_end",
    "on_predict_batch_begin",
    "on_predict_batch_end",
    "on_batch_begin",
    "on_batch_end",
)


class LazyLogs(Mapping):
    """A read-only mapping whose values are computed when read (as Python floats)."""

    def __init__(self, compute: Callable[[], dict[str, Any]], names: list[str]):
        self._compute = compute
        self._names = list(names)
        self._values: dict[str, float] | None = None

    def _materialize(self) -> dict[str, float]:
        if self._values is None:
            self._values = {k: _to_float(v) for k, v in self._compute().items()}
        return self._values

    def __getitem__(self, key: str) -> float:
        return self._materialize()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)

    def __repr__(self) -> str:
        return repr(self._materialize())


def _to_float(v: Any) -> Any:
    try:
        return float(v)
    except (TypeError, ValueError):
        return v


class Callback:
    """Base class: override any of the hooks. ``self.model`` is the model being trained and
    ``self.params`` holds ``epochs``, ``steps`` and ``verbose``."""

    def __init__(self) -> None:
        self.model: Any = None
        self.params: dict[str, Any] = {}

    def set_model(self, model: Any) -> None:
        self.model = model

    def set_params(self, params: dict[str, Any]) -> None:
        self.params = params

    def on_train_begin(self, logs: Mapping | None = None) -> None: ...
    def on_train_end(self, logs: Mapping | None = None) -> None: ...
    def on_epoch_begin(self, epoch: int, logs: Mapping | None = None) -> None: ...
    def on_epoch_end(self, epoch: int, logs: Mapping | None = None) -> None: ...
    def on_train_batch_begin(self, batch: int, logs: Mapping | None = None) -> None:
        self.on_batch_begin(batch, logs)

    def on_train_batch_end(self, batch: int, logs: Mapping | None = None) -> None:
        self.on_batch_end(batch, logs)

    def on_batch_begin(self, batch: int, logs: Mapping | None = None) -> None: ...
    def on_batch_end(self, batch: int, logs: Mapping | None = None) -> None: ...
    def on_test_begin(self, logs: Mapping | None = None) -> None: ...
    def on_test_end(self, logs: Mapping | None = None) -> None: ...
    def on_test_batch_begin(self, batch: int, logs: Mapping | None = None) -> None: ...
    def on_test_batch_end(self, batch: int, logs: Mapping | None = None) -> None: ...
    def on_predict_begin(self, logs: Mapping | None = None) -> None: ...
    def on_predict_end(self, logs: Mapping | None = None) -> None: ...
    def on_predict_batch_begin(self, batch: int, logs: Mapping | None = None) -> None: ...
    def on_predict_batch_end(self, batch: int, logs: Mapping | None = None) -> None: ...


def _overrides(cb: Callback, hook: str) -> bool:
    method = getattr(type(cb), hook, None)
    if method is None:
        return False
    if getattr(Callback, hook) is method:
        # The train-batch hooks forward to the classic on_batch_* names.
        if hook == "on_train_batch_begin":
            return _overrides(cb, "on_batch_begin")
        if hook == "on_train_batch_end":
            return _overrides(cb, "on_batch_end")
        return False
    return True


class CallbackList:
    """Calls a hook on every callback; batch hooks only on callbacks that define them."""

    def __init__(
        self,
        callbacks: list[Callback] | None = None,
        model: Any = None,
        params: dict[str, Any] | None = None,
    ):
        self.callbacks = list(callbacks or [])
        self.params = params if params is not None else {}
        for cb in self.callbacks:
            if not isinstance(cb, Callback):
                raise TypeError(
                    f"callbacks must be lamina.callbacks.Callback instances; got {cb!r}. Wrap a "
                    "function with lamina.callbacks.LambdaCallback(on_epoch_end=fn)."
                )
        if model is not None:
            for cb in self.callbacks:
                cb.set_model(model)
        if params is not None:
            for cb in self.callbacks:
                cb.set_params(params)
        self._batch_users = {
            hook: [cb for cb in self.callbacks if _overrides(cb, hook)] for hook in _BATCH_HOOKS
        }

    def wants(self, hook: str) -> bool:
        """Whether any callback defines this batch-level hook (else the loop skips its logs)."""
        return bool(self._batch_users.get(hook))

    def call(self, hook: str, *args: Any) -> None:
        targets = self._batch_users.get(hook, self.callbacks)
        for cb in targets:
            try:
                getattr(cb, hook)(*args)
            except Exception as e:
                if hasattr(e, "add_note"):
                    e.add_note(f"lamina: raised by callback {type(cb).__name__}.{hook}.")
                raise

    def __iter__(self) -> Iterator[Callback]:
        return iter(self.callbacks)


class History(Callback):
    """Records the epoch-end logs: ``history.history["val_loss"]`` is a list, one per epoch.

    Example:
        >>> h = History()
        >>> h.on_train_begin()
        >>> h.on_epoch_end(0, {"loss": 0.9, "val_loss": 1.0})
        >>> h.on_epoch_end(1, {"loss": 0.5, "val_loss": 0.8})
        >>> h.history["loss"], h.epoch
        ([0.9, 0.5], [0, 1])
    """

    def __init__(self) -> None:
        super().__init__()
        self.history: dict[str, list[float]] = {}
        self.epoch: list[int] = []
        self.stopped_reason: str | None = None

    def on_train_begin(self, logs: Mapping | None = None) -> None:
        # A second fit() call continues the same record (Keras keeps one History per fit).
        self.epoch = []
        self.history = {}
        self.stopped_reason = None

    def on_epoch_end(self, epoch: int, logs: Mapping | None = None) -> None:
        self.epoch.append(epoch)
        for k, v in (logs or {}).items():
            self.history.setdefault(k, []).append(_to_float(v))

    def plot(
        self, path: str | None = None, metrics: list[str] | None = None, title: str | None = None
    ) -> Any:
        """Draw loss and metrics against epochs (training and validation) to a PNG file.

        Returns the matplotlib figure. See :func:`lamina.utils.plot_history`.
        """
        from lamina.utils.plotting import plot_history

        return plot_history(self, path=path, metrics=metrics, title=title)

    def __repr__(self) -> str:
        return f"<History epochs={len(self.epoch)} keys={list(self.history)}>"
