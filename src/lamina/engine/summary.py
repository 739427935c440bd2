"""``model.summary()``: layers, output shapes, parameter counts, and the totals Keras reports.

Example:
    >>> from lamina import Sequential, layers
    >>> model = Sequential([layers.Dense(4, input_shape=(3,)), layers.Dense(1)], name="tiny")
    >>> model.summary(line_length=60)
    Model: "tiny"
    ____________________________________________________________
     Layer (type)               Output Shape          Param #
    ============================================================
     dense... (Dense)           (None, 4)             16
    ...
    Total params: 21 (84.00 B)
    Trainable params: 21 (84.00 B)
    Non-trainable params: 0 (0.00 B)
    ____________________________________________________________
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

__all__ = ["print_summary", "format_size"]


def format_size(n_bytes: float) -> str:
    """``1.55 MB`` style sizes (powers of 1024, as Keras prints them)."""
    for unit in ("B", "KB", "MB", "GB"):
        if n_bytes < 1024 or unit == "GB":
            return f"{n_bytes:.2f} {unit}"
        n_bytes /= 1024
    return f"{n_bytes:.2f} GB"  # pragma: no cover


def _shape_str(spec: Any) -> str:
    if spec is None:
        return "?"
    if isinstance(spec, (list, tuple)) and spec and not isinstance(spec[0], (int, type(None))):
        return ", ".join(_shape_str(s) for s in spec)
    shape = getattr(spec, "shape", spec)
    return str(tuple(shape)).replace(",)", ")")


def _output_spec(layer: Any, model: Any) -> Any:
    graph = getattr(model, "_graph", None)
    if graph is not None:
        nodes = [n for n in graph.nodes if n.layer is layer]
        if len(nodes) > 1:
            return "multiple"
        if nodes:
            out = nodes[0].outputs
            return out if not isinstance(out, dict) else list(out.values())
    shape = getattr(layer, "_first_output_shape", None)
    return shape


def _bytes(weights: list[torch.Tensor]) -> int:
    return sum(w.numel() * w.element_size() for w in weights)


def print_summary(
    model: Any,
    line_length: int | None = None,
    positions: Any = None,
    print_fn: Callable[[str], None] | None = None,
    expand_nested: bool = False,
    show_trainable: bool = False,
) -> None:
    print_fn = print_fn or print
    graph = getattr(model, "_graph", None)
    functional = graph is not None and type(model).__name__ != "Sequential"
    if line_length is None and positions is None:
        # Columns wide enough for the longest "name (Type)" and output shape, as in Keras 3.
        names = [len(f"{layer.name} ({type(layer).__name__})") + 2 for layer in model.layers]
        shapes = [len(_shape_str(_output_spec(layer, model))) + 2 for layer in model.layers]
        first = max([29, *names])
        second = first + max([25, *shapes])
        cols = [first, second, second + 14] + ([second + 14 + 30] if functional else [])
        line_length = cols[-1]
    else:
        line_length = line_length or (98 if functional else 65)
        positions = positions or ([0.33, 0.55, 0.67, 1.0] if functional else [0.45, 0.8, 1.0])
        cols = [int(line_length * p) if p <= 1 else int(p) for p in positions]
    headers = ["Layer (type)", "Output Shape", "Param #"] + (["Connected to"] if functional else [])
    if show_trainable:
        headers.append("Trainable")
        cols.append(cols[-1] + 11)

    def row(fields: list[str]) -> str:
        line = ""
        for i, field in enumerate(fields):
            if i > 0:
                line = line[: cols[i - 1] - 1] + " "
            line += " " + str(field)
            width = cols[i]
            line = line[:width].ljust(width)
        return line.rstrip()

    layers = [
        layer
        for layer in model.layers
        if not (type(layer).__name__ == "InputLayer" and type(model).__name__ == "Sequential")
    ]
    if not model.built and not layers:
        print_fn(
            f'Model: "{model.name}" has not been built: call it on data or give the first '
            "layer an input_shape."
        )
        return
    print_fn(f'Model: "{model.name}"')
    print_fn("_" * line_length)
    print_fn(row(headers))
    print_fn("=" * line_length)
    for i, layer in enumerate(layers):
        params = layer.count_params() if (layer.built or list(layer.parameters())) else 0
        fields = [
            f"{layer.name} ({type(layer).__name__})",
            _shape_str(_output_spec(layer, model)),
            f"{params:,}",
        ]
        if functional:
            parents = []
            for node in graph.nodes:
                if node.layer is layer:
                    for t in node.input_tensors:
                        src, node_index, tensor_index = t._history
                        parents.append(f"{src.name}[{node_index}][{tensor_index}]")
            fields.append(parents[0] if parents else "")
        if show_trainable:
            fields.append("Y" if layer.trainable else "N")
        print_fn(row(fields))
        if functional:
            for extra in parents[1:]:
                print_fn(row(["", "", "", extra]))
        if expand_nested and hasattr(layer, "layers") and layer is not model:
            for sub in layer.layers:
                print_fn(
                    row([f"  {sub.name} ({type(sub).__name__})", "", f"{sub.count_params():,}"])
                )
        print_fn(("=" if i == len(layers) - 1 else "_") * line_length)
    trainable = model.trainable_weights
    non_trainable = model.non_trainable_weights
    n_train = sum(w.numel() for w in trainable)
    n_non = sum(w.numel() for w in non_trainable)
    print_fn(
        f"Total params: {n_train + n_non:,} ({format_size(_bytes(trainable + non_trainable))})"
    )
    print_fn(f"Trainable params: {n_train:,} ({format_size(_bytes(trainable))})")
    print_fn(f"Non-trainable params: {n_non:,} ({format_size(_bytes(non_trainable))})")
    optimizer = getattr(model, "optimizer", None)
    slots = getattr(optimizer, "variables", None) if optimizer is not None else None
    if slots:
        tensors = [v for v in slots if torch.is_tensor(v)]
        n_opt = sum(v.numel() for v in tensors)
        print_fn(f"Optimizer params: {n_opt:,} ({format_size(_bytes(tensors))})")
    print_fn("_" * line_length)
