"""Step time of lamina's optimizers against torch.optim's foreach implementations.

The parameter set is a 784x512 + 512x10 MLP's (4 tensors, 407,050 floats). Each optimizer's
``step()`` runs on fixed gradients; the script prints the median over many steps and the ratio
lamina / torch (below 1 means lamina is faster). The formulas differ slightly (Keras's epsilon
placement), the memory traffic is comparable. On CPU lamina's Adam / AdamW / RMSprop / Adagrad
run torch's fused single-pass kernels (docs/optimizers.md), torch.optim's here its foreach ones.

Run: ``python bench/optim_step.py [--steps 2000] [--device cpu]``
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
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
