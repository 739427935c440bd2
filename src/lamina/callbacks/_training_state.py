"""The training-state file of :class:`~lamina.callbacks.BackupAndRestore`: nested state with
arrays in it to one safetensors file (arrays as tensors, the rest as JSON in the header, no
pickle), written atomically; and the random-number-generator states of torch, CUDA, NumPy and
Python ``random``.

Example:
    >>> import numpy as np
    >>> from lamina.callbacks._training_state import flatten, unflatten
    >>> tensors = {}
    >>> data = flatten({"wait": 2, "best_weights": [np.ones(2)]}, "es", tensors)
    >>> data["best_weights"], list(tensors)
    ([{'__array__': 'es.best_weights.0', 'kind': 'numpy'}], ['es.best_weights.0'])
    >>> unflatten(data, tensors)["best_weights"][0]
    array([1., 1.])
"""

from __future__ import annotations

import json
import os
import random
import tempfile
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

from lamina.errors import LoadError

__all__ = ["FORMAT", "flatten", "unflatten", "atomic_write", "read", "rng_state", "set_rng_state"]

FORMAT = 1
_META_KEY = "lamina_backup"


def flatten(obj: Any, key: str, tensors: dict[str, torch.Tensor]) -> Any:
    """JSON-able structure with each array replaced by a reference into ``tensors``."""
    if isinstance(obj, np.ndarray) or torch.is_tensor(obj):
        kind = "numpy" if isinstance(obj, np.ndarray) else "torch"
        t = torch.from_numpy(np.ascontiguousarray(obj)) if kind == "numpy" else obj.detach()
        tensors[key] = t.cpu().clone().contiguous()
        return {"__array__": key, "kind": kind}
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, Mapping):
        return {str(k): flatten(v, f"{key}.{k}", tensors) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [flatten(v, f"{key}.{i}", tensors) for i, v in enumerate(obj)]
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    raise TypeError(
        f"BackupAndRestore cannot store {key} = {obj!r}: state must be numbers, strings, "
        "lists, dicts and arrays."
    )


def unflatten(obj: Any, tensors: Mapping[str, torch.Tensor]) -> Any:
    """Inverse of :func:`flatten`: put the arrays back (NumPy or torch, as they were)."""
    if isinstance(obj, dict) and "__array__" in obj:
        t = tensors[obj["__array__"]]
        return t.numpy().copy() if obj.get("kind") == "numpy" else t.clone()
    if isinstance(obj, dict):
        return {k: unflatten(v, tensors) for k, v in obj.items()}
    if isinstance(obj, list):
        return [unflatten(v, tensors) for v in obj]
    return obj


def _fsync_dir(folder: str) -> None:
    if os.name != "posix":
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write(path: str, tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> None:
    """Write to a temporary file in the same folder, fsync it, rename it over ``path``."""
    from safetensors.torch import save_file

    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".backup-", suffix=".tmp", dir=folder)
    os.close(fd)
    try:
        save_file(tensors, tmp, metadata={_META_KEY: json.dumps(meta)})
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    _fsync_dir(folder)


def read(path: str) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """``(tensors, meta)`` of a file written by :func:`atomic_write`; a bad file is a
    :class:`~lamina.errors.LoadError`."""
    from safetensors import safe_open

    try:
        with safe_open(path, framework="pt") as f:
            meta = json.loads((f.metadata() or {})[_META_KEY])
            tensors = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118 - not a dict
    except Exception as e:  # noqa: BLE001 - any decoding failure means a damaged file
        raise LoadError(
            f"The training backup {path} cannot be read ({type(e).__name__}: {e}). Delete it "
            "to start training from the beginning."
        ) from e
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise LoadError(f"{path} is not a lamina training backup (format {FORMAT}).")
    return tensors, meta


# ---------------------------------------------------------------------- RNG states
def rng_state(tensors: dict[str, torch.Tensor], prefix: str) -> dict[str, Any]:
    """The generators' states now: tensors into ``tensors`` under ``prefix``, the rest
    returned as JSON-able data."""
    tensors[f"{prefix}.torch"] = torch.get_rng_state()
    n_cuda = 0
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        states = torch.cuda.get_rng_state_all()
        n_cuda = len(states)
        for i, s in enumerate(states):
            tensors[f"{prefix}.cuda.{i}"] = s
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    tensors[f"{prefix}.numpy"] = torch.from_numpy(keys.astype(np.int64))
    version, internal, gauss_next = random.getstate()
    return {
        "cuda": n_cuda,
        "numpy": [kind, int(pos), int(has_gauss), float(cached)],
        "python": [version, list(internal), gauss_next],
    }


def set_rng_state(tensors: Mapping[str, torch.Tensor], prefix: str, meta: dict) -> None:
    """Put back the states :func:`rng_state` recorded."""
    torch.set_rng_state(tensors[f"{prefix}.torch"])
    if meta["cuda"] and torch.cuda.is_available():
        states = [tensors[f"{prefix}.cuda.{i}"] for i in range(meta["cuda"])]
        torch.cuda.set_rng_state_all(states[: torch.cuda.device_count()])
    kind, pos, has_gauss, cached = meta["numpy"]
    keys = tensors[f"{prefix}.numpy"].numpy().astype(np.uint32)
    np.random.set_state((kind, keys, pos, has_gauss, cached))
    version, internal, gauss_next = meta["python"]
    random.setstate((version, tuple(internal), gauss_next))
