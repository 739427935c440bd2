"""``StringLookup`` and ``IntegerLookup``: map tokens to indices (and back) through a vocabulary
given or learned by ``adapt``, with Keras's reserved indices, OOV buckets and output modes.

Example:
    >>> from lamina.layers.preprocessing import StringLookup
    >>> layer = StringLookup(vocabulary=["a", "b", "c"])
    >>> layer([["a", "c"], ["d", "b"]])
    tensor([[1, 3],
            [0, 2]])
    >>> layer.get_vocabulary()
    ['[UNK]', 'a', 'b', 'c']
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
    as_string_array,
    check_choice,
    is_string_data,
    iter_batches,
)
from lamina.layers.preprocessing._vocabulary import Vocabulary, VocabularyMixin
from lamina.layers.preprocessing.category_encoding import encode_categorical, encoded_shape
from lamina.text.hashing import stable_hash

__all__ = ["IndexLookup", "StringLookup", "IntegerLookup"]

_MODES = ("int", "one_hot", "multi_hot", "count", "tf_idf")


def normalize_output_mode(layer: str, output_mode: str, allowed: tuple = _MODES) -> str:
    """Keras's old names (``binary``, ``tf-idf``) to the current ones, then validate."""
    output_mode = {"binary": "multi_hot", "tf-idf": "tf_idf"}.get(output_mode, output_mode)
    check_choice(layer, "output_mode", output_mode, allowed)
    return output_mode


class IndexLookup(VocabularyMixin, PreprocessingLayer):
    """Shared base of :class:`StringLookup` and :class:`IntegerLookup` (see those)."""

    def __init__(
        self,
        max_tokens: int | None,
        num_oov_indices: int,
        mask_token: Any,
        oov_token: Any,
        vocabulary: Any = None,
        idf_weights: Any = None,
        invert: bool = False,
        output_mode: str = "int",
        pad_to_max_tokens: bool = False,
        sparse: bool = False,
        **kwargs: Any,
    ):
        super().__init__(**kwargs)
        cls = type(self).__name__
        output_mode = normalize_output_mode(cls, output_mode)
        if max_tokens is not None and max_tokens <= 1:
            raise ValueError(f"{cls}: max_tokens must be greater than 1 or None, got {max_tokens}.")
        if pad_to_max_tokens and max_tokens is None:
            raise ValueError(f"{cls}: pad_to_max_tokens=True needs max_tokens.")
        if (
            isinstance(num_oov_indices, bool)
            or not isinstance(num_oov_indices, int)
            or (num_oov_indices < 0)
        ):
            raise ValueError(
                f"{cls}: num_oov_indices must be an integer >= 0, got {num_oov_indices!r}."
            )
        if invert and output_mode != "int":
            raise ValueError(f"{cls}: invert=True needs output_mode='int', got {output_mode!r}.")
        if sparse and output_mode == "int":
            raise ValueError(
                f"{cls}: sparse=True needs output_mode 'one_hot', 'multi_hot', 'count' or 'tf_idf'."
            )
        self.max_tokens = max_tokens
        self.num_oov_indices = num_oov_indices
        self.mask_token = mask_token
        self.oov_token = oov_token
        self.invert = invert
        self.output_mode = output_mode
        self.pad_to_max_tokens = pad_to_max_tokens
        self.sparse = sparse
        self._vocab = Vocabulary(
            f"Layer '{self.name}' ({cls})",
            max_tokens,
            num_oov_indices,
            mask_token,
            oov_token,
            output_mode,
            pad_to_max_tokens,
            self._oov_bucket,
            invert,
        )
        if vocabulary is not None:
            self._vocab.set(vocabulary, idf_weights)
        elif idf_weights is not None:
            raise ValueError(f"{cls}: idf_weights were given without a vocabulary.")

    def adapt(self, data: Any, batch_size: int | None = None, steps: int | None = None) -> None:
        """Build the vocabulary from ``data`` (the most frequent tokens; ties: higher token
        first). An array or list of shape ``(n,)`` is ``n`` documents, a ragged list of lists
        holds one document per inner list, and batches from an iterable are one document per
        row."""
        if (
            isinstance(data, (list, tuple))
            and data
            and all(isinstance(d, (list, tuple)) for d in data)
            and len({len(d) for d in data}) > 1
        ):  # ragged documents: one list of tokens each
            self._vocab.reset_counts()
            self._vocab.update(self._tokens_array(d).reshape(-1).tolist() for d in data)
            self._vocab.finalize()
            return
        direct = (
            isinstance(data, (np.ndarray, torch.Tensor))
            or is_string_data(data)
            or (isinstance(data, (list, tuple)) and not any(hasattr(b, "shape") for b in data))
        )
        if direct:
            data = self._tokens_array(data)
            if data.ndim <= 1:
                data = data.reshape(-1, 1)
        self._vocab.reset_counts()
        for batch in iter_batches(data, batch_size, steps, strings=self._strings):
            arr = self._tokens_array(batch)
            docs = (
                [arr.reshape(-1).tolist()]
                if arr.ndim <= 1
                else arr.reshape(arr.shape[0], -1).tolist()
            )
            self._vocab.update(docs)
        self._vocab.finalize()

    # ------------------------------------------------------------------ calling
    def call(self, inputs: Any) -> Any:
        if self.invert:
            ids = inputs if torch.is_tensor(inputs) else torch.as_tensor(np.asarray(inputs))
            if ids.is_floating_point() or ids.dtype == torch.bool:
                raise TypeError(f"Layer '{self.name}' (invert=True) expects integer indices.")
            return self._from_tokens(self._vocab.tokens_of(ids.reshape(-1).tolist()), ids.shape)
        tokens = self._tokens_array(inputs)
        ids = self._vocab.lookup(tokens.reshape(-1).tolist()).reshape(tokens.shape)
        ids = torch.as_tensor(ids, device=self.output_device)
        if self.output_mode == "int":
            return ids
        depth = self._vocab.depth()
        idf = None
        if self.output_mode == "tf_idf":
            idf = torch.as_tensor(self._vocab.idf_vector(), dtype=config.floatx_dtype())
        return encode_categorical(ids, self.output_mode, depth, idf_weights=idf, sparse=self.sparse)

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        if self.output_mode == "int":
            return tuple(input_shape)
        return encoded_shape(input_shape, self.output_mode, self._vocab.depth())

    def output_dtype(self) -> str:
        if self.invert:
            return self._invert_dtype
        return "int64" if self.output_mode == "int" else config.floatx()

    # ------------------------------------------------------------------ per vocabulary type
    _strings = True
    _invert_dtype = "string"

    def _oov_bucket(self, token: Any) -> int:
        raise NotImplementedError

    def _tokens_array(self, x: Any) -> np.ndarray:
        raise NotImplementedError

    def _from_tokens(self, tokens: list, shape: Any) -> Any:
        raise NotImplementedError


@register_layer()
class StringLookup(IndexLookup):
    """Maps strings to indices through a vocabulary (given, or learned by ``adapt``).

    Index layout (Keras's): the mask token (only if ``mask_token`` is set and
    ``output_mode="int"``), then ``num_oov_indices`` OOV indices, then the vocabulary, most
    frequent token first (ties: the larger string first). ``max_tokens`` counts all of them.

    Args:
        max_tokens: Largest vocabulary size, reserved indices included (``None``: no limit).
        num_oov_indices: Number of OOV indices; with more than one, unknown strings are spread
            over them by a stable MD5 hash (Keras uses FarmHash, so buckets differ); with 0,
            unknown strings raise an error.
        mask_token: Token mapped to index 0 in ``int`` mode and dropped in the other modes.
        oov_token: Token returned for OOV indices when ``invert=True`` (default ``"[UNK]"``).
        vocabulary: List of strings (reserved tokens may lead it); no need to ``adapt`` then.
        idf_weights: With ``output_mode="tf_idf"`` and a ``vocabulary``: one weight per entry.
        invert: Map indices back to strings (outputs a NumPy array of ``str``).
        output_mode: ``"int"``, ``"one_hot"``, ``"multi_hot"``, ``"count"`` or ``"tf_idf"``.
        pad_to_max_tokens: Make encoded outputs ``max_tokens`` wide.
        sparse: Return sparse COO tensors for the encoded modes.
        encoding: Text encoding used to decode ``bytes`` inputs.

    Example:
        >>> layer = StringLookup()
        >>> layer.adapt(["b", "a", "b", "c", "b", "a"])
        >>> layer.get_vocabulary()
        ['[UNK]', 'b', 'a', 'c']
        >>> StringLookup(vocabulary=["a", "b"], invert=True)(torch.tensor([[1, 2, 0]])).tolist()
        [['a', 'b', '[UNK]']]
    """

    input_dtype = "string"

    def __init__(
        self,
        max_tokens: int | None = None,
        num_oov_indices: int = 1,
        mask_token: str | None = None,
        oov_token: str = "[UNK]",
        vocabulary: Any = None,
        idf_weights: Any = None,
        invert: bool = False,
        output_mode: str = "int",
        pad_to_max_tokens: bool = False,
        sparse: bool = False,
        encoding: str = "utf-8",
        **kwargs: Any,
    ):
        super().__init__(
            max_tokens,
            num_oov_indices,
            mask_token,
            oov_token,
            vocabulary,
            idf_weights,
            invert,
            output_mode,
            pad_to_max_tokens,
            sparse,
            **kwargs,
        )
        self.encoding = encoding

    def _oov_bucket(self, token: Any) -> int:
        return stable_hash(token)

    def _tokens_array(self, x: Any) -> np.ndarray:
        if isinstance(x, StringBatch) or is_string_data(x):
            return as_string_array(x, self.encoding, where=f"Layer '{self.name}' (StringLookup)")
        raise TypeError(
            f"Layer '{self.name}' (StringLookup) expects strings, got "
            f"{type(x).__name__}{'' if not hasattr(x, 'dtype') else ' of dtype ' + str(x.dtype)}."
            " Use IntegerLookup for integer ids."
        )

    def _from_tokens(self, tokens: list, shape: Any) -> np.ndarray:
        out = np.empty(len(tokens), dtype=object)
        out[:] = tokens
        return out.reshape(tuple(shape))


@register_layer()
class IntegerLookup(IndexLookup):
    """Maps integers to indices through a vocabulary (given, or learned by ``adapt``).

    Same index layout and output modes as :class:`StringLookup`. With more than one OOV index an
    unknown value ``v`` goes to OOV index ``v mod num_oov_indices`` (Keras's default
    ``floormod``).

    Args:
        max_tokens, num_oov_indices, vocabulary, idf_weights, invert, output_mode,
        pad_to_max_tokens, sparse: As :class:`StringLookup`.
        mask_token: Integer mapped to index 0 in ``int`` mode (``None``: no mask index).
        oov_token: Integer returned for OOV indices when ``invert=True`` (default ``-1``).
        vocabulary_dtype: ``"int64"`` or ``"int32"``; the dtype of inverted outputs.

    Example:
        >>> layer = IntegerLookup()
        >>> layer.adapt(np.array([12, 36, 36, 1138]))
        >>> layer.get_vocabulary()
        [-1, 36, 1138, 12]
        >>> layer(torch.tensor([[12, 1138, 42]]))
        tensor([[3, 2, 0]])
    """

    input_dtype = "int64"
    _strings = False

    def __init__(
        self,
        max_tokens: int | None = None,
        num_oov_indices: int = 1,
        mask_token: int | None = None,
        oov_token: int = -1,
        vocabulary: Any = None,
        vocabulary_dtype: str = "int64",
        idf_weights: Any = None,
        invert: bool = False,
        output_mode: str = "int",
        sparse: bool = False,
        pad_to_max_tokens: bool = False,
        **kwargs: Any,
    ):
        check_choice("IntegerLookup", "vocabulary_dtype", vocabulary_dtype, ("int64", "int32"))
        for arg, value in (("mask_token", mask_token), ("oov_token", oov_token)):
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, (int, np.integer))
            ):
                raise ValueError(f"IntegerLookup: {arg} must be an integer or None, got {value!r}.")
        super().__init__(
            max_tokens,
            num_oov_indices,
            mask_token,
            oov_token,
            vocabulary,
            idf_weights,
            invert,
            output_mode,
            pad_to_max_tokens,
            sparse,
            **kwargs,
        )
        self.vocabulary_dtype = vocabulary_dtype

    @property
    def _invert_dtype(self) -> str:  # type: ignore[override]
        return self.vocabulary_dtype

    def _oov_bucket(self, token: Any) -> int:
        return int(token)

    def _tokens_array(self, x: Any) -> np.ndarray:
        arr = x.detach().cpu().numpy() if torch.is_tensor(x) else np.asarray(x)
        if arr.dtype.kind == "f" and np.array_equal(arr, np.round(arr)):
            arr = arr.astype(np.int64)
        if arr.dtype.kind not in "iu":
            raise TypeError(
                f"Layer '{self.name}' (IntegerLookup) expects integers, got dtype {arr.dtype}. "
                "Use StringLookup for strings."
            )
        return arr

    def _from_tokens(self, tokens: list, shape: Any) -> torch.Tensor:
        dtype = getattr(torch, self.vocabulary_dtype)
        return torch.tensor(tokens, dtype=dtype, device=self.output_device).reshape(tuple(shape))
