"""Pooling layers: MaxPooling1D/2D, AveragePooling1D/2D and the global poolings.

Windows follow TensorFlow (which Keras follows): ``'valid'`` gives ``floor((size - pool) /
stride) + 1`` outputs and ``'same'`` gives ``ceil(size / stride)``, padding the odd extra
position after. Max pooling ignores padded positions; average pooling with ``'same'`` divides
by the number of real (unpadded) values in each window, not by the window size.

Example:
    >>> import torch
    >>> from lamina.layers.pooling import MaxPooling1D, GlobalMaxPooling1D
    >>> x = torch.arange(10.0).reshape(1, 10, 1)
    >>> MaxPooling1D(3, padding="same")(x).flatten().tolist()
    [1.0, 4.0, 7.0, 9.0]
    >>> GlobalMaxPooling1D()(x).tolist()
    [[9.0]]
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F

from lamina.engine.layer import InputSpec, Layer, register_layer
from lamina.layers import _conv_utils as cu

__all__ = [
    "MaxPooling1D",
    "MaxPooling2D",
    "AveragePooling1D",
    "AveragePooling2D",
    "GlobalMaxPooling1D",
    "GlobalMaxPooling2D",
    "GlobalAveragePooling1D",
    "GlobalAveragePooling2D",
]


class _Pooling(Layer):
    """A window (max or mean) sliding over ``_rank`` spatial axes."""

    _rank = 1
    _mode = "max"

    def __init__(
        self,
        pool_size: int | tuple[int, ...] = 2,
        strides: int | tuple[int, ...] | None = None,
        padding: str = "valid",
        data_format: str | None = None,
        **kwargs: Any,
    ):
        super().__init__(**kwargs)
        self.pool_size = cu.normalize_tuple(pool_size, self._rank, "pool_size")
        self.strides = (
            self.pool_size
            if strides is None
            else cu.normalize_tuple(strides, self._rank, "strides")
        )
        self.padding = cu.normalize_padding(padding, ("valid", "same"), type(self).__name__)
        self.data_format = cu.normalize_data_format(data_format)
        self.input_spec = InputSpec(ndim=self._rank + 2)

    def build(self, input_shape: tuple) -> None:
        cu.check_rank(self, input_shape, self._rank, self.data_format)
        self.compute_output_shape(input_shape)

    def _check_fits(self, spatial: tuple) -> None:
        if self.padding == "valid" and any(
            n is not None and n < k for n, k in zip(spatial, self.pool_size)
        ):
            raise ValueError(
                f"Layer '{self.name}' ({type(self).__name__}): pool_size {self.pool_size} is "
                f"larger than the input's spatial size {tuple(spatial)} with padding='valid'. "
                "Use a smaller pool_size, padding='same', or larger inputs."
            )

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        spatial = cu.spatial_of(input_shape, self.data_format)
        self._check_fits(spatial)
        out = [
            cu.conv_output_length(n, k, s, self.padding)
            for n, k, s in zip(spatial, self.pool_size, self.strides)
        ]
        channels = input_shape[cu.channel_axis(self.data_format)]
        return cu.with_spatial(input_shape, out, channels, self.data_format)

    def call(self, inputs: torch.Tensor) -> torch.Tensor:
        spatial = cu.spatial_of(inputs.shape, self.data_format)
        self._check_fits(spatial)
        rank, fmt = self._rank, self.data_format
        pads = cu.paddings(spatial, self.pool_size, self.strides, self.padding, (1,) * rank)
        # PyTorch pads by itself (-inf for max, excluded from the mean) when the padding is
        # symmetric and at most half the window; TF's odd extra position is padded here.
        implicit = all(a == b and 2 * a <= k for (a, b), k in zip(pads, self.pool_size))
        window = cu.lift(self.pool_size, rank), cu.lift(self.strides, rank)
        if self._mode == "max":
            if implicit:
                x = cu.to_torch_layout(inputs, rank, fmt)
                y = F.max_pool2d(x, *window, cu.lift([a for a, _ in pads], rank, 0))
            else:
                x = cu.pad_input(inputs, pads, fmt, value=-math.inf)
                y = F.max_pool2d(cu.to_torch_layout(x, rank, fmt), *window)
        elif implicit:
            x = cu.to_torch_layout(inputs, rank, fmt)
            pad = cu.lift([a for a, _ in pads], rank, 0)
            y = F.avg_pool2d(x, *window, pad, count_include_pad=False)
        else:
            # Mean of the zero-padded windows / mean of a padded mask of ones
            # = sum of the real values / count of the real values (TF's rule).
            x = cu.to_torch_layout(cu.pad_input(inputs, pads, fmt), rank, fmt)
            ones = torch.ones((1, 1, *spatial), dtype=x.dtype, device=x.device)
            ones = cu.to_torch_layout(
                cu.pad_input(ones, pads, "channels_first"), rank, "channels_first"
            )
            y = F.avg_pool2d(x, *window) / F.avg_pool2d(ones, *window)
        return cu.from_torch_layout(y, rank, fmt)


@register_layer("MaxPooling1D", "MaxPool1D")
class MaxPooling1D(_Pooling):
    """Maximum over windows of ``pool_size`` steps: ``(batch, steps, channels)`` ->
    ``(batch, new_steps, channels)``.

    Args:
        pool_size: window length (default 2).
        strides: step between windows (default ``pool_size``).
        padding: ``'valid'`` or ``'same'`` (TF rule, see the module docstring).
        data_format: ``'channels_last'`` (default) or ``'channels_first'``.

    Example:
        >>> MaxPooling1D(5)(torch.zeros(2, 494, 32)).shape
        torch.Size([2, 98, 32])
    """

    _rank, _mode = 1, "max"


@register_layer("MaxPooling2D", "MaxPool2D")
class MaxPooling2D(_Pooling):
    """Maximum over ``pool_size`` windows of images: ``(batch, h, w, channels)`` ->
    ``(batch, new_h, new_w, channels)``; arguments as :class:`MaxPooling1D`, in pairs.

    Example:
        >>> MaxPooling2D((2, 2))(torch.zeros(1, 26, 26, 32)).shape
        torch.Size([1, 13, 13, 32])
    """

    _rank, _mode = 2, "max"


@register_layer("AveragePooling1D", "AvgPool1D")
class AveragePooling1D(_Pooling):
    """Mean over windows of ``pool_size`` steps; with ``'same'`` padding, the mean of the
    real values in each window. Arguments as :class:`MaxPooling1D`.

    Example:
        >>> x = torch.tensor([[[1.0], [2.0], [3.0]]])
        >>> AveragePooling1D(2, padding="same")(x).flatten().tolist()
        [1.5, 3.0]
    """

    _rank, _mode = 1, "avg"


@register_layer("AveragePooling2D", "AvgPool2D")
class AveragePooling2D(_Pooling):
    """Mean over ``pool_size`` windows of images. Arguments as :class:`MaxPooling2D`.

    Example:
        >>> AveragePooling2D(2, strides=1, padding="same")(torch.ones(1, 3, 3, 2)).shape
        torch.Size([1, 3, 3, 2])
    """

    _rank, _mode = 2, "avg"


class _GlobalPooling(Layer):
    """Max or mean over all spatial axes."""

    _rank = 1

    def __init__(self, data_format: str | None = None, keepdims: bool = False, **kwargs: Any):
        super().__init__(**kwargs)
        self.data_format = cu.normalize_data_format(data_format)
        self.keepdims = bool(keepdims)
        self.input_spec = InputSpec(ndim=self._rank + 2)

    def build(self, input_shape: tuple) -> None:
        cu.check_rank(self, input_shape, self._rank, self.data_format)

    def _axes(self) -> tuple[int, ...]:
        first = 1 if self.data_format == "channels_last" else 2
        return tuple(range(first, first + self._rank))

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        channels = input_shape[cu.channel_axis(self.data_format)]
        if not self.keepdims:
            return (input_shape[0], channels)
        return cu.with_spatial(input_shape, (1,) * self._rank, channels, self.data_format)


class _GlobalMax(_GlobalPooling):
    def call(self, inputs: torch.Tensor) -> torch.Tensor:
        return inputs.amax(dim=self._axes(), keepdim=self.keepdims)


class _GlobalAverage(_GlobalPooling):
    def call(self, inputs: torch.Tensor) -> torch.Tensor:
        return inputs.mean(dim=self._axes(), keepdim=self.keepdims)


@register_layer("GlobalMaxPooling1D", "GlobalMaxPool1D")
class GlobalMaxPooling1D(_GlobalMax):
    """Maximum over steps: ``(batch, steps, channels)`` -> ``(batch, channels)`` (``(batch,
    1, channels)`` with ``keepdims=True``).

    Example:
        >>> GlobalMaxPooling1D(keepdims=True)(torch.zeros(2, 98, 32)).shape
        torch.Size([2, 1, 32])
    """

    _rank = 1


@register_layer("GlobalMaxPooling2D", "GlobalMaxPool2D")
class GlobalMaxPooling2D(_GlobalMax):
    """Maximum over height and width: ``(batch, h, w, channels)`` -> ``(batch, channels)``.

    Example:
        >>> GlobalMaxPooling2D()(torch.zeros(2, 5, 5, 64)).shape
        torch.Size([2, 64])
    """

    _rank = 2


@register_layer("GlobalAveragePooling1D", "GlobalAvgPool1D")
class GlobalAveragePooling1D(_GlobalAverage):
    """Mean over steps: ``(batch, steps, channels)`` -> ``(batch, channels)``. With a mask
    (e.g. from ``Embedding(mask_zero=True)``) the mean is over the unmasked steps only.

    Example:
        >>> x = torch.tensor([[[1.0], [3.0], [8.0]]])
        >>> GlobalAveragePooling1D()(x, mask=torch.tensor([[True, True, False]])).tolist()
        [[2.0]]
    """

    _rank = 1
    supports_masking = True

    def call(self, inputs: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        if mask is None:
            return super().call(inputs)
        axis = self._axes()[0]
        keep = mask.unsqueeze(2 if self.data_format == "channels_last" else 1).bool()
        total = torch.where(keep, inputs, 0).sum(dim=axis, keepdim=self.keepdims)
        return total / keep.to(inputs.dtype).sum(dim=axis, keepdim=self.keepdims)

    def compute_mask(self, inputs: Any, mask: Any = None) -> None:
        return None


@register_layer("GlobalAveragePooling2D", "GlobalAvgPool2D")
class GlobalAveragePooling2D(_GlobalAverage):
    """Mean over height and width: ``(batch, h, w, channels)`` -> ``(batch, channels)``.

    Example:
        >>> GlobalAveragePooling2D()(torch.ones(2, 5, 5, 64)).shape
        torch.Size([2, 64])
    """

    _rank = 2
