"""Global settings: the device models run on, the default float type, the fuzz factor.

Example:
    >>> import lamina
    >>> lamina.config.floatx()
    'float32'
    >>> lamina.config.epsilon()
    1e-07
"""

from __future__ import annotations

import torch

__all__ = ["get_device", "set_device", "floatx", "set_floatx", "epsilon", "set_epsilon"]

_DEVICE: torch.device | None = None
_FLOATX = "float32"
_EPSILON = 1e-7


def get_device() -> torch.device:
    """The device new models train on: the forced one, else CUDA when available, else CPU."""
    if _DEVICE is not None:
        return _DEVICE
    return torch.device("cuda") if torch.cuda.is_available() else torch.device("cpu")


def set_device(device: str | torch.device | None) -> None:
    """Force a device (``"cpu"``, ``"cuda"``, ``"cuda:1"``); ``None`` returns to automatic."""
    global _DEVICE
    _DEVICE = None if device is None else torch.device(device)


def floatx() -> str:
    """The default float type of weights and inputs, as a string (``"float32"``)."""
    return _FLOATX


def set_floatx(value: str) -> None:
    """Set the default float type (``"float16"``, ``"bfloat16"``, ``"float32"``, ``"float64"``)."""
    global _FLOATX
    if value not in ("float16", "bfloat16", "float32", "float64"):
        raise ValueError(
            f"Unknown floatx {value!r}: use 'float16', 'bfloat16', 'float32' or 'float64'."
        )
    _FLOATX = value


def floatx_dtype() -> torch.dtype:
    return getattr(torch, _FLOATX)


def epsilon() -> float:
    """The fuzz factor used in numeric expressions (Keras's ``backend.epsilon()``)."""
    return _EPSILON


def set_epsilon(value: float) -> None:
    global _EPSILON
    _EPSILON = float(value)
