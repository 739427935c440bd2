"""Dense kernels stored ``(in, out)`` against stored transposed, on the machine at hand.

lamina keeps a Dense kernel of 2 to 11 units, on inputs of 64 features or more, transposed in
memory (``lamina.layers.core._store_kernel_transposed``; its shape stays ``(in, units)``). This
script is the measurement behind that rule. For each (batch, in, units) it times, in
alternation, the three products of a Dense layer's forward and backward pass with each layout:

* ``io``: ``addmm(b, x, W)``, ``x.T @ dy`` and ``dy @ W.T`` with ``W`` contiguous ``(in, out)``;
* ``oi``: the same products with ``W`` stored ``(out, in)``, as autograd computes them then
  (the kernel's gradient as ``(dy.T @ x).T``, in the parameter's layout).

and prints the time of ``oi`` over ``io`` (below 1: the transposed layout is faster), with the
``io`` time in microseconds in brackets, and which layout lamina picks for that shape.

``--fit`` trains W1 (the seed MLP, whose last layer is 512 -> 10) with ``fit`` in one process,
alternating short rounds (50 steps) between a model with lamina's layout and one with every
kernel stored ``(in, out)``, and prints the median ms per step of each and the median of the
paired differences. ``--model logreg`` does the same for a 784 -> 10 softmax regression (the
layer alone).

Run: ``python -m bench.dense_layout`` or
``python -m bench.dense_layout --fit [--rounds 40] [--steps 50] [--model logreg]``
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch

from lamina.layers import core

SHAPES = [(32, 784), (128, 64), (128, 512), (128, 4096), (512, 1024)]
UNITS = [1, 2, 3, 4, 8, 10, 11, 12, 16, 32, 64]


def quartile_time(fn: Callable[[], object], calls: int) -> float:
    """Lower-quartile seconds of one call of ``fn``, after a few warm-up calls."""
    for _ in range(5):
        fn()
    times = []
    for _ in range(calls):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return sorted(times)[calls // 4]


def layout_times(batch: int, n_in: int, units: int, calls: int = 200) -> tuple[float, float]:
    """Seconds of a Dense layer's three products with the ``(in, out)`` and ``(out, in)``
    layouts (lower quartiles, summed)."""
    x, dy = torch.rand(batch, n_in), torch.randn(batch, units)
    w_io = torch.randn(n_in, units)
    w_oi = w_io.T.contiguous().T  # same values and shape, stored transposed
    b = torch.zeros(units)
    totals = []
    for w in (w_io, w_oi):
        products = [
            lambda w=w: torch.addmm(b, x, w),
            (lambda: torch.mm(x.T, dy)) if w is w_io else (lambda: torch.mm(dy.T, x).T),
            lambda w=w: torch.mm(dy, w.T),
        ]
        totals.append(sum(quartile_time(p, calls) for p in products))
    return totals[0], totals[1]


def run_grid() -> None:
    torch.set_flush_denormal(True)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    print("oi / io time of a Dense layer's products (io in us); * = lamina stores it transposed")
    for batch, n_in in SHAPES:
        cells = []
        for units in UNITS:
            io, oi = layout_times(batch, n_in, units)
            mark = "*" if core._store_kernel_transposed(n_in, units) else " "
            cells.append(f"{units}{mark}:{oi / io:.2f}({io * 1e6:.0f})")
        print(f"{batch:>4} x {n_in:<5} " + " ".join(cells), flush=True)


def run_fit(rounds: int, steps: int, model_name: str = "W1") -> None:
    import lamina
    from bench.workloads import keras_api
    from bench.workloads.common import alternating_rounds, mlp_data, paired_saving

    x, y = mlp_data(128 * steps)

    def w1_model() -> lamina.Sequential:
        if model_name == "W1":
            model = keras_api.build(lamina, "W1")
        else:
            model = lamina.Sequential([lamina.layers.Dense(10, activation="softmax")])
            model.compile("rmsprop", "categorical_crossentropy", metrics=["accuracy"])
        model.predict(x[:1], verbose=0)  # builds the weights under the layout rule of now
        return model

    rule = core._store_kernel_transposed
    torch.manual_seed(0)
    models = {"lamina": w1_model()}
    core._store_kernel_transposed = lambda n_in, units: False
    try:
        models["(in,out)"] = w1_model()
    finally:
        core._store_kernel_transposed = rule
    models["(in,out)"].set_weights(models["lamina"].get_weights())
    kernel = models["lamina"].layers[-1].kernel
    print(f"{model_name}'s last kernel: shape {tuple(kernel.shape)}, strides {kernel.stride()}")
    for model in models.values():
        model.fit(x[:2560], y[:2560], batch_size=128, epochs=1, verbose=0)
    runs = {
        name: (lambda m=model: m.fit(x, y, batch_size=128, epochs=1, verbose=0))
        for name, model in models.items()
    }
    times = alternating_rounds(runs, rounds, steps)
    for name, values in times.items():
        rounded = [round(v, 3) for v in values]
        print(f"{name:8} median {statistics.median(values):.3f} ms/step  rounds {rounded}")
    print(f"lamina's layout {paired_saving(times, 'lamina', '(in,out)')} ({model_name})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fit", action="store_true")
    parser.add_argument("--rounds", type=int, default=40)
    parser.add_argument("--steps", type=int, default=50, help="steps per round (--fit)")
    parser.add_argument(
        "--model", choices=["W1", "logreg"], default="W1", help="--fit: W1 or 784 -> 10 softmax"
    )
    args = parser.parse_args()
    if args.fit:
        run_fit(args.rounds, args.steps, args.model)
    else:
        run_grid()


if __name__ == "__main__":
    main()
