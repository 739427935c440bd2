"""The hand-written PyTorch contenders: the reference every ratio is taken against.

The same models as ``keras_api.py``, written as a PyTorch user would: ``nn`` modules, the data
converted once to tensors and kept in memory (token ids stay int32, which ``nn.Embedding``
takes), shuffled by index each epoch, ``torch.optim`` with the Keras defaults (RMSprop
``lr=1e-3, alpha=0.9, eps=1e-7``, foreach implementation), ``zero_grad(set_to_none=True)``,
loss and accuracy summed on the device and read once per epoch, ``torch.inference_mode`` for
prediction (which returns what the Keras models' ``predict`` returns: the softmax / sigmoid of
the logits the modules end with), and denormals flushed (``torch.set_flush_denormal(True)``, as
issue 5's profile recommends: without it the W2 step is ~3x slower). ``run_torch_compile`` is
the same loop with the forward + loss and the optimizer step under ``torch.compile``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from bench.harness import mark_baseline
from bench.workloads import common as c
from bench.workloads.keras_api import data


class TinyNet(nn.Sequential):
    def __init__(self) -> None:
        super().__init__(
            nn.Linear(c.TINY_FEATURES, c.TINY_HIDDEN), nn.ReLU(), nn.Linear(c.TINY_HIDDEN, 1)
        )


class MLP(nn.Sequential):
    def __init__(self) -> None:
        super().__init__(
            nn.Linear(c.MLP_FEATURES, c.MLP_HIDDEN),
            nn.ReLU(),
            nn.Dropout(0.5),
            nn.Linear(c.MLP_HIDDEN, c.MLP_CLASSES),
        )


class LSTMNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Embedding(c.VOCAB, c.LSTM_EMBED)
        self.lstm = nn.LSTM(c.LSTM_EMBED, c.LSTM_UNITS, batch_first=True)
        self.out = nn.Linear(c.LSTM_UNITS, 1)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        _, (h, _) = self.lstm(self.embed(tokens))
        return self.out(h[-1])


class ConvNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Embedding(c.VOCAB, c.CONV_EMBED)
        self.conv1 = nn.Conv1d(c.CONV_EMBED, c.CONV_FILTERS, c.CONV_KERNEL)
        self.pool = nn.MaxPool1d(c.CONV_POOL)
        self.conv2 = nn.Conv1d(c.CONV_FILTERS, c.CONV_FILTERS, c.CONV_KERNEL)
        self.out = nn.Linear(c.CONV_FILTERS, 1)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        h = self.embed(tokens).transpose(1, 2)  # (batch, channels, steps) for Conv1d
        h = self.pool(F.relu(self.conv1(h)))
        h = F.relu(self.conv2(h))
        return self.out(h.amax(dim=2))


class RefGRUNet(nn.Module):
    """GRU (Keras's ``reset_after=True`` form) with recurrent dropout: a Python loop over time,
    the input projections of all timesteps in one matrix product before it, one dropout mask on
    the state per sequence (Gal & Ghahramani)."""

    def __init__(self, recurrent_dropout: float = 0.2) -> None:
        super().__init__()
        self.embed = nn.Embedding(c.VOCAB, c.LSTM_EMBED)
        self.kernel = nn.Linear(c.LSTM_EMBED, 3 * c.LSTM_UNITS)
        self.recurrent = nn.Linear(c.LSTM_UNITS, 3 * c.LSTM_UNITS)
        self.out = nn.Linear(c.LSTM_UNITS, 1)
        self.rate = recurrent_dropout

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        xp = self.kernel(self.embed(tokens))  # (batch, steps, 3 * units)
        h = xp.new_zeros(xp.shape[0], c.LSTM_UNITS)
        mask = None
        if self.training and self.rate > 0:
            mask = F.dropout(torch.ones_like(h), self.rate, training=True)
        for t in range(xp.shape[1]):
            xz, xr, xh = xp[:, t].chunk(3, dim=1)
            hz, hr, hh = self.recurrent(h if mask is None else h * mask).chunk(3, dim=1)
            z = torch.sigmoid(xz + hz)
            r = torch.sigmoid(xr + hr)
            h = z * h + (1 - z) * torch.tanh(xh + r * hh)
        return self.out(h)


def _bce(out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return F.binary_cross_entropy_with_logits(out, y)


def _binary_hits(out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return ((out > 0) == (y > 0.5)).sum()


def _class_hits(out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return (out.argmax(1) == y.argmax(1)).sum()


def _rmsprop(model: nn.Module) -> torch.optim.Optimizer:
    return torch.optim.RMSprop(model.parameters(), lr=1e-3, alpha=0.9, eps=1e-7, foreach=True)


# workload -> (model, loss, accuracy count or None, optimizer)
SPECS: dict[str, tuple[Callable[[], nn.Module], Callable, Callable | None, Callable]] = {
    "W0": (
        TinyNet,
        F.mse_loss,
        None,
        lambda m: torch.optim.SGD(m.parameters(), lr=0.01, foreach=True),
    ),
    "W1": (MLP, F.cross_entropy, _class_hits, _rmsprop),
    "W2": (LSTMNet, _bce, _binary_hits, _rmsprop),
    "W3": (ConvNet, _bce, _binary_hits, _rmsprop),
    "W5": (RefGRUNet, _bce, _binary_hits, _rmsprop),
    "W4a": (MLP, F.cross_entropy, None, _rmsprop),
    "W4b": (LSTMNet, _bce, None, _rmsprop),
}


# W4: the Keras models end in softmax / sigmoid, so their ``predict`` returns probabilities; the
# modules above end in logits (the loss takes those), so prediction applies the same activation.
PREDICT_OUTPUT: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "W4a": lambda logits: torch.softmax(logits, dim=1),
    "W4b": torch.sigmoid,
}


def _train(args: dict, compiled: bool, device: torch.device) -> dict:
    make_model, loss_fn, hits_fn, make_opt = SPECS[args["workload"]]
    model = make_model().to(device)
    opt = make_opt(model)
    mark_baseline()
    x_np, y_np = data(args["workload"], args)
    x, y = torch.from_numpy(x_np).to(device), torch.from_numpy(y_np).to(device)
    n, batch = len(x), args["batch"]
    steps = c.num_steps(n, batch, args.get("steps"))

    def forward_loss(xb: torch.Tensor, yb: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out = model(xb)
        return loss_fn(out, yb), out

    def opt_step() -> None:
        opt.step()

    if compiled:
        forward_loss = torch.compile(forward_loss)
        opt_step = torch.compile(opt_step)

    def epoch() -> None:
        model.train()
        perm = torch.randperm(n, device=device)
        total = torch.zeros((), device=device)
        hits = torch.zeros((), dtype=torch.long, device=device)
        for s in range(steps):
            idx = perm[s * batch : (s + 1) * batch]
            xb, yb = x[idx], y[idx]
            loss, out = forward_loss(xb, yb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt_step()
            with torch.no_grad():
                total += loss.detach() * len(idx)
                if hits_fn is not None:
                    hits += hits_fn(out.detach(), yb)
        float(total), int(hits)  # the epoch's logs, read once (waits for a GPU)

    return c.time_epochs(epoch, args["epochs"], steps)


def _predict(args: dict, compiled: bool, device: torch.device) -> dict:
    model = SPECS[args["workload"]][0]().to(device)
    model.eval()
    mark_baseline()
    x_np, _ = data(args["workload"], args)
    x = torch.from_numpy(x_np).to(device)
    batch = args["batch"]
    head = PREDICT_OUTPUT[args["workload"]]

    def probabilities(xb: torch.Tensor) -> torch.Tensor:
        return head(model(xb))

    forward = torch.compile(probabilities) if compiled else probabilities

    def predict() -> None:
        with torch.inference_mode():
            outs = [forward(x[i : i + batch]) for i in range(0, len(x), batch)]
            result = torch.cat(outs).cpu().numpy()
        assert len(result) == len(x)

    return c.time_epochs(predict, args["epochs"], c.num_steps(len(x), batch, None))


def _run(args: dict, compiled: bool) -> dict[str, Any]:
    torch.manual_seed(0)
    flushed = torch.set_flush_denormal(True)
    device = torch.device(args.get("device") or "cpu")
    run = _predict if args["workload"].startswith("W4") else _train
    out = run(args, compiled, device)
    out["info_threads"] = torch.get_num_threads()
    out["info_flush_denormal"] = flushed
    out["info_device"] = str(device)
    if torch.cuda.is_available() and "cuda" in out["info_device"]:
        out["gpu_peak_mb"] = torch.cuda.max_memory_allocated() / 2**20
    return out


def run_torch(args: dict) -> dict:
    """The hand-written eager loop (the reference)."""
    return _run(args, compiled=False)


def run_torch_malloc(args: dict) -> dict:
    """The hand-written loop with the glibc malloc settings lamina applies at its first ``fit``
    (``lamina/engine/allocator.py``): the reference minus that one difference."""
    from lamina.engine.allocator import tune_malloc

    tuned = tune_malloc()
    out = _run(args, compiled=False)
    out["info_malloc_tuned"] = tuned
    return out


def run_torch_compile(args: dict) -> dict:
    """The hand-written loop with ``torch.compile`` on forward + loss and on the optimizer step."""
    return _run(args, compiled=True)
