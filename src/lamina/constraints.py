"""Weight constraints, applied to a weight after each optimizer step (Keras semantics).

Example:
    >>> import torch
    >>> from lamina import constraints
    >>> constraints.NonNeg()(torch.tensor([-1.0, 2.0]))
    tensor([0., 2.])
"""

from __future__ import annotations

from typing import Any

import torch

from lamina._registry import (
    Configurable,
    Registry,
    deserialize as _deserialize,
    serialize as _serialize,
)

__all__ = ["Constraint", "MaxNorm", "MinMaxNorm", "NonNeg", "UnitNorm", "get", "serialize"]

_REGISTRY = Registry("constraint")
register = _REGISTRY.register


class Constraint(Configurable):
    """Base class: ``constraint(weight) -> projected weight`` (Keras layout)."""

    def __call__(self, w: torch.Tensor) -> torch.Tensor:
        return w


@register("max_norm")
class MaxNorm(Constraint):
    """Rescales each slice along ``axis`` whose L2 norm exceeds ``max_value``.

    Example:
        >>> MaxNorm(1.0, axis=0)(torch.tensor([[3.0], [4.0]])).flatten()
        tensor([0.6000, 0.8000])
    """

    def __init__(self, max_value: float = 2.0, axis: int = 0):
        self.max_value, self.axis = max_value, axis

    def __call__(self, w):
        norms = w.square().sum(dim=self.axis, keepdim=True).sqrt()
        desired = norms.clamp(0, self.max_value)
        return w * (desired / (1e-7 + norms))


@register("min_max_norm")
class MinMaxNorm(Constraint):
    """Keeps slice norms in ``[min_value, max_value]``, moving ``rate`` of the way."""

    def __init__(
        self, min_value: float = 0.0, max_value: float = 1.0, rate: float = 1.0, axis: int = 0
    ):
        self.min_value, self.max_value, self.rate, self.axis = min_value, max_value, rate, axis

    def __call__(self, w):
        norms = w.square().sum(dim=self.axis, keepdim=True).sqrt()
        desired = self.rate * norms.clamp(self.min_value, self.max_value)
        desired = desired + (1 - self.rate) * norms
        return w * (desired / (1e-7 + norms))


@register("non_neg")
class NonNeg(Constraint):
    """Sets negative weights to zero."""

    def __call__(self, w):
        return w.clamp_min(0.0)


@register("unit_norm")
class UnitNorm(Constraint):
    """Scales each slice along ``axis`` to unit L2 norm."""

    def __init__(self, axis: int = 0):
        self.axis = axis

    def __call__(self, w):
        return w / (1e-7 + w.square().sum(dim=self.axis, keepdim=True).sqrt())


def get(identifier: Any) -> Constraint | None:
    """Resolve a constraint given by name, config dict, instance, callable or ``None``."""
    return _REGISTRY.resolve(identifier)


def serialize(c: Any) -> Any:
    """JSON-compatible form of a constraint (its name or ``{"class_name", "config"}``)."""
    return _serialize(c, _REGISTRY)


def deserialize(data: Any, custom_objects: dict | None = None) -> Any:
    """Inverse of :func:`serialize`; only registered classes or ``custom_objects`` are built."""
    obj = _deserialize(data, _REGISTRY, custom_objects)
    return obj() if isinstance(obj, type) else obj
