"""Splitting text into tokens: words, characters and overlapping n-grams.

Word splitting follows classic Keras exactly: lower-case, replace every character of ``filters``
by ``split``, split on ``split``, drop empty strings.

Example:
    >>> from lamina.text import text_to_word_sequence, ngrams
    >>> text_to_word_sequence("The cat sat. The END!")
    ['the', 'cat', 'sat', 'the', 'end']
    >>> ngrams(["the", "cat", "sat"], 2)
    ['the', 'cat', 'sat', 'the cat', 'cat sat']
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

__all__ = ["DEFAULT_FILTERS", "text_to_word_sequence", "text_to_char_sequence", "ngrams"]

#: Keras's default ``filters``: punctuation, tab and newline (not the apostrophe).
DEFAULT_FILTERS = '!"#$%&()*+,-./:;<=>?@[\\]^_`{|}~\t\n'

Splitter = str | Callable[[str], Iterable[str]]


def _check_text(text: object, fn: str) -> str:
    if not isinstance(text, str):
        raise TypeError(
            f"{fn} expects one text as a str, got {type(text).__name__}. For a list of texts "
            f"call it once per text (or use Tokenizer.fit_on_texts)."
        )
    return text


def text_to_word_sequence(
    input_text: str,
    filters: str = DEFAULT_FILTERS,
    lower: bool = True,
    split: Splitter = " ",
) -> list[str]:
    """Split a text into a list of words.

    Args:
        input_text: The text.
        filters: Characters replaced by ``split`` before splitting (default: punctuation, tab
            and newline, but not ``'``).
        lower: Lower-case the text first.
        split: The separator, or a function ``str -> iterable of tokens``.

    Returns:
        The non-empty tokens, in order.

    Example:
        >>> text_to_word_sequence("Hello, world!  Hello")
        ['hello', 'world', 'hello']
    """
    text = _check_text(input_text, "text_to_word_sequence")
    if lower:
        text = text.lower()
    if filters:
        # a callable split has no separator to put in place of the filtered characters: use a space
        sep = split if isinstance(split, str) else " "
        text = text.translate(str.maketrans({c: sep for c in filters}))
    seq = split(text) if callable(split) else text.split(split)
    return [token for token in seq if token]


def text_to_char_sequence(input_text: str, lower: bool = True, filters: str = "") -> list[str]:
    """Split a text into its characters (spaces and punctuation included unless filtered).

    Args:
        input_text: The text.
        lower: Lower-case the text first.
        filters: Characters to drop (none by default, as ``Tokenizer(char_level=True)``).

    Returns:
        The characters, in order.

    Example:
        >>> text_to_char_sequence("Hi, Bo")
        ['h', 'i', ',', ' ', 'b', 'o']
    """
    text = _check_text(input_text, "text_to_char_sequence")
    if lower:
        text = text.lower()
    return [c for c in text if c not in filters] if filters else list(text)


def ngrams(tokens: Sequence[str], n: int | Sequence[int], separator: str = " ") -> list[str]:
    """Overlapping n-grams of a token list: for an integer ``n``, all k-grams for k = 1..n.

    The order is all unigrams, then all bigrams, ... (as Keras's ``TextVectorization(ngrams=n)``).
    Pass a tuple such as ``(2, 3)`` to get only those sizes.

    Args:
        tokens: The tokens of one text.
        n: The largest n-gram size (``n`` and below), or the exact sizes to produce.
        separator: Joins the tokens of one n-gram.

    Returns:
        The n-grams as strings.

    Example:
        >>> ngrams(["a", "b", "c"], 3)
        ['a', 'b', 'c', 'a b', 'b c', 'a b c']
        >>> ngrams(["a", "b", "c"], (2,))
        ['a b', 'b c']
    """
    if isinstance(tokens, str):
        raise TypeError(
            "ngrams expects a list of tokens, not a str; split the text first, e.g. "
            "ngrams(text_to_word_sequence(text), n)."
        )
    if isinstance(n, bool) or not isinstance(n, int | tuple | list):
        raise TypeError(f"ngrams: n must be an int or a tuple of ints, got {n!r}.")
    sizes = list(range(1, n + 1)) if isinstance(n, int) else list(n)
    if not sizes or any(isinstance(k, bool) or not isinstance(k, int) or k < 1 for k in sizes):
        raise ValueError(f"ngrams: n-gram sizes must be integers >= 1, got n={n!r}.")
    tokens = list(tokens)
    out: list[str] = []
    for k in sizes:
        out.extend(separator.join(tokens[i : i + k]) for i in range(len(tokens) - k + 1))
    return out
