"""Per-batch overhead of lamina's ``predict`` against a hand-written ``inference_mode`` loop.

Two models, each against the same model written as a ``torch.nn.Sequential``, in one process,
interleaved round by round: a tiny Dense(16, relu) -> Dropout -> Dense(4, softmax) on batches
of 8 (almost all overhead), and W1's MLP on batches of 128 (W4a's workload, called in a plain
loop without ``predict``'s batching, so only the layers' call overhead differs). Prints the
median per-batch time of each and the median ratio lamina / hand-written of the rounds.

Run: ``python -m bench.overhead [--rounds 15]``
"""

from __future__ import annotations

import argparse
import statistics
import time


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    opts = parser.parse_args(argv)

    import numpy as np
    import torch
    from torch import nn

    from lamina import config, layers, models

    config.set_device("cpu")  # a CPU measure: lamina would pick a GPU where there is one
    torch.manual_seed(0)
    rng = np.random.default_rng(0)

    def pair(features: int, hidden: int, classes: int):
        ours = models.Sequential(
            [
                layers.Dense(hidden, activation="relu", input_shape=(features,)),
                layers.Dropout(0.5),
                layers.Dense(classes, activation="softmax"),
            ]
        )
        theirs = nn.Sequential(
            nn.Linear(features, hidden),
            nn.ReLU(),
            nn.Dropout(0.5),
            nn.Linear(hidden, classes),
            nn.Softmax(-1),
        ).eval()
        return ours, theirs

    def loop(model, x: torch.Tensor, batch: int):
        def run() -> None:
            with torch.inference_mode():
                torch.cat([model(x[i : i + batch]) for i in range(0, len(x), batch)]).numpy()

        return run

    tiny, tiny_ref = pair(8, 16, 4)
    x_tiny = rng.random((8000, 8), dtype=np.float32)
    mlp, mlp_ref = pair(784, 512, 10)
    x_mlp = torch.from_numpy(rng.random((10000, 784), dtype=np.float32))
    cases = {
        "tiny predict, batch 8": (
            lambda: tiny.predict(x_tiny, batch_size=8, verbose=0),
            loop(tiny_ref, torch.from_numpy(x_tiny), 8),
            len(x_tiny) // 8,
        ),
        "W1 MLP call loop, batch 128": (loop(mlp, x_mlp, 128), loop(mlp_ref, x_mlp, 128), 79),
    }
    tiny.predict(x_tiny[:16], batch_size=8, verbose=0)  # build
    mlp.predict(x_mlp[:128].numpy(), verbose=0)
    summary = {}
    for name, (ours, theirs, batches) in cases.items():
        ours(), theirs()  # warm-up
        mine, ref, ratios = [], [], []
        for _ in range(opts.rounds):
            t0 = time.perf_counter()
            theirs()
            t1 = time.perf_counter()
            ours()
            t2 = time.perf_counter()
            ref.append((t1 - t0) / batches * 1e6)
            mine.append((t2 - t1) / batches * 1e6)
            ratios.append((t2 - t1) / (t1 - t0))
        ratio = statistics.median(ratios)
        summary[name] = ratio
        print(
            f"{name:30s} hand-written {statistics.median(ref):8.1f} us/batch   "
            f"lamina {statistics.median(mine):8.1f} us/batch   ratio {ratio:5.2f}"
        )
    return summary


if __name__ == "__main__":
    main()
