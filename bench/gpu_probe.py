"""What a short lease on a GPU machine should learn about lamina's CUDA step (one command, about
a minute on an H200; ``bench/gpu.sh`` is the timed comparison).

1. Host waits: every call that makes the host wait for the GPU during a short ``fit`` and
   ``predict`` of W1-W3, counted by ``torch.cuda.set_sync_debug_mode("warn")`` and attributed to
   the lamina lines that made them (with the other warnings lamina's calls raised). A wait per
   step would cost the GPU its lead; the target is none.
2. Variants: ms per step of W1 and W2 in float32 and under ``mixed_bfloat16``, eager and with
   ``jit_compile=True``, in one process (less steady than ``gpu.sh``'s separate runs).

    PYTHONPATH=.:src python3 -m bench.gpu_probe            # on the GPU machine
    python -m bench.gpu_probe --device cpu --steps 4        # try it out here

Found with it (2026-11-28, H200): no per-step waits; cuDNN's weight-copy warning on every LSTM
call; W2 under mixed_bfloat16 6.5x slower than float32 (cuDNN's RNN does not take bfloat16;
lamina now keeps it in float32 there).
"""

from __future__ import annotations

import argparse
import collections
import sys
import time
import traceback
import warnings
from typing import Any


def _data(np: Any, workload: str, n: int) -> tuple[Any, Any]:
    rng = np.random.default_rng(0)
    if workload == "W1":
        x = rng.random((n, 784), dtype=np.float32)
        return x, np.eye(10, dtype=np.float32)[rng.integers(0, 10, n)]
    x = rng.integers(1, 10000, (n, 500)).astype(np.int32)
    return x, rng.integers(0, 2, (n, 1)).astype(np.float32)


def host_waits(workload: str, steps: int, device: str) -> collections.Counter:
    """(message, lamina lines) -> count, over one ``fit`` of ``steps`` steps and a
    4-batch ``predict``."""
    import numpy as np
    import torch

    import lamina
    from bench.workloads import keras_api

    x, y = _data(np, workload, 128 * steps)
    model = keras_api.build(lamina, workload)
    model.fit(x[:256], y[:256], batch_size=128, epochs=1, verbose=0)  # build, warm up
    seen: collections.Counter = collections.Counter()

    def record(message, category, filename, lineno, file=None, line=None) -> None:
        frames = [f for f in traceback.extract_stack()[:-1] if "/lamina/" in f.filename]
        where = tuple(f"{f.filename.split('/lamina/')[-1]}:{f.lineno}" for f in frames[-3:])
        seen[(str(message).splitlines()[0][:60], where)] += 1

    with warnings.catch_warnings():
        warnings.simplefilter("always")
        warnings.showwarning = record
        if device == "cuda":
            torch.cuda.set_sync_debug_mode("warn")
        try:
            model.fit(x, y, batch_size=128, epochs=1, verbose=0)
            model.predict(x[:512], batch_size=128, verbose=0)
        finally:
            if device == "cuda":
                torch.cuda.set_sync_debug_mode(0)
    return seen


def step_time(
    workload: str, policy: str, jit: bool, steps: int, device: str
) -> tuple[float, float]:
    """(ms per step over 2 epochs after a warm-up epoch, warm-up seconds)."""
    import numpy as np
    import torch

    import lamina
    from bench.workloads import keras_api

    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    lamina.mixed_precision.set_global_policy(policy)
    try:
        x, y = _data(np, workload, 128 * steps)
        model = keras_api.build(lamina, workload, jit_compile=jit)
        start = time.perf_counter()
        model.fit(x, y, batch_size=128, epochs=1, verbose=0)
        warm = time.perf_counter() - start
        sync()
        start = time.perf_counter()
        model.fit(x, y, batch_size=128, epochs=2, verbose=0)
        sync()
        return (time.perf_counter() - start) / (2 * steps) * 1e3, warm
    finally:
        lamina.mixed_precision.set_global_policy("float32")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="bench.gpu_probe", description=__doc__.split("\n\n")[0])
    p.add_argument("--device", default="cuda")
    p.add_argument("--steps", type=int, default=20, help="steps per fit (waits: 20; times: 2x)")
    p.add_argument("--workloads", default="W1,W2,W3", help="for the host-wait count")
    p.add_argument("--times", default="W2,W1", help="workloads to time ('' for none)")
    opts = p.parse_args(argv)
    import torch

    import lamina

    if opts.device == "cuda" and not torch.cuda.is_available():
        print("bench.gpu_probe: no CUDA device here (try --device cpu).", file=sys.stderr)
        return 3
    lamina.config.set_device(opts.device)
    print(f"device {opts.device}, torch {torch.__version__}", flush=True)
    for workload in opts.workloads.split(","):
        seen = host_waits(workload, opts.steps, opts.device)
        print(f"{workload}: warnings in fit ({opts.steps} steps) + predict (4 batches): "
              f"{sum(seen.values())}")  # fmt: skip
        for (message, where), count in seen.most_common(10):
            print(f"  {count:4d}  {message}  @ {' <- '.join(reversed(where))}")
        sys.stdout.flush()
    for workload in [w for w in opts.times.split(",") if w]:
        for policy, jit in [("float32", False), ("mixed_bfloat16", False), ("float32", True)]:
            try:
                ms, warm = step_time(workload, policy, jit, 2 * opts.steps, opts.device)
                print(f"{workload} {policy:15s} jit={jit!s:5s} {ms:8.2f} ms/step "
                      f"(warm-up epoch {warm:.1f} s)")  # fmt: skip
            except Exception as e:  # noqa: BLE001 - report and go on to the next variant
                print(f"{workload} {policy} jit={jit}: FAILED {type(e).__name__}: {e}"[:300])
            sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
