"""Classic Keras ``keras.preprocessing`` module paths: ``text`` and ``sequence``.

Example:
    >>> from lamina.preprocessing.sequence import pad_sequences
    >>> from lamina.preprocessing.text import Tokenizer
    >>> tok = Tokenizer()
    >>> tok.fit_on_texts(["a b", "b"])
    >>> pad_sequences(tok.texts_to_sequences(["a b", "b"]))
    array([[2, 1],
           [0, 1]], dtype=int32)
"""

from lamina.preprocessing import sequence as sequence, text as text
from lamina.utils.timeseries import timeseries_dataset_from_array as timeseries_dataset_from_array
