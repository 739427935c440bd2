"""Weight initializers with Keras names, defaults and fan rules.

Shapes are given in Keras layout (a Dense kernel is ``(in, out)``; a convolution kernel is
``(*kernel_size, in, out)``), which decides fan-in and fan-out exactly as Keras does.

Example:
    >>> from lamina import initializers
    >>> w = initializers.get("glorot_uniform")((784, 512))
    >>> tuple(w.shape), bool(w.abs().max() <= (6 / (784 + 512)) ** 0.5)
    ((784, 512), True)
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch

from lamina import config
from lamina._registry import (
    Configurable,
    Registry,
    deserialize as _deserialize,
    serialize as _serialize,
)

__all__ = [
    "Initializer",
    "Zeros",
    "Ones",
    "Constant",
    "RandomNormal",
    "RandomUniform",
    "TruncatedNormal",
    "VarianceScaling",
    "GlorotUniform",
    "GlorotNormal",
    "HeUniform",
    "HeNormal",
    "LecunUniform",
    "LecunNormal",
    "Orthogonal",
    "Identity",
    "get",
    "serialize",
    "deserialize",
    "compute_fans",
]

_REGISTRY = Registry("initializer")
register = _REGISTRY.register


def compute_fans(shape: tuple[int, ...]) -> tuple[int, int]:
    """Keras's fan-in and fan-out for a weight of ``shape`` (Keras layout).

    Example:
        >>> compute_fans((3, 16, 32))   # Conv1D kernel: 3 taps, 16 -> 32 channels
        (48, 96)
    """
    if len(shape) == 0:
        return 1, 1
    if len(shape) == 1:
        return shape[0], shape[0]
    if len(shape) == 2:
        return shape[0], shape[1]
    receptive = math.prod(shape[:-2])
    return shape[-2] * receptive, shape[-1] * receptive


class Initializer(Configurable):
    """Base class: ``init(shape, dtype=None) -> torch.Tensor``.

    Subclasses store their constructor arguments under the same names, so ``get_config`` comes
    from the signature.
    """

    def __call__(self, shape: tuple[int, ...], dtype: torch.dtype | None = None) -> torch.Tensor:
        raise NotImplementedError

    def _generator(self) -> torch.Generator | None:
        seed = getattr(self, "seed", None)
        if seed is None:
            return None
        # A seeded initializer gives the same values on every call, as in Keras.
        return torch.Generator().manual_seed(int(seed))


def _dtype(dtype: torch.dtype | None) -> torch.dtype:
    return dtype or config.floatx_dtype()


@register("zeros")
class Zeros(Initializer):
    """All zeros (Keras's default bias initializer)."""

    def __call__(self, shape, dtype=None):
        return torch.zeros(shape, dtype=_dtype(dtype))


@register("ones")
class Ones(Initializer):
    """All ones."""

    def __call__(self, shape, dtype=None):
        return torch.ones(shape, dtype=_dtype(dtype))


@register("constant")
class Constant(Initializer):
    """Every element equal to ``value``.

    Example:
        >>> Constant(0.5)((2,))
        tensor([0.5000, 0.5000])
    """

    def __init__(self, value: float = 0.0):
        self.value = value

    def __call__(self, shape, dtype=None):
        return torch.full(shape, float(self.value), dtype=_dtype(dtype))


@register("random_normal", "normal")
class RandomNormal(Initializer):
    """Normal distribution with ``mean`` and ``stddev`` (Keras default 0.05)."""

    def __init__(self, mean: float = 0.0, stddev: float = 0.05, seed: int | None = None):
        self.mean, self.stddev, self.seed = mean, stddev, seed

    def __call__(self, shape, dtype=None):
        t = torch.empty(shape, dtype=_dtype(dtype))
        return t.normal_(self.mean, self.stddev, generator=self._generator())


@register("random_uniform", "uniform")
class RandomUniform(Initializer):
    """Uniform on ``[minval, maxval)`` (Keras default ±0.05)."""

    def __init__(self, minval: float = -0.05, maxval: float = 0.05, seed: int | None = None):
        self.minval, self.maxval, self.seed = minval, maxval, seed

    def __call__(self, shape, dtype=None):
        t = torch.empty(shape, dtype=_dtype(dtype))
        return t.uniform_(self.minval, self.maxval, generator=self._generator())


def _truncated_normal(shape, stddev, mean, dtype, generator):
    t = torch.empty(shape, dtype=dtype)
    # Values more than two standard deviations from the mean are redrawn, as in Keras.
    return torch.nn.init.trunc_normal_(
        t, mean=mean, std=stddev, a=mean - 2 * stddev, b=mean + 2 * stddev, generator=generator
    )


@register("truncated_normal")
class TruncatedNormal(Initializer):
    """Normal distribution cut at two standard deviations (Keras default stddev 0.05)."""

    def __init__(self, mean: float = 0.0, stddev: float = 0.05, seed: int | None = None):
        self.mean, self.stddev, self.seed = mean, stddev, seed

    def __call__(self, shape, dtype=None):
        return _truncated_normal(shape, self.stddev, self.mean, _dtype(dtype), self._generator())


@register("variance_scaling")
class VarianceScaling(Initializer):
    """Samples with variance ``scale / n``, ``n`` the fan-in, fan-out or their mean.

    Example:
        >>> w = VarianceScaling(2.0, "fan_in", "untruncated_normal", seed=1)((4000, 10))
        >>> round(float(w.std()), 2) == round((2.0 / 4000) ** 0.5, 2)
        True
    """

    def __init__(
        self,
        scale: float = 1.0,
        mode: str = "fan_in",
        distribution: str = "truncated_normal",
        seed: int | None = None,
    ):
        if mode not in ("fan_in", "fan_out", "fan_avg"):
            raise ValueError(f"mode must be 'fan_in', 'fan_out' or 'fan_avg', got {mode!r}.")
        if distribution not in ("truncated_normal", "untruncated_normal", "uniform", "normal"):
            raise ValueError(
                "distribution must be 'truncated_normal', 'untruncated_normal' or 'uniform', "
                f"got {distribution!r}."
            )
        self.scale, self.mode, self.distribution, self.seed = scale, mode, distribution, seed

    def __call__(self, shape, dtype=None):
        fan_in, fan_out = compute_fans(tuple(shape))
        n = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2}[self.mode]
        scale = self.scale / max(1.0, n)
        dtype, gen = _dtype(dtype), self._generator()
        if self.distribution in ("truncated_normal", "normal"):
            # 0.879... is the stddev of a unit normal truncated at two standard deviations.
            stddev = math.sqrt(scale) / 0.87962566103423978
            return _truncated_normal(shape, stddev, 0.0, dtype, gen)
        if self.distribution == "untruncated_normal":
            return torch.empty(shape, dtype=dtype).normal_(0.0, math.sqrt(scale), generator=gen)
        limit = math.sqrt(3.0 * scale)
        return torch.empty(shape, dtype=dtype).uniform_(-limit, limit, generator=gen)


def _scaling(name: str, scale: float, mode: str, distribution: str, doc: str):
    def __init__(self, seed: int | None = None):
        VarianceScaling.__init__(self, scale, mode, distribution, seed)

    def get_config(self):
        return {"seed": self.seed}

    cls = type(name, (VarianceScaling,), {"__init__": __init__, "get_config": get_config})
    cls.__doc__ = doc
    cls.__module__ = __name__
    return register(_snake(name))(cls)


def _snake(name: str) -> str:
    from lamina._registry import snake_case

    return snake_case(name)


GlorotUniform = _scaling(
    "GlorotUniform",
    1.0,
    "fan_avg",
    "uniform",
    "Uniform on ±sqrt(6 / (fan_in + fan_out)): Keras's default kernel initializer.",
)
GlorotNormal = _scaling(
    "GlorotNormal",
    1.0,
    "fan_avg",
    "truncated_normal",
    "Truncated normal with stddev sqrt(2 / (fan_in + fan_out)).",
)
HeUniform = _scaling("HeUniform", 2.0, "fan_in", "uniform", "Uniform on ±sqrt(6 / fan_in).")
HeNormal = _scaling(
    "HeNormal", 2.0, "fan_in", "truncated_normal", "Truncated normal, stddev sqrt(2 / fan_in)."
)
LecunUniform = _scaling("LecunUniform", 1.0, "fan_in", "uniform", "Uniform on ±sqrt(3 / fan_in).")
LecunNormal = _scaling(
    "LecunNormal", 1.0, "fan_in", "truncated_normal", "Truncated normal, stddev sqrt(1 / fan_in)."
)


@register("orthogonal")
class Orthogonal(Initializer):
    """A (semi-)orthogonal matrix times ``gain``: Keras's recurrent-kernel default.

    The shape is flattened to ``(prod(shape[:-1]), shape[-1])``.

    Example:
        >>> q = Orthogonal(seed=0)((4, 4))
        >>> torch.allclose(q @ q.T, torch.eye(4), atol=1e-5)
        True
    """

    def __init__(self, gain: float = 1.0, seed: int | None = None):
        self.gain, self.seed = gain, seed

    def __call__(self, shape, dtype=None):
        if len(shape) < 2:
            raise ValueError(f"Orthogonal needs a shape of rank >= 2, got {tuple(shape)}.")
        rows, cols = math.prod(shape[:-1]), shape[-1]
        a = torch.empty(max(rows, cols), min(rows, cols), dtype=torch.float64)
        a.normal_(0.0, 1.0, generator=self._generator())
        q, r = torch.linalg.qr(a)
        q = q * torch.sign(torch.diagonal(r))  # makes the distribution uniform (Haar)
        if rows < cols:
            q = q.T
        return (self.gain * q).reshape(shape).to(_dtype(dtype))


@register("identity")
class Identity(Initializer):
    """``gain`` times the identity matrix (2D shapes only)."""

    def __init__(self, gain: float = 1.0):
        self.gain = gain

    def __call__(self, shape, dtype=None):
        if len(shape) != 2:
            raise ValueError(f"Identity needs a 2D shape, got {tuple(shape)}.")
        return self.gain * torch.eye(*shape, dtype=_dtype(dtype))


def get(identifier: str | dict | Initializer | Callable | None) -> Callable:
    """Resolve an initializer given by name, config dict, instance or callable.

    Example:
        >>> get("he_normal")
        HeNormal(seed=None)
    """
    return _REGISTRY.resolve(identifier)


def serialize(init: Any) -> Any:
    """JSON-compatible form of a initializer (its name or ``{"class_name", "config"}``)."""
    return _serialize(init, _REGISTRY)


def deserialize(data: Any, custom_objects: dict | None = None) -> Any:
    """Inverse of :func:`serialize`; only registered classes or ``custom_objects`` are built."""
    obj = _deserialize(data, _REGISTRY, custom_objects)
    return obj() if isinstance(obj, type) else obj
