"""The benchmark suite of issue 5: every workload with every contender, interleaved, repeated.

Run ``python -m bench`` (or ``python bench/run.py``) on a quiet machine; ``--quick`` for a short
run; ``--smoke`` for the CI check (tiny sizes, lamina and the hand-written loop only, one
interpreter). Each contender runs in its own subprocess, one after the other, in turn, for
``--repeats`` rounds; the table shows the median over rounds of each run's best epoch, in ms per
training step (per predicted batch for W4), the min - max over rounds, the ratio of medians to
the hand-written PyTorch loop measured in the same run, the peak memory growth of the run (data,
model and training; not the framework's import) and its ratio, and the warm-up epoch's extra time
(the compile time of compiled contenders). Results also go to ``bench/results/<time>.json``.

Machine load is recorded before every run; a full run refuses to start while other processes use
the CPU (``--force`` overrides), and rows measured while the machine was busy are flagged ``!``.
Only ratios taken in one run mean anything on a shared machine.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.metadata
import importlib.util
import json
import os
import platform
import subprocess
import sys
from typing import Any

if __package__ in (None, ""):  # run as a script: python bench/run.py
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench.harness import ROOT, Job, machine_load, print_table, run_batch, run_job, summarize
from bench.workloads import CONTENDERS, PEERS, REFERENCE, SMOKE_CONTENDERS, WORKLOADS
from bench.workloads.common import mlp_train_flops

TF_PYTHON_ENV = "LAMINA_BENCH_TF_PYTHON"
W1_SAMPLES, W1_BATCH = 60000, 128
# A CPU suite: keep every contender (lamina's device choice, JAX, TF) off any GPU.
_CPU_ONLY = {"CUDA_VISIBLE_DEVICES": "", "JAX_PLATFORMS": "cpu", "TF_CPP_MIN_LOG_LEVEL": "2"}


# --------------------------------------------------------------------------- environment
def _version(dist: str, python: str | None = None) -> str | None:
    if python is None:
        try:
            return importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            return None
    code = f"import importlib.metadata as m; print(m.version({dist!r}))"
    try:
        out = subprocess.run([python, "-c", code], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def _cpu_model() -> str:
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=10).stdout
        for line in out.splitlines():
            if line.startswith("Model name:"):
                return line.split(":", 1)[1].strip()
    except (OSError, subprocess.TimeoutExpired):
        pass
    return platform.processor() or "unknown"


def _git_commit() -> str | None:
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            cwd=ROOT,
            timeout=10,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "src", "bench"],
            capture_output=True,
            text=True,
            cwd=ROOT,
            timeout=10,
        ).stdout
    except (OSError, subprocess.TimeoutExpired):
        return None
    return (head + ("+dirty" if dirty.strip() else "")) or None


def machine_info() -> dict[str, Any]:
    """Date, CPU, core count, memory, git commit and the versions of every framework."""
    tf_python = os.environ.get(TF_PYTHON_ENV)
    try:
        mem_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    except (ValueError, OSError):
        mem_gib = None
    return {
        "date": dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "memory_gib": round(mem_gib, 1) if mem_gib else None,
        "commit": _git_commit(),
        "versions": {
            "python": platform.python_version(),
            **{d: _version(d) for d in ("torch", "numpy", "lamina", "keras", "jax", "jaxlib")},
            **(
                {f"{d} (tf env)": _version(d, tf_python) for d in ("tensorflow", "tf_keras")}
                if tf_python
                else {}
            ),
        },
    }


def contender_jobs(name: str) -> tuple[dict[str, Any] | None, str | None]:
    """How to start contender ``name`` (python and environment), or why it cannot run here."""
    env = dict(_CPU_ONLY)
    has = importlib.util.find_spec
    if name == "keras_jax":
        if not (has("keras") and has("jax")):
            return None, "Keras 3 and jax are not installed (pip install -e '.[bench]')"
        env.update(KERAS_BACKEND="jax", LAMINA_BENCH_KERAS="keras")
    elif name == "keras_torch":
        if not has("keras"):
            return None, "Keras 3 is not installed (pip install -e '.[bench]')"
        env.update(KERAS_BACKEND="torch", LAMINA_BENCH_KERAS="keras")
    elif name == "tf_keras":
        python = os.environ.get(TF_PYTHON_ENV)
        if not python:
            return None, (
                f"tf.keras 2 needs its own environment: set {TF_PYTHON_ENV} to the "
                "python of a venv with tensorflow and tf_keras (bench/RESULTS.md)"
            )
        if not (_version("tensorflow", python) and _version("tf_keras", python)):
            return None, f"{python} lacks tensorflow or tf_keras"
        env.update(
            LAMINA_BENCH_KERAS="tf_keras", TF_USE_LEGACY_KERAS="1", KERAS_BACKEND="tensorflow"
        )
        return {"python": python, "env": env}, None
    return {"python": sys.executable, "env": env}, None


# --------------------------------------------------------------------------- running
def _job(workload: Any, name: str, mode: str, how: dict, timeout: float) -> Job:
    module, fn = CONTENDERS[name]
    return Job(
        module, fn, workload.args(mode, name), python=how["python"], env=how["env"], timeout=timeout
    )


def run_suite(opts: argparse.Namespace) -> dict[str, Any]:
    """Run the selected workloads x contenders; print the tables; return everything measured."""
    mode = "smoke" if opts.smoke else "quick" if opts.quick else "full"
    report: dict[str, Any] = {"mode": mode, "machine": machine_info(), "workloads": {}}
    names = [c for c in CONTENDERS if c in opts.contenders]
    how, skipped = {}, {}
    for name in names:
        how[name], note = contender_jobs(name)
        if note:
            skipped[name] = note

    if mode == "smoke":  # one interpreter per environment: CI pays for one torch import
        groups: dict[str, list[tuple[str, str, Job]]] = {}
        for key in opts.workloads:
            for name in names:
                if name in skipped or name in WORKLOADS[key].not_run:
                    continue
                job = _job(WORKLOADS[key], name, mode, how[name], opts.timeout)
                group = json.dumps([job.python, job.env], sort_keys=True)
                groups.setdefault(group, []).append((key, name, job))
        matmul = Job("workloads.machine", "matmul", {"n": 256, "reps": 3}, env=_CPU_ONLY)
        groups.setdefault(json.dumps([matmul.python, matmul.env], sort_keys=True), []).append(
            ("", "matmul", matmul)
        )
        per: dict[str, dict[str, list]] = {}
        for members in groups.values():
            results = run_batch([job for _, _, job in members], timeout=opts.timeout)
            for (key, name, _), res in zip(members, results):
                if name == "matmul":
                    report["matmul"] = res
                else:
                    per.setdefault(key, {})[name] = [res]
        for key in opts.workloads:
            _report_workload(report, key, per.get(key, {}), skipped, names)
        return report

    report["matmul"] = run_job(Job("workloads.machine", "matmul", {}, env=_CPU_ONLY, timeout=300))
    print(_matmul_line(report["matmul"]), flush=True)
    for key in opts.workloads:
        w = WORKLOADS[key]
        runnable = [n for n in names if n not in skipped and n not in w.not_run]
        results: dict[str, list[dict]] = {n: [] for n in runnable}
        dead: set[str] = set()
        for rep in range(opts.repeats):
            for name in runnable:
                if name in dead:
                    continue
                load = machine_load(0.25)
                res = run_job(_job(w, name, mode, how[name], opts.timeout))
                res["load"] = load
                results[name].append(res)
                if "skipped" in res or "error" in res and rep == 0:
                    dead.add(name)  # a missing layer or a crash: do not pay for it again
                _progress(key, name, rep, res)
        _report_workload(report, key, results, skipped, names)
    return report


def _progress(key: str, name: str, rep: int, res: dict) -> None:
    what = (
        f"{res['ms_per_step']:.2f} ms"
        if "ms_per_step" in res
        else f"skipped ({res['skipped']})"
        if "skipped" in res
        else f"error ({res['error']})"
    )
    busy = " [busy machine]" if res.get("load", {}).get("busy") else ""
    print(f"  {key} round {rep + 1} {name}: {what}{busy}", file=sys.stderr, flush=True)


def _report_workload(report: dict, key: str, results: dict, skipped: dict, names: list) -> None:
    w = WORKLOADS[key]
    all_results = {}
    for name in names:
        if name in skipped:
            all_results[name] = [{"skipped": skipped[name]}]
        elif name in w.not_run:
            all_results[name] = [{"skipped": w.not_run[name]}]
        else:
            all_results[name] = results.get(name) or [{"error": "not run"}]
    rows = summarize(all_results, "ms_per_step", REFERENCE)
    _annotate(rows, w, report)
    mode = report["mode"]
    sizes = w.sizes[mode]
    size = f"n={sizes['n']}" + (f", {sizes['steps']} steps/epoch" if sizes.get("steps") else "")
    print_table(f"{w.title} [{mode}: {size}, batch {w.batch}]", rows, w.unit)
    if key == "W1":
        print(_gemm_line(rows, report.get("matmul", {})))
    report["workloads"][key] = {
        "title": w.title,
        "unit": w.unit,
        "sizes": sizes,
        "rows": rows,
        "runs": all_results,
    }


def _annotate(rows: list[dict], w: Any, report: dict) -> None:
    by = {r["contender"]: r for r in rows}
    eager = by.get("lamina", {}).get("median")
    for r in rows:
        notes = []
        cap = w.caps.get(r["contender"])
        if cap and report["mode"] != "smoke" and "median" in r:
            notes.append("capped: " + ", ".join(f"{k}={v}" for k, v in cap.items()))
        if r["contender"] in ("lamina_jit", "torch_compile") and r.get("warmup_extra_s"):
            notes.append(f"compile ~{r['warmup_extra_s']:.1f} s")
        if r["contender"] == "lamina_jit" and eager and r.get("median"):
            notes.append(f"{eager / r['median']:.2f}x vs lamina eager")
        if notes:
            r["note"] = "; ".join(notes)


def _matmul_line(mm: dict) -> str:
    if "gflops" not in mm:
        return f"float32 matmul rate: not measured ({mm.get('error') or mm.get('skipped')})"
    return (
        f"float32 matmul rate: {mm['gflops']:.0f} GFLOP/s best, {mm['gflops_median']:.0f} "
        f"median ({mm['n']}x{mm['n']} torch.mm, {mm['threads']} threads)"
    )


def _gemm_line(rows: list[dict], mm: dict) -> str:
    """W1's GEMM-bound limit from its shapes and the measured matmul rate."""
    if "gflops" not in mm:
        return "W1 GEMM-bound limit: matmul rate not measured"
    epoch_flops = mlp_train_flops(W1_SAMPLES)
    step_ms = mlp_train_flops(W1_BATCH) / (mm["gflops"] * 1e9) * 1000
    line = (
        f"W1 matrix products: {epoch_flops / 1e9:.1f} GFLOP per 60,000-sample epoch; at "
        f"{mm['gflops']:.0f} GFLOP/s the GEMM-bound limit is "
        f"{epoch_flops / (mm['gflops'] * 1e9):.2f} s/epoch = {step_ms:.2f} ms/step"
    )
    for r in rows:
        if r["contender"] in ("lamina", "lamina_jit") and r.get("median"):
            line += f"; {r['contender']} {r['median'] / step_ms:.1f}x the limit"
    return line


# --------------------------------------------------------------------------- targets
def target_checks(report: dict) -> list[str]:
    """Issue 5's CPU targets, each marked ok / MISS / n/a from this run's medians."""
    out = []

    def row(key: str, name: str) -> dict:
        rows = report["workloads"].get(key, {}).get("rows", [])
        return next((r for r in rows if r["contender"] == name and "median" in r), {})

    def check(label: str, ok: bool | None) -> None:
        out.append(f"  [{'n/a ' if ok is None else ' ok ' if ok else 'MISS'}] {label}")

    for key in ("W1", "W2", "W3"):
        lam = row(key, "lamina").get("median")
        peers = [row(key, p).get("median") for p in PEERS]
        peers = [p for p in peers if p]
        check(
            f"{key}: lamina <= fastest of Keras-JAX / tf.keras",
            None if not (lam and peers) else lam <= min(peers),
        )
        ref = row(key, REFERENCE).get("median")
        check(f"{key}: lamina < hand-written eager loop", None if not (lam and ref) else lam < ref)
        kt = row(key, "keras_torch").get("median")
        check(
            f"{key}: lamina <= 0.5 x Keras 3 on torch",
            None if not (lam and kt) else lam <= 0.5 * kt,
        )
        mem = row(key, "lamina").get("mem_ratio")
        check(
            f"{key}: lamina peak memory <= 1.2 x hand-written", None if mem is None else mem <= 1.2
        )
    for key in ("W4a", "W4b"):
        ratio = row(key, "lamina").get("ratio")
        check(
            f"{key}: lamina predict throughput >= hand-written inference_mode",
            None if ratio is None else ratio <= 1.0,
        )
    ratio = row("W0", "lamina").get("ratio")
    check(
        "W0: lamina per-step overhead <= 1.2 x hand-written",
        None if ratio is None else ratio <= 1.2,
    )
    mm = report.get("matmul", {})
    lam = row("W1", "lamina").get("median")
    if "gflops" in mm and lam:
        limit = mlp_train_flops(W1_BATCH) / (mm["gflops"] * 1e9) * 1000
        check(f"W1: lamina within 2 x the GEMM-bound limit ({lam / limit:.1f}x)", lam <= 2 * limit)
    else:
        check("W1: lamina within 2 x the GEMM-bound limit", None)
    return out


# --------------------------------------------------------------------------- main
def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    size = p.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true", help="small data, one round (minutes)")
    size.add_argument(
        "--smoke",
        action="store_true",
        help="CI check: tiny sizes, lamina + hand-written only, one interpreter",
    )
    p.add_argument(
        "--workloads",
        default=",".join(WORKLOADS),
        help=f"comma-separated subset of {','.join(WORKLOADS)}",
    )
    p.add_argument(
        "--contenders", default=None, help=f"comma-separated subset of {','.join(CONTENDERS)}"
    )
    p.add_argument("--repeats", type=int, default=None, help="rounds (default 3; quick/smoke 1)")
    p.add_argument("--force", action="store_true", help="run in full mode on a busy machine")
    p.add_argument(
        "--max-load",
        type=float,
        default=0.5,
        help="1-min load average above which the machine counts as busy",
    )
    p.add_argument("--timeout", type=float, default=None, help="seconds per contender run")
    p.add_argument(
        "--json",
        default=None,
        help="where to write the results (default bench/results/<time>-<mode>.json)",
    )
    p.add_argument(
        "--markdown",
        metavar="RESULTS_JSON",
        default=None,
        help="print the tables of an earlier run's JSON as Markdown (for bench/RESULTS.md)",
    )
    opts = p.parse_args(argv)
    opts.workloads = _choose(opts.workloads, WORKLOADS, "workload")
    default = SMOKE_CONTENDERS if opts.smoke else tuple(CONTENDERS)
    opts.contenders = (
        _choose(opts.contenders, CONTENDERS, "contender") if opts.contenders else list(default)
    )
    if opts.repeats is None:
        opts.repeats = 1 if opts.quick or opts.smoke else 3
    if opts.timeout is None:
        opts.timeout = 300 if opts.smoke else 600 if opts.quick else 1200
    return opts


def _choose(text: str, known: dict, what: str) -> list[str]:
    chosen = [t.strip() for t in text.split(",") if t.strip()]
    unknown = [t for t in chosen if t not in known]
    if unknown:
        raise SystemExit(f"unknown {what}(s) {unknown}: choose from {', '.join(known)}")
    return chosen


def render_markdown(report: dict) -> str:
    """An earlier run's tables, machine, versions and load as Markdown."""
    m = report["machine"]
    load = report.get("load_at_start", {})
    versions = ", ".join(f"{k} {v}" for k, v in m["versions"].items() if v)
    lines = [
        f"Run {m['date']}, mode `{report['mode']}`, {report.get('repeats', 1)} round(s); "
        f"commit {m.get('commit')}.",
        f"Machine: {m['cpu']}, {m['cores']} cores, {m['memory_gib']} GiB. {versions}.",
        f"Load at start: 1-min loadavg {load.get('loadavg_1min')}, other processes "
        f"{load.get('others_cpu_pct')}% of one core"
        + (" (**busy machine: timings unreliable**)" if report.get("busy_at_start") else "")
        + ".",
    ]
    mm = report.get("matmul", {})
    lines.append(_matmul_line(mm) + ".")
    for key, w in report["workloads"].items():
        sizes = ", ".join(f"{k}={v}" for k, v in w["sizes"].items())
        lines += ["", f"**{w['title']}** ({sizes})", ""]
        lines.append(
            f"| contender | median {w['unit']} | min - max | ratio | peak MiB | mem ratio "
            "| warm-up s | notes |"
        )
        lines.append("|---|--:|--:|--:|--:|--:|--:|---|")
        for r in w["rows"]:
            if "median" not in r:
                what = "skipped" if "skipped" in r else "FAILED"
                note = str(r.get("skipped") or r.get("error")).replace("|", "/")
                lines.append(f"| {r['contender']} | {what} | | | | | | {note} |")
                continue
            note = "; ".join(x for x in ("! busy" if r.get("busy") else "", r.get("note")) if x)

            def f(v: Any, spec: str) -> str:
                return "-" if v is None else format(v, spec)

            lines.append(
                f"| {r['contender']} | {r['median']:.2f} | {r['min']:.2f} - {r['max']:.2f} "
                f"| {f(r.get('ratio'), '.3f')} | {f(r.get('peak_mb'), '.0f')} "
                f"| {f(r.get('mem_ratio'), '.2f')} | {f(r.get('warmup_extra_s'), '.1f')} "
                f"| {note} |"
            )
        if key == "W1":
            lines += ["", _gemm_line(w["rows"], mm) + "."]
    lines += ["", "Targets:", "", "```", *target_checks(report), "```"]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Check the load, run the suite, print tables and targets, write the JSON."""
    opts = parse_args(argv)
    if opts.markdown:
        with open(opts.markdown) as f:
            print(render_markdown(json.load(f)))
        return 0
    mode = "smoke" if opts.smoke else "quick" if opts.quick else "full"
    load = machine_load(1.0)
    busy = load.get("busy") or load["loadavg_1min"] > opts.max_load
    print(
        f"machine load at start: 1-min loadavg {load['loadavg_1min']} on {load['cpus']} CPUs; "
        f"other processes {load.get('others_cpu_pct', '?')}% of one core "
        f"{load.get('busy_processes') or ''}".rstrip(),
        flush=True,
    )
    if busy:
        msg = (
            "the machine is busy: timings (even ratios) are unreliable. Wait until the load "
            "average is below --max-load and nothing else uses the CPU"
        )
        if mode == "full" and not opts.force:
            print(f"refusing to run: {msg}, or pass --force.", file=sys.stderr)
            return 2
        print(f"WARNING: {msg}; results are flagged as taken on a busy machine.", flush=True)
    report = run_suite(opts)
    report["load_at_start"] = load
    report["busy_at_start"] = bool(busy)
    report["repeats"] = opts.repeats
    print("\nIssue 5 targets (CPU; meaningful only for a full run on a quiet machine):")
    for line in target_checks(report):
        print(line)
    path = opts.json or os.path.join(
        ROOT, "bench", "results", dt.datetime.now().strftime("%Y%m%d-%H%M%S") + f"-{mode}.json"
    )
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w") as f:
        json.dump(report, f, indent=1, default=str)
    print(f"\nresults written to {os.path.abspath(path)}", flush=True)
    failed = [
        f"{key}/{r['contender']}"
        for key, w in report["workloads"].items()
        for r in w["rows"]
        if "error" in r
    ]
    if failed:
        print(f"FAILED runs: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
