"""Layers that merge a list of inputs: Concatenate, Add, Subtract, Multiply, Average, Maximum,
Minimum, Dot, with the classic functional shortcuts (``concatenate([a, b])`` ...).

Example:
    >>> import torch
    >>> from lamina import layers
    >>> layers.Add()([torch.ones(2, 3), torch.ones(2, 3)])
    tensor([[2., 2., 2.],
            [2., 2., 2.]])
"""

from __future__ import annotations

import functools
from typing import Any

import torch
import torch.nn.functional as F

from lamina.engine.layer import Layer, register_layer

__all__ = [
    "Concatenate",
    "Add",
    "Subtract",
    "Multiply",
    "Average",
    "Maximum",
    "Minimum",
    "Dot",
    "concatenate",
    "add",
    "subtract",
    "multiply",
    "average",
    "maximum",
    "minimum",
    "dot",
]


class _Merge(Layer):
    """Base of element-wise merges: inputs must have equal shapes (size-1 axes broadcast)."""

    supports_masking = True
    _n_inputs: int | None = None

    def _check_list(self, shapes: Any) -> list[tuple]:
        if (
            not isinstance(shapes, (list, tuple))
            or not shapes
            or not isinstance(shapes[0], (list, tuple, torch.Size))
        ):
            raise ValueError(
                f"Layer '{self.name}' ({type(self).__name__}) must be called on a list of "
                f"tensors, e.g. {type(self).__name__}()([a, b]); got one input of shape {shapes}."
            )
        shapes = [tuple(s) for s in shapes]
        if self._n_inputs is not None and len(shapes) != self._n_inputs:
            raise ValueError(
                f"Layer '{self.name}' ({type(self).__name__}) takes exactly {self._n_inputs} "
                f"inputs, got {len(shapes)}."
            )
        if len(shapes) < 2 and self._n_inputs is None:
            raise ValueError(
                f"Layer '{self.name}' ({type(self).__name__}) needs at least 2 inputs, got "
                f"{len(shapes)}."
            )
        return shapes

    def build(self, input_shape: Any) -> None:
        self.compute_output_shape(input_shape)

    def compute_output_shape(self, input_shape: Any) -> tuple:
        shapes = self._check_list(input_shape)
        rank = max(len(s) for s in shapes)
        out = []
        for axis in range(rank):
            sizes = {s[axis] for s in shapes if len(s) == rank} - {None, 1}
            if len(sizes) > 1:
                raise ValueError(
                    f"Layer '{self.name}' ({type(self).__name__}) needs inputs of the same shape; "
                    f"got shapes {', '.join(str(_batchless(s)) for s in shapes)}."
                )
            known = [s[axis] for s in shapes if len(s) == rank]
            out.append(sizes.pop() if sizes else (1 if all(k == 1 for k in known) else None))
        if rank:
            out[0] = None if any(s[0] is None for s in shapes) else out[0]
        return tuple(out)

    def compute_mask(self, inputs: Any, mask: Any = None) -> Any:
        if not mask or all(m is None for m in mask):
            return None
        masks = [m for m in mask if m is not None]
        return functools.reduce(torch.logical_and, masks)

    def _merge(self, inputs: list[torch.Tensor]) -> torch.Tensor:
        raise NotImplementedError

    def call(self, inputs: list[torch.Tensor]) -> torch.Tensor:
        return self._merge(list(inputs))


def _batchless(shape: tuple) -> tuple:
    return (None, *shape[1:])


@register_layer()
class Add(_Merge):
    """Element-wise sum of the inputs."""

    def _merge(self, inputs):
        out = inputs[0]
        for x in inputs[1:]:
            out = out + x
        return out


@register_layer()
class Subtract(_Merge):
    """``inputs[0] - inputs[1]`` (exactly two inputs)."""

    _n_inputs = 2

    def _merge(self, inputs):
        return inputs[0] - inputs[1]


@register_layer()
class Multiply(_Merge):
    """Element-wise product of the inputs."""

    def _merge(self, inputs):
        out = inputs[0]
        for x in inputs[1:]:
            out = out * x
        return out


@register_layer()
class Average(_Merge):
    """Element-wise mean of the inputs."""

    def _merge(self, inputs):
        return torch.stack(torch.broadcast_tensors(*inputs)).mean(0)


@register_layer()
class Maximum(_Merge):
    """Element-wise maximum of the inputs."""

    def _merge(self, inputs):
        return functools.reduce(torch.maximum, inputs)


@register_layer()
class Minimum(_Merge):
    """Element-wise minimum of the inputs."""

    def _merge(self, inputs):
        return functools.reduce(torch.minimum, inputs)


@register_layer()
class Concatenate(_Merge):
    """Concatenates the inputs along ``axis`` (default: the last); other axes must match.

    Example:
        >>> Concatenate()([torch.zeros(2, 3), torch.zeros(2, 5)]).shape
        torch.Size([2, 8])
    """

    def __init__(self, axis: int = -1, **kwargs: Any):
        super().__init__(**kwargs)
        self.axis = axis

    def compute_output_shape(self, input_shape: Any) -> tuple:
        shapes = self._check_list(input_shape)
        ranks = {len(s) for s in shapes}
        if len(ranks) != 1:
            raise ValueError(
                f"Layer '{self.name}' (Concatenate) needs inputs of the same rank; got shapes "
                f"{', '.join(str(_batchless(s)) for s in shapes)}."
            )
        rank = ranks.pop()
        axis = self.axis % rank
        out = list(shapes[0])
        for i in range(rank):
            if i == axis:
                sizes = [s[i] for s in shapes]
                out[i] = None if None in sizes else sum(sizes)
                continue
            sizes = {s[i] for s in shapes} - {None}
            if len(sizes) > 1 and i != 0:
                raise ValueError(
                    f"Layer '{self.name}' (Concatenate) along axis {self.axis} needs the other "
                    f"axes to match; got shapes {', '.join(str(_batchless(s)) for s in shapes)}."
                )
            out[i] = sizes.pop() if sizes and i != 0 else None
        return tuple(out)

    def compute_mask(self, inputs: Any, mask: Any = None) -> Any:
        if not mask or all(m is None for m in mask):
            return None
        if self.axis in (-1, inputs[0].dim() - 1):
            # Masks are per time step: concatenating features keeps steps valid in all inputs.
            masks = [m for m in mask if m is not None]
            return functools.reduce(torch.logical_and, masks)
        filled = [
            torch.ones(
                x.shape[: m.dim() if m is not None else 2], dtype=torch.bool, device=x.device
            )
            if m is None
            else m
            for x, m in zip(inputs, mask)
        ]
        return torch.cat(filled, dim=self.axis)

    def _merge(self, inputs):
        return torch.cat(inputs, dim=self.axis)


@register_layer()
class Dot(_Merge):
    """Dot product of two inputs along ``axes`` (optionally cosine, with ``normalize=True``).

    Example:
        >>> Dot(axes=1)([torch.ones(2, 3), torch.ones(2, 3)])
        tensor([[3.],
                [3.]])
    """

    _n_inputs = 2

    def __init__(self, axes: int | tuple[int, int], normalize: bool = False, **kwargs: Any):
        super().__init__(**kwargs)
        self.axes = list(axes) if isinstance(axes, (list, tuple)) else axes
        self.normalize = normalize

    def _axes(self, ranks: tuple[int, int]) -> tuple[int, int]:
        axes = self.axes if isinstance(self.axes, list) else [self.axes, self.axes]
        return tuple(a % r for a, r in zip(axes, ranks))

    def compute_output_shape(self, input_shape: Any) -> tuple:
        a, b = self._check_list(input_shape)
        ax, bx = self._axes((len(a), len(b)))
        if a[ax] is not None and b[bx] is not None and a[ax] != b[bx]:
            raise ValueError(
                f"Layer '{self.name}' (Dot) needs equal sizes on the dot axes; got shapes "
                f"{_batchless(a)} (axis {ax}) and {_batchless(b)} (axis {bx})."
            )
        out = [d for i, d in enumerate(a) if i != ax] + [
            d for i, d in enumerate(b[1:], 1) if i != bx
        ]
        return tuple(out) if len(out) > 1 else (a[0], 1)

    def _merge(self, inputs):
        x, y = inputs
        ax, bx = self._axes((x.dim(), y.dim()))
        if self.normalize:
            x, y = F.normalize(x, dim=ax), F.normalize(y, dim=bx)
        # Batched dot: move the dot axes last / first, then one batched matrix product.
        xm = x.movedim(ax, -1).reshape(x.shape[0], -1, x.shape[ax])
        ym = y.movedim(bx, 1).reshape(y.shape[0], y.shape[bx], -1)
        out = torch.bmm(xm, ym)
        rest = [d for i, d in enumerate(x.shape) if i not in (0, ax)]
        rest += [d for i, d in enumerate(y.shape) if i not in (0, bx)]
        return out.reshape(x.shape[0], *rest) if rest else out.reshape(x.shape[0], 1)

    def compute_mask(self, inputs: Any, mask: Any = None) -> Any:
        return None


def _functional(cls: type, doc: str):
    def fn(inputs: list, **kwargs: Any) -> Any:
        return cls(**kwargs)(inputs)

    fn.__name__ = cls.__name__.lower()
    fn.__doc__ = doc
    return fn


concatenate = _functional(Concatenate, "``Concatenate(**kwargs)(inputs)``.")
add = _functional(Add, "``Add(**kwargs)(inputs)``.")
subtract = _functional(Subtract, "``Subtract(**kwargs)(inputs)``.")
multiply = _functional(Multiply, "``Multiply(**kwargs)(inputs)``.")
average = _functional(Average, "``Average(**kwargs)(inputs)``.")
maximum = _functional(Maximum, "``Maximum(**kwargs)(inputs)``.")
minimum = _functional(Minimum, "``Minimum(**kwargs)(inputs)``.")


def dot(inputs: list, axes: int | tuple[int, int], normalize: bool = False, **kwargs: Any) -> Any:
    """``Dot(axes, normalize, **kwargs)(inputs)``."""
    return Dot(axes, normalize, **kwargs)(inputs)
