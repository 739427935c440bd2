"""Callbacks: objects whose hooks ``fit`` / ``evaluate`` / ``predict`` call (Keras names).

Example:
    >>> from lamina import callbacks
    >>> isinstance(callbacks.History(), callbacks.Callback)
    True
"""

from lamina.callbacks.base import (
    Callback as Callback,
    CallbackList as CallbackList,
    History as History,
)
from lamina.callbacks.progbar import ProgbarLogger as ProgbarLogger
