"""Classic Keras ``keras.preprocessing.text``: ``Tokenizer`` and friends (from ``lamina.text``).

Example:
    >>> from lamina.preprocessing.text import text_to_word_sequence
    >>> text_to_word_sequence("Hi there!")
    ['hi', 'there']
"""

from lamina.text.hashing import hashing_trick as hashing_trick, one_hot as one_hot
from lamina.text.tokenize import text_to_word_sequence as text_to_word_sequence
from lamina.text.tokenizer import Tokenizer as Tokenizer, tokenizer_from_json as tokenizer_from_json

__all__ = ["Tokenizer", "hashing_trick", "one_hot", "text_to_word_sequence", "tokenizer_from_json"]
