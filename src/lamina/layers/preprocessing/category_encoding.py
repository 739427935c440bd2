"""``CategoryEncoding``: integer ids to one-hot, multi-hot or count vectors, and the encoding
function the lookup, hashing and text layers share.

Rules (Keras's): ``one_hot`` encodes every element (a last axis of size 1 is replaced by the
encoding); ``multi_hot`` and ``count`` treat the last axis as one sample, so ``(..., length)``
becomes ``(..., num_tokens)``.

Example:
    >>> import torch
    >>> from lamina.layers.preprocessing import CategoryEncoding
    >>> CategoryEncoding(4, output_mode="multi_hot")(torch.tensor([[0, 1], [3, 3]]))
    tensor([[1., 1., 0., 0.],
            [0., 0., 0., 1.]])
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from lamina import config
from lamina.engine.layer import register_layer
from lamina.layers.preprocessing._common import PreprocessingLayer, check_choice

__all__ = ["CategoryEncoding", "encode_categorical"]

_MODES = ("one_hot", "multi_hot", "count")


def encode_categorical(
    ids: torch.Tensor,
    output_mode: str,
    depth: int,
    count_weights: torch.Tensor | None = None,
    idf_weights: torch.Tensor | None = None,
    sparse: bool = False,
    dtype: torch.dtype | None = None,
) -> torch.Tensor:
    """Encode integer ids in ``[0, depth)``; ids of ``-1`` are dropped (masked tokens).

    Args:
        ids: Integer tensor of any shape.
        output_mode: ``"one_hot"``, ``"multi_hot"``, ``"count"`` or ``"tf_idf"`` (counts times
            ``idf_weights``).
        depth: Size of the encoding axis.
        count_weights: Same shape as ``ids``: what each id adds in ``"count"`` mode.
        idf_weights: ``(depth,)`` weights for ``"tf_idf"``.
        sparse: Return a sparse COO tensor.
        dtype: Output dtype (default: floatx).

    Returns:
        The encoding, on the device of ``ids``.

    Example:
        >>> encode_categorical(torch.tensor([[0, 2, 2, -1]]), "count", 3)
        tensor([[1., 0., 2.]])
    """
    dtype = dtype or (count_weights.dtype if count_weights is not None else config.floatx_dtype())
    ids = ids.long()
    if ids.ndim == 0:
        ids = ids.reshape(1)
    if output_mode == "one_hot":
        if ids.ndim > 1 and ids.shape[-1] == 1:
            ids = ids.squeeze(-1)
        out = torch.zeros((*ids.shape, depth), dtype=dtype, device=ids.device)
        valid = ids >= 0
        out.scatter_(-1, ids.clamp(min=0).unsqueeze(-1), valid.unsqueeze(-1).to(dtype))
    else:
        lead = ids.shape[:-1]
        flat = ids.reshape(-1, ids.shape[-1]) if ids.shape[-1] else ids.reshape(-1, 0)
        valid = flat >= 0
        if count_weights is not None:
            weights = count_weights.to(dtype=dtype, device=ids.device).reshape(flat.shape)
        else:
            weights = torch.ones(flat.shape, dtype=dtype, device=ids.device)
        weights = weights * valid.to(dtype)
        out = torch.zeros((flat.shape[0], depth), dtype=dtype, device=ids.device)
        out.scatter_add_(1, flat.clamp(min=0), weights)
        if output_mode == "multi_hot":
            out = (out > 0).to(dtype)
        elif output_mode == "tf_idf":
            out = out * idf_weights.to(dtype=dtype, device=ids.device)
        out = out.reshape(*lead, depth)
    return out.to_sparse() if sparse else out


def check_id_range(ids: torch.Tensor, depth: int, where: str) -> None:
    """Raise a clear error when an id lies outside ``[0, depth)``."""
    if ids.numel() == 0:
        return
    low, high = int(ids.min()), int(ids.max())
    if low < 0 or high >= depth:
        bad = low if low < 0 else high
        raise ValueError(
            f"{where}: input value {bad} is outside [0, {depth}) (num_tokens={depth}). Every "
            "id must satisfy 0 <= id < num_tokens; use IntegerLookup or Hashing for ids whose "
            "range is not known in advance."
        )


@register_layer()
class CategoryEncoding(PreprocessingLayer):
    """Encodes integer ids in ``[0, num_tokens)`` as one-hot, multi-hot or count vectors.

    Args:
        num_tokens: The number of distinct ids; every input must satisfy
            ``0 <= id < num_tokens``, otherwise a ``ValueError`` names the bad value.
        output_mode: ``"multi_hot"`` (default: 1 for each id present in a sample, the last
            axis being the sample), ``"one_hot"`` (one vector per element) or ``"count"`` (how
            often each id occurs in a sample; ``count_weights`` in ``call`` weighs them).
        sparse: Return a sparse COO tensor instead of a dense one.

    Input shape: integer tensor ``(batch, ...)``. Output shape: ``(batch, num_tokens)`` for
    ``(batch, length)`` inputs; ``one_hot`` appends the encoding axis (replacing a last axis of
    size 1).

    Example:
        >>> CategoryEncoding(4, output_mode="one_hot")(torch.tensor([3, 0]))
        tensor([[0., 0., 0., 1.],
                [1., 0., 0., 0.]])
        >>> CategoryEncoding(3, output_mode="count")(
        ...     torch.tensor([[0, 1, 1]]), count_weights=torch.tensor([[0.5, 1.0, 2.0]]))
        tensor([[0.5000, 3.0000, 0.0000]])
    """

    supports_masking = False

    def __init__(
        self,
        num_tokens: int | None = None,
        output_mode: str = "multi_hot",
        sparse: bool = False,
        **kwargs: Any,
    ):
        super().__init__(**kwargs)
        if output_mode == "binary":
            output_mode = "multi_hot"
        check_choice("CategoryEncoding", "output_mode", output_mode, _MODES)
        if num_tokens is None:
            raise ValueError(
                "CategoryEncoding needs num_tokens (the number of distinct ids). If it is not "
                "known in advance, use IntegerLookup(output_mode=...) instead."
            )
        if (
            isinstance(num_tokens, bool)
            or not isinstance(num_tokens, (int, np.integer))
            or (num_tokens < 1)
        ):
            raise ValueError(f"CategoryEncoding: num_tokens must be >= 1, got {num_tokens!r}.")
        self.num_tokens = int(num_tokens)
        self.output_mode = output_mode
        self.sparse = sparse

    def call(self, inputs: torch.Tensor, count_weights: Any = None) -> torch.Tensor:
        if not torch.is_tensor(inputs):
            inputs = torch.as_tensor(np.asarray(inputs))
        if inputs.is_floating_point():
            if not torch.equal(inputs, inputs.round()):
                raise ValueError(
                    f"Layer '{self.name}' (CategoryEncoding) expects integer ids, got "
                    "non-integer floats."
                )
        elif inputs.dtype == torch.bool or inputs.is_complex():
            raise TypeError(f"Layer '{self.name}' (CategoryEncoding) expects integer ids.")
        check_id_range(inputs, self.num_tokens, f"Layer '{self.name}' (CategoryEncoding)")
        if count_weights is not None:
            if self.output_mode != "count":
                raise ValueError(
                    f"Layer '{self.name}': count_weights is only used with output_mode='count', "
                    f"not {self.output_mode!r}."
                )
            count_weights = torch.as_tensor(count_weights)
            if tuple(count_weights.shape) != tuple(inputs.shape):
                raise ValueError(
                    f"Layer '{self.name}': count_weights has shape {tuple(count_weights.shape)} "
                    f"but the inputs have shape {tuple(inputs.shape)}; they must match."
                )
        return encode_categorical(
            inputs, self.output_mode, self.num_tokens, count_weights, sparse=self.sparse
        )

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        return encoded_shape(input_shape, self.output_mode, self.num_tokens)


def encoded_shape(input_shape: tuple, output_mode: str, depth: int | None) -> tuple:
    """Output shape of :func:`encode_categorical` for an input shape."""
    input_shape = tuple(input_shape)
    if not input_shape:
        return (depth,)
    if output_mode == "one_hot":
        if len(input_shape) > 1 and input_shape[-1] == 1:
            return (*input_shape[:-1], depth)
        return (*input_shape, depth)
    if output_mode == "int":
        return input_shape
    return (*input_shape[:-1], depth)
