"""Flushing denormal floats to zero while lamina computes.

PyTorch on CPU computes with denormal numbers (below ~1.2e-38 for float32) at full precision,
which is many times slower; XLA and TensorFlow flush them to zero. Gradients flowing back
through long recurrences become denormal, so lamina flushes them during ``fit`` / ``evaluate``
/ ``predict`` and restores the caller's setting afterwards. Results change only for values
below 1e-38. The setting is per thread (``torch.set_flush_denormal``): it holds on the thread
that calls ``fit``, not on the OpenMP worker threads that compute part of a large operation
(on the 2-core bench machine that made no measurable difference in speed).

Example:
    >>> from lamina.engine.denormals import flush_denormals, denormals_flushed
    >>> with flush_denormals():
    ...     denormals_flushed()
    True
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch

__all__ = ["flush_denormals", "denormals_flushed"]

_TINY = torch.tensor(1e-39, dtype=torch.float32)  # a float32 denormal


def denormals_flushed() -> bool:
    """Whether this thread currently flushes denormals (probed, since torch has no getter)."""
    return bool((_TINY * 1.0) == 0)


@contextlib.contextmanager
def flush_denormals(enabled: bool = True) -> Iterator[None]:
    """Flush denormals to zero inside the block; restore the previous setting on exit."""
    if not enabled:
        yield
        return
    before = denormals_flushed()
    changed = not before and torch.set_flush_denormal(True)
    try:
        yield
    finally:
        if changed:
            torch.set_flush_denormal(False)
