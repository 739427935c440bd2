"""Turning Python functions into saved data and back, for ``Lambda`` layers and custom
callables.

Registered functions are saved by name. Any other function is saved as its marshalled byte
code, which ``load_model`` refuses to run unless the user passes ``safe_mode=False``: loading a
file must never execute code from it by default (DESIGN decision 8).

Example:
    >>> from lamina.engine.saving_utils import serialize_function, deserialize_function
    >>> data = serialize_function(lambda x: x + 1)
    >>> data["class_name"]
    '__lambda__'
    >>> deserialize_function(data)
    Traceback (most recent call last):
    ...
    lamina.errors.LoadError: The file holds Python code (a Lambda layer or custom function)...
    >>> deserialize_function(data, safe_mode=False)(1)
    2
"""

from __future__ import annotations

import base64
import marshal
import types
from collections.abc import Callable
from typing import Any

from lamina._registry import all_registries
from lamina.errors import LoadError

__all__ = ["serialize_function", "deserialize_function"]


def serialize_function(fn: Callable) -> Any:
    for registry in all_registries().values():
        name = registry.canonical_name(fn)
        if name is not None:
            return name
    code = getattr(fn, "__code__", None)
    if code is None:
        raise ValueError(f"Cannot save {fn!r}: only functions and registered objects can be saved.")
    return {
        "class_name": "__lambda__",
        "code": base64.b64encode(marshal.dumps(code)).decode("ascii"),
        "defaults": list(fn.__defaults__ or ()),
        "name": fn.__name__,
    }


def deserialize_function(data: Any, safe_mode: bool = True) -> Callable:
    if isinstance(data, str):
        for registry in all_registries().values():
            if data in registry:
                return registry.lookup(data)
        raise LoadError(f"Unknown function {data!r} in the saved file.")
    if not isinstance(data, dict) or data.get("class_name") != "__lambda__":
        raise LoadError(f"Malformed function entry in the saved file: {data!r}.")
    if safe_mode:
        raise LoadError(
            "The file holds Python code (a Lambda layer or custom function) that loading "
            "would run. Load it with safe_mode=False only if you trust where it came from."
        )
    try:
        code = marshal.loads(base64.b64decode(data["code"]))
    except Exception as e:  # noqa: BLE001 - any decoding failure is a bad file
        raise LoadError(f"The saved function code is damaged: {e}") from e
    import builtins

    globs = {"__builtins__": builtins}
    try:
        import torch

        globs["torch"] = torch
    except ImportError:  # pragma: no cover
        pass
    defaults = tuple(data.get("defaults") or ()) or None
    return types.FunctionType(code, globs, data.get("name", "fn"), defaults)
