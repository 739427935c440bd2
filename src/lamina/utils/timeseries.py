"""Sliding windows over a time series, as batches for ``fit``.

* :func:`timeseries_dataset_from_array` (Keras 3): the same windows as Keras, served by a
  :class:`TimeseriesDataset` (a :class:`~lamina.utils.py_dataset.PyDataset`) instead of a
  ``tf.data.Dataset``.
* :class:`TimeseriesGenerator` (classic Keras ``preprocessing.sequence``), also a ``PyDataset``.
* :func:`window_generator`: the plain lookback / step / delay generator of *Deep Learning with
  Python* (Jena temperature forecasting), which yields batches forever; use it as
  ``model.fit(gen, steps_per_epoch=...)``.

Example:
    >>> import numpy as np
    >>> from lamina.utils.timeseries import timeseries_dataset_from_array
    >>> ds = timeseries_dataset_from_array(np.arange(10), np.arange(10) * 10,
    ...                                    sequence_length=3, batch_size=4)
    >>> len(ds)
    2
    >>> x, y = ds[0]
    >>> x.tolist(), y.tolist()
    ([[0, 1, 2], [1, 2, 3], [2, 3, 4], [3, 4, 5]], [0, 10, 20, 30])
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterator
from typing import Any

import numpy as np

from lamina.utils.py_dataset import PyDataset

__all__ = [
    "TimeseriesDataset",
    "timeseries_dataset_from_array",
    "TimeseriesGenerator",
    "window_generator",
]


def _int(name: str, value: Any, low: int, fn: str) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < low:
        raise ValueError(f"{fn}: {name} must be an integer >= {low}, got {value!r}.")
    return int(value)


def _batch_index(index: int, length: int, owner: str) -> int:
    if index < 0:
        index += length
    if not 0 <= index < length:
        raise IndexError(f"{owner}: batch index out of range (it has {length} batches).")
    return index


class TimeseriesDataset(PyDataset):
    """Windows over ``data`` at given start positions, in batches (made by
    :func:`timeseries_dataset_from_array`; see it for the arguments).

    ``ds[i]`` is batch ``i``: ``(x, y)`` with ``x`` of shape
    ``(batch, sequence_length) + data.shape[1:]``, or only ``x`` without targets. With
    ``shuffle``, the window order is reshuffled (deterministically from ``seed``) at each
    ``on_epoch_end``.

    Example:
        >>> import numpy as np
        >>> ds = TimeseriesDataset(np.arange(6), None, np.array([0, 2]), 2, 1, batch_size=None)
        >>> [w.tolist() for w in ds]
        [[0, 1], [2, 3]]
    """

    def __init__(
        self,
        data: np.ndarray,
        targets: np.ndarray | None,
        start_positions: np.ndarray,
        sequence_length: int,
        sampling_rate: int,
        batch_size: int | None = 128,
        start_index: int = 0,
        shuffle: bool = False,
        seed: int | None = None,
    ):
        super().__init__()
        self.data = data
        self.targets = targets
        self.start_positions = np.asarray(start_positions, dtype=np.int64)
        self.sequence_length = sequence_length
        self.sampling_rate = sampling_rate
        self.batch_size = batch_size
        self.start_index = start_index
        self.shuffle = shuffle
        self._offsets = np.arange(sequence_length, dtype=np.int64) * sampling_rate
        self._rng = np.random.RandomState(seed) if shuffle else None

    def __len__(self) -> int:
        n = len(self.start_positions)
        return n if self.batch_size is None else math.ceil(n / self.batch_size)

    def __getitem__(self, index: int) -> Any:
        index = _batch_index(index, len(self), "TimeseriesDataset")
        if self.batch_size is None:
            starts = self.start_positions[index] + self.start_index
        else:
            b = self.batch_size
            starts = self.start_positions[index * b : (index + 1) * b] + self.start_index
        x = self.data[np.expand_dims(starts, -1) + self._offsets]
        if self.targets is None:
            return x
        return x, self.targets[starts]

    def on_epoch_end(self) -> None:
        if self._rng is not None:
            self._rng.shuffle(self.start_positions)


def timeseries_dataset_from_array(
    data: Any,
    targets: Any,
    sequence_length: int,
    sequence_stride: int = 1,
    sampling_rate: int = 1,
    batch_size: int | None = 128,
    shuffle: bool = False,
    seed: int | None = None,
    start_index: int | None = None,
    end_index: int | None = None,
) -> TimeseriesDataset:
    """Sliding windows over an array, with Keras's window semantics.

    Window ``k`` starts at ``s = start_index + k * sequence_stride`` and holds
    ``data[s], data[s + sampling_rate], ..., data[s + (sequence_length - 1) * sampling_rate]``;
    its target is ``targets[s]``. Windows use only ``data[start_index:end_index]`` (``end_index``
    exclusive). With ``targets``, there are at most ``len(targets) - start_index`` windows.

    Args:
        data: Array-like with time on axis 0 (NumPy, list, CPU tensor, DataFrame).
        targets: ``targets[i]`` is the target of the window starting at ``i``; ``None`` for
            windows only.
        sequence_length: Steps per window.
        sequence_stride: Steps between the starts of consecutive windows.
        sampling_rate: Steps between consecutive elements of a window.
        batch_size: Windows per batch (the last may be smaller); ``None`` serves single windows.
        shuffle: Shuffle the windows. The first order is Keras's (``np.random.RandomState(seed)``
            shuffling the start positions); it is reshuffled at each ``on_epoch_end``.
        seed: Seed for shuffling.
        start_index, end_index: Use only ``data[start_index:end_index]``.

    Returns:
        A :class:`TimeseriesDataset` yielding ``(x_batch, y_batch)`` (or ``x_batch``).

    Example:
        >>> ds = timeseries_dataset_from_array(np.arange(20), None, sequence_length=3,
        ...                                    sequence_stride=4, sampling_rate=2, start_index=1)
        >>> ds[0].tolist()
        [[1, 3, 5], [5, 7, 9], [9, 11, 13], [13, 15, 17]]
    """
    fn = "timeseries_dataset_from_array"
    data = np.asarray(data)
    if data.ndim == 0:
        raise ValueError(f"{fn}: data must have a time axis (axis 0), got a scalar.")
    n = len(data)
    sequence_length = _int("sequence_length", sequence_length, 1, fn)
    sampling_rate = _int("sampling_rate", sampling_rate, 1, fn)
    sequence_stride = _int("sequence_stride", sequence_stride, 1, fn)
    if batch_size is not None:
        batch_size = _int("batch_size", batch_size, 1, fn)
    # Keras's checks, with Keras's messages
    if sampling_rate >= n:
        raise ValueError(
            f"{fn}: sampling_rate must be lower than the length of the data. "
            f"Received: sampling_rate={sampling_rate}, for data of length {n}."
        )
    if sequence_stride >= n:
        raise ValueError(
            f"{fn}: sequence_stride must be lower than the length of the data. "
            f"Received: sequence_stride={sequence_stride}, for data of length {n}."
        )
    start = 0 if start_index is None else _int("start_index", start_index, 0, fn)
    if start >= n:
        raise ValueError(
            f"{fn}: start_index must be lower than the length of the data. "
            f"Received: start_index={start}, for data of length {n}."
        )
    end = n if end_index is None else _int("end_index", end_index, 1, fn)
    if end_index is not None and end >= n:
        raise ValueError(
            f"{fn}: end_index must be lower than the length of the data (omit it "
            f"to use all the data). Received: end_index={end}, for data of length "
            f"{n}."
        )
    if end <= start:
        raise ValueError(
            f"{fn}: end_index must be higher than start_index. Received: "
            f"start_index={start}, end_index={end}."
        )
    num_seqs = end - start - (sequence_length - 1) * sampling_rate
    if targets is not None:
        targets = np.asarray(targets)
        if targets.ndim == 0:
            raise ValueError(f"{fn}: targets must be an array with one target per step.")
        num_seqs = min(num_seqs, len(targets) - start)
    if num_seqs <= 0:
        raise ValueError(
            f"{fn}: no window fits: a window spans (sequence_length - 1) * sampling_rate + 1 = "
            f"{(sequence_length - 1) * sampling_rate + 1} steps, but data[{start}:{end}] has "
            f"{end - start}"
            + (f" and targets[{start}:] has {len(targets) - start}" if targets is not None else "")
            + " steps."
        )
    positions = np.arange(0, num_seqs, sequence_stride)
    if shuffle:
        if seed is None:
            seed = int(np.random.randint(1e6))
        np.random.RandomState(seed).shuffle(positions)
        seed += 1  # later epochs: a stream of its own, still determined by seed
    return TimeseriesDataset(
        data,
        targets,
        positions,
        sequence_length,
        sampling_rate,
        batch_size=batch_size,
        start_index=start,
        shuffle=shuffle,
        seed=seed,
    )


class TimeseriesGenerator(PyDataset):
    """Classic Keras ``TimeseriesGenerator``: batches of windows ending before each target.

    The sample for row ``r`` is ``data[r - length : r : sampling_rate]`` and its target is
    ``targets[r]``, for rows ``start_index + length .. end_index`` (inclusive), ``stride``
    apart. With ``shuffle``, each batch draws ``batch_size`` random rows (from ``seed``, or
    NumPy's global generator as Keras).

    Args:
        data: Array-like, time on axis 0.
        targets: As long as ``data``.
        length: Steps of history per sample (before sampling).
        sampling_rate: Keep every ``sampling_rate``-th step of the history.
        stride: Steps between consecutive rows.
        start_index, end_index: First and last usable row (``end_index`` defaults to the end).
        shuffle: Draw rows at random.
        reverse: Reverse the time order of each sample.
        batch_size: Samples per batch.
        seed: Optional seed for ``shuffle`` (a lamina addition).

    Example:
        >>> import numpy as np
        >>> gen = TimeseriesGenerator(np.arange(10), np.arange(10), length=3, batch_size=2)
        >>> len(gen), gen[0][0].tolist(), gen[0][1].tolist()
        (4, [[0, 1, 2], [1, 2, 3]], [3, 4])
    """

    def __init__(
        self,
        data: Any,
        targets: Any,
        length: int,
        sampling_rate: int = 1,
        stride: int = 1,
        start_index: int = 0,
        end_index: int | None = None,
        shuffle: bool = False,
        reverse: bool = False,
        batch_size: int = 128,
        seed: int | None = None,
    ):
        super().__init__()
        fn = "TimeseriesGenerator"
        self.data = np.asarray(data)
        self.targets = np.asarray(targets)
        if len(self.data) != len(self.targets):
            raise ValueError(
                f"{fn}: data and targets must have the same length; data has "
                f"{len(self.data)} steps and targets {len(self.targets)}."
            )
        self.length = _int("length", length, 1, fn)
        self.sampling_rate = _int("sampling_rate", sampling_rate, 1, fn)
        self.stride = _int("stride", stride, 1, fn)
        self.batch_size = _int("batch_size", batch_size, 1, fn)
        self.start_index = _int("start_index", start_index, 0, fn) + self.length
        self.end_index = len(self.data) - 1 if end_index is None else int(end_index)
        if self.end_index >= len(self.data):
            raise ValueError(
                f"{fn}: end_index={self.end_index} is past the data (length {len(self.data)})."
            )
        if self.start_index > self.end_index:
            raise ValueError(
                f"{fn}: start_index + length = {self.start_index} > end_index = "
                f"{self.end_index}, so no step is left to use as a target."
            )
        self.shuffle = shuffle
        self.reverse = reverse
        self._rng = np.random.RandomState(seed) if seed is not None else np.random

    def __len__(self) -> int:
        span = self.batch_size * self.stride
        return (self.end_index - self.start_index + span) // span

    def __getitem__(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        index = _batch_index(index, len(self), "TimeseriesGenerator")
        if self.shuffle:
            rows = self._rng.randint(self.start_index, self.end_index + 1, size=self.batch_size)
        else:
            i = self.start_index + self.batch_size * self.stride * index
            rows = np.arange(
                i, min(i + self.batch_size * self.stride, self.end_index + 1), self.stride
            )
        offsets = np.arange(-self.length, 0, self.sampling_rate)
        samples = self.data[rows[:, None] + offsets]
        if self.reverse:
            samples = samples[:, ::-1, ...]
        return samples, self.targets[rows]


def window_generator(
    data: Any,
    lookback: int,
    delay: int,
    min_index: int,
    max_index: int | None = None,
    shuffle: bool = False,
    batch_size: int = 128,
    step: int = 6,
    target_col: int = 1,
    seed: int | None = None,
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """The *Deep Learning with Python* time-series generator; yields ``(samples, targets)``
    forever.

    For each row ``r``, the sample is ``data[r - lookback : r : step]`` (all columns) and the
    target is ``data[r + delay, target_col]``. Rows run from ``min_index + lookback`` up to
    ``max_index`` (exclusive): in order, ``batch_size`` at a time, starting over when fewer than
    ``batch_size + 1`` rows are left (so every batch is full); or at random with ``shuffle``.
    Since it never ends, pass ``steps_per_epoch`` (and ``validation_steps``) to ``fit``:
    ``model.fit(train_gen, steps_per_epoch=500, epochs=20, validation_data=val_gen,
    validation_steps=(max_index - min_index - lookback) // batch_size)``.

    Args:
        data: 2-D array ``(timesteps, features)``, already normalized.
        lookback: How many steps back each sample goes.
        delay: How many steps after the last sample step the target lies.
        min_index, max_index: The rows drawn from; ``max_index=None`` means
            ``len(data) - delay - 1``.
        shuffle: Draw rows at random (from ``seed``, else NumPy's global generator, as the book).
        batch_size: Samples per batch.
        step: Period, in steps, at which data is sampled (6 = one point per hour for 10-minute
            data).
        target_col: The column predicted (1 = temperature in the Jena data).
        seed: Optional seed for ``shuffle``.

    Yields:
        ``samples`` of shape ``(batch, ceil(lookback / step), features)`` and ``targets`` of
        shape ``(batch,)``, in the dtype of ``data``.

    Example:
        >>> data = np.arange(40.0).reshape(20, 2)
        >>> gen = window_generator(data, lookback=4, delay=1, min_index=0, step=2, batch_size=3)
        >>> samples, targets = next(gen)
        >>> samples.shape, targets.tolist()
        ((3, 2, 2), [11.0, 13.0, 15.0])
    """
    fn = "window_generator"
    data = np.asarray(data)
    if data.ndim != 2:
        raise ValueError(f"{fn}: data must be 2-D (timesteps, features), got shape {data.shape}.")
    lookback = _int("lookback", lookback, 1, fn)
    delay = _int("delay", delay, 0, fn)
    step = _int("step", step, 1, fn)
    batch_size = _int("batch_size", batch_size, 1, fn)
    min_index = _int("min_index", min_index, 0, fn)
    if not -data.shape[1] <= target_col < data.shape[1]:
        raise ValueError(
            f"{fn}: target_col={target_col} is out of range for data with {data.shape[1]} columns."
        )
    if max_index is None:
        max_index = len(data) - delay - 1
    if max_index - 1 + delay >= len(data):
        raise ValueError(
            f"{fn}: max_index={max_index} with delay={delay} reaches past the data "
            f"(length {len(data)}); use max_index <= {len(data) - delay}."
        )
    first = min_index + lookback
    if first >= max_index:
        raise ValueError(
            f"{fn}: no rows to draw: min_index + lookback = {first} must be lower "
            f"than max_index = {max_index}."
        )
    return _windows(
        data,
        lookback,
        delay,
        first,
        max_index,
        shuffle,
        batch_size,
        step,
        target_col,
        np.random.RandomState(seed) if seed is not None else np.random,
    )


def _windows(data, lookback, delay, first, max_index, shuffle, batch_size, step, col, rng):
    offsets = np.arange(-lookback, 0, step)
    i = first
    while True:
        if shuffle:
            rows = rng.randint(first, max_index, size=batch_size)
        else:
            if i + batch_size >= max_index:
                i = first
            rows = np.arange(i, min(i + batch_size, max_index))
            i += len(rows)
        yield data[rows[:, None] + offsets], data[rows + delay, col]
