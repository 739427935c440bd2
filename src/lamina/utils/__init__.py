"""Utilities: one-hot encoding, normalization, seeding, plotting, padding, time-series
windows, batch datasets and file downloads.

Example:
    >>> from lamina import utils
    >>> utils.to_categorical([1, 0]).shape
    (2, 2)
"""

from typing import Any

from lamina.utils.numerical import (
    multi_hot as multi_hot,
    normalize as normalize,
    to_categorical as to_categorical,
)
from lamina.utils.plotting import plot_history as plot_history
from lamina.utils.random import set_random_seed as set_random_seed

# Names defined in their own modules, imported on first use.
_LAZY = {
    "pad_sequences": "lamina.utils.sequence",
    "timeseries_dataset_from_array": "lamina.utils.timeseries",
    "window_generator": "lamina.utils.timeseries",
    "PyDataset": "lamina.utils.py_dataset",
    "Sequence": "lamina.utils.py_dataset",
    "get_file": "lamina.datasets",
    "impute": "lamina.layers.preprocessing.imputation",
    "TimeseriesGenerator": "lamina.utils.timeseries",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'lamina.utils' has no attribute {name!r}")
