"""Keeping large CPU buffers in the process while lamina computes (glibc's malloc settings).

glibc's ``malloc`` serves every allocation above a threshold (adjusted at run time, at most
32 MiB) with its own ``mmap`` and hands it back to the operating system when it is freed. A
training step frees its activations and gradients and the next step allocates them again, so
the kernel maps and zero-fills every page anew. On W3 (``bench/``: an Embedding whose output
is 33 MB a batch, then Conv1D) that is ~14,500 page faults and ~38 ms of system time per step
on 2 cores. lamina raises malloc's mmap threshold to 256 MiB and its trim threshold to 1 GiB
once per process, at its first ``fit`` / ``evaluate`` / ``predict``, so those buffers are
reused from the heap: W3 went from 134.8 to 111.8 ms per step (page faults 14,518 -> 98 per
step, peak memory 450 -> 453 MB, same run). W2 (an LSTM whose oneDNN kernel takes a 117 MiB
workspace every training step) went from ~145 to ~83 ms per step, but its peak memory rose by
~12% (heap fragmentation: 258 -> 290 MiB above the process's start in ``bench/``); the
hand-written loop given the same settings shows the same rise (225 -> 279 MiB).

The settings are process-wide and stay (glibc has no way to read the previous values back):
memory that tensors free is kept by the process for reuse, up to 1 GiB at the top of the heap,
instead of going back to the operating system at once. Set the environment variable
``LAMINA_MALLOC_TUNING=0`` to leave malloc alone. Nothing happens on other C libraries or
operating systems.

Example:
    >>> from lamina.engine.allocator import tune_malloc
    >>> isinstance(tune_malloc(), bool)
    True
"""

from __future__ import annotations

import ctypes
import functools
import os
import platform
import sys

__all__ = ["tune_malloc", "MMAP_THRESHOLD", "TRIM_THRESHOLD"]

MMAP_THRESHOLD = 256 << 20  # bytes: allocations below this come from the heap
TRIM_THRESHOLD = 1 << 30  # bytes: free memory at the top of the heap kept for reuse
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # mallopt parameter numbers (malloc.h)


@functools.cache
def tune_malloc() -> bool:
    """Apply the settings once per process; whether they are in effect."""
    if os.environ.get("LAMINA_MALLOC_TUNING", "1").strip().lower() in ("0", "false", "no", "off"):
        return False
    if not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc":
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
        ok = libc.mallopt(_M_MMAP_THRESHOLD, ctypes.c_int(MMAP_THRESHOLD))
        ok &= libc.mallopt(_M_TRIM_THRESHOLD, ctypes.c_int(TRIM_THRESHOLD))
    except (OSError, AttributeError):
        return False
    return bool(ok)
