"""W1-W3 on CUDA (``bench/gpu.sh``): the hand-written loop, lamina eager float32, and lamina
compiled under the ``mixed_bfloat16`` policy (skipped with a note while ``lamina.mixed_precision``
does not exist). Full data sets, one warm-up and ``--epochs`` timed epochs per run, each run in
its own subprocess, ``--repeats`` interleaved rounds (default 1, to stay under 5 minutes).

Targets (issue 5): lamina eager <= 1.10 x the hand-written loop; compiled bf16 at least 2 x
faster than eager float32 on W1 and W3. Without CUDA it says so and exits with status 3.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys

from bench.harness import ROOT, Job, print_table, run_job, summarize
from bench.workloads import WORKLOADS

CONTENDERS = {
    "torch": ("workloads.torch_run", "torch"),
    "lamina": ("workloads.lamina_run", "lamina"),
    "lamina_bf16_jit": ("workloads.lamina_run", "lamina_bf16_jit"),
}
SIZES = {"W1": {"n": 60000}, "W2": {"n": 25000}, "W3": {"n": 25000}}
NO_CUDA_EXIT = 3


def cuda_info() -> dict | None:
    """The GPU's name and the versions, or None without a usable CUDA device."""
    import torch

    if not torch.cuda.is_available():
        return None
    return {
        "gpu": torch.cuda.get_device_name(0),
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "cudnn": torch.backends.cudnn.version(),
        "date": dt.datetime.now().astimezone().isoformat(timespec="seconds"),
    }


def gpu_targets(report: dict) -> list[str]:
    """Issue 5's GPU targets, marked ok / MISS / n/a."""
    lines = []
    for key, w in report["workloads"].items():
        rows = {r["contender"]: r for r in w["rows"] if "median" in r}
        ratio = rows.get("lamina", {}).get("ratio")
        mark = "n/a " if ratio is None else " ok " if ratio <= 1.10 else "MISS"
        lines.append(f"  [{mark}] {key}: lamina eager <= 1.10 x hand-written")
        if key in ("W1", "W3"):
            eager = rows.get("lamina", {}).get("median")
            bf16 = rows.get("lamina_bf16_jit", {}).get("median")
            ok = None if not (eager and bf16) else eager / bf16 >= 2
            mark = "n/a " if ok is None else " ok " if ok else "MISS"
            speed = f" ({eager / bf16:.2f}x)" if eager and bf16 else ""
            lines.append(f"  [{mark}] {key}: compiled bf16 >= 2 x faster than eager fp32{speed}")
    return lines


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="bench/gpu.sh", description=__doc__.split("\n\n")[0])
    p.add_argument("--workloads", default="W1,W2,W3")
    p.add_argument("--repeats", type=int, default=1)
    p.add_argument("--epochs", type=int, default=3, help="timed epochs per run (after a warm-up)")
    p.add_argument("--timeout", type=float, default=240, help="seconds per contender run")
    p.add_argument("--json", default=None)
    p.add_argument("--device", default="cuda", help="cuda; cpu only to try this script out")
    p.add_argument("--n", type=int, default=None, help="samples per workload (default: full)")
    opts = p.parse_args(argv)
    info = cuda_info() if opts.device == "cuda" else {"gpu": "none (--device cpu)"}
    if info is None:
        print(
            "bench/gpu.sh: no CUDA device is available to torch here, so there is nothing to "
            "measure. Run it on a machine with an NVIDIA GPU and a CUDA build of torch; the CPU "
            "suite is `python -m bench`.",
            file=sys.stderr,
        )
        return NO_CUDA_EXIT
    print("GPU: " + ", ".join(f"{k} {v}" for k, v in info.items()))
    report: dict = {"mode": "gpu", "machine": info, "workloads": {}}
    for key in [k.strip() for k in opts.workloads.split(",") if k.strip()]:
        if key not in SIZES:
            raise SystemExit(f"unknown GPU workload {key!r}: choose from {', '.join(SIZES)}")
        w = WORKLOADS[key]
        args = {"workload": key, "batch": w.batch, "epochs": opts.epochs, "device": opts.device}
        args.update(SIZES[key])
        if opts.n:
            args["n"] = opts.n
        results: dict[str, list[dict]] = {name: [] for name in CONTENDERS}
        for _ in range(opts.repeats):
            for name, (module, fn) in CONTENDERS.items():
                if results[name] and ("skipped" in results[name][0] or "error" in results[name][0]):
                    continue
                res = run_job(Job(module, fn, args, timeout=opts.timeout))
                results[name].append(res)
                print(f"  {key} {name}: {res.get('ms_per_step', res)}", file=sys.stderr, flush=True)
        rows = summarize(results, "ms_per_step", "torch")
        for r in rows:
            runs = [x["gpu_peak_mb"] for x in results[r["contender"]] if "gpu_peak_mb" in x]
            notes = [f"GPU peak {max(runs):.0f} MiB"] if runs else []
            if r["contender"] == "lamina_bf16_jit" and r.get("warmup_extra_s") is not None:
                notes.append(f"compile ~{r['warmup_extra_s']:.1f} s")
            r["note"] = "; ".join(notes)
        print_table(f"{w.title} [{opts.device}, n={args['n']}, batch {w.batch}]", rows, w.unit)
        print("  (peak MiB and mem ratio: host memory; GPU memory in the notes)")
        report["workloads"][key] = {"rows": rows, "runs": results}
    print("\nIssue 5 GPU targets:")
    for line in gpu_targets(report):
        print(line)
    path = opts.json or os.path.join(
        ROOT, "bench", "results", dt.datetime.now().strftime("%Y%m%d-%H%M%S") + "-gpu.json"
    )
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w") as f:
        json.dump(report, f, indent=1, default=str)
    print(f"\nresults written to {os.path.abspath(path)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
