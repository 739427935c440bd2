"""Optimizers with Keras's names, arguments, defaults and formulas, running on torch kernels.

``get("rmsprop")`` (or a class name, a config dict, an optimizer, a ``torch.optim`` optimizer)
returns an optimizer; ``build(params)`` attaches it to parameters; ``step()`` applies
``p.grad``. See ``docs/optimizers.md``.

Example:
    >>> from lamina import optimizers
    >>> opt = optimizers.get("rmsprop")
    >>> opt
    RMSprop(learning_rate=0.001)
    >>> optimizers.deserialize(optimizers.serialize(opt)).rho
    0.9
"""

from __future__ import annotations

from typing import Any

import torch

from lamina import _registry
from lamina.optimizers import kernels as kernels, schedules as schedules
from lamina.optimizers.adam import Adam as Adam, Adamax as Adamax, AdamW as AdamW, Nadam as Nadam
from lamina.optimizers.base import OPTIMIZERS as OPTIMIZERS, Optimizer as Optimizer
from lamina.optimizers.optimizers import (
    SGD as SGD,
    Adadelta as Adadelta,
    Adagrad as Adagrad,
    Ftrl as Ftrl,
    Lion as Lion,
    RMSprop as RMSprop,
)
from lamina.optimizers.torch_optimizer import TorchOptimizer as TorchOptimizer

__all__ = [
    "Optimizer", "SGD", "RMSprop", "Adam", "AdamW", "Adagrad", "Adadelta", "Adamax", "Nadam",
    "Ftrl", "Lion", "TorchOptimizer", "OPTIMIZERS", "get", "serialize", "deserialize",
    "schedules", "kernels",
]  # fmt: skip


def serialize(optimizer: Optimizer) -> dict[str, Any]:
    """``{"class_name": ..., "config": ...}`` (JSON-compatible) for an optimizer.

    Example:
        >>> serialize(SGD(learning_rate=0.1))["config"]["learning_rate"]
        0.1
    """
    return _registry.serialize(optimizer, OPTIMIZERS)


def deserialize(config: dict[str, Any], custom_objects: dict[str, Any] | None = None) -> Optimizer:
    """Rebuild an optimizer from :func:`serialize` output; only registered classes are built.

    Example:
        >>> deserialize({"class_name": "Adam", "config": {"learning_rate": 0.01}}).learning_rate
        0.01
    """
    return _registry.deserialize(config, OPTIMIZERS, custom_objects)


def get(identifier: Any) -> Optimizer:
    """An optimizer from a name (``"adam"``, ``"RMSprop"``), a config dict, an instance, a
    ``torch.optim.Optimizer`` instance or class (wrapped in :class:`TorchOptimizer`).

    Example:
        >>> get("adamw").weight_decay
        0.004
    """
    if isinstance(identifier, Optimizer):
        return identifier
    if isinstance(identifier, torch.optim.Optimizer):
        return TorchOptimizer(identifier)
    if isinstance(identifier, type) and issubclass(identifier, torch.optim.Optimizer):
        return TorchOptimizer(identifier)
    if isinstance(identifier, type) and issubclass(identifier, Optimizer):
        return identifier()
    if isinstance(identifier, str):
        return OPTIMIZERS.lookup(identifier)()
    if isinstance(identifier, dict):
        return deserialize(identifier)
    raise TypeError(
        f"Could not interpret optimizer identifier {identifier!r}: pass a name such as 'rmsprop', "
        "a lamina Optimizer, a torch.optim.Optimizer, or a dict from optimizers.serialize()."
    )
