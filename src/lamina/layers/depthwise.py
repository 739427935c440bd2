"""Depthwise and depthwise-separable convolutions: DepthwiseConv1D/2D, SeparableConv1D/2D.

A depthwise convolution filters each input channel on its own (PyTorch ``groups=channels``),
``depth_multiplier`` filters per channel; output channel ``c * depth_multiplier + m`` is input
channel ``c`` through its ``m``-th filter, as in Keras. A separable convolution follows it with
a pointwise (1-wide) convolution to ``filters`` channels. Padding, strides, dilation and
``data_format`` work as in :class:`~lamina.layers.convolutional.Conv1D` / ``Conv2D``.

The depthwise kernel is stored as ``(channels, depth_multiplier, *kernel_size)`` and shown in
Keras's layout ``(*kernel_size, channels, depth_multiplier)``; the pointwise kernel is shown as
``(*ones, channels * depth_multiplier, filters)``.

Example:
    >>> import torch
    >>> from lamina.layers.depthwise import SeparableConv2D
    >>> layer = SeparableConv2D(8, 3)
    >>> [w.shape for w in (layer(torch.zeros(1, 9, 9, 4)), *layer.get_weights())]
    [torch.Size([1, 7, 7, 8]), (3, 3, 4, 1), (1, 1, 4, 8), (8,)]
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F

from lamina import constraints, initializers, regularizers
from lamina.engine.layer import register_layer
from lamina.layers import _conv_utils as cu
from lamina.layers.convolutional import _BaseConv

__all__ = ["SeparableConv1D", "SeparableConv2D", "DepthwiseConv1D", "DepthwiseConv2D"]


class _DepthwiseBase(_BaseConv):
    """Shared by separable and depthwise convolutions: one ``depth_multiplier``-channel
    filter per input channel (PyTorch ``groups=channels``)."""

    def _add_depthwise(self, channels: int) -> torch.Tensor:
        return self._add_kernel(
            "depthwise_kernel",
            (*self.kernel_size, channels, self.depth_multiplier),
            self.depthwise_initializer,
            self.depthwise_regularizer,
            self.depthwise_constraint,
            cu.depthwise_to_keras,
            cu.depthwise_from_keras,
        )

    def _depthwise(self, x: torch.Tensor, pad: Any, bias: torch.Tensor | None) -> torch.Tensor:
        w = self.depthwise_kernel
        w = w.reshape(w.shape[0] * w.shape[1], 1, *w.shape[2:])
        return self._conv(x, w, bias, pad, groups=self.depthwise_kernel.shape[0])


class _SeparableConv(_DepthwiseBase):
    """A depthwise convolution followed by a 1x1 (pointwise) convolution to ``filters``."""

    def __init__(
        self,
        filters: int,
        kernel_size: int | tuple[int, ...],
        strides: int | tuple[int, ...] = 1,
        padding: str = "valid",
        data_format: str | None = None,
        dilation_rate: int | tuple[int, ...] = 1,
        depth_multiplier: int = 1,
        activation: str | Callable | None = None,
        use_bias: bool = True,
        depthwise_initializer: Any = "glorot_uniform",
        pointwise_initializer: Any = "glorot_uniform",
        bias_initializer: Any = "zeros",
        depthwise_regularizer: Any = None,
        pointwise_regularizer: Any = None,
        bias_regularizer: Any = None,
        activity_regularizer: Any = None,
        depthwise_constraint: Any = None,
        pointwise_constraint: Any = None,
        bias_constraint: Any = None,
        **kwargs: Any,
    ):
        super().__init__(**kwargs)
        cls = type(self).__name__
        if not isinstance(filters, int) or filters <= 0:
            raise ValueError(f"{cls} filters must be a positive integer, got {filters!r}.")
        if not isinstance(depth_multiplier, int) or depth_multiplier <= 0:
            raise ValueError(
                f"{cls} depth_multiplier must be a positive integer, got {depth_multiplier!r}."
            )
        self.filters, self.depth_multiplier = filters, depth_multiplier
        self._init_common(
            kernel_size,
            strides,
            padding,
            data_format,
            dilation_rate,
            activation,
            use_bias,
            bias_initializer,
            bias_regularizer,
            activity_regularizer,
            bias_constraint,
        )
        self.depthwise_initializer = initializers.get(depthwise_initializer)
        self.pointwise_initializer = initializers.get(pointwise_initializer)
        self.depthwise_regularizer = regularizers.get(depthwise_regularizer)
        self.pointwise_regularizer = regularizers.get(pointwise_regularizer)
        self.depthwise_constraint = constraints.get(depthwise_constraint)
        self.pointwise_constraint = constraints.get(pointwise_constraint)

    def build(self, input_shape: tuple) -> None:
        channels = self._input_channels(input_shape)
        self.depthwise_kernel = self._add_depthwise(channels)
        self.pointwise_kernel = self._add_kernel(
            "pointwise_kernel",
            (*([1] * self._rank), channels * self.depth_multiplier, self.filters),
            self.pointwise_initializer,
            self.pointwise_regularizer,
            self.pointwise_constraint,
        )
        self._add_bias(self.filters)

    def call(self, inputs: torch.Tensor) -> torch.Tensor:
        x, pad = self._to_torch(inputs, self.depthwise_kernel)
        y = self._depthwise(x, pad, None)
        pointwise = self.pointwise_kernel
        if self._rank == 1:
            pointwise = pointwise.unsqueeze(2)
        return self._finish(F.conv2d(y, pointwise, self.bias))


@register_layer()
class SeparableConv1D(_SeparableConv):
    """Depthwise-separable 1D convolution: each input channel is convolved on its own
    (``depth_multiplier`` outputs each), then a pointwise ``1``-wide convolution mixes them
    into ``filters`` channels. Cheaper than Conv1D for the same receptive field.

    Weights (Keras layout): depthwise_kernel ``(kernel_size, channels, depth_multiplier)``,
    pointwise_kernel ``(1, channels * depth_multiplier, filters)``, bias ``(filters,)``.
    ``padding`` may be ``'valid'``, ``'same'`` or ``'causal'``.

    Example:
        >>> layer = SeparableConv1D(16, 5, padding="same")
        >>> layer(torch.zeros(2, 30, 8)).shape, layer.count_params()
        (torch.Size([2, 30, 16]), 184)
    """

    _rank = 1
    _paddings = ("valid", "same", "causal")


@register_layer()
class SeparableConv2D(_SeparableConv):
    """Depthwise-separable 2D convolution (Xception's building block). Weights (Keras
    layout): depthwise_kernel ``(kh, kw, channels, depth_multiplier)``, pointwise_kernel
    ``(1, 1, channels * depth_multiplier, filters)``, bias ``(filters,)``.

    Example:
        >>> SeparableConv2D(8, 3, padding="same")(torch.zeros(1, 9, 9, 4)).shape
        torch.Size([1, 9, 9, 8])
    """

    _rank = 2


class _DepthwiseConv(_DepthwiseBase):
    """Convolves each input channel with its own ``depth_multiplier`` filters."""

    def __init__(
        self,
        kernel_size: int | tuple[int, ...],
        strides: int | tuple[int, ...] = 1,
        padding: str = "valid",
        depth_multiplier: int = 1,
        data_format: str | None = None,
        dilation_rate: int | tuple[int, ...] = 1,
        activation: str | Callable | None = None,
        use_bias: bool = True,
        depthwise_initializer: Any = "glorot_uniform",
        bias_initializer: Any = "zeros",
        depthwise_regularizer: Any = None,
        bias_regularizer: Any = None,
        activity_regularizer: Any = None,
        depthwise_constraint: Any = None,
        bias_constraint: Any = None,
        **kwargs: Any,
    ):
        super().__init__(**kwargs)
        if not isinstance(depth_multiplier, int) or depth_multiplier <= 0:
            raise ValueError(
                f"{type(self).__name__} depth_multiplier must be a positive integer, got "
                f"{depth_multiplier!r}."
            )
        self.depth_multiplier = depth_multiplier
        self._init_common(
            kernel_size,
            strides,
            padding,
            data_format,
            dilation_rate,
            activation,
            use_bias,
            bias_initializer,
            bias_regularizer,
            activity_regularizer,
            bias_constraint,
        )
        self.depthwise_initializer = initializers.get(depthwise_initializer)
        self.depthwise_regularizer = regularizers.get(depthwise_regularizer)
        self.depthwise_constraint = constraints.get(depthwise_constraint)

    def _out_channels(self, input_shape: tuple) -> int | None:
        channels = input_shape[cu.channel_axis(self.data_format)]
        return None if channels is None else channels * self.depth_multiplier

    def build(self, input_shape: tuple) -> None:
        channels = self._input_channels(input_shape)
        self.depthwise_kernel = self._add_depthwise(channels)
        self._add_bias(channels * self.depth_multiplier)

    def call(self, inputs: torch.Tensor) -> torch.Tensor:
        x, pad = self._to_torch(inputs, self.depthwise_kernel)
        return self._finish(self._depthwise(x, pad, self.bias))


@register_layer()
class DepthwiseConv1D(_DepthwiseConv):
    """Depthwise 1D convolution: ``(batch, steps, channels)`` -> ``(batch, new_steps,
    channels * depth_multiplier)``; output channel ``c * depth_multiplier + m`` is input
    channel ``c`` convolved with its ``m``-th filter. Kernel (Keras layout): ``(kernel_size,
    channels, depth_multiplier)``.

    Example:
        >>> DepthwiseConv1D(3, depth_multiplier=2)(torch.zeros(1, 10, 4)).shape
        torch.Size([1, 8, 8])
    """

    _rank = 1
    _paddings = ("valid", "same", "causal")


@register_layer()
class DepthwiseConv2D(_DepthwiseConv):
    """Depthwise 2D convolution: ``(batch, h, w, channels)`` -> ``(batch, new_h, new_w,
    channels * depth_multiplier)``. Kernel (Keras layout): ``(kh, kw, channels,
    depth_multiplier)``.

    Example:
        >>> layer = DepthwiseConv2D(3, padding="same")
        >>> layer(torch.zeros(1, 8, 8, 3)).shape, layer.count_params()
        (torch.Size([1, 8, 8, 3]), 30)
    """

    _rank = 2
