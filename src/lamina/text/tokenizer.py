"""The classic Keras ``Tokenizer``: a word (or character) index built from texts.

Indices start at 1 (0 is left for padding). Words are ranked by count, ties broken by first
occurrence; with ``oov_token`` the out-of-vocabulary token takes index 1. ``num_words`` keeps only
indices below ``num_words`` when converting (the index itself keeps every word), as in Keras.

Example:
    >>> from lamina.text import Tokenizer
    >>> tok = Tokenizer(num_words=3)
    >>> tok.fit_on_texts(["the cat sat", "the dog"])
    >>> tok.word_index
    {'the': 1, 'cat': 2, 'sat': 3, 'dog': 4}
    >>> tok.texts_to_sequences(["the dog sat on the cat"])
    [[1, 1, 2]]
"""

from __future__ import annotations

import json
import numbers
from collections import OrderedDict, defaultdict
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np

from lamina.text.tokenize import DEFAULT_FILTERS, text_to_word_sequence

__all__ = ["Tokenizer", "tokenizer_from_json"]

_MODES = ("binary", "count", "freq", "tfidf")


class Tokenizer:
    """Turns texts into sequences of word indices or into bag-of-words matrices.

    Args:
        num_words: Keep only the ``num_words - 1`` most frequent words (indices
            ``1 .. num_words - 1``) when converting texts; ``None`` keeps all.
        filters: Characters removed from texts before splitting (default: punctuation, tab,
            newline; not ``'``). Not used with ``char_level=True``.
        lower: Lower-case texts.
        split: Word separator, or a function ``str -> iterable of tokens``.
        char_level: Every character (spaces included) is a token.
        oov_token: If given, it takes index 1 and replaces unknown (and cut-off) words.
        analyzer: Optional function ``str -> list of tokens`` used instead of the word splitter.
        document_count: Starting document count (used when restoring from JSON).

    Attributes (after fitting):
        word_counts: Ordered ``{word: count}`` in order of first occurrence.
        word_docs: ``{word: number of documents containing it}``.
        word_index: ``{word: index}``; index_word is its inverse.
        index_docs: ``{index: number of documents containing it}`` (used by tfidf).
        document_count: Number of documents fitted.

    Example:
        >>> tok = Tokenizer(oov_token="<unk>")
        >>> tok.fit_on_texts(["a b b"])
        >>> tok.word_index, tok.texts_to_sequences(["b c a"])
        ({'<unk>': 1, 'b': 2, 'a': 3}, [[2, 1, 3]])
    """

    def __init__(
        self,
        num_words: int | None = None,
        filters: str = DEFAULT_FILTERS,
        lower: bool = True,
        split: str | Callable[[str], Iterable[str]] = " ",
        char_level: bool = False,
        oov_token: str | None = None,
        analyzer: Callable[[str], Iterable[str]] | None = None,
        document_count: int = 0,
    ):
        if num_words is not None and (
            isinstance(num_words, bool)
            or not isinstance(num_words, numbers.Integral)
            or num_words < 1
        ):
            raise ValueError(
                f"Tokenizer: num_words must be a positive int or None, got {num_words!r}."
            )
        self.num_words = num_words
        self.filters = filters
        self.lower = lower
        self.split = split
        self.char_level = char_level
        self.oov_token = oov_token
        self.analyzer = analyzer
        self.document_count = document_count
        self.word_counts: OrderedDict[str, int] = OrderedDict()
        self.word_docs: defaultdict[str, int] = defaultdict(int)
        self.index_docs: defaultdict[int, int] = defaultdict(int)
        self.word_index: dict[str, int] = {}
        self.index_word: dict[int, str] = {}

    def __repr__(self) -> str:
        return (
            f"Tokenizer(num_words={self.num_words!r}, words={len(self.word_index)}, "
            f"documents={self.document_count}, oov_token={self.oov_token!r})"
        )

    # -- tokenizing ---------------------------------------------------------------------------
    def _tokens(self, text: str | list[str]) -> list[str]:
        if isinstance(text, list):  # already tokenized
            return [t.lower() for t in text] if self.lower else list(text)
        if not isinstance(text, str):
            raise TypeError(
                f"Tokenizer: each text must be a str or a list of tokens, got "
                f"{type(text).__name__}. Pass a list of texts, e.g. fit_on_texts(['a b', 'c'])."
            )
        if self.char_level:
            return list(text.lower() if self.lower else text)
        if self.analyzer is not None:
            return list(self.analyzer(text))
        return text_to_word_sequence(text, self.filters, self.lower, self.split)

    @staticmethod
    def _check_texts(texts: Any, method: str) -> Any:
        if isinstance(texts, str):
            raise TypeError(
                f"Tokenizer.{method} expects a list of texts, got a single str; wrap it in a "
                f"list: {method}([text])."
            )
        return texts

    # -- fitting ------------------------------------------------------------------------------
    def fit_on_texts(self, texts: Iterable[str | list[str]]) -> None:
        """Count the words of ``texts`` and rebuild ``word_index`` (call before converting).

        Args:
            texts: Strings, or lists of tokens (taken as already tokenized); may be a generator.

        Example:
            >>> tok = Tokenizer()
            >>> tok.fit_on_texts(["b a", "a"])
            >>> tok.word_index
            {'a': 1, 'b': 2}
        """
        for text in self._check_texts(texts, "fit_on_texts"):
            self.document_count += 1
            seq = self._tokens(text)
            for w in seq:
                self.word_counts[w] = self.word_counts.get(w, 0) + 1
            for w in set(seq):
                self.word_docs[w] += 1
        # sorted() is stable: equal counts keep first-occurrence order, as in Keras
        ranked = sorted(self.word_counts, key=lambda w: self.word_counts[w], reverse=True)
        vocab = [] if self.oov_token is None else [self.oov_token]
        # Keras lets a real word equal to oov_token overwrite index 1; we keep the OOV at 1
        vocab.extend(w for w in ranked if w != self.oov_token)
        self.word_index = {w: i for i, w in enumerate(vocab, start=1)}
        self.index_word = {i: w for w, i in self.word_index.items()}
        self.index_docs = defaultdict(int)
        for w, c in self.word_docs.items():
            self.index_docs[self.word_index[w]] = c

    def fit_on_sequences(self, sequences: Sequence[Sequence[int]]) -> None:
        """Count document frequencies of index sequences (enough for ``sequences_to_matrix``).

        Example:
            >>> tok = Tokenizer(num_words=4)
            >>> tok.fit_on_sequences([[1, 2], [2, 2, 3]])
            >>> tok.document_count, dict(tok.index_docs)
            (2, {1: 1, 2: 2, 3: 1})
        """
        sequences = self._check_texts(sequences, "fit_on_sequences")
        self.document_count += len(sequences)
        for seq in sequences:
            for i in set(seq):
                self.index_docs[int(i)] += 1

    # -- converting ---------------------------------------------------------------------------
    def texts_to_sequences_generator(self, texts: Iterable[str | list[str]]):
        """Yield the index sequence of each text (see :meth:`texts_to_sequences`)."""
        num_words = self.num_words
        oov = self.word_index.get(self.oov_token) if self.oov_token is not None else None
        for text in self._check_texts(texts, "texts_to_sequences"):
            vect = []
            for w in self._tokens(text):
                i = self.word_index.get(w)
                if i is not None and not (num_words and i >= num_words):
                    vect.append(i)
                elif oov is not None:
                    vect.append(oov)
            yield vect

    def texts_to_sequences(self, texts: Iterable[str | list[str]]) -> list[list[int]]:
        """Replace each word by its index; unknown words (and indices ``>= num_words``) are
        dropped, or become the ``oov_token`` index when there is one.

        Example:
            >>> tok = Tokenizer()
            >>> tok.fit_on_texts(["x y y"])
            >>> tok.texts_to_sequences(["y z x"])
            [[1, 2]]
        """
        return list(self.texts_to_sequences_generator(texts))

    def sequences_to_texts_generator(self, sequences: Iterable[Sequence[int]]):
        """Yield the text of each index sequence (see :meth:`sequences_to_texts`)."""
        num_words = self.num_words
        oov = self.word_index.get(self.oov_token) if self.oov_token is not None else None
        for seq in sequences:
            words = []
            for num in seq:
                word = self.index_word.get(int(num))
                if word is not None and not (num_words and num >= num_words):
                    words.append(word)
                elif oov is not None:
                    words.append(self.index_word[oov])
            yield " ".join(words)

    def sequences_to_texts(self, sequences: Iterable[Sequence[int]]) -> list[str]:
        """Inverse of :meth:`texts_to_sequences`: words joined by single spaces.

        Example:
            >>> tok = Tokenizer()
            >>> tok.fit_on_texts(["x y y"])
            >>> tok.sequences_to_texts([[2, 1, 7]])
            ['x y']
        """
        return list(self.sequences_to_texts_generator(sequences))

    def texts_to_matrix(self, texts: Iterable[str | list[str]], mode: str = "binary") -> np.ndarray:
        """One row per text: ``binary`` / ``count`` / ``freq`` / ``tfidf`` of each word index.

        Example:
            >>> tok = Tokenizer()
            >>> tok.fit_on_texts(["a a b"])
            >>> tok.texts_to_matrix(["a b a"], mode="count")
            array([[0., 2., 1.]])
        """
        return self.sequences_to_matrix(self.texts_to_sequences(texts), mode=mode)

    def sequences_to_matrix(
        self, sequences: Sequence[Sequence[int]], mode: str = "binary"
    ) -> np.ndarray:
        """Bag-of-words matrix of shape ``(len(sequences), num_words)`` (float64, as Keras).

        Column ``j`` of row ``i``, with ``c`` the count of index ``j`` in sequence ``i``:
        ``binary`` 1; ``count`` c; ``freq`` c / len(sequence); ``tfidf``
        ``(1 + ln c) * ln(1 + document_count / (1 + index_docs[j]))``. Without ``num_words`` the
        width is ``len(word_index) + 1``; indices ``>= width`` are ignored.

        Example:
            >>> tok = Tokenizer(num_words=3)
            >>> tok.sequences_to_matrix([[1, 1, 2, 5]], mode="freq")
            array([[0.  , 0.5 , 0.25]])
        """
        if mode not in _MODES:
            raise ValueError(
                f"Unknown vectorization mode {mode!r}: use one of {', '.join(_MODES)}."
            )
        if self.num_words:
            width = self.num_words
        elif self.word_index:
            width = len(self.word_index) + 1
        else:
            raise ValueError(
                "Specify a dimension (the num_words argument), or fit on some text data first."
            )
        if mode == "tfidf" and not self.document_count:
            raise ValueError(
                "tfidf mode needs document frequencies: call fit_on_texts or fit_on_sequences "
                "first."
            )
        x = np.zeros((len(sequences), width))
        for i, seq in enumerate(sequences):
            counts: dict[int, int] = {}
            for j in seq:
                j = int(j)
                if 0 <= j < width:
                    counts[j] = counts.get(j, 0) + 1
            for j, c in counts.items():
                if mode == "count":
                    x[i, j] = c
                elif mode == "freq":
                    x[i, j] = c / len(seq)
                elif mode == "binary":
                    x[i, j] = 1
                else:  # tfidf, Keras's formula
                    idf = np.log(1 + self.document_count / (1 + self.index_docs.get(j, 0)))
                    x[i, j] = (1 + np.log(c)) * idf
        return x

    # -- saving -------------------------------------------------------------------------------
    def get_config(self) -> dict[str, Any]:
        """The settings and learned counts, JSON-ready (the same keys as Keras).

        Example:
            >>> Tokenizer(num_words=5).get_config()["num_words"]
            5
        """
        if callable(self.split) or self.analyzer is not None:
            raise ValueError(
                "Tokenizer.get_config/to_json cannot save a callable split or analyzer; "
                "recreate the Tokenizer with the same function and load its word counts instead."
            )
        return {
            "num_words": self.num_words,
            "filters": self.filters,
            "lower": self.lower,
            "split": self.split,
            "char_level": self.char_level,
            "oov_token": self.oov_token,
            "document_count": self.document_count,
            "word_counts": json.dumps(self.word_counts),
            "word_docs": json.dumps(self.word_docs),
            "index_docs": json.dumps(self.index_docs),
            "index_word": json.dumps(self.index_word),
            "word_index": json.dumps(self.word_index),
        }

    def to_json(self, **kwargs: Any) -> str:
        """A JSON string holding the tokenizer (``json.dumps`` keyword arguments are passed on).

        Example:
            >>> tok = Tokenizer()
            >>> tok.fit_on_texts(["a b"])
            >>> tokenizer_from_json(tok.to_json()).word_index
            {'a': 1, 'b': 2}
        """
        return json.dumps({"class_name": "Tokenizer", "config": self.get_config()}, **kwargs)


def tokenizer_from_json(json_string: str) -> Tokenizer:
    """Rebuild a :class:`Tokenizer` from :meth:`Tokenizer.to_json` (Keras JSON works too).

    Example:
        >>> tok = Tokenizer(oov_token="?")
        >>> tok.fit_on_texts(["hi there"])
        >>> tokenizer_from_json(tok.to_json()).texts_to_sequences(["hi you"])
        [[2, 1]]
    """
    try:
        data = json.loads(json_string)
        config = dict(data["config"]) if "config" in data else dict(data)
        loaded = {
            k: json.loads(config.pop(k))
            for k in ("word_counts", "word_docs", "index_docs", "index_word", "word_index")
        }
    except (TypeError, ValueError, KeyError) as e:
        raise ValueError(
            f"tokenizer_from_json: not a Tokenizer JSON string ({type(e).__name__}: {e}). "
            f"Pass the string returned by Tokenizer.to_json()."
        ) from e
    if isinstance(data, dict) and data.get("class_name", "Tokenizer") != "Tokenizer":
        raise ValueError(
            f"tokenizer_from_json: expected class_name 'Tokenizer', got {data.get('class_name')!r}."
        )
    tok = Tokenizer(**config)
    tok.word_counts = OrderedDict(loaded["word_counts"])
    tok.word_docs = defaultdict(int, loaded["word_docs"])
    tok.index_docs = defaultdict(int, {int(k): v for k, v in loaded["index_docs"].items()})
    tok.index_word = {int(k): v for k, v in loaded["index_word"].items()}
    tok.word_index = dict(loaded["word_index"])
    return tok
