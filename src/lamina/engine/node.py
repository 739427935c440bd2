"""Symbolic tensors and graph nodes: what ``Input(...)`` returns and what calling a layer on it
records, so that ``Model(inputs, outputs)`` can find the graph.

Example:
    >>> from lamina.engine.node import KerasTensor
    >>> KerasTensor((None, 784))
    <KerasTensor shape=(None, 784), dtype=float32>
"""

from __future__ import annotations

from typing import Any

import torch

from lamina.engine import tree

__all__ = ["KerasTensor", "Node", "is_symbolic", "torch_dtype", "dtype_name"]

_DTYPE_ALIASES = {"float": "float32", "int": "int64", "str": "string", "object": "string"}


def dtype_name(dtype: Any) -> str:
    """Canonical string name of a dtype given as a string, torch dtype or NumPy dtype."""
    if dtype is None:
        from lamina import config

        return config.floatx()
    if isinstance(dtype, torch.dtype):
        return str(dtype).replace("torch.", "")
    name = getattr(dtype, "name", None) or str(dtype)
    if name in ("<U0", "str", "object", "O") or name.startswith("<U") or name.startswith("|S"):
        return "string"
    return _DTYPE_ALIASES.get(name, name)


def torch_dtype(dtype: Any) -> torch.dtype | None:
    """The torch dtype for a dtype name; ``None`` for strings (kept as Python / NumPy objects)."""
    name = dtype_name(dtype)
    if name == "string":
        return None
    try:
        result = getattr(torch, name)
    except AttributeError:
        raise ValueError(f"Unknown dtype {dtype!r}.") from None
    if not isinstance(result, torch.dtype):
        raise ValueError(f"Unknown dtype {dtype!r}.")
    return result


class KerasTensor:
    """A placeholder with a shape (``None`` for unknown sizes) and a dtype.

    It carries ``_history = (layer, node_index, tensor_index)``: which layer call produced it.
    """

    __slots__ = ("shape", "dtype", "name", "_history")

    def __init__(self, shape: tuple[int | None, ...], dtype: Any = None, name: str | None = None):
        self.shape = tuple(None if d is None else int(d) for d in shape)
        self.dtype = dtype_name(dtype)
        self.name = name
        self._history: tuple[Any, int, int] | None = None

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def __repr__(self) -> str:
        name = f", name={self.name}" if self.name else ""
        return f"<KerasTensor shape={self.shape}, dtype={self.dtype}{name}>"

    def __len__(self) -> int:
        raise TypeError("A symbolic tensor has no length; use .shape.")

    def __bool__(self) -> bool:
        raise TypeError(
            "A symbolic tensor (from Input or a layer called on one) has no value; Python "
            "control flow on it is not possible. Use a subclassed Model to branch on values."
        )

    def _op_error(self, *args: Any, **kwargs: Any) -> Any:
        raise TypeError(
            "Arithmetic on symbolic tensors is not supported: use layers such as "
            "layers.Add(), layers.Multiply(), layers.Lambda(fn) in the functional API."
        )

    __add__ = __radd__ = __sub__ = __rsub__ = __mul__ = __rmul__ = _op_error
    __truediv__ = __rtruediv__ = __matmul__ = __getitem__ = _op_error


def is_symbolic(x: Any) -> bool:
    if type(x) is torch.Tensor:
        return False
    return any(isinstance(leaf, KerasTensor) for leaf in tree.flatten(x))


class Node:
    """One call of a layer on symbolic inputs: the layer, its arguments and its outputs."""

    def __init__(self, layer: Any, args: tuple, kwargs: dict, outputs: Any):
        self.layer = layer
        self.args = args
        self.kwargs = kwargs
        self.outputs = outputs
        self.input_tensors = [t for t in tree.flatten((args, kwargs)) if isinstance(t, KerasTensor)]
        self.output_tensors = tree.flatten(outputs)
        index = len(layer._inbound_nodes)
        layer._inbound_nodes.append(self)
        for i, t in enumerate(self.output_tensors):
            t._history = (layer, index, i)

    @property
    def parent_nodes(self) -> list[Node]:
        nodes = []
        for t in self.input_tensors:
            layer, node_index, _ = t._history
            nodes.append(layer._inbound_nodes[node_index])
        return nodes

    def __repr__(self) -> str:
        n_in, n_out = len(self.input_tensors), len(self.output_tensors)
        return f"<Node {self.layer.name}: {n_in} in, {n_out} out>"
