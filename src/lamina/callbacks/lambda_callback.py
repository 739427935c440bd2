"""``LambdaCallback``: a callback made of plain functions.

Example:
    >>> from lamina.callbacks import LambdaCallback
    >>> seen = []
    >>> cb = LambdaCallback(on_epoch_end=lambda epoch, logs: seen.append((epoch, logs["loss"])))
    >>> cb.on_epoch_end(0, {"loss": 0.5})
    >>> seen
    [(0, 0.5)]
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from lamina.callbacks.base import Callback

__all__ = ["LambdaCallback"]

_HOOKS = (
    "on_train_begin",
    "on_train_end",
    "on_epoch_begin",
    "on_epoch_end",
    "on_train_batch_begin",
    "on_train_batch_end",
    "on_batch_begin",
    "on_batch_end",
    "on_test_begin",
    "on_test_end",
    "on_test_batch_begin",
    "on_test_batch_end",
    "on_predict_begin",
    "on_predict_end",
    "on_predict_batch_begin",
    "on_predict_batch_end",
)


class LambdaCallback(Callback):
    """Build a callback from functions, one per hook.

    Functions take the hook's arguments positionally: ``on_epoch_begin`` / ``on_epoch_end``
    get ``(epoch, logs)``; ``on_train_begin`` / ``on_train_end`` get ``(logs)``; batch hooks
    get ``(batch, logs)``. ``on_batch_begin`` / ``on_batch_end`` (classic Keras) run for
    training batches unless ``on_train_batch_begin`` / ``on_train_batch_end`` are given. Any
    other hook can be passed by name (``on_test_end=fn``).

    Args:
        on_epoch_begin: Called at the start of every epoch.
        on_epoch_end: Called at the end of every epoch.
        on_batch_begin: Called at the start of every training batch.
        on_batch_end: Called at the end of every training batch.
        on_train_begin: Called when ``fit`` starts.
        on_train_end: Called when ``fit`` ends.
        **kwargs: Other hooks by name (``on_train_batch_end``, ``on_test_begin``, ...).

    Example:
        >>> import numpy as np
        >>> from lamina import Sequential, layers
        >>> from lamina.callbacks import LambdaCallback
        >>> model = Sequential([layers.Dense(1, input_shape=(2,))])
        >>> model.compile(optimizer="sgd", loss="mse")
        >>> batches = []
        >>> cb = LambdaCallback(on_batch_end=lambda batch, logs: batches.append(batch))
        >>> _ = model.fit(np.ones((8, 2)), np.zeros((8, 1)), batch_size=4, epochs=2, verbose=0,
        ...               callbacks=[cb])
        >>> batches
        [0, 1, 0, 1]
    """

    def __init__(
        self,
        on_epoch_begin: Callable | None = None,
        on_epoch_end: Callable | None = None,
        on_batch_begin: Callable | None = None,
        on_batch_end: Callable | None = None,
        on_train_begin: Callable | None = None,
        on_train_end: Callable | None = None,
        **kwargs: Callable,
    ):
        super().__init__()
        unknown = sorted(set(kwargs) - set(_HOOKS))
        if unknown:
            raise TypeError(
                f"LambdaCallback got unknown hook(s) {unknown}; the hooks are: {', '.join(_HOOKS)}."
            )
        given = {
            "on_epoch_begin": on_epoch_begin,
            "on_epoch_end": on_epoch_end,
            "on_batch_begin": on_batch_begin,
            "on_batch_end": on_batch_end,
            "on_train_begin": on_train_begin,
            "on_train_end": on_train_end,
            **kwargs,
        }
        for name, fn in given.items():
            if fn is not None and not callable(fn):
                raise TypeError(f"LambdaCallback({name}=...) must be a function, got {fn!r}.")
        self._fns: dict[str, Callable] = {k: v for k, v in given.items() if v is not None}

    def _call(self, hook: str, *args: Any) -> None:
        fn = self._fns.get(hook)
        if fn is not None:
            fn(*args)

    def on_train_begin(self, logs: Mapping | None = None) -> None:
        self._call("on_train_begin", logs)

    def on_train_end(self, logs: Mapping | None = None) -> None:
        self._call("on_train_end", logs)

    def on_epoch_begin(self, epoch: int, logs: Mapping | None = None) -> None:
        self._call("on_epoch_begin", epoch, logs)

    def on_epoch_end(self, epoch: int, logs: Mapping | None = None) -> None:
        self._call("on_epoch_end", epoch, logs)

    def on_train_batch_begin(self, batch: int, logs: Mapping | None = None) -> None:
        hook = "on_train_batch_begin" if "on_train_batch_begin" in self._fns else "on_batch_begin"
        self._call(hook, batch, logs)

    def on_train_batch_end(self, batch: int, logs: Mapping | None = None) -> None:
        hook = "on_train_batch_end" if "on_train_batch_end" in self._fns else "on_batch_end"
        self._call(hook, batch, logs)

    def on_batch_begin(self, batch: int, logs: Mapping | None = None) -> None:
        self._call("on_batch_begin", batch, logs)

    def on_batch_end(self, batch: int, logs: Mapping | None = None) -> None:
        self._call("on_batch_end", batch, logs)

    def on_test_begin(self, logs: Mapping | None = None) -> None:
        self._call("on_test_begin", logs)

    def on_test_end(self, logs: Mapping | None = None) -> None:
        self._call("on_test_end", logs)

    def on_test_batch_begin(self, batch: int, logs: Mapping | None = None) -> None:
        self._call("on_test_batch_begin", batch, logs)

    def on_test_batch_end(self, batch: int, logs: Mapping | None = None) -> None:
        self._call("on_test_batch_end", batch, logs)

    def on_predict_begin(self, logs: Mapping | None = None) -> None:
        self._call("on_predict_begin", logs)

    def on_predict_end(self, logs: Mapping | None = None) -> None:
        self._call("on_predict_end", logs)

    def on_predict_batch_begin(self, batch: int, logs: Mapping | None = None) -> None:
        self._call("on_predict_batch_begin", batch, logs)

    def on_predict_batch_end(self, batch: int, logs: Mapping | None = None) -> None:
        self._call("on_predict_batch_end", batch, logs)
