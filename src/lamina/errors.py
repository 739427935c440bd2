"""Error and warning types raised by lamina.

Most bad input raises the built-in ``ValueError`` / ``TypeError`` with a message that says what
was wrong and what to do. The types here exist where callers need to catch one family.

Example:
    >>> from lamina.errors import LaminaWarning
    >>> issubclass(LaminaWarning, UserWarning)
    True
"""

from __future__ import annotations

__all__ = ["LaminaWarning", "LoadError", "TrainingStopped"]


class LaminaWarning(UserWarning):
    """A warning lamina gives about a likely mistake (mismatched loss, leaking splits ...)."""


class LoadError(ValueError):
    """A saved model or weights file is damaged, hostile or does not match the architecture."""


class TrainingStopped(RuntimeError):
    """Training cannot go on (for example the loss became NaN); the message says why."""
