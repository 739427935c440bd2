"""Callbacks: objects whose hooks ``fit`` / ``evaluate`` / ``predict`` call (Keras names).

Example:
    >>> from lamina import callbacks
    >>> isinstance(callbacks.History(), callbacks.Callback)
    True
"""

from lamina.callbacks.backup import BackupAndRestore as BackupAndRestore
from lamina.callbacks.base import (
    Callback as Callback,
    CallbackList as CallbackList,
    History as History,
)
from lamina.callbacks.checkpoint import ModelCheckpoint as ModelCheckpoint
from lamina.callbacks.early_stopping import (
    EarlyStopping as EarlyStopping,
    TerminateOnNaN as TerminateOnNaN,
)
from lamina.callbacks.lambda_callback import LambdaCallback as LambdaCallback
from lamina.callbacks.loggers import CSVLogger as CSVLogger, TensorBoard as TensorBoard
from lamina.callbacks.lr import (
    LearningRateScheduler as LearningRateScheduler,
    ReduceLROnPlateau as ReduceLROnPlateau,
)
from lamina.callbacks.progbar import ProgbarLogger as ProgbarLogger
