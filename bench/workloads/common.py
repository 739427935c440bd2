"""What every contender shares, with NumPy only (the tf.keras environment has no torch): the
synthetic data, the shapes, the timing protocol, and the Keras-style ``fit`` / ``predict`` timing
used by lamina and all three Keras contenders alike.

Timing protocol: one warm-up epoch (lazy builds, allocations, compilation), then ``epochs``
timed epochs of ``steps`` steps each (``steps`` None: the whole data set). A run reports the best
timed epoch in ms per step (best-of, as timeit does: noise only ever adds time); the suite then
takes the median over interleaved runs. ``warmup_extra_s`` is how much longer the warm-up epoch
took than a timed one: for compiled contenders, that is the compile time.
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable
from typing import Any

import numpy as np

# The shapes of the workloads, written once for every contender.
MLP_FEATURES, MLP_HIDDEN, MLP_CLASSES = 784, 512, 10
VOCAB, SEQ_LEN = 10000, 500
LSTM_EMBED, LSTM_UNITS = 32, 32
CONV_EMBED, CONV_FILTERS, CONV_KERNEL, CONV_POOL = 128, 32, 7, 5
TINY_FEATURES, TINY_HIDDEN = 8, 16


def mlp_data(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """W1 data: ``n`` x 784 float32 pixels in [0, 1) and one-hot labels over 10 classes."""
    rng = np.random.default_rng(seed)
    x = rng.random((n, MLP_FEATURES), dtype=np.float32)
    y = np.zeros((n, MLP_CLASSES), np.float32)
    y[np.arange(n), rng.integers(0, MLP_CLASSES, n)] = 1
    return x, y


def token_data(n: int, seq_len: int = SEQ_LEN, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """W2 / W3 / W5 data: ``n`` sequences of ``seq_len`` int32 token ids below 10,000 (like
    padded IMDB reviews) and float32 0/1 labels of shape (n, 1)."""
    rng = np.random.default_rng(seed)
    x = rng.integers(0, VOCAB, (n, seq_len), dtype=np.int32)
    y = rng.integers(0, 2, (n, 1)).astype(np.float32)
    return x, y


def tiny_data(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """W0 data: ``n`` x 8 float32 features and a float32 regression target (n, 1)."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, TINY_FEATURES), dtype=np.float32)
    y = rng.standard_normal((n, 1), dtype=np.float32)
    return x, y


def mlp_train_flops(n: int) -> int:
    """Floating-point operations of the matrix products in one W1 epoch over ``n`` samples.

    Forward: x·W1 (784x512) and h·W2 (512x10), 2·in·out each per sample. Backward: the
    gradient of each kernel costs as much as its forward product, and the gradient flowing into
    ``h`` costs one more 512x10 product; none flows into the input pixels.
    """
    fwd1 = 2 * MLP_FEATURES * MLP_HIDDEN
    fwd2 = 2 * MLP_HIDDEN * MLP_CLASSES
    return n * (fwd1 + fwd2 + fwd1 + 2 * fwd2)


def num_steps(n: int, batch: int, steps: int | None) -> int:
    """Steps in one epoch over ``n`` samples, capped at ``steps``."""
    full = math.ceil(n / batch)
    return full if not steps else min(int(steps), full)


def timing_result(epoch_s: list[float], steps: int, **extra: Any) -> dict[str, Any]:
    """The result of a run from its epoch times (the first one is the warm-up)."""
    warm, timed = epoch_s[0], epoch_s[1:] or epoch_s[:1]
    best = min(timed)
    return {
        "ms_per_step": best / steps * 1000,
        "epochs_ms_per_step": [round(t / steps * 1000, 4) for t in timed],
        "warmup_extra_s": max(0.0, warm - statistics.median(timed)),
        "steps": steps,
        **extra,
    }


def time_epochs(epoch: Callable[[], None], epochs: int, steps: int, **extra: Any) -> dict:
    """Run ``epoch`` once to warm up, then ``epochs`` times with a clock around each."""
    times = []
    for _ in range(1 + epochs):
        t = time.perf_counter()
        epoch()
        times.append(time.perf_counter() - t)
    return timing_result(times, steps, **extra)


def alternating_rounds(runs: dict[str, Callable[[], None]], rounds: int, steps: int) -> dict:
    """ms per step of each named run (one ``fit`` of ``steps`` steps), the runs called in turn
    ``rounds`` times: the same-process A/B of the ``bench/*.py`` scripts."""
    times: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(rounds):
        for name, run in runs.items():
            t = time.perf_counter()
            run()
            times[name].append((time.perf_counter() - t) / steps * 1e3)
    return times


def patched_fit_rounds(
    model: Any, x: Any, y: Any, batch: int, target: Any, attr: str, values: dict, rounds: int
) -> dict:
    """:func:`alternating_rounds` of one-epoch ``model.fit(x, y)`` runs, each named run with
    ``target.attr`` set to its entry of ``values`` (a module function or handle patched for
    the A/B); the attribute is put back afterwards."""
    original = getattr(target, attr)

    def fit_with(value: Any) -> Callable[[], None]:
        def run() -> None:
            setattr(target, attr, value)
            model.fit(x, y, batch_size=batch, epochs=1, verbose=0)

        return run

    try:
        runs = {name: fit_with(value) for name, value in values.items()}
        return alternating_rounds(runs, rounds, len(x) // batch)
    finally:
        setattr(target, attr, original)


def paired_saving(times: dict[str, list[float]], ours: str, other: str, unit: str = "step") -> str:
    """The median of ``other - ours`` over the rounds of :func:`alternating_rounds` (each pair
    ran back to back, so it is steadier than the difference of the medians), as a sentence."""
    diffs = [b - a for a, b in zip(times[ours], times[other])]
    return (
        f"saves {statistics.median(diffs):.3f} ms per {unit} (median of {len(diffs)} paired "
        f"rounds; {sum(d > 0 for d in diffs)} of {len(diffs)} pairs favour it)"
    )


def make_epoch_timer(base: type, sync: Callable[[], None] | None = None) -> Any:
    """A callback (subclass of the framework's ``base`` Callback) that clocks each epoch;
    ``sync`` (``torch.cuda.synchronize`` on a GPU) waits for queued work before the clock reads."""

    class EpochTimer(base):
        def __init__(self) -> None:
            super().__init__()
            self.times: list[float] = []
            self._t = 0.0

        def on_epoch_begin(self, epoch: int, logs: Any = None) -> None:
            if sync is not None:
                sync()
            self._t = time.perf_counter()

        def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
            if sync is not None:
                sync()
            self.times.append(time.perf_counter() - self._t)

    return EpochTimer()


def keras_style_fit(
    model: Any,
    callback_base: type,
    x: Any,
    y: Any,
    args: dict,
    sync: Callable[[], None] | None = None,
) -> dict:
    """Time ``model.fit`` (lamina or any Keras): one call, 1 warm-up + ``epochs`` timed epochs,
    clocked by a callback so the per-call set-up (data conversion) is amortized as in real use."""
    batch = args["batch"]
    steps = num_steps(len(x), batch, args.get("steps"))
    timer = make_epoch_timer(callback_base, sync)
    model.fit(
        x,
        y,
        batch_size=batch,
        epochs=1 + args["epochs"],
        verbose=0,
        callbacks=[timer],
        steps_per_epoch=steps if steps < math.ceil(len(x) / batch) else None,
    )
    return timing_result(timer.times, steps)


def keras_style_predict(model: Any, x: Any, args: dict) -> dict:
    """Time ``model.predict`` (lamina or any Keras) over ``x``: one warm-up call, then
    ``epochs`` timed calls; ms per predicted batch."""
    batch = args["batch"]
    steps = num_steps(len(x), batch, None)
    times = []
    for _ in range(1 + args["epochs"]):
        t = time.perf_counter()
        out = model.predict(x, batch_size=batch, verbose=0)
        times.append(time.perf_counter() - t)
    assert len(out) == len(x), f"predict returned {len(out)} rows for {len(x)} samples"
    return timing_result(times, steps)
