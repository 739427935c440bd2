"""Data-parallel training on ``torch.distributed``, launched by ``torchrun``.

The user's ``fit`` call does not change. Under ``torchrun --nproc_per_node=N script.py`` lamina
initializes the process group (NCCL on GPUs, gloo on CPU), wraps the model in
``DistributedDataParallel``, gives each process its share of every batch of the epoch's
shuffled indices (``batch_size`` is the global batch), sums metrics over all processes so each
reports the global values, and lets only rank 0 print and write files.

Example:
    >>> from lamina import distributed
    >>> distributed.world_size(), distributed.rank(), distributed.is_main_process()
    (1, 0, True)
"""

from __future__ import annotations

import os
from typing import Any

import torch
import torch.distributed as dist

__all__ = [
    "is_distributed",
    "world_size",
    "rank",
    "local_rank",
    "is_main_process",
    "initialize",
    "all_reduce_sum",
    "all_gather_cat",
    "barrier",
    "broadcast_object",
]


def _launched() -> bool:
    """True inside a process started by torchrun (or any launcher setting WORLD_SIZE > 1)."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def is_distributed() -> bool:
    """True when several processes train together."""
    return (dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1) or (
        _launched()
    )


def world_size() -> int:
    if dist.is_available() and dist.is_initialized():
        return dist.get_world_size()
    return int(os.environ.get("WORLD_SIZE", "1"))


def rank() -> int:
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank()
    return int(os.environ.get("RANK", "0"))


def local_rank() -> int:
    return int(os.environ.get("LOCAL_RANK", "0"))


def is_main_process() -> bool:
    """Rank 0 prints, writes checkpoints and logs; the others stay quiet."""
    return rank() == 0


def initialize(backend: str | None = None) -> bool:
    """Start the process group if torchrun launched us and nobody started it yet.

    Returns True when training is distributed. NCCL is used when CUDA is available, else gloo.
    """
    if not _launched() or not dist.is_available():
        return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1
    if not dist.is_initialized():
        if backend is None:
            backend = "nccl" if torch.cuda.is_available() else "gloo"
        if backend == "nccl":
            torch.cuda.set_device(local_rank())
        dist.init_process_group(backend=backend)
    return dist.get_world_size() > 1


def device() -> torch.device:
    """This process's device: its local GPU under NCCL, else the CPU."""
    if torch.cuda.is_available() and dist.is_initialized() and dist.get_backend() == "nccl":
        return torch.device("cuda", local_rank())
    from lamina import config

    return config.get_device()


def all_reduce_sum(tensors: list[torch.Tensor]) -> None:
    """Sum each tensor over all processes, in place (one collective for all of them)."""
    if not tensors or not (dist.is_available() and dist.is_initialized()):
        return
    flat = torch.cat([t.reshape(-1).to(torch.float64) for t in tensors])
    dist.all_reduce(flat, op=dist.ReduceOp.SUM)
    offset = 0
    for t in tensors:
        n = t.numel()
        t.copy_(flat[offset : offset + n].reshape(t.shape).to(t.dtype))
        offset += n


def all_gather_cat(tensor: torch.Tensor) -> torch.Tensor:
    """Concatenate a tensor's rows from all processes (rows may differ in number)."""
    if not (dist.is_available() and dist.is_initialized()):
        return tensor
    sizes = [torch.zeros(1, dtype=torch.long, device=tensor.device) for _ in range(world_size())]
    dist.all_gather(sizes, torch.tensor([tensor.shape[0]], device=tensor.device))
    largest = int(max(s.item() for s in sizes))
    padded = torch.zeros((largest, *tensor.shape[1:]), dtype=tensor.dtype, device=tensor.device)
    padded[: tensor.shape[0]] = tensor
    gathered = [torch.zeros_like(padded) for _ in range(world_size())]
    dist.all_gather(gathered, padded)
    return torch.cat([g[: int(s.item())] for g, s in zip(gathered, sizes)])


def barrier() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.barrier()


def broadcast_object(obj: Any, src: int = 0) -> Any:
    """Rank ``src``'s value of a small Python object on every process."""
    if not (dist.is_available() and dist.is_initialized()):
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=src)
    return box[0]
