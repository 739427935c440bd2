"""Layers, re-exported by family. Each name is defined (and registered for saving) in its
family module.

Example:
    >>> from lamina import layers
    >>> layers.get("Dense")
    <class 'lamina.layers.core.Dense'>
"""

from typing import Any

from lamina.engine.layer import LAYERS, InputSpec as InputSpec, Layer as Layer
from lamina.layers.convolutional import (
    Conv1D as Conv1D,
    Conv1DTranspose as Conv1DTranspose,
    Conv2D as Conv2D,
    Conv2DTranspose as Conv2DTranspose,
)
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
from lamina.layers.depthwise import (
    DepthwiseConv1D as DepthwiseConv1D,
    DepthwiseConv2D as DepthwiseConv2D,
    SeparableConv1D as SeparableConv1D,
    SeparableConv2D as SeparableConv2D,
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
from lamina.layers.normalization import (
    BatchNormalization as BatchNormalization,
    LayerNormalization as LayerNormalization,
)
from lamina.layers.pooling import (
    AveragePooling1D as AveragePooling1D,
    AveragePooling2D as AveragePooling2D,
    GlobalAveragePooling1D as GlobalAveragePooling1D,
    GlobalAveragePooling2D as GlobalAveragePooling2D,
    GlobalMaxPooling1D as GlobalMaxPooling1D,
    GlobalMaxPooling2D as GlobalMaxPooling2D,
    MaxPooling1D as MaxPooling1D,
    MaxPooling2D as MaxPooling2D,
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
from lamina.layers.reshaping import (
    Cropping1D as Cropping1D,
    Cropping2D as Cropping2D,
    SpatialDropout2D as SpatialDropout2D,
    UpSampling1D as UpSampling1D,
    UpSampling2D as UpSampling2D,
    ZeroPadding1D as ZeroPadding1D,
    ZeroPadding2D as ZeroPadding2D,
)
from lamina.layers.wrappers import (
    Bidirectional as Bidirectional,
    TimeDistributed as TimeDistributed,
)

# Keras's short names for the pooling layers.
AvgPool1D = AveragePooling1D
AvgPool2D = AveragePooling2D
GlobalAvgPool1D = GlobalAveragePooling1D
GlobalAvgPool2D = GlobalAveragePooling2D
GlobalMaxPool1D = GlobalMaxPooling1D
GlobalMaxPool2D = GlobalMaxPooling2D
MaxPool1D = MaxPooling1D
MaxPool2D = MaxPooling2D


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
