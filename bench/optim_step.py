"""Step time of lamina's optimizers against torch.optim's foreach implementations.

The parameter set is a 784x512 + 512x10 MLP's (4 tensors, 407,050 floats). Each optimizer's
``step()`` runs on fixed gradients; the script prints the median over many steps and the ratio
lamina / torch (below 1 means lamina is faster). The formulas differ slightly (Keras's epsilon
placement), the memory traffic is comparable. On CPU lamina's Adam / AdamW / RMSprop / Adagrad
run torch's fused single-pass kernels (docs/optimizers.md), torch.optim's here its foreach ones.

``--fit`` instead trains W1 (the seed MLP, bench/workloads) with ``fit`` in one process,
alternating rounds with the fused kernels and without them (the foreach form lamina falls back
to), and prints the median ms per step of each: what the fused update buys a whole step.

Run: ``python bench/optim_step.py [--steps 2000] [--device cpu] [--threads 1]``
or ``python bench/optim_step.py --fit [--optimizer rmsprop] [--rounds 8]`` (torch's threads)
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

import lamina.optimizers as lo


def make_params(device: str) -> list[torch.nn.Parameter]:
    g = torch.Generator().manual_seed(0)
    shapes = [(512, 784), (512,), (10, 512), (10,)]
    params = [torch.nn.Parameter(torch.randn(s, generator=g).to(device) * 0.01) for s in shapes]
    for p in params:
        p.grad = torch.randn(p.shape, generator=g).to(device) * 0.01
    return params


def paired_times(step_a, step_b, device: str, steps: int, warmup: int = 50):
    """Time ``step_a`` and ``step_b`` alternately, so that machine noise hits both alike."""
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    for _ in range(warmup):
        step_a()
        step_b()
    sync()
    times_a, times_b = [], []
    for _ in range(steps):
        for step, times in ((step_a, times_a), (step_b, times_b)):
            t0 = time.perf_counter()
            step()
            sync()
            times.append(time.perf_counter() - t0)
    return times_a, times_b


def lamina_step(cls, params, **kwargs):
    opt = cls(**kwargs)
    opt.build(params)
    return opt.step


def torch_step(cls, params, **kwargs):
    return cls(params, foreach=True, **kwargs).step


def fit_ab(optimizer: str, rounds: int, steps: int = 100) -> None:
    """W1's ``fit``, fused kernels on and off in alternating rounds of ``steps`` steps."""
    import os
    import sys

    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    import lamina
    from bench.workloads import keras_api
    from lamina.optimizers import kernels

    torch.manual_seed(0)
    model = keras_api.build(lamina, "W1")
    model.compile(optimizer=optimizer, loss="categorical_crossentropy", metrics=["accuracy"])
    x, y = keras_api.data("W1", {"n": 60000})
    model.fit(x, y, batch_size=128, epochs=1, steps_per_epoch=60, verbose=0)  # warm-up
    fused = (kernels._FUSED_ADAM, kernels._FUSED_ADAGRAD)
    times: dict[str, list[float]] = {"fused": [], "foreach": []}
    try:
        for _ in range(rounds):
            for mode, times_of in times.items():
                kernels._FUSED_ADAM, kernels._FUSED_ADAGRAD = (
                    fused if mode == "fused" else (None, None)
                )
                t0 = time.perf_counter()
                model.fit(x, y, batch_size=128, epochs=1, steps_per_epoch=steps, verbose=0)
                times_of.append((time.perf_counter() - t0) * 1000 / steps)
    finally:
        kernels._FUSED_ADAM, kernels._FUSED_ADAGRAD = fused
    print(f"W1 fit, {optimizer}, torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"{rounds} alternating rounds of {steps} steps")  # fmt: skip
    for mode, values in times.items():
        print(f"{mode:8s} median {statistics.median(values):6.2f} ms/step  "
              f"(min {min(values):.2f}, max {max(values):.2f})")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--fit", action="store_true", help="W1 fit, fused kernels on vs off")
    parser.add_argument("--optimizer", default="rmsprop")
    parser.add_argument("--rounds", type=int, default=8)
    args = parser.parse_args()
    if args.fit:
        fit_ab(args.optimizer, args.rounds)
        return
    torch.set_num_threads(args.threads)
    print(
        f"torch {torch.__version__}, device {args.device}, threads {args.threads}, "
        f"{args.steps} steps (median)"
    )
    cases = [
        (
            "RMSprop",
            (lo.RMSprop, {}),
            (torch.optim.RMSprop, {"lr": 1e-3, "alpha": 0.9, "eps": 1e-7}),
        ),
        (
            "RMSprop momentum",
            (lo.RMSprop, {"momentum": 0.9}),
            (torch.optim.RMSprop, {"lr": 1e-3, "alpha": 0.9, "eps": 1e-7, "momentum": 0.9}),
        ),
        ("Adam", (lo.Adam, {}), (torch.optim.Adam, {"lr": 1e-3, "eps": 1e-7})),
        (
            "AdamW",
            (lo.AdamW, {}),
            (torch.optim.AdamW, {"lr": 1e-3, "eps": 1e-7, "weight_decay": 0.004}),
        ),
        (
            "Adagrad",
            (lo.Adagrad, {}),
            (torch.optim.Adagrad, {"lr": 1e-3, "eps": 1e-7, "initial_accumulator_value": 0.1}),
        ),
        (
            "SGD momentum",
            (lo.SGD, {"momentum": 0.9}),
            (torch.optim.SGD, {"lr": 1e-2, "momentum": 0.9}),
        ),
    ]
    for label, (lcls, lkw), (tcls, tkw) in cases:
        t_lamina, t_torch = paired_times(
            lamina_step(lcls, make_params(args.device), **lkw),
            torch_step(tcls, make_params(args.device), **tkw),
            args.device,
            args.steps,
        )
        ml, mt = statistics.median(t_lamina), statistics.median(t_torch)
        us = f"lamina {ml * 1e6:8.1f} us   torch {mt * 1e6:8.1f} us"
        print(f"{label:18s} {us}   ratio {ml / mt:5.2f}")


if __name__ == "__main__":
    main()
