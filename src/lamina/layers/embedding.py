"""``Embedding`` (token ids to dense vectors) and ``Masking`` (skip padded timesteps).

Both produce a mask of shape ``(batch, timesteps)`` that travels with the output and makes the
recurrent layers after them skip the padded steps (their states stay unchanged there).

Example:
    >>> import torch
    >>> emb = Embedding(10, 4, mask_zero=True)
    >>> out = emb(torch.tensor([[3, 5, 0, 0]]))
    >>> out.shape, out._keras_mask
    (torch.Size([1, 4, 4]), tensor([[ True,  True, False, False]]))
"""

from __future__ import annotations

from typing import Any

import torch

from lamina import constraints, initializers, regularizers
from lamina.engine.layer import Layer, register_layer
from lamina.layers._embedding_conv1d import embed

__all__ = ["Embedding", "Masking"]


def _initializer(identifier: Any) -> Any:
    # Keras's "uniform" for embeddings is RandomUniform(-0.05, 0.05).
    if identifier == "uniform":
        return initializers.RandomUniform(-0.05, 0.05)
    if identifier == "normal":
        return initializers.RandomNormal(0.0, 0.05)
    return initializers.get(identifier)


@register_layer()
class Embedding(Layer):
    """Turns token ids (integers in ``[0, input_dim)``) into vectors of size ``output_dim``.

    Args:
        input_dim: vocabulary size (largest id + 1).
        output_dim: size of each vector.
        embeddings_initializer: default ``'uniform'``, i.e. ``RandomUniform(-0.05, 0.05)``.
        embeddings_regularizer / activity_regularizer / embeddings_constraint: as in Keras.
        mask_zero: id 0 is padding: the output carries the mask ``ids != 0`` so that recurrent
            layers skip those steps (id 0 then cannot be a real token).
        input_length: classic Keras: the fixed sequence length, so that a model starting with
            this layer is built at once (``summary()`` before training).
        weights: ``[matrix]`` of shape ``(input_dim, output_dim)`` to start from (pretrained
            embeddings); with ``trainable=False`` they stay as given.

    Input shape: ``(batch, ...)`` integer ids. Output shape: ``(batch, ..., output_dim)``.

    Ids outside ``[0, input_dim)`` raise a ``ValueError`` naming the layer and the id (checked
    on CPU; on GPU the check would wait for the device at every step, so it runs only on the
    first call).

    Example:
        >>> layer = Embedding(1000, 64)
        >>> layer(torch.randint(0, 1000, (32, 10))).shape, layer.count_params()
        (torch.Size([32, 10, 64]), 64000)
    """

    # Sequential builds an integer Input for a model whose first layer is an Embedding.
    input_dtype = "int64"

    def __init__(
        self,
        input_dim: int,
        output_dim: int,
        embeddings_initializer: Any = "uniform",
        embeddings_regularizer: Any = None,
        activity_regularizer: Any = None,
        embeddings_constraint: Any = None,
        mask_zero: bool = False,
        input_length: int | None = None,
        **kwargs: Any,
    ):
        weights = kwargs.pop("weights", None)
        if input_length is not None and "input_shape" not in kwargs:
            if "batch_input_shape" not in kwargs:
                kwargs["input_shape"] = (input_length,)
        super().__init__(**kwargs)
        for name, value in (("input_dim", input_dim), ("output_dim", output_dim)):
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise ValueError(f"Embedding {name} must be a positive integer, got {value!r}.")
        self.input_dim = input_dim
        self.output_dim = output_dim
        self.embeddings_initializer = _initializer(embeddings_initializer)
        self.embeddings_regularizer = regularizers.get(embeddings_regularizer)
        self.activity_regularizer = regularizers.get(activity_regularizer)
        self.embeddings_constraint = constraints.get(embeddings_constraint)
        self.mask_zero = mask_zero
        self.input_length = input_length
        self._initial_weights = weights
        self._checked_on_device = False

    def build(self, input_shape: Any = None) -> None:
        self.embeddings = self.add_weight(
            "embeddings",
            (self.input_dim, self.output_dim),
            self.embeddings_initializer,
            regularizer=self.embeddings_regularizer,
            constraint=self.embeddings_constraint,
        )
        if self._initial_weights is not None:
            self.set_weights(self._initial_weights)
            self._initial_weights = None

    def call(self, inputs: torch.Tensor) -> torch.Tensor:
        ids = inputs
        if ids.dtype not in (torch.int64, torch.int32):
            if ids.is_floating_point() and not torch.equal(ids, ids.round()):
                raise ValueError(
                    f"Layer '{self.name}' (Embedding) takes integer token ids, but received "
                    f"fractional values of dtype {ids.dtype}."
                )
            ids = ids.long()
        if (
            ids.numel()
            and (ids.device.type == "cpu" or not self._checked_on_device)
            and not torch.compiler.is_compiling()  # reading the range would break the graph
        ):
            self._check_ids(ids)
        # marked for a Conv1D that follows (layers/_embedding_conv1d.py)
        return embed(ids, self.embeddings)

    def _check_ids(self, ids: torch.Tensor) -> None:
        self._checked_on_device = ids.device.type != "cpu"
        low, high = torch.aminmax(ids)
        low, high = int(low), int(high)
        if low < 0 or high >= self.input_dim:
            bad = low if low < 0 else high
            raise ValueError(
                f"Layer '{self.name}' (Embedding) received token id {bad}, but input_dim is "
                f"{self.input_dim}, so ids must be in 0..{self.input_dim - 1}. Make input_dim "
                f"at least {high + 1} (the vocabulary size, counting padding and out-of-"
                "vocabulary ids), or limit the vocabulary (e.g. num_words= when loading or "
                "tokenizing)."
            )

    def compute_mask(self, inputs: Any, mask: Any = None) -> torch.Tensor | None:
        if not self.mask_zero:
            return None
        return inputs != 0

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        return (*input_shape, self.output_dim)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config["input_dim"] = self.input_dim  # the base class reserves this name
        return config


@register_layer()
class Masking(Layer):
    """Marks timesteps whose features all equal ``mask_value`` as padding.

    The output is the input with those steps set to 0, and carries the mask
    ``any(x != mask_value, axis=-1)`` for the layers that follow.

    Example:
        >>> x = torch.tensor([[[1.0, 2.0], [0.0, 0.0], [3.0, 0.0]]])
        >>> Masking()(x)._keras_mask
        tensor([[ True, False,  True]])
    """

    supports_masking = True

    def __init__(self, mask_value: float = 0.0, **kwargs: Any):
        super().__init__(**kwargs)
        self.mask_value = mask_value

    def call(self, inputs: torch.Tensor) -> torch.Tensor:
        keep = self.compute_mask(inputs)
        return inputs * keep.unsqueeze(-1).to(inputs.dtype)

    def compute_mask(self, inputs: Any, mask: Any = None) -> torch.Tensor:
        return (inputs != self.mask_value).any(dim=-1)

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        return input_shape
