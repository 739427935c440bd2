"""``TextVectorization``: raw strings to token ids or bag-of-words vectors, in plain Python and
NumPy (Keras's layer needs TensorFlow; this one needs nothing else).

Each string goes through: standardize (lower-case, strip punctuation) -> split (words,
characters) -> n-grams -> vocabulary lookup -> output (padded id sequences, multi-hot, counts
or tf-idf). The vocabulary follows Keras's rules: in ``int`` mode index 0 is the padding token
``''`` and index 1 the OOV token ``'[UNK]'``; in the other modes index 0 is ``'[UNK]'``. Tokens
are ordered by frequency (ties: the larger string first) and ``max_tokens`` counts the reserved
entries.

Example:
    >>> from lamina.layers.preprocessing import TextVectorization
    >>> layer = TextVectorization(max_tokens=5000, output_sequence_length=4)
    >>> layer.adapt(["foo bar", "bar baz", "baz bada boom"])
    >>> layer([["foo qux bar"], ["qux baz"]])
    tensor([[4, 1, 3, 0],
            [1, 2, 0, 0]])
"""

from __future__ import annotations

import string
from collections.abc import Callable
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
from lamina.layers.preprocessing.category_encoding import encode_categorical
from lamina.layers.preprocessing.lookup import normalize_output_mode
from lamina.text.hashing import stable_hash
from lamina.text.tokenize import ngrams as make_ngrams

__all__ = ["TextVectorization"]

_STANDARDIZE = ("lower_and_strip_punctuation", "lower", "strip_punctuation")
_SPLIT = ("whitespace", "character")
# Keras strips exactly these 32 ASCII characters (string.punctuation).
_PUNCTUATION = str.maketrans("", "", string.punctuation)


@register_layer()
class TextVectorization(VocabularyMixin, PreprocessingLayer):
    """Maps strings to token-id sequences or to vectors over a vocabulary learned by ``adapt``.

    Args:
        max_tokens: Largest vocabulary size, the reserved entries included (``''`` and
            ``'[UNK]'`` in ``int`` mode, ``'[UNK]'`` otherwise). ``None``: no limit.
        standardize: ``"lower_and_strip_punctuation"`` (default), ``"lower"``,
            ``"strip_punctuation"``, ``None``, or a function ``str -> str`` applied to each
            string. (Keras lower-cases ASCII only; ``str.lower`` also lower-cases other letters.)
        split: ``"whitespace"`` (default; runs of whitespace, ends stripped), ``"character"``,
            ``None`` (each string is one token), or a function ``str -> list of str``.
        ngrams: ``None``, an int ``n`` (all 1..n-grams) or a tuple of sizes such as ``(2, 3)``;
            n-grams are joined with a space, unigrams first.
        output_mode: ``"int"`` (token ids, padded with 0), ``"multi_hot"``, ``"count"`` or
            ``"tf_idf"`` (counts times ``log(1 + num_docs / (1 + doc_freq))``).
        output_sequence_length: ``int`` mode only: pad with 0 or cut (keeping the first tokens)
            to exactly this length; ``None`` pads to the longest string in the batch.
        pad_to_max_tokens: Encoded modes only: make outputs ``max_tokens`` wide.
        vocabulary: List of tokens (the reserved tokens may lead it); no ``adapt`` needed then.
        idf_weights: With ``output_mode="tf_idf"`` and a ``vocabulary``: one weight per entry.
        sparse: Encoded modes only: return sparse COO tensors.
        encoding: Text encoding used to decode ``bytes`` inputs.

    Input: a list or NumPy array of strings, shape ``(batch,)`` or ``(batch, 1)`` (in a model:
    ``Input(shape=(1,), dtype="string")``). Output: ``int64`` ids ``(batch,
    output_sequence_length)`` or ``float32`` ``(batch, vocabulary_size)`` on the layer's device.

    Example:
        >>> layer = TextVectorization(output_mode="multi_hot")
        >>> layer.adapt(["the cat", "the dog", "a cat"])
        >>> layer.get_vocabulary()
        ['[UNK]', 'the', 'cat', 'dog', 'a']
        >>> layer(["The CAT, and the cat!"])
        tensor([[1., 1., 1., 0., 0.]])
    """

    input_dtype = "string"

    def __init__(
        self,
        max_tokens: int | None = None,
        standardize: str | Callable[[str], str] | None = "lower_and_strip_punctuation",
        split: str | Callable[[str], list[str]] | None = "whitespace",
        ngrams: int | tuple[int, ...] | None = None,
        output_mode: str = "int",
        output_sequence_length: int | None = None,
        pad_to_max_tokens: bool = False,
        vocabulary: Any = None,
        idf_weights: Any = None,
        sparse: bool = False,
        encoding: str = "utf-8",
        **kwargs: Any,
    ):
        super().__init__(**kwargs)
        if not callable(standardize) and standardize is not None:
            check_choice("TextVectorization", "standardize", standardize, _STANDARDIZE)
        if not callable(split) and split is not None:
            check_choice("TextVectorization", "split", split, _SPLIT)
        output_mode = normalize_output_mode(
            "TextVectorization", output_mode, ("int", "multi_hot", "count", "tf_idf")
        )
        if isinstance(ngrams, list):
            ngrams = tuple(ngrams)
        sizes = (ngrams,) if isinstance(ngrams, int) else ngrams
        if ngrams is not None and not (
            isinstance(sizes, tuple)
            and sizes
            and all(isinstance(k, int) and not isinstance(k, bool) and k >= 1 for k in sizes)
        ):
            raise ValueError(
                f"TextVectorization: ngrams must be None, an integer >= 1 or a tuple of such "
                f"integers, got {ngrams!r}."
            )
        if output_sequence_length is not None:
            if output_mode != "int":
                raise ValueError(
                    "TextVectorization: output_sequence_length only applies to output_mode="
                    f"'int', not {output_mode!r}."
                )
            if (
                isinstance(output_sequence_length, bool)
                or not isinstance(output_sequence_length, int)
                or output_sequence_length < 1
            ):
                raise ValueError(
                    "TextVectorization: output_sequence_length must be a positive integer or "
                    f"None, got {output_sequence_length!r}."
                )
        if max_tokens is not None and max_tokens <= 1:
            raise ValueError(
                f"TextVectorization: max_tokens must be greater than 1 or None, got {max_tokens}."
            )
        if pad_to_max_tokens and (max_tokens is None or output_mode == "int"):
            raise ValueError(
                "TextVectorization: pad_to_max_tokens=True needs max_tokens and an output_mode "
                "other than 'int'."
            )
        if sparse and output_mode == "int":
            raise ValueError(
                "TextVectorization: sparse=True needs an output_mode other than 'int'."
            )
        self.max_tokens = max_tokens
        self.standardize = standardize
        self.split = split
        self.ngrams = ngrams
        self.output_mode = output_mode
        self.output_sequence_length = output_sequence_length
        self.pad_to_max_tokens = pad_to_max_tokens
        self.sparse = sparse
        self.encoding = encoding
        self._vocab = Vocabulary(
            f"Layer '{self.name}' (TextVectorization)",
            max_tokens,
            1,
            "",
            "[UNK]",
            output_mode,
            pad_to_max_tokens,
            stable_hash,
        )
        if vocabulary is not None:
            self._vocab.set(vocabulary, idf_weights)
        elif idf_weights is not None:
            raise ValueError("TextVectorization: idf_weights were given without a vocabulary.")

    # ------------------------------------------------------------------ text -> tokens
    def _standardize(self, text: str) -> str:
        mode = self.standardize
        if mode in ("lower", "lower_and_strip_punctuation"):
            text = text.lower()
        if mode in ("strip_punctuation", "lower_and_strip_punctuation"):
            text = text.translate(_PUNCTUATION)
        if callable(mode):
            text = mode(text)
            if not isinstance(text, str):
                raise TypeError(
                    f"Layer '{self.name}': the standardize function must return a str, got "
                    f"{type(text).__name__}."
                )
        return text

    def _split(self, text: str) -> list[str]:
        if self.split == "whitespace":
            return text.split()
        if self.split == "character":
            return list(text)
        tokens = list(self.split(text))
        if not all(isinstance(t, str) for t in tokens):
            raise TypeError(f"Layer '{self.name}': the split function must return strings.")
        return tokens

    def tokenize(self, texts: Any) -> list[list[str]]:
        """The tokens of each string after standardize, split and n-grams (before lookup).

        Example:
            >>> TextVectorization(ngrams=2).tokenize(["Hi, Bob!"])
            [['hi', 'bob', 'hi bob']]
        """
        arr = (
            texts.array
            if isinstance(texts, StringBatch)
            else as_string_array(
                texts, self.encoding, where=f"Layer '{self.name}' (TextVectorization)"
            )
        )
        if arr.ndim == 0:
            arr = arr.reshape(1)
        if self.split is None:
            rows = arr.reshape(arr.shape[0], -1).tolist()
            docs = [[self._standardize(t) for t in row] for row in rows]
        else:
            if arr.ndim > 1:
                if arr.shape[-1] != 1 or arr.ndim > 2:
                    raise ValueError(
                        f"Layer '{self.name}' (TextVectorization) splits one string per sample: "
                        f"the input must have shape (batch,) or (batch, 1), got {arr.shape}."
                    )
                arr = arr.reshape(-1)
            docs = [self._split(self._standardize(t)) for t in arr.tolist()]
        if self.ngrams is not None:
            docs = [make_ngrams(d, self.ngrams) for d in docs]
        return docs

    # ------------------------------------------------------------------ adapt
    def adapt(self, data: Any, batch_size: int | None = None, steps: int | None = None) -> None:
        """Build the vocabulary (and tf-idf weights) from strings: a list or NumPy array (each
        string is one document), or a dataset / DataLoader / generator yielding batches of
        strings (or ``(strings, labels)`` pairs). ``steps`` limits the number of batches read.

        Example:
            >>> layer = TextVectorization(max_tokens=4)
            >>> layer.adapt(np.array(["b a b", "c a b", "d"]))
            >>> layer.get_vocabulary()
            ['', '[UNK]', 'b', 'a']
        """
        self._vocab.reset_counts()
        for batch in iter_batches(data, batch_size, steps, strings=True):
            if not is_string_data(batch):
                raise TypeError(
                    f"Layer '{self.name}' (TextVectorization).adapt expects strings, but a batch "
                    f"holds {type(batch).__name__}."
                )
            self._vocab.update(self.tokenize(batch))
        self._vocab.finalize()

    # ------------------------------------------------------------------ calling
    def call(self, inputs: Any) -> torch.Tensor:
        if not isinstance(inputs, StringBatch) and not is_string_data(inputs):
            raise TypeError(
                f"Layer '{self.name}' (TextVectorization) expects strings (a list or NumPy array "
                f"of str), got {type(inputs).__name__}"
                f"{' of dtype ' + str(inputs.dtype) if hasattr(inputs, 'dtype') else ''}."
            )
        docs = self.tokenize(inputs)
        lengths = np.array([len(d) for d in docs], dtype=np.int64)
        ids = self._vocab.lookup([t for d in docs for t in d])
        n = len(docs)
        if self.output_mode == "int":
            width = self.output_sequence_length or int(lengths.max(initial=0))
            fill = 0
        else:
            width = int(lengths.max(initial=0))
            fill = -1  # dropped by the encoding
        rows = np.repeat(np.arange(n), lengths)
        cols = np.arange(len(ids)) - np.repeat(np.cumsum(lengths) - lengths, lengths)
        keep = cols < width
        out = np.full((n, width), fill, dtype=np.int64)
        out[rows[keep], cols[keep]] = ids[keep]
        out_t = torch.as_tensor(out, device=self.output_device)
        if self.output_mode == "int":
            return out_t
        idf = None
        if self.output_mode == "tf_idf":
            idf = torch.as_tensor(self._vocab.idf_vector(), dtype=config.floatx_dtype())
        return encode_categorical(
            out_t, self.output_mode, self._vocab.depth(), idf_weights=idf, sparse=self.sparse
        )

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        input_shape = tuple(input_shape)
        batch = input_shape[0] if input_shape else None
        if self.output_mode != "int":
            return (batch, self._vocab.depth())
        if self.split is None and self.output_sequence_length is None:
            rest = input_shape[1:]
            width = None if None in rest else int(np.prod(rest)) if rest else 1
            return (batch, width)
        if (
            self.split is not None
            and len(input_shape) > 1
            and (len(input_shape) > 2 or input_shape[-1] != 1)
        ):
            raise ValueError(
                f"Layer '{self.name}' (TextVectorization) splits one string per sample: the "
                f"input must have shape (batch,) or (batch, 1), got {input_shape}."
            )
        return (batch, self.output_sequence_length)

    def output_dtype(self) -> str:
        return "int64" if self.output_mode == "int" else config.floatx()

    # ------------------------------------------------------------------ config
    def get_config(self) -> dict[str, Any]:
        from lamina.engine.saving_utils import serialize_function

        functions = {
            k: getattr(self, k) for k in ("standardize", "split") if callable(getattr(self, k))
        }
        # Functions are saved by name (registered) or as code; hide them from the generic
        # argument reader, which only knows plain values.
        self.__dict__.update(dict.fromkeys(functions))
        try:
            cfg = super().get_config()
        finally:
            self.__dict__.update(functions)
        for k, fn in functions.items():
            cfg[k] = serialize_function(fn)
        return cfg

    @classmethod
    def from_config(cls, config: dict[str, Any], safe_mode: bool = True) -> TextVectorization:
        from lamina.engine.saving_utils import deserialize_function

        config = dict(config)
        for key, builtin in (("standardize", _STANDARDIZE), ("split", _SPLIT)):
            value = config.get(key)
            if value is not None and value not in builtin:
                config[key] = deserialize_function(value, safe_mode=safe_mode)
        if isinstance(config.get("ngrams"), list):
            config["ngrams"] = tuple(config["ngrams"])
        return cls(**config)
