"""``Hashing``: strings or integers to one of ``num_bins`` bins by a stable hash.

The hash is :func:`lamina.text.stable_hash` (MD5 of the value's UTF-8 text), so a value lands in
the same bin in every process and on every machine. Keras uses FarmHash64 (SipHash64 with a
salt), which lamina does not reimplement: **bins differ from Keras's**, so a model trained with
Keras's ``Hashing`` cannot reuse its bins here. Integers are hashed as their decimal text and
floats are first truncated to integers, as Keras does.

Example:
    >>> from lamina.layers.preprocessing import Hashing
    >>> Hashing(num_bins=3)([["A"], ["B"], ["C"], ["D"], ["E"]]).tolist()
    [[1], [1], [1], [2], [1]]
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from lamina import config
from lamina.engine.layer import register_layer
from lamina.layers.preprocessing._common import (
    PreprocessingLayer,
    StringBatch,
    check_choice,
)
from lamina.layers.preprocessing.category_encoding import encode_categorical, encoded_shape
from lamina.text.hashing import stable_hash

__all__ = ["Hashing"]


@register_layer()
class Hashing(PreprocessingLayer):
    """Hashes strings or integers into ``num_bins`` bins (stable across processes).

    Args:
        num_bins: Number of bins, including the mask bin when ``mask_value`` is set.
        mask_value: A value mapped to bin 0; the others then use bins ``1 .. num_bins - 1``.
        salt: An integer or a pair of integers mixed into the hash, which changes every bin
            (Keras switches to SipHash; lamina prefixes the salt to the hashed text).
        output_mode: ``"int"`` (bin ids, ``int64``), ``"one_hot"``, ``"multi_hot"`` or
            ``"count"``.
        sparse: Encoded modes only: return sparse COO tensors.

    Input: strings (list or NumPy array) or an integer tensor, any shape. Output: bin ids of the
    same shape, or encodings ``num_bins`` wide (see :class:`CategoryEncoding`).

    Example:
        >>> layer = Hashing(num_bins=3, mask_value="")
        >>> layer([["A"], [""], ["C"]]).tolist()
        [[2], [0], [2]]
    """

    input_dtype = "string"

    def __init__(
        self,
        num_bins: int,
        mask_value: Any = None,
        salt: int | list[int] | tuple[int, int] | None = None,
        output_mode: str = "int",
        sparse: bool = False,
        **kwargs: Any,
    ):
        super().__init__(**kwargs)
        if isinstance(num_bins, bool) or not isinstance(num_bins, int) or num_bins <= 0:
            raise ValueError(f"Hashing: num_bins must be a positive integer, got {num_bins!r}.")
        check_choice(
            "Hashing", "output_mode", output_mode, ("int", "one_hot", "multi_hot", "count")
        )
        if sparse and output_mode == "int":
            raise ValueError("Hashing: sparse=True needs an output_mode other than 'int'.")
        if salt is not None:
            ok = isinstance(salt, int) or (
                isinstance(salt, (list, tuple))
                and len(salt) == 2
                and all(isinstance(s, int) for s in salt)
            )
            if not ok or isinstance(salt, bool):
                raise ValueError(
                    f"Hashing: salt must be an integer or a pair of integers, got {salt!r}."
                )
        self.num_bins = num_bins
        self.mask_value = mask_value
        self.salt = list(salt) if isinstance(salt, tuple) else salt
        self.output_mode = output_mode
        self.sparse = sparse

    def _prefix(self) -> str:
        if self.salt is None:
            return ""
        pair = self.salt if isinstance(self.salt, list) else [self.salt, self.salt]
        return f"{pair[0]}:{pair[1]}:"

    def _values(self, inputs: Any) -> tuple[list[Any], tuple[int, ...]]:
        if isinstance(inputs, StringBatch):
            return inputs.array.reshape(-1).tolist(), inputs.shape
        arr = inputs.detach().cpu().numpy() if torch.is_tensor(inputs) else np.asarray(inputs)
        if arr.dtype.kind == "f":
            arr = arr.astype(np.int64)  # Keras truncates floats to integers before hashing
        if arr.dtype.kind not in "iub":
            raise TypeError(
                f"Layer '{self.name}' (Hashing) expects strings or integers, got dtype {arr.dtype}."
            )
        return arr.reshape(-1).tolist(), arr.shape

    def call(self, inputs: Any) -> torch.Tensor:
        values, shape = self._values(inputs)
        bins = self.num_bins
        masked = None
        if self.mask_value is not None and bins > 1:
            bins -= 1
            masked = [v == self.mask_value for v in values]
        prefix = self._prefix()
        ids = np.fromiter(
            (
                stable_hash(prefix + (v if isinstance(v, str) else str(int(v)))) % bins
                for v in values
            ),
            dtype=np.int64,
            count=len(values),
        )
        if masked is not None:
            ids = np.where(masked, 0, ids + 1)
        out = torch.as_tensor(ids.reshape(shape), device=self.output_device)
        if self.output_mode == "int":
            return out
        return encode_categorical(out, self.output_mode, self.num_bins, sparse=self.sparse)

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        return encoded_shape(input_shape, self.output_mode, self.num_bins)

    def output_dtype(self) -> str:
        return "int64" if self.output_mode == "int" else config.floatx()
