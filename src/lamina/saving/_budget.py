"""A cap on what torch may allocate while a saved architecture is built.

A config is data from the file: ``Dense(units=2**40)`` must not make ``load_model`` allocate and
fill terabytes. While the architecture is built, torch factory calls (``torch.empty``,
``zeros``, ``randn`` ...) are counted and refused, before any memory is touched, once they
would pass a budget derived from the size of the weights file.

Example:
    >>> import torch
    >>> from lamina.saving._budget import AllocationBudget
    >>> with AllocationBudget(100):
    ...     torch.zeros(10, 20)
    Traceback (most recent call last):
    ...
    lamina.errors.LoadError: Building the saved architecture would allocate more than 100 values...
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch.overrides import TorchFunctionMode

from lamina.errors import LoadError

__all__ = ["AllocationBudget"]

_FACTORIES = {
    torch.empty,
    torch.zeros,
    torch.ones,
    torch.full,
    torch.rand,
    torch.randn,
    torch.randint,
    torch.eye,
    torch.empty_strided,
}
_NEW = {
    torch.Tensor.new_empty,
    torch.Tensor.new_zeros,
    torch.Tensor.new_ones,
    torch.Tensor.new_full,
}


def _requested(func: Any, args: tuple, kwargs: dict) -> int:
    """Number of values a torch factory call asks for (0 if it cannot tell)."""
    rest = args[1:] if func in _NEW else args
    size = kwargs.get("size")
    if size is None:
        seqs = [a for a in rest if isinstance(a, (tuple, list, torch.Size))]
        ints = [a for a in rest if isinstance(a, int) and not isinstance(a, bool)]
        if seqs:
            size = seqs[0]
        elif func is torch.eye:
            size = (ints[0], ints[1] if len(ints) > 1 else ints[0]) if ints else ()
        else:
            size = ints
    try:
        return max(0, math.prod(int(d) for d in size))
    except (TypeError, ValueError):
        return 0


class AllocationBudget(TorchFunctionMode):
    """Refuses torch factory calls beyond a budget of values, before the memory is touched:
    a hostile config cannot make loading allocate far more than the weights file holds."""

    def __init__(self, budget: int):
        super().__init__()
        self.budget, self.used = budget, 0

    def __torch_function__(self, func: Any, types: Any, args: tuple = (), kwargs: Any = None):
        kwargs = kwargs or {}
        if func in _FACTORIES or func in _NEW:
            self.used += _requested(func, args, kwargs)
            if self.used > self.budget:
                raise LoadError(
                    f"Building the saved architecture would allocate more than {self.budget} "
                    "values, far more than its weights file holds: the config does not match the "
                    "weights (raise lamina.saving.LIMITS.build_margin_elements only for a file "
                    "you trust)."
                )
        return func(*args, **kwargs)
