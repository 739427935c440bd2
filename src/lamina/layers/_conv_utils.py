"""Shape arithmetic, padding and weight layouts shared by the convolution, pooling and
reshaping layers.

TensorFlow's ``'same'`` padding (which Keras follows) gives ``ceil(length / stride)`` outputs
and pads ``max((out - 1) * stride + dilated_kernel - length, 0)`` positions in total, the
smaller half before and the larger half after. PyTorch's ``padding=`` is symmetric, so an odd
total is padded explicitly.

Kernels are stored in the layout PyTorch's kernels take, ``(out, in, *kernel)``, and shown in
Keras's layout, ``(*kernel, in, out)``, by ``get_weights`` / ``set_weights``.

Example:
    >>> same_padding(10, kernel=4, stride=3, dilation=1)   # ceil(10/3)=4 outputs, 3 padded
    (1, 2)
    >>> conv_output_length(500, kernel=7, stride=1, padding="valid", dilation=1)
    494
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
import torch.nn.functional as F

__all__ = [
    "normalize_tuple",
    "normalize_padding",
    "normalize_data_format",
    "conv_output_length",
    "same_padding",
    "check_rank",
    "kernel_to_keras",
    "kernel_from_keras",
    "depthwise_to_keras",
    "depthwise_from_keras",
    "KerasLayoutInit",
]

_AXES = {1: "steps", 2: "height, width", 3: "depth, height, width"}


def normalize_tuple(value: Any, n: int, name: str, allow_zero: bool = False) -> tuple[int, ...]:
    """``3`` -> ``(3, 3)`` for ``n=2``; checks length and that entries are positive ints."""
    values = (value,) * n if isinstance(value, int) else tuple(value)
    low = 0 if allow_zero else 1
    if len(values) != n or not all(isinstance(v, int) and v >= low for v in values):
        kind = "non-negative" if allow_zero else "positive"
        raise ValueError(
            f"`{name}` must be a {kind} integer or a tuple of {n} {kind} integers, got {value!r}."
        )
    return values


def normalize_padding(
    value: Any, allowed: Sequence[str], layer: str, argument: str = "padding"
) -> str:
    """Lower-cased name, or an error that lists the allowed names."""
    name = value.lower() if isinstance(value, str) else value
    if name not in allowed:
        choices = ", ".join(repr(a) for a in allowed)
        raise ValueError(f"{layer} {argument} must be one of {choices}, got {argument}={value!r}.")
    return name


def normalize_data_format(value: str | None) -> str:
    """``None`` -> ``'channels_last'`` (Keras's default image data format)."""
    fmt = "channels_last" if value is None else str(value).lower()
    if fmt not in ("channels_last", "channels_first"):
        raise ValueError(f"data_format must be 'channels_last' or 'channels_first', got {value!r}.")
    return fmt


def conv_output_length(
    length: int | None, kernel: int, stride: int, padding: str, dilation: int = 1
) -> int | None:
    """Output length of a convolution or pooling window along one axis (Keras/TF rules)."""
    if length is None:
        return None
    span = (kernel - 1) * dilation + 1
    if padding == "same":
        return -(-length // stride)
    if padding == "causal":
        return (length - 1) // stride + 1
    return (length - span) // stride + 1 if length >= span else 0


def same_padding(length: int, kernel: int, stride: int, dilation: int = 1) -> tuple[int, int]:
    """``(before, after)`` padding of TF's ``'same'``: the extra position goes after."""
    span = (kernel - 1) * dilation + 1
    out = -(-length // stride)
    total = max((out - 1) * stride + span - length, 0)
    return total // 2, total - total // 2


def paddings(
    spatial: Sequence[int],
    kernel: Sequence[int],
    strides: Sequence[int],
    padding: str,
    dilation: Sequence[int],
) -> list[tuple[int, int]]:
    """``(before, after)`` for each spatial axis."""
    if padding == "valid":
        return [(0, 0)] * len(spatial)
    if padding == "causal":
        return [((k - 1) * d, 0) for k, d in zip(kernel, dilation)]
    return [same_padding(n, k, s, d) for n, k, s, d in zip(spatial, kernel, strides, dilation)]


def torch_pad_arg(pads: Sequence[tuple[int, int]]) -> list[int]:
    """``F.pad``'s argument (last axis first) for per-axis ``(before, after)`` pairs."""
    return [p for pair in reversed(pads) for p in pair]


def pad_input(
    x: torch.Tensor, pads: Sequence[tuple[int, int]], data_format: str, value: float = 0.0
) -> torch.Tensor:
    """Pads the spatial axes in the tensor's own layout (so its memory format is kept)."""
    arg = torch_pad_arg(pads)
    return F.pad(x, [0, 0, *arg] if data_format == "channels_last" else arg, value=value)


def to_torch_layout(x: torch.Tensor, rank: int, data_format: str) -> torch.Tensor:
    """``(N, *spatial, C)`` or ``(N, C, *spatial)`` -> a ``(N, C, H, W)`` view for PyTorch's 2D
    kernels, with no copy. 1D data becomes ``H = 1``: channels-last ``(N, L, C)`` memory is
    then exactly PyTorch's ``channels_last`` format, whose oneDNN kernels are the fastest on
    CPU (measured in ``docs/convolutions.md``)."""
    if data_format == "channels_last":
        x = x.movedim(-1, 1)
    return x.unsqueeze(2) if rank == 1 else x


def from_torch_layout(y: torch.Tensor, rank: int, data_format: str) -> torch.Tensor:
    """The inverse of :func:`to_torch_layout` (a view)."""
    if rank == 1:
        y = y.squeeze(2)
    return y.movedim(1, -1) if data_format == "channels_last" else y


def lift(values: Sequence[int], rank: int, fill: int = 1) -> tuple[int, ...]:
    """1D kernel parameters for the ``H = 1`` 2D kernel: ``(k,)`` -> ``(fill, k)``."""
    return (fill, *values) if rank == 1 else tuple(values)


def check_rank(layer: Any, input_shape: Sequence[Any], rank: int, data_format: str) -> None:
    """A rank error that shows the shape the layer takes, e.g. ``(batch, height, width,
    channels)``, and what to change."""
    got = len(input_shape)
    if got == rank + 2:
        return
    axes = _AXES.get(rank, "spatial axes")
    want = (
        f"(batch, {axes}, channels)"
        if data_format == "channels_last"
        else f"(batch, channels, {axes})"
    )
    shape = tuple(None if i == 0 else d for i, d in enumerate(input_shape))
    hint = ""
    if got == rank + 1:
        hint = (
            " Add a channels axis, e.g. x.reshape(*x.shape, 1), or Reshape((*shape, 1)) in the"
            " model."
            if rank == 2
            else " For token ids add an Embedding layer first; for a single feature reshape to"
            " (batch, steps, 1)."
        )
    raise ValueError(
        f"{type(layer).__name__} expects inputs of shape {want} (rank {rank + 2}, "
        f"data_format='{data_format}'), but layer '{layer.name}' received shape "
        f"{shape} (rank {got}).{hint}"
    )


def channel_axis(data_format: str) -> int:
    return -1 if data_format == "channels_last" else 1


def spatial_of(shape: Sequence[Any], data_format: str) -> tuple[Any, ...]:
    return tuple(shape[1:-1] if data_format == "channels_last" else shape[2:])


def with_spatial(
    shape: Sequence[Any], spatial: Sequence[Any], channels: Any, data_format: str
) -> tuple[Any, ...]:
    if data_format == "channels_last":
        return (shape[0], *spatial, channels)
    return (shape[0], channels, *spatial)


# ---------------------------------------------------------------------- weight layouts
# Module-level functions (not lambdas) so that layers holding them stay picklable; they are
# plain torch ops, so regularizers see Keras-layout views and gradients flow through them.
def kernel_to_keras(w: torch.Tensor) -> torch.Tensor:
    """``(out, in, *k)`` -> ``(*k, in, out)`` (also transposed kernels ``(in, out, *k)`` ->
    ``(*k, out, in)``, Keras's Conv*Transpose layout)."""
    return w.permute(*range(2, w.ndim), 1, 0)


def kernel_from_keras(w: torch.Tensor) -> torch.Tensor:
    """``(*k, in, out)`` -> ``(out, in, *k)``: the inverse of :func:`kernel_to_keras`."""
    return w.permute(w.ndim - 1, w.ndim - 2, *range(w.ndim - 2))


def depthwise_to_keras(w: torch.Tensor) -> torch.Tensor:
    """``(in, multiplier, *k)`` -> Keras's depthwise ``(*k, in, multiplier)``."""
    return w.permute(*range(2, w.ndim), 0, 1)


def depthwise_from_keras(w: torch.Tensor) -> torch.Tensor:
    """Keras's depthwise ``(*k, in, multiplier)`` -> ``(in, multiplier, *k)``."""
    return w.permute(w.ndim - 2, w.ndim - 1, *range(w.ndim - 2))


class KerasLayoutInit:
    """Runs an initializer on the Keras-layout shape (so fan-in and fan-out are Keras's) and
    returns the values in the stored layout."""

    def __init__(
        self,
        init: Callable,
        keras_shape: tuple[int, ...],
        from_keras: Callable[[torch.Tensor], torch.Tensor],
    ):
        self.init, self.keras_shape, self.from_keras = init, tuple(keras_shape), from_keras

    def __call__(self, shape: tuple[int, ...], dtype: torch.dtype | None = None) -> torch.Tensor:
        value = self.from_keras(self.init(self.keras_shape, dtype=dtype)).contiguous()
        if tuple(value.shape) != tuple(shape):
            raise AssertionError(f"layout mismatch: {tuple(value.shape)} != {tuple(shape)}")
        return value
