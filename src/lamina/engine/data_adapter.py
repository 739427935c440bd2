"""Data adapters: whatever the user passes to ``fit`` / ``evaluate`` / ``predict`` becomes an
iterable of ``(x, y, sample_weight)`` batches on the model's device.

Accepted: NumPy arrays, torch tensors, pandas frames, lists / dicts of them (several inputs or
outputs), torch ``Dataset`` / ``DataLoader``, ``lamina.utils.PyDataset`` (batches by index),
and Python generators or iterables yielding ``(x, y)`` / ``(x, y, sample_weight)`` batches.

In-memory arrays are converted once (no copy when the dtype already fits), kept on the device,
and shuffled by index each epoch, so ``fit`` holds no second copy of the dataset.

Example:
    >>> import numpy as np
    >>> from lamina.engine.data_adapter import make_adapter
    >>> adapter = make_adapter(np.zeros((10, 3)), np.arange(10), batch_size=4)
    >>> [tuple(x.shape) for x, y, sw in adapter], adapter.num_batches
    ([(4, 3), (4, 3), (2, 3)], 3)
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch

from lamina import config
from lamina.engine import tree

__all__ = [
    "make_adapter",
    "DataAdapter",
    "ArrayAdapter",
    "IterableAdapter",
    "to_tensor",
    "split_arrays",
    "is_array_data",
]

Batch = tuple[Any, Any, Any]


# ---------------------------------------------------------------------- conversion
def _is_pandas(x: Any) -> bool:
    return type(x).__module__.startswith("pandas") and hasattr(x, "to_numpy")


def _is_leaf_array(x: Any) -> bool:
    return isinstance(x, (np.ndarray, torch.Tensor)) or _is_pandas(x)


def is_array_data(x: Any) -> bool:
    """True for arrays / tensors / frames and lists or dicts of them."""
    if x is None:
        return True
    if _is_leaf_array(x):
        return True
    if isinstance(x, dict):
        return all(is_array_data(v) for v in x.values())
    if isinstance(x, (list, tuple)):
        if x and all(_is_leaf_array(v) for v in x):
            return True
        return not any(hasattr(v, "__next__") for v in x)
    return False


def to_tensor(x: Any, name: str = "x") -> Any:
    """One array-like leaf as a torch tensor (floats as floatx, no copy when possible), or a
    NumPy object/string array left as it is (text layers take strings)."""
    if isinstance(x, torch.Tensor):
        if x.dtype == torch.float64 and config.floatx() != "float64":
            return x.to(config.floatx_dtype())
        return x
    if _is_pandas(x):
        x = x.to_numpy()
    if not isinstance(x, np.ndarray):
        x = _from_python(x, name)
    if x.dtype == object or x.dtype.kind in ("U", "S"):
        if x.dtype == object and x.size and isinstance(x.flat[0], (list, tuple, np.ndarray)):
            raise ValueError(_ragged_message(name))
        if x.dtype == object and x.size and not isinstance(x.flat[0], (str, bytes)):
            try:
                x = x.astype(np.float32)
            except (TypeError, ValueError):
                kinds = ", ".join(sorted({type(v).__name__ for v in x.ravel()[:1000]}))
                raise ValueError(
                    f"{name} is an object array holding {kinds} values (mixed or text columns?). "
                    "Convert it to numbers first (e.g. pandas.get_dummies for categories, "
                    "pd.to_numeric for numeric text), or start the model with a "
                    "TextVectorization / StringLookup layer on an Input(dtype='string')."
                ) from None
        else:
            return x
    if x.dtype == np.float64 or x.dtype == np.float16:
        return torch.from_numpy(x.astype(np.float32 if config.floatx() == "float32" else x.dtype))
    if x.dtype == np.uint16 or x.dtype == np.uint32 or x.dtype == np.uint64:
        x = x.astype(np.int64)
    if x.dtype.kind == "f" or x.dtype.kind in "iub":
        x = np.ascontiguousarray(x)
        if not x.flags.writeable:
            # Read-only arrays (pandas, memory maps) are shared, not copied: lamina never
            # writes into input data, so torch's warning about it does not apply.
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)
                return torch.from_numpy(x)
        return torch.from_numpy(x)
    raise ValueError(f"{name} has dtype {x.dtype}, which cannot be fed to a model.")


def _from_python(x: Any, name: str) -> np.ndarray:
    if isinstance(x, (list, tuple)) and x and isinstance(x[0], (list, tuple)):
        lengths = {len(v) if isinstance(v, (list, tuple)) else -1 for v in x}
        if len(lengths) > 1:
            raise ValueError(_ragged_message(name))
    try:
        arr = np.asarray(x)
    except ValueError:
        raise ValueError(_ragged_message(name)) from None
    if arr.dtype == object and arr.size and isinstance(arr.flat[0], (list, tuple)):
        raise ValueError(_ragged_message(name))
    return arr


def _ragged_message(name: str) -> str:
    return (
        f"{name} holds sequences of different lengths (a ragged list). Pad them to one length "
        "first, e.g. lamina.utils.pad_sequences(sequences, maxlen=...)."
    )


def _convert(struct: Any, name: str) -> Any:
    if struct is None:
        return None
    if _is_leaf_array(struct):
        return to_tensor(struct, name)
    if isinstance(struct, dict):
        return {k: _convert(v, f"{name}[{k!r}]") for k, v in struct.items()}
    if isinstance(struct, (list, tuple)) and struct and all(_is_leaf_array(v) for v in struct):
        return [to_tensor(v, f"{name}[{i}]") for i, v in enumerate(struct)]
    return to_tensor(struct, name)


def _length(t: Any) -> int:
    return int(t.shape[0]) if t.ndim else 1


def _take(t: Any, idx: torch.Tensor | slice) -> Any:
    if isinstance(t, np.ndarray):
        return t[idx.cpu().numpy()] if isinstance(idx, torch.Tensor) else t[idx]
    if isinstance(idx, slice):
        return t[idx]
    return t.index_select(0, idx if idx.device == t.device else idx.to(t.device))


def _to_device(struct: Any, device: torch.device, non_blocking: bool = False) -> Any:
    def move(t: Any) -> Any:
        if isinstance(t, torch.Tensor) and t.device != device:
            return t.to(device, non_blocking=non_blocking)
        return t

    return tree.map_structure(move, struct)


def check_finite(struct: Any, name: str) -> None:
    """Raise a clear error if a float array holds NaN or infinity.

    One reduction pass and no copy of the data: a finite sum proves every element finite (a NaN
    or an infinity makes any sum non-finite); only a non-finite sum (which large finite values
    can also give) leads to the element-wise check, chunk by chunk, that finds the culprit."""
    for i, t in enumerate(tree.flatten(struct)):
        if isinstance(t, torch.Tensor) and t.is_floating_point():
            if t.numel() == 0 or bool(torch.isfinite(t.sum())):
                continue
            finite = _isfinite_chunked(t)
            if not bool(finite.all()):
                bad = (~finite).nonzero()[0].tolist()
                value = t[tuple(bad)].item()
                where = f"{name}[{i}]" if len(tree.flatten(struct)) > 1 else name
                raise ValueError(
                    f"{where} contains {value} at index {tuple(bad)} "
                    f"({int((~finite).sum())} non-finite values in all). Remove or impute them "
                    "before training: lamina.utils.impute(x_train) fills NaN with training "
                    "means and adds indicator columns, or start the model with "
                    "lamina.layers.Imputer."
                )


def _isfinite_chunked(t: torch.Tensor, rows: int = 4096) -> torch.Tensor:
    """``torch.isfinite(t)`` without the full-size temporaries it makes (only bools kept)."""
    if t.dim() == 0:
        return torch.isfinite(t)
    return torch.cat([torch.isfinite(t[i : i + rows]) for i in range(0, t.shape[0], rows)])


def split_arrays(struct: Any, split: float) -> tuple[Any, Any]:
    """Split off the last ``split`` fraction of samples (Keras's ``validation_split``)."""
    n = _length(tree.flatten(struct)[0])
    cut = n - int(math.floor(n * split)) if split else n
    if split and (cut == n or cut == 0):
        raise ValueError(
            f"validation_split={split} leaves {'no validation' if cut == n else 'no training'} "
            f"samples out of {n}. Use a split between {1 / n:.3g} and {1 - 1 / n:.3g}."
        )
    first = tree.map_structure(lambda t: t[:cut] if t is not None else None, struct)
    second = tree.map_structure(lambda t: t[cut:] if t is not None else None, struct)
    return first, second


# ---------------------------------------------------------------------- adapters
class DataAdapter:
    """Iterates batches ``(x, y, sample_weight)`` for one epoch at a time."""

    num_batches: int | None = None
    num_samples: int | None = None

    def __iter__(self) -> Iterator[Batch]:
        raise NotImplementedError

    def on_epoch_end(self) -> None:
        """Called after each epoch (PyDataset's hook)."""

    def peek(self) -> Batch | None:
        """The first batch, without using it up (used to build the model and check data)."""
        return next(iter(self), None)


class ArrayAdapter(DataAdapter):
    """In-memory arrays: converted once, batched by slicing (or by shuffled index)."""

    def __init__(
        self,
        x: Any,
        y: Any = None,
        sample_weight: Any = None,
        batch_size: int | None = 32,
        shuffle: bool | str = False,
        class_weight: dict | None = None,
        device: torch.device | None = None,
        steps: int | None = None,
        check: bool = True,
        shard: tuple[int, int] | None = None,
    ):
        device = device or config.get_device()
        # (rank, world size): each process takes its part of every global batch.
        self.shard = shard if shard is not None and shard[1] > 1 else None
        self.batch_scale = 1.0
        self.x = _to_device(_convert(x, "x"), device)
        self.y = _to_device(_convert(y, "y"), device)
        self.sample_weight = _to_device(_convert(sample_weight, "sample_weight"), device)
        self.device = device
        lengths = {
            name: _length(t)
            for name, struct in (
                ("x", self.x),
                ("y", self.y),
                ("sample_weight", self.sample_weight),
            )
            for t in ([] if struct is None else tree.flatten(struct))
        }
        sizes = set(lengths.values())
        if len(sizes) > 1:
            detail = ", ".join(
                f"{name} has {_count(struct)}"
                for name, struct in (
                    ("x", self.x),
                    ("y", self.y),
                    ("sample_weight", self.sample_weight),
                )
                if struct is not None
            )
            raise ValueError(
                f"Data cardinality is ambiguous: {detail} samples. Make sure all arrays contain "
                "the same number of samples."
            )
        self.num_samples = sizes.pop() if sizes else 0
        if self.num_samples == 0:
            raise ValueError("The data is empty (0 samples): there is nothing to train on.")
        if check:
            check_finite(self.x, "x")
            check_finite(self.y, "y")
        self.batch_size = int(batch_size or 32)
        if self.batch_size <= 0:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size}.")
        self.shuffle = shuffle
        self.class_weight = class_weight
        self.num_batches = math.ceil(self.num_samples / self.batch_size)
        if steps is not None:
            self.num_batches = min(int(steps), self.num_batches)
        self._cw_table = None
        if class_weight is not None:
            self._cw_table = _class_weight_table(class_weight, device)

    def peek(self) -> Batch | None:
        idx = slice(0, min(self.batch_size, self.num_samples))
        x = tree.map_structure(lambda t: _take(t, idx), self.x)
        y = None if self.y is None else tree.map_structure(lambda t: _take(t, idx), self.y)
        return x, y, None

    def _permutation(self, n: int) -> torch.Tensor:
        perm = torch.randperm(n, device=self.device)
        if self.shard is not None:
            # Every process must shuffle the same way: rank 0's permutation is broadcast.
            import torch.distributed as dist

            dist.broadcast(perm, src=0)
        return perm

    def __iter__(self) -> Iterator[Batch]:
        n, bs = self.num_samples, self.batch_size
        perm = None
        if self.shuffle is True:
            perm = self._permutation(n)
        order = range(self.num_batches)
        if self.shuffle == "batch":
            order = self._permutation(self.num_batches).tolist()
        for b in order:
            start = b * bs
            idx: Any = (
                slice(start, min(start + bs, n)) if perm is None else perm[start : start + bs]
            )
            if self.shard is not None:
                idx, skip = self._local_part(idx, n)
                if skip:
                    continue
            x = tree.map_structure(lambda t, i=idx: _take(t, i), self.x)
            y = None if self.y is None else tree.map_structure(lambda t, i=idx: _take(t, i), self.y)
            sw = (
                None
                if self.sample_weight is None
                else tree.map_structure(lambda t, i=idx: _take(t, i), self.sample_weight)
            )
            if self._cw_table is not None and y is not None:
                sw = _apply_class_weight(self._cw_table, y, sw)
            yield x, y, sw

    def _local_part(self, idx: Any, n: int) -> tuple[Any, bool]:
        """This process's share of a global batch, and the loss scale that makes the
        average of the processes' gradients equal the gradient of the global batch."""
        rank, world = self.shard
        if isinstance(idx, slice):
            idx = torch.arange(idx.start, idx.stop, device=self.device)
        total = len(idx)
        if total < world:
            return idx, True  # too few samples to give every process one: skip
        local = idx.tensor_split(world)[rank]
        self.batch_scale = len(local) * world / total
        return local, False


def _count(struct: Any) -> str:
    counts = sorted({_length(t) for t in tree.flatten(struct)})
    return " / ".join(str(c) for c in counts)


def _class_weight_table(class_weight: dict, device: torch.device) -> torch.Tensor:
    if not class_weight:
        raise ValueError("class_weight is empty: give a weight for each class, e.g. {0: 1, 1: 5}.")
    keys = [int(k) for k in class_weight]
    if min(keys) < 0:
        raise ValueError(f"class_weight keys must be class indices >= 0, got {sorted(keys)}.")
    table = torch.ones(max(keys) + 1, device=device)
    for k, v in class_weight.items():
        table[int(k)] = float(v)
    return table


def _apply_class_weight(table: torch.Tensor, y: Any, sw: Any) -> torch.Tensor:
    if isinstance(y, (list, dict)):
        raise ValueError(
            "class_weight is only supported for models with one output; use sample_weight "
            "(a per-sample weight for each output) instead."
        )
    labels = y.argmax(-1) if y.dim() > 1 and y.shape[-1] > 1 else y.reshape(y.shape[0], -1)[:, 0]
    labels = labels.long()
    if int(labels.max()) >= table.numel():
        table = torch.cat([table, table.new_ones(int(labels.max()) + 1 - table.numel())])
    weights = table[labels]
    return weights if sw is None else weights * sw


class IterableAdapter(DataAdapter):
    """Generators, iterables of batches, PyDatasets, torch Datasets and DataLoaders."""

    def __init__(
        self,
        data: Any,
        steps: int | None = None,
        batch_size: int | None = None,
        shuffle: bool = False,
        device: torch.device | None = None,
        class_weight: dict | None = None,
        shard: tuple[int, int] | None = None,
    ):
        self.device = device or config.get_device()
        self.batch_scale = 1.0
        self.steps = None if steps is None else int(steps)
        self.class_weight = class_weight
        self._cw_table = (
            None if class_weight is None else _class_weight_table(class_weight, self.device)
        )
        self._source = data
        self._iterator: Iterator | None = None
        self._pending: list[Any] = []
        if (
            isinstance(data, torch.utils.data.Dataset)
            and not isinstance(data, torch.utils.data.IterableDataset)
            and not _is_batch_sequence(data)
        ):
            sampler = None
            if shard is not None and shard[1] > 1:
                # A map-style dataset is split between processes by torch's own sampler.
                sampler = torch.utils.data.DistributedSampler(
                    data, num_replicas=shard[1], rank=shard[0], shuffle=bool(shuffle)
                )
                batch_size = max(1, (batch_size or 32) // shard[1])
            data = torch.utils.data.DataLoader(
                data,
                batch_size=batch_size or 32,
                shuffle=bool(shuffle) and sampler is None,
                sampler=sampler,
                pin_memory=self.device.type == "cuda",
            )
        elif isinstance(data, torch.utils.data.IterableDataset):
            data = torch.utils.data.DataLoader(data, batch_size=batch_size or 32)
        self.data = data
        self._reiterable = not hasattr(data, "__next__")
        length = None
        if hasattr(data, "__len__"):
            try:
                length = len(data)
            except TypeError:
                length = None
        self.num_batches = self.steps if self.steps is not None else length
        if self.num_batches == 0:
            raise ValueError("The dataset is empty (0 batches): there is nothing to train on.")

    def peek(self) -> Batch | None:
        if self._reiterable and self.steps is None:
            return next(iter(self), None)
        if self._iterator is None:
            self._iterator = iter(self.data)
        try:
            raw = next(self._iterator)
        except StopIteration:
            return None
        # Put the batch back: a generator cannot be rewound.
        self._pending.append(raw)
        x, y, sw = unpack_batch(raw)
        return (
            _to_device(_convert(x, "x"), self.device),
            _to_device(_convert(y, "y"), self.device),
            None,
        )

    def _batches(self) -> Iterator[Any]:
        while self._pending:
            yield self._pending.pop(0)
        if _is_batch_sequence(self.data):
            for i in range(len(self.data)):
                yield self.data[i]
            return
        if self._reiterable and self.steps is None:
            yield from self.data
            return
        # Generators (and fixed steps over iterables) continue where the last epoch stopped.
        if self._iterator is None:
            self._iterator = iter(self.data)
        while True:
            try:
                yield next(self._iterator)
            except StopIteration:
                if not self._reiterable:
                    return
                self._iterator = iter(self.data)
                yield next(self._iterator)

    def __iter__(self) -> Iterator[Batch]:
        count = 0
        for batch in self._batches():
            if self.steps is not None and count >= self.steps:
                break
            x, y, sw = unpack_batch(batch)
            x = _to_device(_convert(x, "x"), self.device, non_blocking=True)
            y = _to_device(_convert(y, "y"), self.device, non_blocking=True)
            sw = _to_device(_convert(sw, "sample_weight"), self.device, non_blocking=True)
            if self._cw_table is not None and y is not None:
                sw = _apply_class_weight(self._cw_table, y, sw)
            count += 1
            yield x, y, sw
            if self.steps is not None and count >= self.steps:
                break
        if count == 0:
            raise ValueError(
                "The data source yielded no batches. A generator is used up after one pass: "
                "make it loop forever and pass steps_per_epoch, or pass a re-iterable object "
                "(a PyDataset, DataLoader or list)."
            )

    def on_epoch_end(self) -> None:
        hook = getattr(self.data, "on_epoch_end", None)
        if callable(hook):
            hook()
        sampler = getattr(self.data, "sampler", None)
        if isinstance(sampler, torch.utils.data.DistributedSampler):
            self._epochs_done = getattr(self, "_epochs_done", 0) + 1
            sampler.set_epoch(self._epochs_done)


def _is_batch_sequence(data: Any) -> bool:
    """A PyDataset / keras Sequence: ``data[i]`` is batch ``i``."""
    for cls in type(data).__mro__:
        if cls.__name__ in ("PyDataset", "Sequence") and cls.__module__.startswith("lamina"):
            return True
    return False


def unpack_batch(batch: Any) -> Batch:
    """``(x,)``, ``(x, y)`` or ``(x, y, sample_weight)``; a bare array is ``x`` alone."""
    if isinstance(batch, dict):
        return batch, None, None
    if isinstance(batch, (list, tuple)):
        if len(batch) == 1:
            return batch[0], None, None
        if len(batch) == 2:
            return batch[0], batch[1], None
        if len(batch) == 3:
            return batch[0], batch[1], batch[2]
        raise ValueError(
            f"A data batch must be x, (x, y) or (x, y, sample_weight); got a tuple of {len(batch)} "
            "items. Wrap several inputs in a list: ([x1, x2], y)."
        )
    return batch, None, None


def make_adapter(
    x: Any,
    y: Any = None,
    sample_weight: Any = None,
    batch_size: int | None = None,
    steps: int | None = None,
    shuffle: bool | str = False,
    class_weight: dict | None = None,
    device: torch.device | None = None,
    check: bool = True,
    shard: tuple[int, int] | None = None,
) -> DataAdapter:
    """Pick the adapter for ``x`` (and check that ``y`` / ``sample_weight`` fit with it)."""
    if isinstance(x, DataAdapter):
        return x
    if is_array_data(x) and x is not None:
        return ArrayAdapter(
            x,
            y,
            sample_weight,
            batch_size=batch_size or 32,
            shuffle=shuffle,
            class_weight=class_weight,
            device=device,
            steps=steps,
            check=check,
            shard=shard,
        )
    if x is None:
        raise ValueError("No input data was given (x is None).")
    if y is not None or sample_weight is not None:
        raise ValueError(
            f"When x is a {type(x).__name__} (a dataset or generator), it must yield the targets "
            "itself as (x, y) batches: do not pass y or sample_weight separately."
        )
    return IterableAdapter(
        x,
        steps=steps,
        batch_size=batch_size,
        shuffle=bool(shuffle),
        device=device,
        class_weight=class_weight,
        shard=shard,
    )
