"""What the preprocessing layers share: string batches, the output device, and the loop that
feeds ``adapt`` from arrays, lists, tensors, datasets and generators.

Text never becomes a tensor: a batch of strings stays a NumPy object array until a layer turns it
into token ids. ``Layer.__call__`` converts NumPy arrays to tensors, so string batches are handed
to it wrapped in :class:`StringBatch`, which it passes through untouched.

Example:
    >>> from lamina.layers.preprocessing._common import as_string_array
    >>> as_string_array(["a b", b"c"]).tolist()
    ['a b', 'c']
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import torch

from lamina.engine.layer import Layer
from lamina.engine.node import KerasTensor, is_symbolic

__all__ = [
    "AdaptedStateLayer",
    "numeric_batch",
    "StringBatch",
    "PreprocessingLayer",
    "as_string_array",
    "is_string_data",
    "iter_batches",
    "check_choice",
]


class StringBatch:
    """A NumPy array of Python strings on its way through ``Layer.__call__``."""

    __slots__ = ("array",)

    def __init__(self, array: np.ndarray):
        self.array = array

    @property
    def shape(self) -> tuple[int, ...]:
        return self.array.shape


def is_string_data(x: Any) -> bool:
    """True for a str / bytes, a NumPy string or object array of strings, or (nested) lists of
    strings."""
    if isinstance(x, (str, bytes, StringBatch)):
        return True
    if isinstance(x, np.ndarray):
        if x.dtype.kind in "US":
            return True
        return x.dtype == object and (x.size == 0 or isinstance(x.flat[0], (str, bytes)))
    if isinstance(x, (list, tuple)) and x:
        first = x[0]
        while isinstance(first, (list, tuple)) and first:
            first = first[0]
        return isinstance(first, (str, bytes))
    return False


def as_string_array(x: Any, encoding: str = "utf-8", where: str = "input") -> np.ndarray:
    """``x`` (strings, lists of strings, NumPy arrays) as a NumPy object array of ``str``."""
    if isinstance(x, StringBatch):
        return x.array
    if isinstance(x, (str, bytes)):
        x = [x]
    try:
        arr = np.asarray(x, dtype=object) if not isinstance(x, np.ndarray) else x
    except ValueError:
        raise ValueError(
            f"{where}: the strings form a ragged nested list; give one string per sample "
            "(shape (n,) or (n, 1))."
        ) from None
    if arr.dtype.kind in "US" or arr.dtype == object:
        flat = arr.reshape(-1)
        out = np.empty(flat.shape, dtype=object)
        for i, v in enumerate(flat):
            if isinstance(v, bytes):
                v = v.decode(encoding)
            elif isinstance(v, np.str_):
                v = str(v)
            elif not isinstance(v, str):
                raise TypeError(
                    f"{where} must hold strings, but found {type(v).__name__} value {v!r}."
                )
            out[i] = v
        return out.reshape(arr.shape)
    raise TypeError(f"{where} must hold strings, got an array of dtype {arr.dtype}.")


def check_choice(layer: str, arg: str, value: Any, allowed: tuple) -> None:
    """A clear error for an argument outside its allowed values."""
    if value not in allowed:
        raise ValueError(
            f"{layer}: unknown {arg}={value!r}; expected one of "
            f"{', '.join(repr(a) for a in allowed)}."
        )


class PreprocessingLayer(Layer):
    """A layer with no trainable weights whose state is learned by ``adapt(data)``.

    Its outputs are created on the device of a small non-persistent buffer, which moves with
    ``model.to(device)``, so a layer that turns strings into ids returns them on the model's
    device.
    """

    def __init__(self, **kwargs: Any):
        super().__init__(**kwargs)
        self.register_buffer("_anchor", torch.empty(0), persistent=False)

    @property
    def output_device(self) -> torch.device:
        return self._anchor.device

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if args and not is_symbolic(args[0]) and is_string_data(args[0]):
            args = (StringBatch(as_string_array(args[0], where=self.name)), *args[1:])
        return super().__call__(*args, **kwargs)

    def output_dtype(self) -> str:
        """The dtype of the symbolic output (``int64`` ids, floats, or ``string``)."""
        return self.dtype

    def compute_output_spec(self, inputs: Any) -> KerasTensor:
        return KerasTensor(self.compute_output_shape(tuple(inputs.shape)), self.output_dtype())

    def adapt(self, data: Any, batch_size: int | None = None, steps: int | None = None) -> None:
        """Learn this layer's state from ``data``; overridden by each layer."""
        raise NotImplementedError(f"{type(self).__name__} has nothing to adapt.")


# ---------------------------------------------------------------------- adapt input
def _is_numeric_array(x: Any) -> bool:
    if isinstance(x, torch.Tensor):
        return True
    return isinstance(x, np.ndarray) and x.dtype.kind in "biuf"


def _is_batch(x: Any) -> bool:
    """An array, or an ``(x, y)`` pair starting with one: a list of these is a list of
    batches; a list of plain numbers (or of lists of numbers) is one array."""
    if isinstance(x, (tuple, list)) and x:
        x = x[0]
    return _is_numeric_array(x)


def _features_of(batch: Any, strings: bool) -> Any:
    """``x`` of an ``(x, y)`` or ``(x, y, sample_weight)`` batch; other batches unchanged."""
    if not isinstance(batch, (tuple, list)) or len(batch) not in (2, 3):
        return batch
    if strings:
        # A batch of strings never holds numeric arrays; (x, y) pairs do (y are labels).
        if not isinstance(batch[0], (str, bytes)) and any(_is_numeric_array(b) for b in batch[1:]):
            return batch[0]
        return batch
    if isinstance(batch, tuple) or all(isinstance(b, torch.Tensor) for b in batch):
        return batch[0]
    return batch


def _slices(x: Any, batch_size: int | None) -> Iterator[Any]:
    n = len(x) if x.ndim else 1
    if not batch_size or x.ndim == 0 or n <= batch_size:
        yield x
        return
    for start in range(0, n, batch_size):
        yield x[start : start + batch_size]


def iter_batches(
    data: Any, batch_size: int | None = None, steps: int | None = None, strings: bool = False
) -> Iterator[Any]:
    """Batches of ``data`` for ``adapt``: arrays, tensors, frames and lists are sliced into
    ``batch_size`` rows (one batch when ``None``); a map-style ``torch`` Dataset is read through
    a ``DataLoader``; other iterables (DataLoader, PyDataset, generators) must yield batches,
    as in Keras. ``(x, y)`` batches give their ``x``. At most ``steps`` batches are read."""
    if steps is not None and (isinstance(steps, bool) or not isinstance(steps, int) or steps < 1):
        raise ValueError(f"adapt: steps must be a positive integer or None, got {steps!r}.")
    if batch_size is not None and (
        isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1
    ):
        raise ValueError(f"adapt: batch_size must be a positive integer, got {batch_size!r}.")
    if type(data).__module__.startswith("pandas") and hasattr(data, "to_numpy"):
        data = data.to_numpy()
    if strings and isinstance(data, (str, bytes)):
        data = [data]
    if isinstance(data, (list, tuple)) and (
        strings or not data or not all(_is_batch(b) for b in data)
    ):
        data = as_string_array(data, where="adapt data") if strings else np.asarray(data)
    if isinstance(data, (np.ndarray, torch.Tensor)):
        source: Any = _slices(data, batch_size)
    elif isinstance(data, torch.utils.data.Dataset) and not isinstance(
        data, torch.utils.data.IterableDataset
    ):
        source = torch.utils.data.DataLoader(data, batch_size=batch_size or 256)
    elif hasattr(data, "__iter__"):
        source = iter(data)
    else:
        raise TypeError(
            f"adapt() cannot read data of type {type(data).__name__}: pass a NumPy array, a "
            "list, a torch tensor, a torch Dataset / DataLoader, a PyDataset or an iterable of "
            "batches."
        )
    for i, batch in enumerate(source):
        if steps is not None and i >= steps:
            return
        yield _features_of(batch, strings)


def numeric_batch(batch: Any, where: str) -> torch.Tensor:
    if type(batch).__module__.startswith("pandas") and hasattr(batch, "to_numpy"):
        batch = batch.to_numpy()
    t = batch if torch.is_tensor(batch) else torch.as_tensor(np.asarray(batch))
    if (
        t.dtype == torch.bool
        or t.is_complex()
        or not (
            t.is_floating_point()
            or t.dtype in (torch.int8, torch.int16, torch.int32, torch.int64, torch.uint8)
        )
    ):
        raise TypeError(f"{where} expects numbers, got dtype {t.dtype}.")
    return t.detach().to(torch.float64)


class AdaptedStateLayer(PreprocessingLayer):
    """Tracks whether learned statistics exist: set by ``adapt``, ``set_weights`` and
    ``load_state_dict`` (a saved model restores them)."""

    _adapted = False

    def _load_from_state_dict(self, state_dict: Any, prefix: str, *args: Any) -> None:
        super()._load_from_state_dict(state_dict, prefix, *args)
        if any(k.startswith(prefix) for k in state_dict):
            self._adapted = True

    def set_weights(self, weights: list[Any]) -> None:
        super().set_weights(weights)
        if len(weights):
            self._adapted = True
