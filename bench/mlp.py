"""W1: the seed MLP — Dense(512, relu) -> Dropout(0.5) -> Dense(10, softmax), RMSprop,
categorical cross-entropy, accuracy — on 60,000 x 784 synthetic samples, batch 128, one epoch.

lamina's ``fit`` against a hand-written PyTorch loop (same model, same optimizer settings,
data in memory, loss and accuracy accumulated on the device) in the same run, each in its own
subprocess, interleaved. Prints ms/step, the ratio to the hand-written loop and peak memory.

Run: ``python -m bench.mlp [--quick] [--repeats 3]``
"""

from __future__ import annotations

import argparse
from typing import Any

from bench.harness import interleave, lamina_fit_epoch, print_table, summarize, time_steps

N_FEATURES, N_CLASSES, HIDDEN, BATCH = 784, 10, 512, 128


def _data(n: int):
    import numpy as np

    rng = np.random.default_rng(0)
    x = rng.random((n, N_FEATURES), dtype=np.float32)
    y = np.zeros((n, N_CLASSES), np.float32)
    y[np.arange(n), rng.integers(0, N_CLASSES, n)] = 1
    return x, y


def run_handwritten(args: dict[str, Any]) -> dict[str, Any]:
    import torch
    from torch import nn

    torch.set_flush_denormal(True)
    torch.manual_seed(0)
    x_np, y_np = _data(args["n"])
    x, y = torch.from_numpy(x_np), torch.from_numpy(y_np)
    model = nn.Sequential(
        nn.Linear(N_FEATURES, HIDDEN), nn.ReLU(), nn.Dropout(0.5), nn.Linear(HIDDEN, N_CLASSES)
    )
    opt = torch.optim.RMSprop(model.parameters(), lr=1e-3, alpha=0.9, eps=1e-7, foreach=True)
    steps = 0

    def epoch() -> None:
        nonlocal steps
        model.train()
        perm = torch.randperm(len(x))
        total = torch.zeros(())
        correct = torch.zeros(())
        for i in range(0, len(x), BATCH):
            idx = perm[i : i + BATCH]
            xb, yb = x[idx], y[idx]
            logits = model(xb)
            loss = torch.nn.functional.cross_entropy(logits, yb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            with torch.no_grad():
                total += loss.detach() * len(idx)
                correct += (logits.argmax(1) == yb.argmax(1)).sum()
            steps += 1
        float(total), float(correct)

    return time_steps(epoch, args["epochs"], lambda: steps)


def run_lamina(args: dict[str, Any]) -> dict[str, Any]:
    import torch

    from lamina import layers, models

    torch.manual_seed(0)
    x, y = _data(args["n"])
    model = models.Sequential(
        [
            layers.Dense(HIDDEN, activation="relu", input_shape=(N_FEATURES,)),
            layers.Dropout(0.5),
            layers.Dense(N_CLASSES, activation="softmax"),
        ]
    )
    model.compile(optimizer="rmsprop", loss="categorical_crossentropy", metrics=["accuracy"])
    epoch, steps = lamina_fit_epoch(model, x, y, BATCH)
    return time_steps(epoch, args["epochs"], steps)


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small data, one repetition")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--n", type=int, default=60000)
    opts = parser.parse_args(argv)
    args = {"n": 2048 if opts.quick else opts.n, "epochs": 1 if opts.quick else 2}
    repeats = 1 if opts.quick else opts.repeats
    results = interleave("mlp", ["handwritten", "lamina"], args, repeats)
    rows = summarize(results, "ms_per_step", "handwritten")
    print_table(
        f"W1 seed MLP, {args['n']} x 784, batch {BATCH} (ms/step; ratio to hand-written)",
        rows,
        "ms",
    )
    return rows


if __name__ == "__main__":
    main()
