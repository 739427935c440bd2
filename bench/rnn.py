"""Text models: lamina ``fit`` against a hand-written PyTorch loop, in the same run.

Models (issue 3), trained with RMSprop (Keras defaults) on synthetic token ids below 10,000:

* ``lstm``: ``Embedding(10000, 32) -> LSTM(32) -> Dense(1, sigmoid)``, binary cross-entropy;
  the hand-written loop is ``nn.Embedding + nn.LSTM + nn.Linear`` with ``BCEWithLogitsLoss``.
* ``lstm_rdrop``: the same lamina model with ``LSTM(32, recurrent_dropout=0.2)``, which runs the
  reference time loop; its ratio is taken against lamina's fused ``lstm`` row.
* ``conv``: ``Embedding(10000, 128) -> Conv1D(32, 7, relu) -> MaxPooling1D(5) -> Conv1D(32, 7,
  relu) -> GlobalMaxPooling1D -> Dense(1)`` (logits), against ``nn.Conv1d`` & co; skipped when
  the convolution layers are not importable.

Every contender is built once, warmed up, then the contenders take turns for ``--repeats``
rounds of one epoch each (so machine noise hits all alike); an epoch is timed between the
trainer's ``on_epoch_begin`` and ``on_epoch_end`` for lamina, around the loop for torch. Both
flush denormals. The table shows the median ms per step (wall clock, and this process's CPU
time, which a busy machine disturbs less when torch runs one thread) and the ratios of medians.

Run: ``python bench/rnn.py`` (25,000 x 500 tokens, batch 128: minutes per epoch on 2 cores),
``--samples 2560`` for a shorter run, ``--quick`` for a smoke run of a few hundred samples.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

if __package__ in (None, ""):
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(__file__)), "src"))

import lamina  # noqa: E402
from lamina.callbacks import Callback  # noqa: E402
from lamina.layers.core import Dense  # noqa: E402
from lamina.layers.embedding import Embedding  # noqa: E402
from lamina.layers.recurrent import LSTM  # noqa: E402

VOCAB, BATCH = 10000, 128


# ---------------------------------------------------------------------- hand-written torch
class TorchLSTM(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Embedding(VOCAB, 32)
        self.lstm = nn.LSTM(32, 32, batch_first=True)
        self.out = nn.Linear(32, 1)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        _, (h, _) = self.lstm(self.embed(tokens))
        return self.out(h[-1])


class TorchConv(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Embedding(VOCAB, 128)
        self.conv1 = nn.Conv1d(128, 32, 7)
        self.conv2 = nn.Conv1d(32, 32, 7)
        self.out = nn.Linear(32, 1)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        h = self.embed(tokens).transpose(1, 2)  # (batch, channels, steps) for Conv1d
        h = F.max_pool1d(F.relu(self.conv1(h)), 5)
        return self.out(F.relu(self.conv2(h)).amax(dim=2))


def torch_contender(module: nn.Module, x: np.ndarray, y: np.ndarray) -> Callable[[], tuple]:
    """One epoch of the usual PyTorch loop; returns (wall, CPU) seconds per step."""
    xt, yt = torch.from_numpy(x), torch.from_numpy(y).float().unsqueeze(1)
    opt = torch.optim.RMSprop(module.parameters(), lr=1e-3, alpha=0.9, eps=1e-7)
    loss_fn = nn.BCEWithLogitsLoss()

    def epoch() -> float:
        module.train()
        perm = torch.randperm(len(xt))
        steps = 0
        start, cpu = time.perf_counter(), time.process_time()
        for i in range(0, len(xt), BATCH):
            idx = perm[i : i + BATCH]
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(module(xt[idx]), yt[idx])
            loss.backward()
            opt.step()
            steps += 1
        return (time.perf_counter() - start) / steps, (time.process_time() - cpu) / steps

    return epoch


# ---------------------------------------------------------------------- lamina
class EpochTimer(Callback):
    def on_epoch_begin(self, epoch, logs=None):
        self.start, self.cpu = time.perf_counter(), time.process_time()

    def on_epoch_end(self, epoch, logs=None):
        self.seconds = time.perf_counter() - self.start
        self.cpu_seconds = time.process_time() - self.cpu


def lamina_contender(model: lamina.Model, loss, x: np.ndarray, y: np.ndarray):
    model.compile(optimizer="rmsprop", loss=loss)
    timer = EpochTimer()
    steps = -(-len(x) // BATCH)

    def epoch() -> tuple:
        model.fit(x, y, batch_size=BATCH, epochs=1, verbose=0, callbacks=[timer])
        return timer.seconds / steps, timer.cpu_seconds / steps

    return epoch


def lamina_lstm(seq_len: int, **lstm_kwargs) -> lamina.Model:
    return lamina.Sequential(
        [
            Embedding(VOCAB, 32, input_length=seq_len),
            LSTM(32, **lstm_kwargs),
            Dense(1, activation="sigmoid"),
        ]
    )


def lamina_conv(seq_len: int) -> lamina.Model | None:
    try:
        from lamina.layers.convolutional import Conv1D
        from lamina.layers.pooling import GlobalMaxPooling1D, MaxPooling1D
    except Exception as e:  # written concurrently by someone else
        print(f"conv model skipped: {type(e).__name__}: {e}")
        return None
    return lamina.Sequential(
        [
            Embedding(VOCAB, 128, input_length=seq_len),
            Conv1D(32, 7, activation="relu"),
            MaxPooling1D(5),
            Conv1D(32, 7, activation="relu"),
            GlobalMaxPooling1D(),
            Dense(1),
        ]
    )


# ---------------------------------------------------------------------- main
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=25000)
    parser.add_argument("--seq-len", type=int, default=500)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: all)")
    parser.add_argument("--quick", action="store_true", help="smoke run: 384 samples, 1 round")
    parser.add_argument("--only", default="lstm,lstm_rdrop,conv", help="comma-separated models")
    args = parser.parse_args()
    if args.quick:
        args.samples, args.repeats = 384, 1
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.set_flush_denormal(True)
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    x = rng.integers(1, VOCAB, size=(args.samples, args.seq_len), dtype=np.int32)
    y = (rng.random(args.samples) < 0.5).astype(np.float32)
    wanted = set(args.only.split(","))
    print(
        f"torch {torch.__version__}, python {platform.python_version()}, "
        f"{torch.get_num_threads()} threads, {os.cpu_count()} cpus, {platform.machine()}; "
        f"{args.samples} x {args.seq_len} tokens, batch {BATCH}, {args.repeats} rounds"
    )

    contenders: dict[str, Callable[[], tuple]] = {}
    if "lstm" in wanted:
        contenders["lstm lamina"] = lamina_contender(
            lamina_lstm(args.seq_len), "binary_crossentropy", x, y
        )
        contenders["lstm torch"] = torch_contender(TorchLSTM(), x, y)
    if "lstm_rdrop" in wanted:
        contenders["lstm_rdrop lamina"] = lamina_contender(
            lamina_lstm(args.seq_len, recurrent_dropout=0.2), "binary_crossentropy", x, y
        )
    if "conv" in wanted:
        model = lamina_conv(args.seq_len)
        if model is not None:
            from lamina.losses import BinaryCrossentropy

            contenders["conv lamina"] = lamina_contender(
                model, BinaryCrossentropy(from_logits=True), x, y
            )
            contenders["conv torch"] = torch_contender(TorchConv(), x, y)

    # Warm-up: one epoch each (allocations, oneDNN primitives, the first fit builds).
    for epoch in contenders.values():
        epoch()
    wall: dict[str, list[float]] = {name: [] for name in contenders}
    cpu: dict[str, list[float]] = {name: [] for name in contenders}
    for round_ in range(args.repeats):
        for name, epoch in contenders.items():
            w, c = epoch()
            wall[name].append(w * 1000)
            cpu[name].append(c * 1000)
        print(
            f"round {round_ + 1} (wall ms/step): "
            + ", ".join(f"{n} {t[-1]:.1f}" for n, t in wall.items())
        )

    reference = {
        "lstm lamina": "lstm torch",
        "conv lamina": "conv torch",
        "lstm_rdrop lamina": "lstm lamina",
    }
    print(
        f"\n{'contender':<20} {'wall ms/step':>13} {'min-max':>15} {'CPU ms/step':>12} "
        f"{'ratio wall':>10} {'ratio CPU':>10}  vs"
    )
    for name in contenders:
        ref = reference.get(name)
        w, c = statistics.median(wall[name]), statistics.median(cpu[name])
        ratios = ["", ""]
        if ref in contenders:
            ratios = [
                f"{w / statistics.median(wall[ref]):.2f}x",
                f"{c / statistics.median(cpu[ref]):.2f}x",
            ]
        spread = f"{min(wall[name]):.0f}-{max(wall[name]):.0f}"
        print(
            f"{name:<20} {w:>13.1f} {spread:>15} {c:>12.1f} {ratios[0]:>10} {ratios[1]:>10}"
            f"  {ref or ''}"
        )
    print("(CPU = this process's CPU time, which other processes on a busy machine disturb less)")


if __name__ == "__main__":
    main()
