"""Convolution layers: Conv1D, Conv2D and their transposes (separable and depthwise
convolutions are in :mod:`lamina.layers.depthwise`).

Inputs are channels-last by default, ``(batch, steps, channels)`` and ``(batch, height, width,
channels)``, with ``data_format='channels_first'`` for the PyTorch order. ``padding='same'``
follows TensorFlow exactly (the odd extra position is padded after); Conv1D also takes
``'causal'`` (left padding of ``(kernel_size - 1) * dilation_rate``).

Kernels are stored as PyTorch's kernels want them, ``(filters, in / groups, *kernel_size)``,
and ``get_weights`` / ``set_weights`` use Keras's layout, ``(*kernel_size, in / groups,
filters)``. Channels-last activations reach PyTorch's 2D kernels as permuted views, which are
its ``channels_last`` memory format (1D data as height 1): no layout copies, and the fastest
oneDNN kernels on CPU (measurements in ``docs/convolutions.md``).

Example:
    >>> import torch
    >>> from lamina.layers.convolutional import Conv1D
    >>> layer = Conv1D(32, 7, activation="relu")
    >>> layer(torch.zeros(2, 500, 128)).shape, [w.shape for w in layer.get_weights()]
    (torch.Size([2, 494, 32]), [(7, 128, 32), (32,)])
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F

from lamina import activations, constraints, initializers, mixed_precision, regularizers
from lamina.engine.layer import InputSpec, Layer, register_layer
from lamina.layers import _conv_utils as cu, _embedding_conv1d as evc
from lamina.layers._conv1d_backward import conv1d_channels_last

__all__ = [
    "Conv1D",
    "Conv2D",
    "Conv1DTranspose",
    "Conv2DTranspose",
]

_CONV_T = {1: F.conv_transpose1d, 2: F.conv_transpose2d}


class _BaseConv(Layer):
    """What every convolution shares: argument checks, padding, layout moves, output shape.
    Subclasses set ``_rank`` and ``_paddings`` and define ``__init__``, ``build`` and ``call``
    (one ``__init__`` per concrete layer family, since ``get_config`` reads its signature)."""

    _rank = 1
    _paddings: tuple[str, ...] = ("valid", "same")

    def _init_common(
        self,
        kernel_size: Any,
        strides: Any,
        padding: str,
        data_format: str | None,
        dilation_rate: Any,
        activation: Any,
        use_bias: bool,
        bias_initializer: Any,
        bias_regularizer: Any,
        activity_regularizer: Any,
        bias_constraint: Any,
    ) -> None:
        cls, n = type(self).__name__, self._rank
        self.kernel_size = cu.normalize_tuple(kernel_size, n, "kernel_size")
        self.strides = cu.normalize_tuple(strides, n, "strides")
        self.dilation_rate = cu.normalize_tuple(dilation_rate, n, "dilation_rate")
        self.padding = cu.normalize_padding(padding, self._paddings, cls)
        self.data_format = cu.normalize_data_format(data_format)
        if max(self.strides) > 1 and max(self.dilation_rate) > 1:
            raise ValueError(
                f"{cls} cannot combine strides > 1 with dilation_rate > 1 (as in Keras): got "
                f"strides={self.strides}, dilation_rate={self.dilation_rate}."
            )
        self.activation = activations.get(activation)
        self.use_bias = use_bias
        self.bias_initializer = initializers.get(bias_initializer)
        self.bias_regularizer = regularizers.get(bias_regularizer)
        self.activity_regularizer = regularizers.get(activity_regularizer)
        self.bias_constraint = constraints.get(bias_constraint)

    # ------------------------------------------------------------------ building
    def _input_channels(self, input_shape: tuple) -> int:
        cu.check_rank(self, input_shape, self._rank, self.data_format)
        channels = input_shape[cu.channel_axis(self.data_format)]
        if channels is None:
            raise ValueError(
                f"Layer '{self.name}' ({type(self).__name__}) needs the channels axis of its "
                f"input to be known, got input shape {tuple(input_shape)}."
            )
        self.compute_output_shape(input_shape)  # validates the spatial sizes, naming the layer
        self.input_spec = InputSpec(
            ndim=self._rank + 2, axes={cu.channel_axis(self.data_format): channels}
        )
        return channels

    def _add_kernel(
        self,
        name: str,
        keras_shape: tuple,
        initializer: Any,
        regularizer: Any,
        constraint: Any,
        to_keras: Callable = cu.kernel_to_keras,
        from_keras: Callable = cu.kernel_from_keras,
    ) -> torch.Tensor:
        stored = tuple(from_keras(torch.empty(keras_shape, device="meta")).shape)
        return self.add_weight(
            name,
            stored,
            cu.KerasLayoutInit(initializer, keras_shape, from_keras),
            regularizer=regularizer,
            constraint=constraint,
            to_keras=to_keras,
            from_keras=from_keras,
        )

    def _add_bias(self, size: int) -> None:
        if self.use_bias:
            self.bias = self.add_weight(
                "bias",
                (size,),
                self.bias_initializer,
                regularizer=self.bias_regularizer,
                constraint=self.bias_constraint,
            )
        else:
            self.bias = None

    # ------------------------------------------------------------------ calling
    def _check_fits(self, spatial: tuple) -> None:
        if self.padding != "valid":
            return
        for n, k, d in zip(spatial, self.kernel_size, self.dilation_rate):
            span = (k - 1) * d + 1
            if n is not None and n < span:
                raise ValueError(
                    f"Layer '{self.name}' ({type(self).__name__}): the kernel "
                    f"{self.kernel_size}"
                    + (f" dilated by {self.dilation_rate}" if d > 1 else "")
                    + f" is larger than the input's spatial size {tuple(spatial)} with "
                    "padding='valid'. Use a smaller kernel_size, padding='same', or longer "
                    "inputs."
                )

    def _to_torch(self, inputs: torch.Tensor, weight: torch.Tensor) -> tuple:
        """Inputs as a ``(N, C, H, W)`` view and the ``padding=`` argument for PyTorch's 2D
        kernel. TF's asymmetric ``'same'`` padding is applied here, explicitly."""
        x = inputs if inputs.dtype == weight.dtype else inputs.to(weight.dtype)
        spatial = cu.spatial_of(x.shape, self.data_format)
        self._check_fits(spatial)
        pads = cu.paddings(
            spatial, self.kernel_size, self.strides, self.padding, self.dilation_rate
        )
        if all(a == b for a, b in pads):
            pad = tuple(a for a, _ in pads)
        else:
            x, pad = cu.pad_input(x, pads, self.data_format), (0,) * self._rank
        return cu.to_torch_layout(x, self._rank, self.data_format), cu.lift(pad, self._rank, 0)

    def _conv(
        self, x: torch.Tensor, weight: torch.Tensor, bias: Any, pad: Any, groups: int = 1
    ) -> torch.Tensor:
        """``F.conv2d`` for both ranks (a 1D kernel ``(out, in, k)`` is viewed as ``(out, in, 1,
        k)``)."""
        if self._rank == 1:
            weight = weight.unsqueeze(2)
        return F.conv2d(
            x,
            weight,
            bias,
            cu.lift(self.strides, self._rank),
            pad,
            cu.lift(self.dilation_rate, self._rank),
            groups,
        )

    def _finish(self, y: torch.Tensor) -> torch.Tensor:
        return cu.from_torch_layout(self.activation(y), self._rank, self.data_format)

    def _out_channels(self, input_shape: tuple) -> int | None:
        return self.filters

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        spatial = cu.spatial_of(input_shape, self.data_format)
        self._check_fits(spatial)
        out = [
            cu.conv_output_length(n, k, s, self.padding, d)
            for n, k, s, d in zip(spatial, self.kernel_size, self.strides, self.dilation_rate)
        ]
        return cu.with_spatial(input_shape, out, self._out_channels(input_shape), self.data_format)


class _Conv(_BaseConv):
    """``activation(conv(inputs, kernel) + bias)`` over ``_rank`` spatial axes."""

    def __init__(
        self,
        filters: int,
        kernel_size: int | tuple[int, ...],
        strides: int | tuple[int, ...] = 1,
        padding: str = "valid",
        data_format: str | None = None,
        dilation_rate: int | tuple[int, ...] = 1,
        groups: int = 1,
        activation: str | Callable | None = None,
        use_bias: bool = True,
        kernel_initializer: Any = "glorot_uniform",
        bias_initializer: Any = "zeros",
        kernel_regularizer: Any = None,
        bias_regularizer: Any = None,
        activity_regularizer: Any = None,
        kernel_constraint: Any = None,
        bias_constraint: Any = None,
        **kwargs: Any,
    ):
        super().__init__(**kwargs)
        cls = type(self).__name__
        if not isinstance(filters, int) or filters <= 0:
            raise ValueError(f"{cls} filters must be a positive integer, got {filters!r}.")
        if not isinstance(groups, int) or groups <= 0 or filters % groups:
            raise ValueError(
                f"{cls} groups must be a positive integer that divides filters={filters}, got "
                f"groups={groups!r}."
            )
        self.filters, self.groups = filters, groups
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
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.kernel_constraint = constraints.get(kernel_constraint)

    def build(self, input_shape: tuple) -> None:
        channels = self._input_channels(input_shape)
        if channels % self.groups:
            raise ValueError(
                f"Layer '{self.name}' ({type(self).__name__}): groups={self.groups} must divide "
                f"the number of input channels, but the input has {channels} channels (input "
                f"shape {tuple(input_shape)})."
            )
        self.kernel = self._add_kernel(
            "kernel",
            (*self.kernel_size, channels // self.groups, self.filters),
            self.kernel_initializer,
            self.kernel_regularizer,
            self.kernel_constraint,
        )
        self._add_bias(self.filters)

    def call(self, inputs: torch.Tensor) -> torch.Tensor:
        x, pad = self._to_torch(inputs, self.kernel)
        return self._finish(self._conv(x, self.kernel, self.bias, pad, self.groups))


@register_layer()
class Conv1D(_Conv):
    """1D convolution over steps: ``(batch, steps, channels)`` -> ``(batch, new_steps,
    filters)``.

    Args:
        filters: number of output channels.
        kernel_size: window length (int or 1-tuple).
        strides: step of the window (default 1).
        padding: ``'valid'`` (no padding), ``'same'`` (TF rule: ``ceil(steps / strides)``
            outputs) or ``'causal'`` (left-pads ``(kernel_size - 1) * dilation_rate``, so
            output ``t`` sees only inputs ``<= t``).
        data_format: ``'channels_last'`` (default) or ``'channels_first'``.
        dilation_rate: spacing between kernel taps (cannot be combined with strides > 1).
        groups: split input and output channels into this many independent groups.
        activation, use_bias, kernel_initializer, bias_initializer, kernel_regularizer,
        bias_regularizer, activity_regularizer, kernel_constraint, bias_constraint: as Dense.

    Weights (Keras layout): kernel ``(kernel_size, channels // groups, filters)``, bias
    ``(filters,)``.

    Example:
        >>> Conv1D(4, 3, padding="causal")(torch.zeros(2, 10, 8)).shape
        torch.Size([2, 10, 4])
    """

    _rank = 1
    _paddings = ("valid", "same", "causal")

    def call(self, inputs: torch.Tensor) -> torch.Tensor:
        y = self._through_vocabulary(inputs)
        if y is not None:
            return self.activation(y)
        if not self._gemm_backward(inputs):
            return super().call(inputs)
        # Training on CPU: oneDNN's forward, lamina's backward (_conv1d_backward.py).
        x = inputs if inputs.dtype == self.kernel.dtype else inputs.to(self.kernel.dtype)
        self._check_fits((x.shape[1],))
        pads = cu.paddings(
            (x.shape[1],), self.kernel_size, self.strides, self.padding, self.dilation_rate
        )
        if pads[0] != (0, 0):
            x = cu.pad_input(x, pads, "channels_last")
        y = conv1d_channels_last(x, self.kernel, self.bias, self.dilation_rate[0])
        return self.activation(y)

    def _through_vocabulary(self, inputs: torch.Tensor) -> torch.Tensor | None:
        """The output computed from the token ids when ``inputs`` is an unchanged
        ``Embedding`` output and that is cheaper (``_embedding_conv1d.py``), else None.

        Training and inference each have a cost model (``evc.cheaper_in_training`` /
        ``cheaper_in_inference``); inference also needs the ``(vocab * kernel_size, filters)``
        table to fit in 2**26 numbers, and keeps it until the embeddings or the kernel change."""
        found = evc.source(inputs)
        if found is None:
            return None
        ids, embeddings = found
        kernel = self.kernel
        if not (
            inputs.dim() == 3
            and ids.dim() == 2
            and self.groups == 1
            and self.data_format == "channels_last"
            and inputs.device.type == "cpu"
            and embeddings.dtype == kernel.dtype
            and kernel.dtype in (torch.float32, torch.float64)
            and mixed_precision.autocast_dtype("cpu") is None
            and not torch.compiler.is_compiling()
        ):
            return None
        length, taps = inputs.shape[1], self.kernel_size[0]
        self._check_fits((length,))
        stride, dilation = self.strides[0], self.dilation_rate[0]
        pads = cu.paddings((length,), self.kernel_size, self.strides, self.padding, (dilation,))
        (vocab, channels), filters = embeddings.shape, kernel.shape[0]
        steps = inputs.shape[0] * cu.conv_output_length(
            length, taps, stride, self.padding, dilation
        )
        table = None
        if torch.is_grad_enabled() and (embeddings.requires_grad or kernel.requires_grad):
            if not evc.cheaper_in_training(vocab, channels, filters, taps, steps):
                return None
        elif evc.cheaper_in_inference(channels, filters, taps) and vocab * taps * filters <= 2**26:
            # kept until a weight changes; made if that costs less than ~8 such batches
            table = self._derived(
                "_vocabulary_cache",
                (embeddings, kernel),
                lambda: evc.table_of(embeddings, kernel),
                build=vocab <= 8 * steps,
            )
            if table is None:
                return None
        else:
            return None
        return evc.embedding_conv1d(
            ids, embeddings, kernel, self.bias, stride, dilation, pads[0], table
        )

    def _gemm_backward(self, inputs: torch.Tensor) -> bool:
        """Whether a backward pass will follow and lamina's is faster than oneDNN's: stride 1,
        no groups, channels last, float on CPU, and enough work (below ~3e7 multiply-adds
        oneDNN is as fast; measured in docs/convolutions.md)."""
        if not (
            torch.is_grad_enabled()
            and inputs.dim() == 3
            and self.strides == (1,)
            and self.groups == 1
            and self.data_format == "channels_last"
            and inputs.device.type == "cpu"
            and self.kernel.dtype in (torch.float32, torch.float64)
            and (inputs.requires_grad or self.kernel.requires_grad)
            and mixed_precision.autocast_dtype("cpu") is None  # autocast's conv handles it
            and not torch.compiler.is_compiling()
        ):
            return False
        n, length, channels = inputs.shape
        return n * length * channels * self.filters * self.kernel_size[0] >= 30_000_000


@register_layer()
class Conv2D(_Conv):
    """2D convolution over images: ``(batch, height, width, channels)`` -> ``(batch,
    new_height, new_width, filters)``.

    Arguments as :class:`Conv1D`, with ``kernel_size`` / ``strides`` / ``dilation_rate`` an int
    or a pair, and ``padding`` ``'valid'`` or ``'same'``. Kernel (Keras layout): ``(kh, kw,
    channels // groups, filters)``.

    Example:
        >>> layer = Conv2D(32, (3, 3), activation="relu")
        >>> layer(torch.zeros(1, 28, 28, 1)).shape, layer.count_params()
        (torch.Size([1, 26, 26, 32]), 320)
    """

    _rank = 2


class _ConvTranspose(_BaseConv):
    """Transposed convolution (the gradient of a convolution with respect to its input)."""

    def __init__(
        self,
        filters: int,
        kernel_size: int | tuple[int, ...],
        strides: int | tuple[int, ...] = 1,
        padding: str = "valid",
        output_padding: int | tuple[int, ...] | None = None,
        data_format: str | None = None,
        dilation_rate: int | tuple[int, ...] = 1,
        activation: str | Callable | None = None,
        use_bias: bool = True,
        kernel_initializer: Any = "glorot_uniform",
        bias_initializer: Any = "zeros",
        kernel_regularizer: Any = None,
        bias_regularizer: Any = None,
        activity_regularizer: Any = None,
        kernel_constraint: Any = None,
        bias_constraint: Any = None,
        **kwargs: Any,
    ):
        super().__init__(**kwargs)
        cls = type(self).__name__
        if not isinstance(filters, int) or filters <= 0:
            raise ValueError(f"{cls} filters must be a positive integer, got {filters!r}.")
        self.filters = filters
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
        self.output_padding = None
        if output_padding is not None:
            self.output_padding = cu.normalize_tuple(
                output_padding, self._rank, "output_padding", allow_zero=True
            )
            if any(p >= s for p, s in zip(self.output_padding, self.strides)):
                raise ValueError(
                    f"{cls} output_padding must be smaller than strides, got output_padding="
                    f"{self.output_padding} with strides={self.strides}."
                )
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.kernel_constraint = constraints.get(kernel_constraint)

    def build(self, input_shape: tuple) -> None:
        channels = self._input_channels(input_shape)
        # Keras layout (*k, filters, in); PyTorch's conv_transpose wants (in, filters, *k).
        self.kernel = self._add_kernel(
            "kernel",
            (*self.kernel_size, self.filters, channels),
            self.kernel_initializer,
            self.kernel_regularizer,
            self.kernel_constraint,
        )
        self._add_bias(self.filters)

    def _lengths(self, n: int | None, axis: int) -> tuple[int | None, int]:
        """(output length, crop before) along one axis, as TF's conv2d_transpose."""
        k, s, d = self.kernel_size[axis], self.strides[axis], self.dilation_rate[axis]
        op = None if self.output_padding is None else self.output_padding[axis]
        span = (k - 1) * d + 1
        if n is None:
            return None, 0
        if self.padding == "valid":
            return (n - 1) * s + span + (max(span, s) - span if op is None else op), 0
        out = n * s if op is None else (n - 1) * s + span % 2 + op
        return out, max((n - 1) * s + span - out, 0) // 2

    def _check_fits(self, spatial: tuple) -> None:
        return None

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        spatial = cu.spatial_of(input_shape, self.data_format)
        out = [self._lengths(n, i)[0] for i, n in enumerate(spatial)]
        return cu.with_spatial(input_shape, out, self.filters, self.data_format)

    def call(self, inputs: torch.Tensor) -> torch.Tensor:
        x = inputs if inputs.dtype == self.kernel.dtype else inputs.to(self.kernel.dtype)
        if self.data_format == "channels_last":
            x = x.movedim(-1, 1)
        # The full transposed convolution, then TF's window of it (zeros where it is longer).
        y = _CONV_T[self._rank](x, self.kernel, None, self.strides, 0, 0, 1, self.dilation_rate)
        extend = []
        for i, n in enumerate(x.shape[2:]):
            out, before = self._lengths(n, i)
            have = y.shape[2 + i] - before
            y = y.narrow(2 + i, before, min(out, have))
            extend.append((0, max(out - have, 0)))
        if any(after for _, after in extend):
            y = F.pad(y, cu.torch_pad_arg(extend))
        if self.bias is not None:
            y = y + self.bias.view(-1, *([1] * self._rank))
        y = self.activation(y)
        return y.movedim(1, -1) if self.data_format == "channels_last" else y


@register_layer()
class Conv1DTranspose(_ConvTranspose):
    """Transposed 1D convolution (upsampling by ``strides``): ``(batch, steps, channels)`` ->
    ``(batch, new_steps, filters)``. Kernel (Keras layout): ``(kernel_size, filters,
    channels)``. With ``padding='same'`` and no ``output_padding``, ``new_steps = steps *
    strides``.

    Example:
        >>> Conv1DTranspose(4, 3, strides=2, padding="same")(torch.zeros(1, 5, 2)).shape
        torch.Size([1, 10, 4])
    """

    _rank = 1


@register_layer()
class Conv2DTranspose(_ConvTranspose):
    """Transposed 2D convolution: ``(batch, h, w, channels)`` -> ``(batch, new_h, new_w,
    filters)``, e.g. the decoder half of an autoencoder or a segmentation network.

    Output size per axis (TF/Keras): ``'same'``: ``size * stride``; ``'valid'``:
    ``(size - 1) * stride + max(kernel, stride)``; an explicit ``output_padding`` gives
    ``(size - 1) * stride + kernel % 2 + output_padding`` (``'same'``) or ``(size - 1) *
    stride + kernel + output_padding`` (``'valid'``). Kernel (Keras layout): ``(kh, kw,
    filters, channels)``.

    Example:
        >>> Conv2DTranspose(8, 3, strides=2, padding="same")(torch.zeros(1, 7, 7, 16)).shape
        torch.Size([1, 14, 14, 8])
    """

    _rank = 2
