"""Text utilities: tokenization, the classic ``Tokenizer``, the hashing trick, pretrained
word embeddings (GloVe, word2vec) and skip-gram pairs.

Example:
    >>> from lamina import text
    >>> text.text_to_word_sequence("Hello, World")
    ['hello', 'world']
"""

from lamina.text.embeddings import (
    EmbeddingMatrix as EmbeddingMatrix,
    embedding_matrix as embedding_matrix,
    load_glove as load_glove,
    load_vectors as load_vectors,
    load_word2vec as load_word2vec,
)
from lamina.text.hashing import (
    COLLISION_WARNING_THRESHOLD as COLLISION_WARNING_THRESHOLD,
    hashing_collisions as hashing_collisions,
    hashing_trick as hashing_trick,
    one_hot as one_hot,
    stable_hash as stable_hash,
)
from lamina.text.skipgrams import make_sampling_table as make_sampling_table, skipgrams as skipgrams
from lamina.text.tokenize import (
    DEFAULT_FILTERS as DEFAULT_FILTERS,
    ngrams as ngrams,
    text_to_char_sequence as text_to_char_sequence,
    text_to_word_sequence as text_to_word_sequence,
)
from lamina.text.tokenizer import Tokenizer as Tokenizer, tokenizer_from_json as tokenizer_from_json
