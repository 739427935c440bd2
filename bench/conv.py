"""W3: the book's 1D convnet for text — Embedding(10000, 128) -> Conv1D(32, 7, relu) ->
MaxPooling1D(5) -> Conv1D(32, 7, relu) -> GlobalMaxPooling1D -> Dense(1, sigmoid), RMSprop
(lr 1e-4), binary cross-entropy, accuracy — on synthetic 500-token sequences, batch 128.

Contenders, each in its own subprocess, interleaved, the same data in memory:

- ``handwritten``: the reference, a PyTorch loop as one would write it (``nn.Embedding``,
  ``nn.Conv1d`` on channels-first ``(batch, channels, steps)``, ``BCEWithLogitsLoss``);
- ``lamina``: ``model.fit`` with lamina's layers (channels-last at the surface);
- ``handwritten_nhwc``: for information, a PyTorch loop that runs the 1D convolutions as 2D
  ones on ``channels_last`` memory, the layout lamina uses inside.

Prints ms/step (best timed epoch of each run, median over runs) and the ratio to
``handwritten``. Run: ``python -m bench.conv [--quick] [--n 25000] [--repeats 3]``.
"""

from __future__ import annotations

import argparse
from typing import Any

from bench.harness import (
    interleave,
    lamina_fit_epoch,
    machine_load,
    print_table,
    summarize,
    time_steps,
)

VOCAB, SEQ_LEN, EMBED, FILTERS, KERNEL, POOL, BATCH = 10000, 500, 128, 32, 7, 5, 128


def _data(n: int):
    import numpy as np

    rng = np.random.default_rng(0)
    x = rng.integers(0, VOCAB, (n, SEQ_LEN)).astype(np.int64)
    y = rng.integers(0, 2, (n, 1)).astype(np.float32)
    return x, y


def _torch_loop(args: dict[str, Any], nhwc: bool) -> dict[str, Any]:
    import torch
    import torch.nn.functional as F
    from torch import nn

    torch.set_flush_denormal(True)
    torch.manual_seed(0)
    x_np, y_np = _data(args["n"])
    x, y = torch.from_numpy(x_np), torch.from_numpy(y_np)

    class ConvNet(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.embed = nn.Embedding(VOCAB, EMBED)
            self.conv1 = nn.Conv1d(EMBED, FILTERS, KERNEL)
            self.conv2 = nn.Conv1d(FILTERS, FILTERS, KERNEL)
            self.out = nn.Linear(FILTERS, 1)

        def forward(self, ids: torch.Tensor) -> torch.Tensor:
            h = self.embed(ids)  # (batch, steps, channels)
            if nhwc:  # (batch, channels, 1, steps) views of channels-last memory
                h = h.unsqueeze(1).permute(0, 3, 1, 2)
                h = F.relu(F.conv2d(h, self.conv1.weight.unsqueeze(2), self.conv1.bias))
                h = F.max_pool2d(h, (1, POOL))
                h = F.relu(F.conv2d(h, self.conv2.weight.unsqueeze(2), self.conv2.bias))
                return self.out(h.amax(dim=(2, 3)))
            h = h.transpose(1, 2)  # nn.Conv1d wants (batch, channels, steps)
            h = F.max_pool1d(F.relu(self.conv1(h)), POOL)
            h = F.relu(self.conv2(h))
            return self.out(h.amax(dim=2))

    model = ConvNet()
    opt = torch.optim.RMSprop(model.parameters(), lr=1e-4, alpha=0.9, eps=1e-7, foreach=True)
    loss_fn = nn.BCEWithLogitsLoss()
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
            loss = loss_fn(logits, yb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            with torch.no_grad():
                total += loss.detach() * len(idx)
                correct += ((logits > 0).float() == yb).sum()
            steps += 1
        float(total), float(correct)

    return _time_epochs(epoch, args, lambda: steps)


def run_handwritten(args: dict[str, Any]) -> dict[str, Any]:
    return _torch_loop(args, nhwc=False)


def run_handwritten_nhwc(args: dict[str, Any]) -> dict[str, Any]:
    return _torch_loop(args, nhwc=True)


def run_lamina(args: dict[str, Any]) -> dict[str, Any]:
    import torch

    import lamina
    from lamina.layers.convolutional import Conv1D
    from lamina.layers.core import Dense
    from lamina.layers.embedding import Embedding
    from lamina.layers.pooling import GlobalMaxPooling1D, MaxPooling1D

    torch.manual_seed(0)
    x, y = _data(args["n"])
    model = lamina.Sequential(
        [
            Embedding(VOCAB, EMBED),
            Conv1D(FILTERS, KERNEL, activation="relu"),
            MaxPooling1D(POOL),
            Conv1D(FILTERS, KERNEL, activation="relu"),
            GlobalMaxPooling1D(),
            Dense(1, activation="sigmoid"),
        ]
    )
    model.compile(
        optimizer=lamina.optimizers.RMSprop(learning_rate=1e-4),
        loss="binary_crossentropy",
        metrics=["accuracy"],
    )
    epoch, steps = lamina_fit_epoch(model, x, y, BATCH)
    return _time_epochs(epoch, args, steps)


def _time_epochs(epoch, args: dict[str, Any], steps) -> dict[str, Any]:
    return time_steps(epoch, args["epochs"], steps, load=machine_load(0.2))


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small data, one repetition")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--n", type=int, default=25000, help="number of sequences")
    parser.add_argument("--epochs", type=int, default=1, help="timed epochs after the warm-up")
    opts = parser.parse_args(argv)
    args = {"n": 1024 if opts.quick else opts.n, "epochs": 1 if opts.quick else opts.epochs}
    repeats = 1 if opts.quick else opts.repeats
    contenders = ["handwritten", "lamina", "handwritten_nhwc"]
    results = interleave("conv", contenders, args, repeats)
    rows = summarize(results, "ms_per_step", "handwritten")
    print_table(
        f"W3 Conv1D text model, {args['n']} x {SEQ_LEN} tokens, batch {BATCH} "
        "(ms/step; ratio to the hand-written channels-first loop)",
        rows,
        "ms",
    )
    return rows


if __name__ == "__main__":
    main()
