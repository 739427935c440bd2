"""Shared benchmark harness: run each contender in its own subprocess, interleaved, and report
medians, ranges and ratios against a reference measured in the same run.

A contender is a function ``run_<name>(args) -> dict`` in a module of the ``bench`` package. The
harness calls it in a fresh Python process (``python -m bench.harness <module> <name>
<json-args>``) so that peak memory is per contender and backends never mix; a contender may run
under another interpreter (tf.keras lives in its own virtual environment) and with its own
environment variables (``KERAS_BACKEND`` must be set before Keras is imported). The child prints
one ``RESULT {json}`` line. ``--batch`` runs several jobs in one child (the CI smoke test uses it to
pay for one interpreter start only; peak memory is then not per contender and is not reported).

This module imports only the standard library at the top, so the child runs in any environment
(the tf.keras one has no torch). Timings are only ever compared within one run.
"""

from __future__ import annotations

import importlib
import json
import math
import os
import re
import resource
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from typing import Any

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUSY_CPU_PCT = 25.0  # other processes using more than this much of one core make a run "busy"

_baseline_mb: float | None = None


# --------------------------------------------------------------------------- memory
def rss_mb() -> float:
    """Current resident memory of this process in MiB (Linux)."""
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def peak_rss_mb() -> float:
    """The high-water mark of this process's resident memory in MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def mark_baseline() -> None:
    """Contenders call this after importing their framework and before making data, so that
    peak memory counts the data, the model and training, not the framework's own import."""
    global _baseline_mb
    _baseline_mb = rss_mb()


# --------------------------------------------------------------------------- machine load
def _cpu_ticks() -> dict[int, tuple[str, int]]:
    ticks = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        # The command name is in parentheses and may itself hold spaces or parentheses.
        name = stat[stat.index("(") + 1 : stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2 :].split()
        ticks[int(entry)] = (name, int(fields[11]) + int(fields[12]))  # utime + stime
    return ticks


def _own_tree(pid: int) -> set[int]:
    """``pid``, its ancestors (they only wait for it) and its descendants; not the ancestors'
    other descendants, which may be anyone's (every shell shares the first ancestors)."""
    parents = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    stat = f.read()
                parents[int(entry)] = int(stat[stat.rindex(")") + 2 :].split()[1])
            except OSError:
                continue
    tree = {pid}
    grew = True
    while grew:
        grew = False
        for child, parent in parents.items():
            if parent in tree and child not in tree:
                tree.add(child)
                grew = True
    p = pid
    while parents.get(p, 0) > 1:
        p = parents[p]
        tree.add(p)
    return tree


def _cmdline(pid: int, width: int = 60) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            text = f.read().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return ""
    return text if len(text) <= width else text[: width - 3] + "..."


def machine_load(sample_s: float = 0.5) -> dict[str, Any]:
    """The 1-minute load average and the other processes that use the CPU right now.

    Other processes' CPU use is sampled over ``sample_s`` seconds from ``/proc``, leaving out
    this process, its ancestors and its children. ``busy`` is True when they use more than
    ``BUSY_CPU_PCT`` % of one core together: timings taken then are not to be trusted.
    """
    load1, load5, _ = os.getloadavg()
    out: dict[str, Any] = {
        "loadavg_1min": round(load1, 2),
        "loadavg_5min": round(load5, 2),
        "cpus": os.cpu_count(),
    }
    if not os.path.isdir("/proc"):
        return out
    mine = _own_tree(os.getpid())
    before = _cpu_ticks()
    t0 = time.perf_counter()
    time.sleep(sample_s)
    after = _cpu_ticks()
    elapsed = time.perf_counter() - t0
    hz = os.sysconf("SC_CLK_TCK")
    busy = []
    for pid, (name, t1) in after.items():
        if pid in mine or pid not in before:
            continue
        pct = 100.0 * (t1 - before[pid][1]) / hz / elapsed
        if pct >= 5:
            busy.append((round(pct), f"{_cmdline(pid) or name}[{pid}]"))
    busy.sort(reverse=True)
    out["others_cpu_pct"] = sum(p for p, _ in busy)
    out["busy_processes"] = [f"{name} {pct}%" for pct, name in busy[:5]]
    out["busy"] = out["others_cpu_pct"] > BUSY_CPU_PCT
    return out


# --------------------------------------------------------------------------- running
@dataclass
class Job:
    """One contender on one workload: what to import, which interpreter, which environment."""

    module: str
    contender: str
    args: dict[str, Any]
    python: str = sys.executable
    env: dict[str, str] = field(default_factory=dict)
    timeout: float = 1800


def _child_env(extra: dict[str, str]) -> dict[str, str]:
    env = dict(os.environ)
    # The checkout's bench/ and src/ (lamina) come first, installed or not.
    paths = [ROOT, os.path.join(ROOT, "src"), env.get("PYTHONPATH", "")]
    env["PYTHONPATH"] = os.pathsep.join(p for p in paths if p)
    env.update(extra)
    return env


def _parse_results(stdout: str) -> list[dict]:
    return [json.loads(line[7:]) for line in stdout.splitlines() if line.startswith("RESULT ")]


_EXCEPTION_LINE = re.compile(r"^[A-Za-z_][\w.]*(Error|Exception|Interrupt|Exit)\b")


def _failure(proc: subprocess.CompletedProcess) -> dict:
    """The exception line of a crashed child (not a hint that torch prints after it)."""
    lines = (proc.stderr or proc.stdout or "").strip().splitlines()
    for line in reversed(lines):
        if _EXCEPTION_LINE.match(line):
            return {"error": line[:300]}
    return {"error": lines[-1][:300] if lines else f"exit status {proc.returncode}"}


def run_job(job: Job) -> dict:
    """Run one job in its own interpreter; return its result dict (or ``{"error": ...}``)."""
    cmd = [job.python, "-m", "bench.harness", job.module, job.contender, json.dumps(job.args)]
    try:
        proc = subprocess.run(
            cmd,
            capture_output=True,
            text=True,
            timeout=job.timeout,
            cwd=ROOT,
            env=_child_env(job.env),
        )
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {job.timeout:.0f} s"}
    except OSError as e:
        return {"error": f"could not start {job.python}: {e}"}
    results = _parse_results(proc.stdout)
    if proc.returncode != 0 or not results:
        return _failure(proc)
    return results[-1]


def run_batch(jobs: list[Job], timeout: float = 1800) -> list[dict]:
    """Run several jobs one after another in one interpreter (same python and env for all)."""
    if not jobs:
        return []
    spec = [[j.module, j.contender, j.args] for j in jobs]
    cmd = [jobs[0].python, "-m", "bench.harness", "--batch", json.dumps(spec)]
    try:
        proc = subprocess.run(
            cmd,
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=ROOT,
            env=_child_env(jobs[0].env),
        )
    except subprocess.TimeoutExpired:
        return [{"error": f"timed out after {timeout:.0f} s"}] * len(jobs)
    results = _parse_results(proc.stdout)
    if len(results) < len(jobs):
        err = _failure(proc)
        results += [err] * (len(jobs) - len(results))
    return results


def run_contender(module: str, contender: str, args: dict[str, Any], timeout: int = 1800) -> dict:
    """Run ``bench.<module>.run_<contender>(args)`` in a fresh interpreter (kept for
    ``bench/mlp.py``)."""
    return run_job(Job(module, contender, args, timeout=timeout))


def interleave(module: str, contenders: list[str], args: dict[str, Any], repeats: int) -> dict:
    """Run every contender ``repeats`` times, alternating, and collect the results."""
    results: dict[str, list[dict]] = {c: [] for c in contenders}
    for _ in range(repeats):
        for c in contenders:
            results[c].append(run_contender(module, c, args))
    return results


# ------------------------------------------------------------------ the per-workload scripts
def time_steps(epoch: Any, epochs: int, steps: Any, **extra: Any) -> dict[str, Any]:
    """A warm-up call of ``epoch``, then ``epochs`` timed ones; ``steps()`` counts the steps
    run so far. The best epoch's ms per step (bench/mlp.py, conv.py)."""
    epoch()  # warm-up epoch (allocations, lazy builds)
    times = []
    for _ in range(epochs):
        before = steps()
        t = time.perf_counter()
        epoch()
        times.append((time.perf_counter() - t) / max(1, steps() - before) * 1000)
    return {"ms_per_step": min(times), **extra}


def lamina_fit_epoch(model: Any, x: Any, y: Any, batch: int) -> tuple[Any, Any]:
    """``(epoch, steps)`` for :func:`time_steps`: one ``model.fit`` epoch, and the number of
    steps the fits have run."""
    import lamina

    count = [0]

    class Count(lamina.callbacks.Callback):
        def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
            count[0] += self.params["steps"]

    def epoch() -> None:
        model.fit(x, y, batch_size=batch, epochs=1, verbose=0, callbacks=[Count()])

    return epoch, lambda: count[0]


# --------------------------------------------------------------------------- summarizing
def summarize(results: dict[str, list[dict]], key: str, reference: str) -> list[dict]:
    """One row per contender: median, min, max of ``key`` over its runs, the ratio of medians
    to ``reference``'s, median peak memory and its ratio; skipped or failed contenders keep
    their note."""

    def median_of(runs: list[dict], k: str) -> float | None:
        vals = [r[k] for r in runs if r.get(k) is not None]
        return statistics.median(vals) if vals else None

    ref_runs = [r for r in results.get(reference, []) if key in r]
    ref = median_of(ref_runs, key)
    ref_mem = median_of(ref_runs, "peak_mb")
    rows = []
    for name, runs in results.items():
        ok = [r for r in runs if key in r]
        if not ok:
            first = runs[0] if runs else {}
            if "skipped" in first:
                rows.append({"contender": name, "skipped": first["skipped"]})
            else:
                rows.append({"contender": name, "error": first.get("error", "not run")})
            continue
        values = [r[key] for r in ok]
        med = statistics.median(values)
        mem = median_of(ok, "peak_mb")
        row = {
            "contender": name,
            "median": med,
            "min": min(values),
            "max": max(values),
            "runs": len(ok),
            "ratio": med / ref if ref else None,
            "peak_mb": mem,
            "mem_ratio": mem / ref_mem if mem is not None and ref_mem else None,
            "warmup_extra_s": median_of(ok, "warmup_extra_s"),
            "minor_page_faults": median_of(ok, "minor_page_faults"),
            "system_cpu_s": median_of(ok, "system_cpu_s"),
            "busy": any(r.get("load", {}).get("busy") for r in ok),
            "load": [r.get("load", {}).get("loadavg_1min") for r in ok],
        }
        row.update({k: v for k, v in ok[0].items() if k.startswith("info_")})
        if len(ok) < len(runs):
            row["failed_runs"] = len(runs) - len(ok)
        rows.append(row)
    return rows


def _fmt(value: float | None, spec: str, width: int) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return f"{'-':>{width}}"
    return f"{value:>{width}{spec}}"


def print_table(title: str, rows: list[dict], unit: str, file: Any = None) -> None:
    """Print one workload's rows as an aligned table (``!`` marks runs on a busy machine)."""
    out = file or sys.stdout
    print(f"\n{title}", file=out)
    print(
        f"{'contender':<16}{'median ' + unit:>15}{'min - max':>21}{'ratio':>8}"
        f"{'peak MiB':>10}{'mem ratio':>10}{'warm-up s':>10}  notes",
        file=out,
    )
    for r in rows:
        if "skipped" in r or "error" in r:
            what = "skipped" if "skipped" in r else "FAILED"
            print(f"{r['contender']:<16}  {what}: {r.get('skipped') or r.get('error')}", file=out)
            continue
        rng = f"{r['min']:.2f} - {r['max']:.2f}"
        notes = r.get("note", "")
        if r.get("busy"):
            notes = ("! busy machine " + notes).strip()
        if r.get("failed_runs"):
            notes += f" ({r['failed_runs']} run(s) failed)"
        print(
            f"{r['contender']:<16}{_fmt(r['median'], '.2f', 15)}{rng:>21}"
            f"{_fmt(r.get('ratio'), '.3f', 8)}{_fmt(r.get('peak_mb'), '.0f', 10)}"
            f"{_fmt(r.get('mem_ratio'), '.2f', 10)}{_fmt(r.get('warmup_extra_s'), '.1f', 10)}"
            f"  {notes}",
            file=out,
        )


# --------------------------------------------------------------------------- child side
class Skip(Exception):
    """Raised by a contender that cannot run here (a missing layer or package); the message
    says why and is shown in the table instead of a time."""


def _run_one(module: str, contender: str, args: dict[str, Any]) -> dict:
    global _baseline_mb
    _baseline_mb = None
    mod = importlib.import_module(f"bench.{module}")
    fn = getattr(mod, f"run_{contender}", None)
    if fn is None:
        return {"skipped": f"bench.{module} has no contender {contender!r}"}
    base = rss_mb()
    usage = resource.getrusage(resource.RUSAGE_SELF)
    start = time.perf_counter()
    try:
        out = fn(args)
    except Skip as e:
        return {"skipped": str(e)}
    out["wall_s"] = round(time.perf_counter() - start, 3)
    # the cost of the allocator mapping memory afresh (lamina/engine/allocator.py), whole run
    after = resource.getrusage(resource.RUSAGE_SELF)
    out["minor_page_faults"] = after.ru_minflt - usage.ru_minflt
    out["system_cpu_s"] = round(after.ru_stime - usage.ru_stime, 3)
    out["peak_mb"] = peak_rss_mb() - (_baseline_mb if _baseline_mb is not None else base)
    return out


def _child(module: str, contender: str, args_json: str) -> None:
    """Entry point inside the subprocess: run one contender, print one RESULT line."""
    print("RESULT " + json.dumps(_run_one(module, contender, json.loads(args_json))), flush=True)


def _child_batch(spec_json: str) -> None:
    """Run several contenders in this one process; peak memory is not per contender here."""
    for module, contender, args in json.loads(spec_json):
        try:
            out = _run_one(module, contender, args)
        except Exception as e:  # noqa: BLE001 - one failure must not hide the other results
            out = {"error": f"{type(e).__name__}: {e}"[:300]}
        out["peak_mb"] = None
        print("RESULT " + json.dumps(out), flush=True)


if __name__ == "__main__":
    # Run the code of the importable module, not of __main__, so that the Skip raised by a
    # contender (imported from bench.harness) is the class caught here.
    from bench import harness as _harness

    if sys.argv[1] == "--batch":
        _harness._child_batch(sys.argv[2])
    else:
        _harness._child(*sys.argv[1:4])
