"""What ``predict``'s fast path for a Sequential saves, against the hand-written loop.

After the first batch has gone through ``Layer.__call__`` (which builds the layers and checks
the input), ``predict`` calls each layer's ``call`` directly for the later batches of a
``Sequential`` (``lamina.engine.sequential.Sequential._inference_plan``). This script predicts
W4a (W1's MLP on 10,000 samples, batches of 128) in one process, alternating rounds between
three contenders with the same weights and checking that they agree:

* ``lamina``: ``model.predict`` as it is;
* ``lamina, no fast path``: a second model with the same weights whose ``_inference_plan``
  returns None, so that every batch goes through ``__call__``;
* ``hand-written``: bench's ``MLP`` module with a ``torch.inference_mode`` loop and a softmax,
  as the W4 contender of ``bench/workloads/torch_run.py`` runs it.

It prints the median ms per batch of each and the median paired differences.

Run: ``python -m bench.predict_path [--rounds 40] [--n 10000]``
"""

from __future__ import annotations

import argparse
import statistics

import numpy as np
import torch

import lamina
from bench.workloads import keras_api
from bench.workloads.common import alternating_rounds, mlp_data, paired_saving
from bench.workloads.torch_run import MLP

BATCH = 128


def contenders(n: int) -> tuple[dict, int]:
    """The three predict functions (same weights; outputs checked equal) and the number of
    batches each one runs."""
    torch.manual_seed(0)
    x, _ = mlp_data(n)
    model, plain = keras_api.build(lamina, "W4a"), keras_api.build(lamina, "W4a")
    for m in (model, plain):
        m.predict(x[:1], verbose=0)  # builds the weights
    plain.set_weights(model.get_weights())
    plain._inference_plan = lambda batch: None
    module = MLP().eval()
    with torch.no_grad():
        for linear, dense in zip((module[0], module[3]), (model.layers[0], model.layers[2])):
            linear.weight.copy_(dense.kernel.T)
            linear.bias.copy_(dense.bias)
    xt = torch.from_numpy(x)

    def hand_written() -> np.ndarray:
        with torch.inference_mode():
            parts = [torch.softmax(module(xt[i : i + BATCH]), 1) for i in range(0, n, BATCH)]
            return torch.cat(parts).numpy()

    runs = {
        "lamina": lambda: model.predict(x, batch_size=BATCH, verbose=0),
        "lamina, no fast path": lambda: plain.predict(x, batch_size=BATCH, verbose=0),
        "hand-written": hand_written,
    }
    want = hand_written()
    for name, run in runs.items():
        np.testing.assert_allclose(run(), want, rtol=1e-5, atol=1e-6, err_msg=name)
    return runs, -(-n // BATCH)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=40)
    parser.add_argument("--n", type=int, default=10000)
    args = parser.parse_args(argv)
    lamina.config.set_device("cpu")  # a CPU measure: lamina would pick a GPU where there is one
    runs, batches = contenders(args.n)
    times = alternating_rounds(runs, args.rounds, batches)
    medians = ", ".join(f"{k} {statistics.median(v):.4f}" for k, v in times.items())
    print(f"W4a predict, ms per batch: {medians}")
    saving = paired_saving(times, "lamina", "lamina, no fast path", unit="batch")
    print(f"the fast path {saving}")
    saving = paired_saving(times, "lamina", "hand-written", unit="batch")
    print(f"against the hand-written loop, lamina {saving}")


if __name__ == "__main__":
    main()
