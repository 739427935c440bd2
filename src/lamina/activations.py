"""Activation functions, by Keras name.

``softmax`` and ``sigmoid`` attach their input to the output as ``y._keras_logits`` so that a
cross-entropy loss that follows can work from the logits, which is exact where the clipped
probabilities are not (DESIGN decision 7).

Example:
    >>> import torch
    >>> from lamina import activations
    >>> activations.get("relu")(torch.tensor([-1.0, 2.0]))
    tensor([0., 2.])
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from lamina._registry import Registry

__all__ = [
    "get",
    "serialize",
    "deserialize",
    "linear",
    "relu",
    "relu6",
    "leaky_relu",
    "elu",
    "selu",
    "gelu",
    "sigmoid",
    "hard_sigmoid",
    "softmax",
    "log_softmax",
    "softplus",
    "softsign",
    "tanh",
    "swish",
    "silu",
    "mish",
    "exponential",
]

_REGISTRY = Registry("activation")
register = _REGISTRY.register


@register()
def linear(x: torch.Tensor) -> torch.Tensor:
    """Identity: returns ``x`` unchanged (Keras's ``None`` activation)."""
    return x


@register()
def relu(
    x: torch.Tensor,
    negative_slope: float = 0.0,
    max_value: float | None = None,
    threshold: float = 0.0,
) -> torch.Tensor:
    """Rectified linear unit ``max(x, 0)``, with Keras's optional slope, cap and threshold.

    Example:
        >>> relu(torch.tensor([-2.0, 0.5, 9.0]), max_value=6.0)
        tensor([0.0000, 0.5000, 6.0000])
    """
    if negative_slope == 0.0 and max_value is None and threshold == 0.0:
        return torch.relu(x)
    if threshold != 0.0:
        y = torch.where(x >= threshold, x, negative_slope * (x - threshold))
    else:
        y = F.leaky_relu(x, negative_slope) if negative_slope else torch.relu(x)
    return y.clamp(max=max_value) if max_value is not None else y


@register()
def relu6(x: torch.Tensor) -> torch.Tensor:
    """``min(max(x, 0), 6)``."""
    return F.relu6(x)


@register()
def leaky_relu(x: torch.Tensor, negative_slope: float = 0.2) -> torch.Tensor:
    """``x`` if ``x > 0`` else ``negative_slope * x`` (Keras default slope 0.2)."""
    return F.leaky_relu(x, negative_slope)


@register()
def elu(x: torch.Tensor, alpha: float = 1.0) -> torch.Tensor:
    """Exponential linear unit."""
    return F.elu(x, alpha)


@register()
def selu(x: torch.Tensor) -> torch.Tensor:
    """Scaled exponential linear unit (self-normalizing networks)."""
    return F.selu(x)


@register()
def gelu(x: torch.Tensor, approximate: bool = False) -> torch.Tensor:
    """Gaussian error linear unit; ``approximate=True`` uses the tanh formula."""
    return F.gelu(x, approximate="tanh" if approximate else "none")


@register()
def sigmoid(x: torch.Tensor) -> torch.Tensor:
    """``1 / (1 + exp(-x))``; the result remembers ``x`` as its logits.

    Example:
        >>> y = sigmoid(torch.tensor([0.0]))
        >>> y, y._keras_logits
        (tensor([0.5000]), tensor([0.]))
    """
    y = torch.sigmoid(x)
    y._keras_logits = x
    return y


@register()
def hard_sigmoid(x: torch.Tensor) -> torch.Tensor:
    """Piecewise linear sigmoid ``clip(x / 6 + 0.5, 0, 1)`` (Keras 3 definition)."""
    return F.hardsigmoid(x)


@register()
def softmax(x: torch.Tensor, axis: int = -1) -> torch.Tensor:
    """Softmax over ``axis``; the result remembers ``x`` as its logits.

    Example:
        >>> softmax(torch.tensor([[0.0, 0.0]]))
        tensor([[0.5000, 0.5000]])
    """
    y = torch.softmax(x, dim=axis)
    if axis in (-1, x.dim() - 1):
        y._keras_logits = x
    return y


@register()
def log_softmax(x: torch.Tensor, axis: int = -1) -> torch.Tensor:
    """Logarithm of the softmax over ``axis``."""
    return torch.log_softmax(x, dim=axis)


@register()
def softplus(x: torch.Tensor) -> torch.Tensor:
    """``log(1 + exp(x))``."""
    return F.softplus(x)


@register()
def softsign(x: torch.Tensor) -> torch.Tensor:
    """``x / (1 + |x|)``."""
    return F.softsign(x)


@register()
def tanh(x: torch.Tensor) -> torch.Tensor:
    """Hyperbolic tangent."""
    return torch.tanh(x)


@register()
def silu(x: torch.Tensor) -> torch.Tensor:
    """``x * sigmoid(x)`` (also called swish)."""
    return F.silu(x)


register("swish")(silu)
swish = silu


@register()
def mish(x: torch.Tensor) -> torch.Tensor:
    """``x * tanh(softplus(x))``."""
    return F.mish(x)


@register()
def exponential(x: torch.Tensor) -> torch.Tensor:
    """``exp(x)``."""
    return torch.exp(x)


def get(identifier: str | Callable | None) -> Callable[[torch.Tensor], torch.Tensor]:
    """Resolve an activation given by name, callable or ``None`` (linear).

    Example:
        >>> get(None) is linear
        True
        >>> get("softmaks")
        Traceback (most recent call last):
        ...
        ValueError: Unknown activation: 'softmaks'. Did you mean 'softmax'...
    """
    if identifier is None:
        return linear
    if isinstance(identifier, str):
        return _REGISTRY.lookup(identifier)
    if callable(identifier):
        return identifier
    raise TypeError(
        f"An activation must be a name such as 'relu', a callable or None; got {identifier!r}."
    )


def serialize(fn: Callable | str | None) -> str | None:
    """The registered name of an activation (``None`` for linear)."""
    if fn is None or isinstance(fn, str):
        return fn
    name = _REGISTRY.canonical_name(fn)
    if name is None:
        from lamina._registry import serialize as _ser

        return _ser(fn, _REGISTRY)
    return name


def deserialize(name: str | None, custom_objects: dict | None = None) -> Callable:
    if custom_objects and name in custom_objects:
        return custom_objects[name]
    return get(name)
