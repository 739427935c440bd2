"""Text utilities: tokenization, the classic ``Tokenizer``, the hashing trick, pretrained
word embeddings (GloVe, word2vec) and skip-gram pairs.

Example:
    >>> from lamina import text
    >>> text.text_to_word_sequence("Hello, World")
    ['hello', 'world']
"""

from lamina.text.embeddings import EmbeddingMatrix as EmbeddingMatrix
from lamina.text.embeddings import embedding_matrix as embedding_matrix
from lamina.text.embeddings import load_glove as load_glove
from lamina.text.embeddings import load_vectors as load_vectors
from lamina.text.embeddings import load_word2vec as load_word2vec
from lamina.text.hashing import (
    COLLISION_WARNING_THRESHOLD as COLLISION_WARNING_THRESHOLD,
)
from lamina.text.hashing import hashing_collisions as hashing_collisions
from lamina.text.hashing import hashing_trick as hashing_trick
from lamina.text.hashing import one_hot as one_hot
from lamina.text.hashing import stable_hash as stable_hash
from lamina.text.skipgrams import make_sampling_table as make_sampling_table
from lamina.text.skipgrams import skipgrams as skipgrams
from lamina.text.tokenize import DEFAULT_FILTERS as DEFAULT_FILTERS
from lamina.text.tokenize import ngrams as ngrams
from lamina.text.tokenize import text_to_char_sequence as text_to_char_sequence
from lamina.text.tokenize import text_to_word_sequence as text_to_word_sequence
from lamina.text.tokenizer import Tokenizer as Tokenizer
from lamina.text.tokenizer import tokenizer_from_json as tokenizer_from_json
