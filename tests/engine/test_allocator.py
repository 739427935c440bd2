"""lamina's malloc settings (lamina/engine/allocator.py): after the first fit, a large CPU
buffer that is freed and allocated again comes back without page faults; with
LAMINA_MALLOC_TUNING=0 malloc is left alone. Each case runs in a fresh interpreter, since the
settings are process-wide."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys

import pytest

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc",
    reason="the settings exist for glibc's malloc only",
)

SCRIPT = """
import json, resource
import numpy as np, torch
import lamina
from lamina.engine import allocator

def faults(cycles=4):
    start = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(cycles):
        buffer = torch.empty(12 << 20)  # 48 MiB: above glibc's largest automatic threshold
        buffer.fill_(1.0)  # touch every page
        del buffer
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - start

before = faults()
model = lamina.Sequential([lamina.layers.Input((2,)), lamina.layers.Dense(1)])
model.compile("sgd", "mse")
model.fit(np.zeros((4, 2), np.float32), np.zeros((4, 1), np.float32), verbose=0)
faults(2)  # the first buffers after the change are new heap memory
print(json.dumps({"before": before, "after": faults(), "applied": allocator.tune_malloc()}))
"""


def run(env_value: str | None) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    env.pop("LAMINA_MALLOC_TUNING", None)
    if env_value is not None:
        env["LAMINA_MALLOC_TUNING"] = env_value
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, check=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_fit_keeps_large_buffers_for_reuse():
    got = run(None)
    pages = 4 * (48 << 20) // 4096  # four 48 MiB buffers, 4 KiB pages
    assert got["applied"] is True
    assert got["before"] > pages // 2  # glibc's default: every buffer is mapped afresh
    # reused from the heap (glibc now and then maps one buffer afresh: allow one of four)
    assert got["after"] < pages // 3


def test_opt_out_leaves_malloc_alone():
    got = run("0")
    pages = 4 * (48 << 20) // 4096
    assert got["applied"] is False
    assert got["after"] > pages // 2
