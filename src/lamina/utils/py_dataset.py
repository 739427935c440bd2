"""``PyDataset`` (Keras 3; ``Sequence`` in classic Keras): a dataset that serves whole batches.

Subclasses implement ``__len__`` (the number of batches) and ``__getitem__(index)`` returning
batch ``index`` as ``(x, y)`` or ``(x, y, sample_weight)`` (or just ``x`` for prediction).
``fit`` / ``evaluate`` / ``predict`` treat any ``PyDataset`` as an iterable of batches and call
``on_epoch_end()`` after each epoch, where a subclass may reshuffle.

Example:
    >>> import numpy as np
    >>> from lamina.utils.py_dataset import PyDataset
    >>> class Halves(PyDataset):
    ...     def __init__(self, x, y, batch_size):
    ...         super().__init__()
    ...         self.x, self.y, self.batch_size = x, y, batch_size
    ...     def __len__(self):
    ...         return -(-len(self.x) // self.batch_size)  # ceil
    ...     def __getitem__(self, i):
    ...         s = slice(i * self.batch_size, (i + 1) * self.batch_size)
    ...         return self.x[s], self.y[s]
    >>> ds = Halves(np.arange(5), np.arange(5) * 2, batch_size=2)
    >>> len(ds), [x.tolist() for x, _ in ds]
    (3, [[0, 1], [2, 3], [4]])
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

__all__ = ["PyDataset", "Sequence"]


class PyDataset:
    """Base class for datasets that return one batch per index.

    Args:
        workers: Number of workers a loader may use to prepare batches in parallel (a hint to
            the training loop; 1 means batches are built in the calling thread).
        use_multiprocessing: Whether those workers may be processes rather than threads.
        max_queue_size: How many batches may be prepared ahead.

    Subclasses that define their own ``__init__`` should call ``super().__init__()``; the
    defaults above also hold when they do not (as with classic Keras ``Sequence``).

    Example:
        >>> class Ones(PyDataset):
        ...     def __len__(self):
        ...         return 2
        ...     def __getitem__(self, i):
        ...         return [1] * (i + 1), [0]
        >>> list(Ones())
        [([1], [0]), ([1, 1], [0])]
    """

    workers: int = 1
    use_multiprocessing: bool = False
    max_queue_size: int = 10

    def __init__(
        self, workers: int = 1, use_multiprocessing: bool = False, max_queue_size: int = 10
    ):
        if workers < 1 or max_queue_size < 1:
            raise ValueError(
                f"PyDataset: workers and max_queue_size must be >= 1, got workers={workers}, "
                f"max_queue_size={max_queue_size}."
            )
        self.workers = workers
        self.use_multiprocessing = use_multiprocessing
        self.max_queue_size = max_queue_size

    def __len__(self) -> int:
        raise NotImplementedError(
            f"{type(self).__name__} must implement __len__, returning the number of batches."
        )

    def __getitem__(self, index: int) -> Any:
        raise NotImplementedError(
            f"{type(self).__name__} must implement __getitem__(index), returning batch index "
            f"as (x, y) or (x, y, sample_weight)."
        )

    @property
    def num_batches(self) -> int | None:
        """Number of batches, or ``None`` when ``__len__`` is not implemented."""
        try:
            return len(self)
        except NotImplementedError:
            return None

    def on_epoch_begin(self) -> None:
        """Called by the training loop before each epoch."""

    def on_epoch_end(self) -> None:
        """Called by the training loop after each epoch (override to reshuffle)."""

    def __iter__(self) -> Iterator[Any]:
        """Yield the batches ``0 .. len(self) - 1`` once (epoch hooks are the caller's)."""
        for i in range(len(self)):
            yield self[i]


#: Classic Keras name of :class:`PyDataset`.
Sequence = PyDataset
