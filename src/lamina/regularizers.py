"""Weight regularizers: penalties added to the training loss (Keras names and defaults).

A regularizer is called on a weight in Keras layout and returns a scalar tensor. Layers take
them as ``kernel_regularizer=``, ``bias_regularizer=``, ``activity_regularizer=``; the penalties
of a model appear in ``model.losses`` and are added to the loss ``fit`` minimizes.

Example:
    >>> import torch
    >>> from lamina import regularizers
    >>> round(float(regularizers.l2(0.01)(torch.ones(3, 2))), 6)
    0.06
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

__all__ = [
    "Regularizer",
    "L1",
    "L2",
    "L1L2",
    "OrthogonalRegularizer",
    "l1",
    "l2",
    "l1_l2",
    "orthogonal_regularizer",
    "get",
    "serialize",
    "deserialize",
]

_REGISTRY = Registry("regularizer")
register = _REGISTRY.register


class Regularizer(Configurable):
    """Base class: ``reg(weight) -> scalar tensor``."""

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError


def _check_factor(name: str, value: float) -> float:
    value = float(value)
    if value < 0:
        raise ValueError(f"The {name} regularization factor must be >= 0, got {value}.")
    return value


@register("L1L2", "l1_l2")
class L1L2(Regularizer):
    """``l1 * sum(|w|) + l2 * sum(w**2)``."""

    def __init__(self, l1: float = 0.0, l2: float = 0.0):
        self.l1 = _check_factor("l1", l1)
        self.l2 = _check_factor("l2", l2)

    def __call__(self, x):
        total = x.new_zeros(())
        if self.l1:
            total = total + self.l1 * x.abs().sum()
        if self.l2:
            total = total + self.l2 * x.square().sum()
        return total


@register("l1")
class L1(Regularizer):
    """``l1 * sum(|w|)`` (Keras default factor 0.01)."""

    def __init__(self, l1: float = 0.01):
        self.l1 = _check_factor("l1", l1)

    def __call__(self, x):
        return self.l1 * x.abs().sum()


@register("l2")
class L2(Regularizer):
    """``l2 * sum(w**2)`` (Keras default factor 0.01; no factor 1/2).

    Example:
        >>> float(L2(0.5)(torch.tensor([1.0, 2.0])))
        2.5
    """

    def __init__(self, l2: float = 0.01):
        self.l2 = _check_factor("l2", l2)

    def __call__(self, x):
        return self.l2 * x.square().sum()


@register("orthogonal_regularizer")
class OrthogonalRegularizer(Regularizer):
    """Pushes the rows (or columns) of a 2D weight towards orthonormality.

    ``factor * mean(|off-diagonal of normalized W W^T|)`` as in Keras, with ``mode='rows'`` or
    ``'columns'``.
    """

    def __init__(self, factor: float = 0.01, mode: str = "rows"):
        if mode not in ("rows", "columns"):
            raise ValueError(f"mode must be 'rows' or 'columns', got {mode!r}.")
        self.factor = _check_factor("factor", factor)
        self.mode = mode

    def __call__(self, x):
        if x.dim() != 2:
            raise ValueError(
                f"OrthogonalRegularizer applies to 2D weights; got shape {tuple(x.shape)}."
            )
        if self.mode == "columns":
            x = x.T
        x = x / x.norm(dim=1, keepdim=True).clamp_min(1e-12)
        product = x @ x.T
        size = product.shape[0]
        if size <= 1:
            return x.new_zeros(())
        off_diagonal = product - torch.diag(torch.diagonal(product))
        return self.factor * off_diagonal.abs().sum() / (size * (size - 1))


def l1(l1: float = 0.01) -> L1:
    """L1 penalty (classic Keras function name)."""
    return L1(l1)


def l2(l2: float = 0.01) -> L2:
    """L2 penalty (classic Keras function name)."""
    return L2(l2)


def l1_l2(l1: float = 0.01, l2: float = 0.01) -> L1L2:
    """Both penalties (classic Keras defaults 0.01 each)."""
    return L1L2(l1, l2)


orthogonal_regularizer = OrthogonalRegularizer


def get(identifier: Any) -> Regularizer | None:
    """Resolve a regularizer given by name, config dict, instance, callable or ``None``."""
    return _REGISTRY.resolve(identifier)


def serialize(reg: Any) -> Any:
    """JSON-compatible form of a regularizer (its name or ``{"class_name", "config"}``)."""
    return _serialize(reg, _REGISTRY)


def deserialize(data: Any, custom_objects: dict | None = None) -> Any:
    """Inverse of :func:`serialize`; only registered classes or ``custom_objects`` are built."""
    obj = _deserialize(data, _REGISTRY, custom_objects)
    return obj() if isinstance(obj, type) else obj
