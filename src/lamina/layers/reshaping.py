"""Spatial reshaping layers: UpSampling1D/2D, ZeroPadding1D/2D, Cropping1D/2D, and
SpatialDropout2D (dropout of whole feature maps).

All take channels-last inputs by default (``(batch, steps, channels)``, ``(batch, height,
width, channels)``); the 2D layers accept ``data_format='channels_first'``.

Example:
    >>> import torch
    >>> from lamina.layers.reshaping import UpSampling1D, ZeroPadding1D, Cropping1D
    >>> x = torch.tensor([[[1.0], [2.0]]])
    >>> UpSampling1D(2)(x).flatten().tolist()
    [1.0, 1.0, 2.0, 2.0]
    >>> ZeroPadding1D((1, 2))(x).flatten().tolist()
    [0.0, 1.0, 2.0, 0.0, 0.0]
    >>> Cropping1D((1, 0))(x).flatten().tolist()
    [2.0]
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from lamina.engine.layer import InputSpec, Layer, register_layer
from lamina.layers import _conv_utils as cu
from lamina.layers._dropout import apply_dropout
from lamina.layers.core import Dropout

__all__ = [
    "UpSampling1D",
    "UpSampling2D",
    "ZeroPadding1D",
    "ZeroPadding2D",
    "Cropping1D",
    "Cropping2D",
    "SpatialDropout2D",
]


def _pairs(value: Any, rank: int, name: str) -> tuple[tuple[int, int], ...]:
    """Keras's padding / cropping forms: ``n``, ``(a, b)`` for 1D (before, after) or 2D
    (symmetric per axis), ``((top, bottom), (left, right))``."""
    try:
        if isinstance(value, int):
            pairs = ((value, value),) * rank
        elif rank == 1:
            a, b = value
            pairs = ((int(a), int(b)),)
        elif all(isinstance(v, int) for v in value):
            pairs = tuple((int(v), int(v)) for v in value)
        else:
            pairs = tuple((int(a), int(b)) for a, b in value)
    except (TypeError, ValueError):
        pairs = ()
    if len(pairs) != rank or any(p < 0 for pair in pairs for p in pair):
        forms = (
            "n or (before, after)" if rank == 1 else "n, (h, w) or ((top, bottom), (left, right))"
        )
        raise ValueError(f"`{name}` must be non-negative integers given as {forms}, got {value!r}.")
    return pairs


class _Spatial(Layer):
    """Shared rank check and channels handling of the layers below."""

    _rank = 1

    def build(self, input_shape: tuple) -> None:
        cu.check_rank(self, input_shape, self._rank, self.data_format)
        self.compute_output_shape(input_shape)
        self.input_spec = InputSpec(ndim=self._rank + 2)

    def _first_axis(self) -> int:
        return 1 if self.data_format == "channels_last" else 2

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        spatial = cu.spatial_of(input_shape, self.data_format)
        out = [None if n is None else self._length(n, i) for i, n in enumerate(spatial)]
        channels = input_shape[cu.channel_axis(self.data_format)]
        return cu.with_spatial(input_shape, out, channels, self.data_format)


class _UpSampling(_Spatial):
    def _length(self, n: int, axis: int) -> int:
        return n * self.size[axis]


@register_layer()
class UpSampling1D(_UpSampling):
    """Repeats each step ``size`` times: ``(batch, steps, channels)`` -> ``(batch, steps *
    size, channels)``.

    Example:
        >>> UpSampling1D(3)(torch.zeros(2, 4, 5)).shape
        torch.Size([2, 12, 5])
    """

    _rank = 1

    def __init__(self, size: int = 2, **kwargs: Any):
        super().__init__(**kwargs)
        self.size = cu.normalize_tuple(size, 1, "size")
        self.data_format = "channels_last"

    def get_config(self) -> dict[str, Any]:
        cfg = super().get_config()
        cfg["size"] = self.size[0]
        return cfg

    def call(self, inputs: torch.Tensor) -> torch.Tensor:
        return inputs.repeat_interleave(self.size[0], dim=1)


@register_layer()
class UpSampling2D(_UpSampling):
    """Scales images up by ``size``: ``(batch, h, w, channels)`` -> ``(batch, h * size[0],
    w * size[1], channels)``, repeating pixels (``interpolation='nearest'``) or interpolating
    (``'bilinear'``, half-pixel centres as TF's and Keras's ``resize``).

    Example:
        >>> UpSampling2D((2, 2))(torch.zeros(1, 7, 7, 16)).shape
        torch.Size([1, 14, 14, 16])
    """

    _rank = 2

    def __init__(
        self,
        size: int | tuple[int, int] = (2, 2),
        data_format: str | None = None,
        interpolation: str = "nearest",
        **kwargs: Any,
    ):
        super().__init__(**kwargs)
        self.size = cu.normalize_tuple(size, 2, "size")
        self.data_format = cu.normalize_data_format(data_format)
        self.interpolation = cu.normalize_padding(
            interpolation, ("nearest", "bilinear"), "UpSampling2D", "interpolation"
        )

    def call(self, inputs: torch.Tensor) -> torch.Tensor:
        first = self._first_axis()
        if self.interpolation == "nearest":
            out = inputs.repeat_interleave(self.size[0], dim=first)
            return out.repeat_interleave(self.size[1], dim=first + 1)
        x = inputs.movedim(-1, 1) if self.data_format == "channels_last" else inputs
        y = F.interpolate(x, scale_factor=self.size, mode=self.interpolation, align_corners=False)
        return y.movedim(1, -1) if self.data_format == "channels_last" else y


class _Padding(_Spatial):
    def _length(self, n: int, axis: int) -> int:
        return n + sum(self.padding[axis])

    def call(self, inputs: torch.Tensor) -> torch.Tensor:
        pairs = list(self.padding)
        if self.data_format == "channels_last":
            pairs.append((0, 0))  # F.pad counts axes from the last one
        return F.pad(inputs, cu.torch_pad_arg(pairs))


@register_layer()
class ZeroPadding1D(_Padding):
    """Adds zeros before and after the steps: ``padding`` is ``n`` or ``(before, after)``.

    Example:
        >>> ZeroPadding1D(2)(torch.ones(1, 3, 4)).shape
        torch.Size([1, 7, 4])
    """

    _rank = 1

    def __init__(
        self, padding: int | tuple[int, int] = 1, data_format: str | None = None, **kwargs: Any
    ):
        super().__init__(**kwargs)
        self.padding = _pairs(padding, 1, "padding")
        self.data_format = cu.normalize_data_format(data_format)

    def get_config(self) -> dict[str, Any]:
        cfg = super().get_config()
        cfg["padding"] = list(self.padding[0])
        return cfg


@register_layer()
class ZeroPadding2D(_Padding):
    """Adds rows and columns of zeros around images: ``padding`` is ``n``, ``(h, w)``
    (symmetric) or ``((top, bottom), (left, right))``.

    Example:
        >>> ZeroPadding2D(((1, 0), (2, 2)))(torch.ones(1, 3, 3, 1)).shape
        torch.Size([1, 4, 7, 1])
    """

    _rank = 2

    def __init__(self, padding: Any = (1, 1), data_format: str | None = None, **kwargs: Any):
        super().__init__(**kwargs)
        self.padding = _pairs(padding, 2, "padding")
        self.data_format = cu.normalize_data_format(data_format)


class _Cropping(_Spatial):
    def _length(self, n: int, axis: int) -> int:
        before, after = self.cropping[axis]
        if before + after >= n:
            raise ValueError(
                f"Layer '{self.name}' ({type(self).__name__}): cropping {self.cropping[axis]} "
                f"removes all {n} positions of spatial axis {axis}; crop less."
            )
        return n - before - after

    def call(self, inputs: torch.Tensor) -> torch.Tensor:
        first = self._first_axis()
        out = inputs
        for i, (before, after) in enumerate(self.cropping):
            n = out.shape[first + i]
            self._length(n, i)
            out = out.narrow(first + i, before, n - before - after)
        return out


@register_layer()
class Cropping1D(_Cropping):
    """Removes steps at the start and end: ``cropping`` is ``n`` or ``(before, after)``.

    Example:
        >>> Cropping1D((1, 2))(torch.ones(1, 10, 4)).shape
        torch.Size([1, 7, 4])
    """

    _rank = 1

    def __init__(self, cropping: int | tuple[int, int] = (1, 1), **kwargs: Any):
        super().__init__(**kwargs)
        self.cropping = _pairs(cropping, 1, "cropping")
        self.data_format = "channels_last"

    def get_config(self) -> dict[str, Any]:
        cfg = super().get_config()
        cfg["cropping"] = list(self.cropping[0])
        return cfg


@register_layer()
class Cropping2D(_Cropping):
    """Removes rows and columns at the borders: ``cropping`` is ``n``, ``(h, w)`` or
    ``((top, bottom), (left, right))``.

    Example:
        >>> Cropping2D(((2, 2), (4, 4)))(torch.ones(1, 28, 28, 3)).shape
        torch.Size([1, 24, 20, 3])
    """

    _rank = 2

    def __init__(
        self, cropping: Any = ((0, 0), (0, 0)), data_format: str | None = None, **kwargs: Any
    ):
        super().__init__(**kwargs)
        self.cropping = _pairs(cropping, 2, "cropping")
        self.data_format = cu.normalize_data_format(data_format)


@register_layer()
class SpatialDropout2D(Dropout):
    """Dropout of whole feature maps: during training each channel of each sample is zeroed
    with probability ``rate`` (the rest scaled by ``1 / (1 - rate)``). Neighbouring pixels
    are strongly correlated, so dropping single pixels would barely regularize.

    Example:
        >>> layer = SpatialDropout2D(0.5)
        >>> y = layer(torch.ones(4, 5, 5, 8), training=True)
        >>> bool(((y == 0).all(dim=(1, 2)) | (y == 2).all(dim=(1, 2))).all())
        True
    """

    def __init__(
        self,
        rate: float,
        data_format: str | None = None,
        seed: int | None = None,
        **kwargs: Any,
    ):
        super().__init__(rate, seed=seed, **kwargs)
        self.data_format = cu.normalize_data_format(data_format)
        self.input_spec = InputSpec(ndim=4)

    def call(self, inputs: torch.Tensor, training: bool | None = None) -> torch.Tensor:
        if training is None:
            training = self.training
        if not training or self.rate == 0:
            return inputs
        n, shape = inputs.shape[0], list(inputs.shape)
        if self.data_format == "channels_last":
            noise = (n, 1, 1, shape[3])
        else:
            noise = (n, shape[1], 1, 1)
        return apply_dropout(inputs, self.rate, noise)
