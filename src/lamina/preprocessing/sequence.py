"""Classic Keras ``keras.preprocessing.sequence``: padding, time-series windows, skip-grams.

Example:
    >>> from lamina.preprocessing.sequence import pad_sequences
    >>> pad_sequences([[1], [2, 3]], padding="post")
    array([[1, 0],
           [2, 3]], dtype=int32)
"""

from lamina.text.skipgrams import make_sampling_table as make_sampling_table, skipgrams as skipgrams
from lamina.utils.sequence import pad_sequences as pad_sequences
from lamina.utils.timeseries import TimeseriesGenerator as TimeseriesGenerator

__all__ = ["TimeseriesGenerator", "make_sampling_table", "pad_sequences", "skipgrams"]
