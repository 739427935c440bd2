"""What handing the training loss straight to autograd's engine saves a whole ``fit`` step.

``lamina.engine.trainer._backward`` calls autograd's engine directly for the scalar loss of a
step, skipping ``torch.autograd.backward``'s Python checks. This script trains W0 (the tiny
overhead model) and W1 (the seed MLP) with ``fit`` in one process, alternating rounds with the
engine path and with plain ``loss.backward()`` (the engine handle set to ``None``), and prints
the median ms per step of each and the median of the paired differences.

Run: ``python -m bench.step_backward [--rounds 30]``
"""

from __future__ import annotations

import argparse
import statistics

import torch

import lamina
from bench.workloads import keras_api
from bench.workloads.common import mlp_data, paired_saving, patched_fit_rounds, tiny_data
from lamina.engine import trainer


def paired_rounds(workload: str, x, y, batch: int, rounds: int) -> dict[str, list[float]]:
    """ms per step of ``rounds`` one-epoch fits with each backward path, alternating."""
    torch.manual_seed(0)
    model = keras_api.build(lamina, workload)
    model.fit(x, y, batch_size=batch, epochs=1, verbose=0)
    values = {"engine": trainer._ENGINE, "loss.backward()": None}
    return patched_fit_rounds(model, x, y, batch, trainer, "_ENGINE", values, rounds)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=30)
    args = parser.parse_args(argv)
    for workload, (x, y), batch in (
        ("W0", tiny_data(32 * 100), 32),
        ("W1", mlp_data(128 * 50), 128),
    ):
        times = paired_rounds(workload, x, y, batch, args.rounds)
        medians = ", ".join(f"{k} {statistics.median(v):.4f}" for k, v in times.items())
        saving = paired_saving(times, "engine", "loss.backward()")
        print(f"{workload}: {medians} ms/step; the engine path {saving}")


if __name__ == "__main__":
    main()
