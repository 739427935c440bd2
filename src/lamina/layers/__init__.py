"""Layers, re-exported by family. Each name is defined (and registered for saving) in its
family module.

Example:
    >>> from lamina import layers
    >>> layers.get("Dense")
    <class 'lamina.layers.core.Dense'>
"""

from typing import Any

from lamina.engine.layer import LAYERS, InputSpec as InputSpec, Layer as Layer
from lamina.layers.core import (
    Activation as Activation,
    ActivityRegularization as ActivityRegularization,
    Dense as Dense,
    Dropout as Dropout,
    Flatten as Flatten,
    Identity as Identity,
    Input as Input,
    InputLayer as InputLayer,
    Lambda as Lambda,
    Permute as Permute,
    RepeatVector as RepeatVector,
    Reshape as Reshape,
    SpatialDropout1D as SpatialDropout1D,
    TorchModuleWrapper as TorchModuleWrapper,
)
from lamina.layers.embedding import Embedding as Embedding, Masking as Masking
from lamina.layers.merging import (
    Add as Add,
    Average as Average,
    Concatenate as Concatenate,
    Dot as Dot,
    Maximum as Maximum,
    Minimum as Minimum,
    Multiply as Multiply,
    Subtract as Subtract,
    add as add,
    average as average,
    concatenate as concatenate,
    dot as dot,
    maximum as maximum,
    minimum as minimum,
    multiply as multiply,
    subtract as subtract,
)
from lamina.layers.preprocessing import (
    CategoryEncoding as CategoryEncoding,
    Discretization as Discretization,
    Hashing as Hashing,
    Imputer as Imputer,
    IntegerLookup as IntegerLookup,
    Normalization as Normalization,
    StringLookup as StringLookup,
    TextVectorization as TextVectorization,
)
from lamina.layers.recurrent import GRU as GRU, LSTM as LSTM, RNN as RNN, SimpleRNN as SimpleRNN
from lamina.layers.recurrent_cells import (
    GRUCell as GRUCell,
    LSTMCell as LSTMCell,
    SimpleRNNCell as SimpleRNNCell,
)
from lamina.layers.wrappers import (
    Bidirectional as Bidirectional,
    TimeDistributed as TimeDistributed,
)


def get(identifier: str) -> type:
    """The layer class registered under ``identifier`` (with a "did you mean" error)."""
    return LAYERS.lookup(identifier)


def serialize(layer: Layer) -> dict[str, Any]:
    """``{"class_name": ..., "config": ...}`` for a registered layer."""
    from lamina.engine.layer import serialize_value

    return serialize_value(layer)


def deserialize(
    data: dict[str, Any], custom_objects: dict | None = None, safe_mode: bool = True
) -> Layer:
    """Build a layer from :func:`serialize` output; only registered classes (or
    ``custom_objects``) can be built."""
    import inspect

    from lamina.errors import LoadError

    if not isinstance(data, dict) or "class_name" not in data:
        raise LoadError(
            f"A layer entry must be {{'class_name': ..., 'config': ...}}, got {data!r}."
        )
    name = data["class_name"]
    cls = (custom_objects or {}).get(name)
    if cls is None:
        try:
            cls = LAYERS.lookup(name)
        except ValueError as e:
            raise LoadError(
                f"Unknown layer class {name!r} in the saved model. If it is a custom layer, pass "
                f"custom_objects={{'{name}': {name}}} or register it. ({e})"
            ) from None
    config = dict(data.get("config") or {})
    params = inspect.signature(cls.from_config).parameters
    kwargs: dict[str, Any] = {}
    if "custom_objects" in params:
        kwargs["custom_objects"] = custom_objects
    if "safe_mode" in params:
        kwargs["safe_mode"] = safe_mode
    return cls.from_config(config, **kwargs)
