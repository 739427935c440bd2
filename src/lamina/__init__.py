"""lamina: the Keras programming model on PyTorch.

Example:
    >>> import lamina
    >>> model = lamina.Sequential([lamina.layers.Dense(1, input_shape=(2,))])
    >>> model.count_params()
    3
"""

from typing import Any

from lamina import (
    activations as activations,
    callbacks as callbacks,
    config as config,
    constraints as constraints,
    errors as errors,
    initializers as initializers,
    layers as layers,
    models as models,
    regularizers as regularizers,
    utils as utils,
)
from lamina.engine.layer import clear_session as clear_session
from lamina.errors import LaminaWarning as LaminaWarning
from lamina.layers import Input as Input
from lamina.models import Model as Model, Sequential as Sequential

__version__ = "0.1.0"

_LAZY_MODULES = (
    "losses",
    "metrics",
    "optimizers",
    "datasets",
    "text",
    "preprocessing",
    "saving",
    "workflow",
    "mixed_precision",
    "wrappers",
    "distributed",
)


def __getattr__(name: str) -> Any:
    if name in _LAZY_MODULES:
        import importlib

        return importlib.import_module(f"lamina.{name}")
    raise AttributeError(f"module 'lamina' has no attribute {name!r}")
