"""Reproducibility: one seed for Python, NumPy and torch.

Example:
    >>> import torch
    >>> from lamina.utils import set_random_seed
    >>> set_random_seed(7); a = torch.rand(2)
    >>> set_random_seed(7); b = torch.rand(2)
    >>> torch.equal(a, b)
    True
"""

from __future__ import annotations

import random

import numpy as np
import torch

__all__ = ["set_random_seed"]


def set_random_seed(seed: int) -> None:
    """Seed Python's ``random``, NumPy and torch (CPU and CUDA), so that the same seed gives the
    same initial weights, the same shuffling and dropout masks, and on CPU the same training run.
    """
    if not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}.")
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
