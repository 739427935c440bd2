"""Small helpers over nested lists / tuples / dicts of tensors (the "structures" Keras uses for
several inputs and outputs).

Example:
    >>> from lamina.engine import tree
    >>> tree.flatten({"b": [1, 2], "a": 3})
    [3, 1, 2]
    >>> tree.map_structure(lambda v: v * 10, (1, [2]))
    (10, [20])
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["flatten", "map_structure", "pack_sequence_as", "is_nested"]


def is_nested(x: Any) -> bool:
    return isinstance(x, (list, tuple, dict))


def flatten(x: Any) -> list[Any]:
    """Leaves of a structure, dict values in sorted key order (as Keras's tree does)."""
    if isinstance(x, dict):
        return [leaf for k in sorted(x) for leaf in flatten(x[k])]
    if isinstance(x, (list, tuple)):
        return [leaf for item in x for leaf in flatten(item)]
    return [x]


def map_structure(fn: Callable[[Any], Any], x: Any) -> Any:
    """Apply ``fn`` to every leaf, keeping the structure."""
    if isinstance(x, dict):
        return {k: map_structure(fn, v) for k, v in x.items()}
    if isinstance(x, tuple):
        return tuple(map_structure(fn, v) for v in x)
    if isinstance(x, list):
        return [map_structure(fn, v) for v in x]
    return fn(x)


def pack_sequence_as(structure: Any, flat: list[Any]) -> Any:
    """Inverse of :func:`flatten`: put ``flat`` leaves back into ``structure``'s shape."""
    it = iter(flat)

    def build(s: Any) -> Any:
        if isinstance(s, dict):
            built = {k: build(s[k]) for k in sorted(s)}
            return {k: built[k] for k in s}
        if isinstance(s, tuple):
            return tuple(build(v) for v in s)
        if isinstance(s, list):
            return [build(v) for v in s]
        return next(it)

    return build(structure)
