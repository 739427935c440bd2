"""Shared benchmark harness: run each contender in its own subprocess, interleaved, and report
medians, ranges and ratios against a reference measured in the same run.

Each contender is a function ``run(args) -> dict`` in a bench module; the harness calls it in
a fresh Python process (``python -m bench.harness <module> <contender> <json-args>``) so that
peak memory is per contender and backends never mix. Timings are only compared within a run.
"""

from __future__ import annotations

import importlib
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from typing import Any

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def rss_mb() -> float:
    """Current resident memory of this process in MiB (Linux)."""
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def machine_load() -> dict[str, Any]:
    """Load average and the busiest other processes, to flag runs on a busy machine."""
    load1, _, _ = os.getloadavg()
    return {"loadavg_1min": round(load1, 2), "cpus": os.cpu_count()}


def run_contender(module: str, contender: str, args: dict[str, Any], timeout: int = 1800) -> dict:
    cmd = [sys.executable, "-m", "bench.harness", module, contender, json.dumps(args)]
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=ROOT, env=env)
    if proc.returncode != 0:
        return {"error": (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["failed"]}
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith("RESULT "):
            return json.loads(line[7:])
    return {"error": ["no result"]}


def interleave(module: str, contenders: list[str], args: dict[str, Any], repeats: int) -> dict:
    """Run every contender ``repeats`` times, alternating, and collect the results."""
    results: dict[str, list[dict]] = {c: [] for c in contenders}
    for _ in range(repeats):
        for c in contenders:
            results[c].append(run_contender(module, c, args))
    return results


def summarize(results: dict[str, list[dict]], key: str, reference: str) -> list[dict]:
    rows = []
    ref_runs = [r[key] for r in results.get(reference, []) if key in r]
    ref = statistics.median(ref_runs) if ref_runs else None
    ref_mem = [r["peak_mb"] for r in results.get(reference, []) if "peak_mb" in r]
    ref_mem = statistics.median(ref_mem) if ref_mem else None
    for name, runs in results.items():
        ok = [r for r in runs if key in r]
        if not ok:
            errors = [r.get("error") for r in runs]
            rows.append({"contender": name, "error": errors[0]})
            continue
        values = [r[key] for r in ok]
        med = statistics.median(values)
        mem = statistics.median(r["peak_mb"] for r in ok)
        rows.append({
            "contender": name, "median": med, "min": min(values), "max": max(values),
            "ratio": med / ref if ref else None, "peak_mb": mem,
            "mem_ratio": mem / ref_mem if ref_mem else None,
            "load": [r.get("load", {}).get("loadavg_1min") for r in ok],
            **{k: v for k, v in ok[0].items() if k.startswith("info_")},
        })
    return rows


def print_table(title: str, rows: list[dict], unit: str) -> None:
    print(f"\n{title}")
    print(f"{'contender':<28}{'median ' + unit:>14}{'min-max':>20}{'ratio':>8}"
          f"{'peak MiB':>10}{'mem ratio':>10}")
    for r in rows:
        if "error" in r:
            print(f"{r['contender']:<28}  skipped: {r['error']}")
            continue
        print(f"{r['contender']:<28}{r['median']:>14.2f}{r['min']:>9.2f} - {r['max']:<8.2f}"
              f"{r['ratio']:>8.3f}{r['peak_mb']:>10.0f}{r['mem_ratio']:>10.3f}")


def _child(module: str, contender: str, args_json: str) -> None:
    """Entry point inside the subprocess: run one contender, print one RESULT line."""
    args = json.loads(args_json)
    mod = importlib.import_module(f"bench.{module}")
    load = machine_load()
    base = rss_mb()
    start = time.perf_counter()
    out = getattr(mod, f"run_{contender}")(args)
    out["wall_s"] = time.perf_counter() - start
    out["peak_mb"] = peak_rss_mb() - base
    out["load"] = load
    print("RESULT " + json.dumps(out))


if __name__ == "__main__":
    _child(*sys.argv[1:4])
