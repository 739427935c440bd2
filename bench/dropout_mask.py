"""Time of lamina's CPU dropout masks against torch's and against lamina's previous mask.

For each rate, four ways to make the inverted-dropout mask of a 128 x 512 activation (the
seed MLP's Dropout(0.5) input) are timed in alternation, so that machine noise hits all alike:

* ``bernoulli``: ``torch.empty(...).bernoulli_(1 - rate).div_(1 - rate)``, what
  ``torch.nn.functional.dropout`` does on CPU;
* ``compare``: lamina's previous mask, 16-bit random slices compared with ``>=`` and the
  boolean converted to float (kept here as the reference);
* ``fields``: lamina's mask before the float32 bit patterns: the same exact fields, converted
  to float and then scaled (two more passes over the mask);
* ``lamina``: ``lamina.layers._dropout.dropout_mask`` (exact few-bit fields for multiples of
  1/256, made as float32 bit patterns; clamped 16-bit slices otherwise).

It prints the p10 and median time of each and the ratios lamina / compare and lamina / fields
(below 1 is faster).

``--fit`` trains W1 (bench/workloads) with ``fit`` in one process, alternating rounds with
lamina's mask, the ``fields`` mask and the ``compare`` mask patched in, and prints the median
ms per step of each: what the mask buys a whole step.

Run: ``python -m bench.dropout_mask [--draws 2000]`` or
``python -m bench.dropout_mask --fit [--rounds 8]``
"""

from __future__ import annotations

import argparse
import math
import statistics
import time

import torch

from lamina.layers import _dropout

SHAPE = (128, 512)


def compare_mask(shape, rate, dtype, device, generator=None):
    """lamina's mask before: 16-bit slices ``>=`` a threshold, bool -> float, scaled."""
    n = math.prod(shape)
    words = torch.randint(
        -(2**63), 2**63 - 1, ((n + 3) // 4,), dtype=torch.int64, device=device, generator=generator
    )
    slices = words.view(torch.int16)[:n].view(shape)
    keep = slices >= round(-32768 + rate * 65536)
    return keep.to(dtype).mul_(1.0 / (1.0 - rate))


def fields_mask(shape, rate, dtype, device, generator=None):
    """lamina's mask before: exact fields (or slices) as 0 / 1 floats, then scaled."""
    n = math.prod(shape)
    field = _dropout._exact_field(rate)
    if field is None:
        keep = _dropout._keep_slices(n, rate, dtype, device, generator)
    else:
        keep = _dropout._keep_fields(n, *field, device, generator)
    return keep.view(shape).to(dtype).mul_(1.0 / (1.0 - rate))


def bernoulli_mask(shape, rate, dtype, device, generator=None):
    keep = torch.empty(shape, dtype=dtype, device=device)
    return keep.bernoulli_(1.0 - rate, generator=generator).div_(1.0 - rate)


def time_masks(rate: float, draws: int) -> dict[str, list[float]]:
    makers = {
        "bernoulli": bernoulli_mask,
        "compare": compare_mask,
        "fields": fields_mask,
        "lamina": _dropout.dropout_mask,
    }
    times: dict[str, list[float]] = {k: [] for k in makers}
    cpu = torch.device("cpu")
    for i in range(draws + 50):
        for name, make in makers.items():
            t = time.perf_counter()
            make(SHAPE, rate, torch.float32, cpu)
            if i >= 50:
                times[name].append(time.perf_counter() - t)
    return times


def p10(values: list[float]) -> float:
    return sorted(values)[len(values) // 10]


def run_masks(draws: int) -> None:
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, mask {SHAPE}")
    names = ("bernoulli", "compare", "fields", "lamina")
    print(f"{'rate':>5}  " + "  ".join(f"{k:>17}" for k in names) + "  l/compare  l/fields")
    for rate in (0.5, 0.25, 0.2, 0.1, 0.3):
        times = time_masks(rate, draws)
        cells = [
            f"{p10(times[k]) * 1e3:.3f} / {statistics.median(times[k]) * 1e3:.3f}" for k in names
        ]
        ours = statistics.median(times["lamina"])
        ratios = [ours / statistics.median(times[k]) for k in ("compare", "fields")]
        print(
            f"{rate:>5}  "
            + "  ".join(f"{c:>17}" for c in cells)
            + f"  {ratios[0]:>9.2f}  {ratios[1]:>8.2f}"
        )
    print("(ms per mask, p10 / median)")


def run_fit(rounds: int) -> None:
    import lamina
    from bench.workloads import keras_api
    from bench.workloads.common import mlp_data, paired_saving, patched_fit_rounds

    n = 25_600
    x, y = mlp_data(n)
    torch.manual_seed(0)
    model = keras_api.build(lamina, "W1")
    model.fit(x[:2560], y[:2560], batch_size=128, epochs=1, verbose=0)
    values = {"lamina": _dropout.dropout_mask, "fields": fields_mask, "compare": compare_mask}
    times = patched_fit_rounds(model, x, y, 128, _dropout, "dropout_mask", values, rounds)
    for name, values in times.items():
        print(f"{name:8} median {statistics.median(values):.3f} ms/step  rounds {values}")
    for other in ("fields", "compare"):
        print(f"lamina's mask against {other}: {paired_saving(times, 'lamina', other)} (W1)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--draws", type=int, default=2000)
    parser.add_argument("--fit", action="store_true")
    parser.add_argument("--rounds", type=int, default=8)
    args = parser.parse_args()
    if args.fit:
        run_fit(args.rounds)
    else:
        run_masks(args.draws)


if __name__ == "__main__":
    main()
