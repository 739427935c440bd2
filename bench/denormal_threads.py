"""Flushing denormals on the calling thread only, against on every OpenMP thread.

``torch.set_flush_denormal`` sets the calling thread; lamina calls it on the thread that runs
``fit`` / ``evaluate`` / ``predict``, and ``fit`` also sets the other threads of torch's OpenMP
team, which compute part of every large operation, through a parallel region of torch's own
OpenMP runtime (``lamina.engine.denormals``; libgomp on Linux). This script measures what the
other threads' setting is worth. It prints:

* the fraction of a 4M-element product over denormals that comes out flushed (main thread
  only, or every thread), and what one parallel region setting every thread costs;
* a fused Adam step (torch's ``_fused_adam_``, as lamina's ``Adam`` runs on CPU) over W1's 401k
  weights whose two moments are denormal (weights whose gradient stays zero, such as those of
  the always-blank border pixels of MNIST, decay there), with neither, the main thread only, or
  every thread flushing, alternating;
* with ``--fit``: W1's ``fit`` step as lamina runs it (every thread flushing) and limited to the
  calling thread, alternating rounds in one process.

Run: ``python -m bench.denormal_threads [--rounds 200] [--fit]``
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch

_DENORMAL_BITS = 0x000AE398  # float32 ~1e-39, below the smallest normal number (~1.18e-38)


def denormals(n: int) -> torch.Tensor:
    """``n`` float32 denormals, made from their bits: converting the number 1e-39 to float32
    on a thread that flushes gives 0."""
    return torch.full((n,), _DENORMAL_BITS, dtype=torch.int32).view(torch.float32)


def every_thread_setter() -> Callable[[bool], None] | None:
    """A function that sets flush-to-zero on every thread of torch's OpenMP team (lamina's own
    mechanism, ``lamina.engine.denormals._on_every_thread``), or None where torch does not run
    on a libgomp lamina can find."""
    from lamina.engine import denormals as lamina_denormals

    if lamina_denormals._omp_parallel() is None:
        return None

    def set_all(on: bool) -> None:
        lamina_denormals._on_every_thread(lambda: torch.set_flush_denormal(on))

    return set_all


def flushed_fraction(n: int = 1 << 22) -> float:
    """The fraction of ``n`` denormals times 1.0001 that comes out as zero."""
    return float((denormals(n) * 1.0001 == 0).float().mean())


def region_us(set_all: Callable[[bool], None], rounds: int) -> float:
    """Median microseconds of one region setting every thread (what ``fit`` runs at its start
    and its end)."""
    times = []
    for i in range(rounds):
        t = time.perf_counter()
        set_all(i % 2 == 0)
        times.append((time.perf_counter() - t) * 1e6)
    set_all(False)
    return statistics.median(times)


def adam_step_us(set_all: Callable[[bool], None], rounds: int) -> dict[str, float]:
    """Median microseconds of a fused Adam step over 401k weights with denormal moments."""
    n = 784 * 512
    p, g = torch.randn(n), torch.zeros(n)
    m, v, step = torch.empty(n), torch.empty(n), torch.tensor(1000.0)
    start = denormals(n)
    settings = {
        "neither": (False, False),
        "main thread": (False, True),
        "every thread": (True, True),
    }
    times: dict[str, list[float]] = {k: [] for k in settings}
    for _ in range(rounds):
        for name, (workers, main) in settings.items():
            set_all(workers)
            torch.set_flush_denormal(main)
            m.copy_(start)  # (a copy moves bits: no flushing)
            v.copy_(start)
            t = time.perf_counter()
            torch._fused_adam_(
                [p], [g], [m], [v], [], [step], lr=1e-3, beta1=0.9, beta2=0.999,
                weight_decay=0.0, eps=1e-7, amsgrad=False, maximize=False,
            )  # fmt: skip
            times[name].append((time.perf_counter() - t) * 1e6)
    set_all(False)
    torch.set_flush_denormal(False)
    return {k: statistics.median(v) for k, v in times.items()}


def fit_rounds(rounds: int, steps: int = 50) -> dict:
    """W1's ``fit`` ms per step as lamina runs it (every thread flushing) and with lamina limited
    to the calling thread (its OpenMP runtime hidden), alternating rounds in one process."""
    import lamina
    from bench.workloads import keras_api
    from bench.workloads.common import mlp_data, patched_fit_rounds
    from lamina.engine import denormals as lamina_denormals

    x, y = mlp_data(128 * steps)
    torch.manual_seed(0)
    model = keras_api.build(lamina, "W1")
    model.fit(x, y, batch_size=128, epochs=1, verbose=0)
    values = {"every thread": lamina_denormals._omp_parallel, "main thread": lambda: None}
    return patched_fit_rounds(model, x, y, 128, lamina_denormals, "_omp_parallel", values, rounds)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--fit", action="store_true")
    args = parser.parse_args(argv)
    set_all = every_thread_setter()
    if set_all is None:
        print("torch does not run on a libgomp found here: only the main thread can be set.")
        return
    print(f"torch threads: {torch.get_num_threads()}")
    torch.set_flush_denormal(True)
    print(f"denormals flushed, main thread only: {flushed_fraction():.2f}")
    set_all(True)
    print(f"denormals flushed, every thread:     {flushed_fraction():.2f}")
    set_all(False)
    torch.set_flush_denormal(False)
    print(f"one parallel region setting every thread: {region_us(set_all, args.rounds):.1f} us")
    step = adam_step_us(set_all, args.rounds)
    print(
        "fused Adam step, denormal moments (us): "
        + ", ".join(f"{k} {v:.1f}" for k, v in step.items())
    )
    if args.fit:
        from bench.workloads.common import paired_saving

        times = fit_rounds(max(2, args.rounds // 10))
        medians = ", ".join(f"{k} {statistics.median(v):.3f}" for k, v in times.items())
        print(f"W1 fit, ms per step: {medians}")
        print(f"every thread {paired_saving(times, 'every thread', 'main thread')}")


if __name__ == "__main__":
    main()
