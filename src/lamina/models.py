"""Models: ``Sequential``, ``Model`` (functional API and subclassing), and loading.

Example:
    >>> from lamina import models, layers
    >>> model = models.Sequential([layers.Dense(2, input_shape=(3,))])
    >>> model.count_params()
    8
"""

from typing import Any

from lamina.engine.model import Model as Model
from lamina.engine.sequential import Sequential as Sequential


def load_model(
    filepath: str, custom_objects: dict | None = None, compile: bool = True, safe_mode: bool = True
) -> Any:
    """Load a model saved with ``model.save()`` (architecture, weights, optimizer state)."""
    from lamina.saving import load_model as _load

    return _load(filepath, custom_objects=custom_objects, compile=compile, safe_mode=safe_mode)


def clone_model(model: Model) -> Model:
    """A new model with the same architecture and freshly initialized weights."""
    from lamina.layers import deserialize

    return deserialize(
        {
            "class_name": type(model).__name__ if type(model).__name__ != "Model" else "Functional",
            "config": model.get_config(),
        }
    )
