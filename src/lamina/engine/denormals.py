"""Flushing denormal floats to zero while lamina computes.

PyTorch on CPU computes with denormal numbers (below ~1.2e-38 for float32) at full precision,
which is many times slower; XLA and TensorFlow flush them to zero. Gradients flowing back
through long recurrences become denormal, and so do optimizer moments of weights whose gradient
stays zero, so lamina flushes them during ``fit`` / ``evaluate`` / ``predict`` and restores the
caller's setting afterwards. Results change only for values below 1e-38.

The setting is per thread (``torch.set_flush_denormal`` sets the calling one). ``fit`` also sets
it on the other threads of torch's OpenMP team, which compute part of every large operation:
with the calling thread alone, half of a 4M-element product over denormals on 2 threads still
takes the slow path, and a fused Adam step over 401k denormal moments took 172-260 us against
131-203 with every thread flushing (``python -m bench.denormal_threads``, three runs). It does so
by running a parallel region of torch's own OpenMP runtime (libgomp's ``GOMP_parallel``, on
Linux) whose body sets each thread, and restores each thread's own setting at the end; where
that runtime cannot be found, only the calling thread is set. ``evaluate`` and ``predict`` set
the calling thread only: they are often called for a batch or two, where a region's cost
(54-70 us in ``bench/denormal_threads.py``) would show.

Example:
    >>> from lamina.engine.denormals import flush_denormals, denormals_flushed
    >>> with flush_denormals():
    ...     denormals_flushed()
    True
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import re
import struct
import sys
import threading
from collections.abc import Callable, Iterator

import torch

__all__ = ["flush_denormals", "denormals_flushed"]

# A float64 denormal made from its bits (parsing or converting a number on a thread that
# flushes would give 0). Python floats are computed by the same unit, under the same per-thread
# setting, as torch's CPU kernels, so one multiplication reads the setting of the thread it
# runs on; ``denormals_flushed`` is checked against a torch operation in the tests.
_TINY = struct.unpack("<d", struct.pack("<Q", 1 << 40))[0]
_ONE = 1.0
_ACTIVE = threading.local()  # depth of every-thread contexts on this thread


def denormals_flushed() -> bool:
    """Whether this thread currently flushes denormals (probed, since torch has no getter)."""
    return _TINY * _ONE == 0.0


_BODY = ctypes.CFUNCTYPE(None, ctypes.c_void_p)


@functools.cache
def _omp_parallel() -> Callable[..., None] | None:
    """libgomp's ``GOMP_parallel`` from the OpenMP runtime torch computes with, or None (not
    Linux, torch built with another runtime, or anything unexpected)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        torch.ones(1 << 16).mul_(2.0)  # (torch's runtime is loaded and its team started)
        with open("/proc/self/maps") as f:
            found = re.findall(r"(/\S*/libgomp[^\s/]*\.so[^\s/]*)", f.read())
        paths = sorted(set(found), key=lambda p: "torch" not in p)  # torch's own first
        if not paths:
            return None
        parallel = ctypes.CDLL(paths[0]).GOMP_parallel
        parallel.argtypes = [_BODY, ctypes.c_void_p, ctypes.c_uint, ctypes.c_uint]
        parallel.restype = None
        return parallel
    except (OSError, AttributeError, ValueError):
        return None


def _on_every_thread(fn: Callable[[], None]) -> bool:
    """Run ``fn`` once on each thread of torch's OpenMP team (this thread included); False
    where that cannot be done, True once it has run."""
    parallel = _omp_parallel()
    if parallel is None:
        return False
    errors: list[BaseException] = []

    def body(_: int | None) -> None:
        try:
            fn()
        except BaseException as e:  # noqa: BLE001 - re-raised on the calling thread below
            errors.append(e)

    callback = _BODY(body)  # (kept alive through the call)
    parallel(callback, None, torch.get_num_threads(), 0)
    if errors:
        raise errors[0]
    return True


@contextlib.contextmanager
def flush_denormals(enabled: bool = True, every_thread: bool = False) -> Iterator[None]:
    """Flush denormals to zero inside the block, on this thread and, with ``every_thread``, on
    the other threads of torch's OpenMP team; restore each thread's previous setting on exit."""
    if not enabled:
        yield
        return
    before = denormals_flushed()
    previous: dict[int, bool] = {}
    workers = False
    if every_thread and not getattr(_ACTIVE, "depth", 0):

        def flush() -> None:
            previous[threading.get_ident()] = denormals_flushed()
            torch.set_flush_denormal(True)

        workers = _on_every_thread(flush)
    changed = not before and torch.set_flush_denormal(True)
    _ACTIVE.depth = getattr(_ACTIVE, "depth", 0) + workers
    try:
        yield
    finally:
        _ACTIVE.depth -= workers
        if workers:
            _on_every_thread(
                lambda: torch.set_flush_denormal(previous.get(threading.get_ident(), before))
            )
        if changed:
            torch.set_flush_denormal(False)
