"""The lamina contenders: the Keras-API models of ``keras_api.py`` with ``lamina`` as the
framework, trained by the default ``fit`` (``run_lamina``), with ``compile(jit_compile=True)``
(``run_lamina_jit``), or (on a GPU, ``bench/gpu.sh``) compiled with the ``mixed_bfloat16`` policy
(``run_lamina_bf16_jit``). ``args['device']`` (default: lamina's automatic choice) picks the
device."""

from __future__ import annotations

from typing import Any

from bench.harness import Skip
from bench.workloads import keras_api


def _run(args: dict, jit_compile: bool, policy: str | None = None) -> dict[str, Any]:
    import torch

    import lamina

    torch.manual_seed(0)
    if args.get("device"):
        lamina.config.set_device(args["device"])
    if policy is not None:
        try:
            mixed_precision = lamina.mixed_precision
        except (AttributeError, ImportError) as e:
            raise Skip(f"lamina.mixed_precision does not exist yet ({e})") from e
        mixed_precision.set_global_policy(policy)
    sync = torch.cuda.synchronize if str(lamina.config.get_device()).startswith("cuda") else None
    out = keras_api.run(lamina, args, jit_compile=jit_compile, sync=sync)
    out["info_threads"] = torch.get_num_threads()
    out["info_device"] = str(lamina.config.get_device())
    if torch.cuda.is_available() and "cuda" in out["info_device"]:
        out["gpu_peak_mb"] = torch.cuda.max_memory_allocated() / 2**20
    return out


def run_lamina(args: dict) -> dict:
    """lamina's default ``fit`` / ``predict``, no compile flag."""
    return _run(args, jit_compile=False)


def run_lamina_jit(args: dict) -> dict:
    """lamina with ``compile(jit_compile=True)`` (``torch.compile`` around the train step)."""
    return _run(args, jit_compile=True)


def run_lamina_bf16_jit(args: dict) -> dict:
    """lamina compiled, under the ``mixed_bfloat16`` policy (GPU suite)."""
    return _run(args, jit_compile=True, policy="mixed_bfloat16")
