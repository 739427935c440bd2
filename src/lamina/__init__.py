"""lamina: the Keras programming model on PyTorch.

Example:
    >>> import lamina
    >>> lamina.__version__
    '0.1.0'
"""

from lamina import config, errors
from lamina.errors import LaminaWarning

__version__ = "0.1.0"

__all__ = ["config", "errors", "LaminaWarning", "__version__"]
