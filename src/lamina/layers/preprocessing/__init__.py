"""Preprocessing layers: text vectorization, lookups, hashing, category encoding,
normalization, missing-value imputation and discretization. None needs another framework.

Each layer learns its state with ``adapt(training_data)`` (or takes it as arguments), then maps
new data with what it learned.

Example:
    >>> from lamina.layers.preprocessing import TextVectorization
    >>> layer = TextVectorization(output_sequence_length=4)
    >>> layer.adapt(["the cat sat", "the dog"])
    >>> layer(["the dog sat"]).tolist()
    [[2, 4, 3, 0]]
"""

from lamina.layers.preprocessing.category_encoding import CategoryEncoding as CategoryEncoding
from lamina.layers.preprocessing.discretization import Discretization as Discretization
from lamina.layers.preprocessing.hashing import Hashing as Hashing
from lamina.layers.preprocessing.imputation import Imputer as Imputer, impute as impute
from lamina.layers.preprocessing.lookup import (
    IntegerLookup as IntegerLookup,
    StringLookup as StringLookup,
)
from lamina.layers.preprocessing.normalization import Normalization as Normalization
from lamina.layers.preprocessing.text_vectorization import TextVectorization as TextVectorization

__all__ = [
    "CategoryEncoding",
    "Discretization",
    "Hashing",
    "Imputer",
    "IntegerLookup",
    "Normalization",
    "StringLookup",
    "TextVectorization",
    "impute",
]
