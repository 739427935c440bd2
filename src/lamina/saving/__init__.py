"""Saving and loading models: one ``.lamina`` file (a zip of ``config.json`` and safetensors),
never pickle, validated before use. See ``docs/saving.md``.

Example:
    >>> import os, tempfile
    >>> from lamina import layers, models, saving
    >>> model = models.Sequential([layers.Dense(2, input_shape=(3,))])
    >>> path = os.path.join(tempfile.mkdtemp(), "model.lamina")
    >>> saving.save_model(model, path)
    >>> saving.load_model(path).count_params()
    8
"""

from lamina.errors import LoadError as LoadError
from lamina.saving._archive import LIMITS as LIMITS, Limits as Limits
from lamina.saving._model import (
    load_model as load_model,
    load_weights as load_weights,
    save_model as save_model,
    save_weights as save_weights,
)
from lamina.saving._objects import (
    custom_object_scope as custom_object_scope,
    get_custom_objects as get_custom_objects,
    get_registered_name as get_registered_name,
    register_keras_serializable as register_keras_serializable,
    register_serializable as register_serializable,
)

__all__ = [
    "save_model", "load_model", "save_weights", "load_weights", "register_serializable",
    "register_keras_serializable", "get_custom_objects", "get_registered_name",
    "custom_object_scope", "LIMITS", "Limits", "LoadError",
]  # fmt: skip
