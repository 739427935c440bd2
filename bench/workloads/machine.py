"""The machine's float32 matrix-product rate, measured in the same run as the workloads: it
turns W1's count of floating-point operations into a lower bound on its time."""

from __future__ import annotations

import statistics
import time


def run_matmul(args: dict) -> dict:
    """GFLOP/s of an ``n`` x ``n`` float32 ``torch.mm`` with torch's default threads (best and
    median of ``reps`` timed products after two warm-ups)."""
    import torch

    n, reps = args.get("n", 2048), args.get("reps", 10)
    g = torch.Generator().manual_seed(0)
    a = torch.randn(n, n, generator=g)
    b = torch.randn(n, n, generator=g)
    out = torch.empty(n, n)
    times = []
    for i in range(reps + 2):
        t = time.perf_counter()
        torch.mm(a, b, out=out)
        if i >= 2:
            times.append(time.perf_counter() - t)
    flops = 2 * n**3
    return {
        "gflops": flops / min(times) / 1e9,
        "gflops_median": flops / statistics.median(times) / 1e9,
        "n": n,
        "threads": torch.get_num_threads(),
    }
