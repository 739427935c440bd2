"""The token <-> index table behind ``StringLookup``, ``IntegerLookup`` and
``TextVectorization``, with Keras's rules for reserved indices.

Index layout: ``[mask] [oov_1 .. oov_k] token_1 token_2 ...`` where the mask index exists only
when ``mask_token`` is set *and* ``output_mode == "int"`` (in the other modes masked tokens are
dropped). ``adapt`` orders tokens by frequency, most frequent first, and breaks ties by the
token itself in *descending* order (Keras sorts ``(count, token)`` and reverses). ``max_tokens``
counts the reserved indices. The tf-idf weight of a token is ``log(1 + num_docs / (1 + df))``
(``df``: the number of documents holding it); the reserved indices get the mean weight.

Example:
    >>> from lamina.layers.preprocessing._vocabulary import Vocabulary
    >>> v = Vocabulary("demo", max_tokens=None, num_oov_indices=1, mask_token="",
    ...                oov_token="[UNK]", output_mode="int")
    >>> v.update([["b", "a", "b"], ["c", "a"]]); v.finalize()
    >>> v.get()
    ['', '[UNK]', 'b', 'a', 'c']
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np

__all__ = ["Vocabulary"]

_OOV = -2


class Vocabulary:
    """A vocabulary and the counts ``adapt`` accumulates (a helper, not a layer)."""

    def __init__(
        self,
        owner: str,
        max_tokens: int | None,
        num_oov_indices: int,
        mask_token: Any,
        oov_token: Any,
        output_mode: str,
        pad_to_max_tokens: bool = False,
        oov_bucket: Callable[[Any], int] | None = None,
        invert: bool = False,
    ):
        self.owner = owner
        self.max_tokens = max_tokens
        self.num_oov_indices = num_oov_indices
        self.mask_token = mask_token
        self.oov_token = oov_token
        self.output_mode = output_mode
        self.pad_to_max_tokens = pad_to_max_tokens
        self.oov_bucket = oov_bucket
        self.invert = invert
        self.tokens: list[Any] = []
        self.index: dict[Any, int] = {}
        self.idf: np.ndarray | None = None  # one weight per index (reserved ones included)
        self.is_set = False
        self.reset_counts()

    # ------------------------------------------------------------------ layout
    @property
    def oov_start(self) -> int:
        return 1 if self.mask_token is not None and self.output_mode == "int" else 0

    @property
    def token_start(self) -> int:
        return self.oov_start + self.num_oov_indices

    def special_tokens(self) -> list[Any]:
        return [self.mask_token] * self.oov_start + [self.oov_token] * self.num_oov_indices

    def size(self) -> int:
        return self.token_start + len(self.tokens)

    def depth(self) -> int | None:
        """Width of multi-hot / count / tf-idf outputs."""
        if self.pad_to_max_tokens:
            return self.max_tokens
        return self.size() if self.is_set else None

    def get(self, include_special_tokens: bool = True) -> list[Any]:
        return (self.special_tokens() if include_special_tokens else []) + list(self.tokens)

    # ------------------------------------------------------------------ setting
    def set(self, vocabulary: Any, idf_weights: Any = None) -> None:
        """Install a vocabulary, with or without the reserved tokens at its start."""
        if self.output_mode == "tf_idf" and idf_weights is None:
            raise ValueError(
                f"{self.owner}: with output_mode='tf_idf', a vocabulary needs idf_weights of the "
                "same length (or call adapt() to learn both)."
            )
        if self.output_mode != "tf_idf" and idf_weights is not None:
            raise ValueError(
                f"{self.owner}: idf_weights are only used with output_mode='tf_idf', not "
                f"{self.output_mode!r}."
            )
        if isinstance(vocabulary, str):
            raise TypeError(
                f"{self.owner}: vocabulary must be a list of tokens. Vocabulary files are not "
                "read (a saved model must not point at files); read the file yourself, e.g. "
                "open(path).read().splitlines()."
            )
        if hasattr(vocabulary, "tolist") and not isinstance(vocabulary, np.ndarray):
            vocabulary = vocabulary.tolist()  # a torch tensor
        vocab = [
            v.item() if isinstance(v, np.generic) else v
            for v in np.asarray(vocabulary, dtype=object).reshape(-1).tolist()
        ]
        if not vocab:
            raise ValueError(f"{self.owner}: cannot set an empty vocabulary.")
        specials = self.special_tokens()
        start = self.token_start
        found_specials = vocab[:start] == specials
        tokens = vocab[start:] if found_specials else vocab
        repeated = sorted({t for t, c in Counter(tokens).items() if c > 1}, key=str)
        if repeated:
            raise ValueError(
                f"{self.owner}: the vocabulary repeats {repeated}; every token must appear once."
            )
        # Keras: the mask token may never appear among the tokens; the OOV token only matters
        # (and is refused) when the layer maps indices back to tokens.
        reserved = [self.mask_token] + ([self.oov_token] if self.invert else [])
        for t in reserved:
            if t is not None and t in tokens:
                raise ValueError(
                    f"{self.owner}: the reserved token {t!r} appears inside the vocabulary. "
                    f"Leave the mask and OOV tokens out, or put them only at the start in "
                    f"exactly this order: {specials}."
                )
        if self.max_tokens is not None and start + len(tokens) > self.max_tokens:
            raise ValueError(
                f"{self.owner}: the vocabulary has {start + len(tokens)} entries (reserved ones "
                f"included) but max_tokens is {self.max_tokens}."
            )
        if idf_weights is not None:
            idf = np.asarray(idf_weights, dtype=np.float64)
            if idf.ndim != 1 or len(idf) != len(vocab):
                raise ValueError(
                    f"{self.owner}: idf_weights must be a 1-D list as long as the vocabulary "
                    f"({len(vocab)}), got shape {idf.shape}."
                )
            if not found_specials:
                idf = np.concatenate([np.full(start, idf.mean() if len(idf) else 0.0), idf])
            self.idf = idf
        else:
            self.idf = None
        self._install(tokens)

    def _install(self, tokens: list[Any]) -> None:
        self.tokens = tokens
        self.index = {t: i for i, t in enumerate(tokens, start=self.token_start)}
        self.is_set = True

    # ------------------------------------------------------------------ adapting
    def reset_counts(self) -> None:
        self._counts: Counter = Counter()
        self._doc_counts: Counter = Counter()
        self._num_docs = 0

    def update(self, docs: Iterable[Sequence[Any]]) -> None:
        """Count the tokens of each document (a document is a sequence of tokens)."""
        tf_idf = self.output_mode == "tf_idf"
        for doc in docs:
            self._counts.update(doc)
            if tf_idf:
                self._doc_counts.update(set(doc))
                self._num_docs += 1

    def finalize(self) -> None:
        """Turn the counts into the vocabulary (and idf weights) and forget the counts."""
        counts = self._counts
        for t in (self.mask_token, self.oov_token):
            if t is not None:
                counts.pop(t, None)
        if not counts:
            raise ValueError(
                f"{self.owner}: adapt() found no tokens in the data, so there is nothing to "
                "build a vocabulary from. Check that the data is not empty."
            )
        ranked = sorted(counts.items(), key=lambda kv: (kv[1], kv[0]), reverse=True)
        if self.max_tokens is not None:
            ranked = ranked[: max(self.max_tokens - self.token_start, 0)]
        tokens = [t for t, _ in ranked]
        if self.output_mode == "tf_idf":
            n = self._num_docs
            idf = np.array([math.log(1 + n / (1 + self._doc_counts[t])) for t in tokens])
            mean = idf.mean() if len(idf) else 0.0
            self.idf = np.concatenate([np.full(self.token_start, mean), idf])
        self._install(tokens)
        self.reset_counts()

    def idf_vector(self) -> np.ndarray:
        """The tf-idf weights padded with zeros to the output width."""
        depth = self.depth() or 0
        idf = self.idf if self.idf is not None else np.zeros(0)
        return np.concatenate([idf, np.zeros(max(depth - len(idf), 0))])[:depth]

    # ------------------------------------------------------------------ lookup
    def require(self) -> None:
        if not self.is_set:
            raise ValueError(
                f"{self.owner} has no vocabulary yet: call adapt(data) on training data, or "
                "pass vocabulary=[...] (or call set_vocabulary)."
            )

    def lookup(self, tokens: Sequence[Any]) -> np.ndarray:
        """Index of each token; masked tokens give 0 (int mode) or -1 (dropped)."""
        self.require()
        get = self.index.get
        ids = np.fromiter((get(t, _OOV) for t in tokens), dtype=np.int64, count=len(tokens))
        if self.mask_token is not None:
            masked = np.fromiter(
                (t == self.mask_token for t in tokens), dtype=bool, count=len(tokens)
            )
            ids[masked] = 0 if self.output_mode == "int" else -1
        oov = ids == _OOV
        if oov.any():
            if self.num_oov_indices == 0:
                bad = sorted({tokens[i] for i in np.flatnonzero(oov)[:20]}, key=str)
                raise ValueError(
                    f"{self.owner}: with num_oov_indices=0 every input must be in the vocabulary,"
                    f" but found {bad}. Set num_oov_indices=1 to map unknown tokens to an OOV "
                    "index."
                )
            if self.num_oov_indices == 1:
                ids[oov] = self.oov_start
            else:
                k = self.num_oov_indices
                ids[oov] = [
                    self.oov_start + self.oov_bucket(tokens[i]) % k for i in np.flatnonzero(oov)
                ]
        return ids

    def tokens_of(self, ids: Sequence[int]) -> list[Any]:
        """Token of each index; OOV and out-of-range indices give ``oov_token``."""
        self.require()
        table = self.get(True)  # the mask token at 0 (if any), then OOV tokens, then tokens
        n, oov = len(table), self.oov_token
        return [table[i] if 0 <= i < n else oov for i in ids]


class VocabularyMixin:
    """The vocabulary API of the lookup and text layers (they hold a ``_vocab``).

    ``vocabulary`` and ``idf_weights`` read back the current state (reserved tokens first), so a
    layer's ``get_config()`` holds what ``adapt`` learned and a saved model keeps it.
    """

    _vocab: Vocabulary

    @property
    def vocabulary(self) -> list | None:
        """The current vocabulary with its reserved tokens (``None`` before adapt)."""
        return self._vocab.get(True) if self._vocab.is_set else None

    @property
    def idf_weights(self) -> list | None:
        """tf-idf weights, one per vocabulary index (``None`` unless ``output_mode='tf_idf'``)."""
        if self._vocab.idf is None or not self._vocab.is_set:
            return None
        return [float(w) for w in self._vocab.idf]

    def get_vocabulary(self, include_special_tokens: bool = True) -> list:
        """The vocabulary in index order (mask and OOV tokens first unless excluded)."""
        return self._vocab.get(include_special_tokens)

    def set_vocabulary(self, vocabulary: Any, idf_weights: Any = None) -> None:
        """Replace the vocabulary (the reserved tokens may be included at its start)."""
        self._vocab.set(vocabulary, idf_weights)

    def vocabulary_size(self) -> int:
        """Number of indices, reserved ones included."""
        return self._vocab.size()
