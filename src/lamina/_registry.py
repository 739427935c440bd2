"""One registry per kind of object, filled where each object is defined.

A registry maps names to classes or functions. It serves two purposes at once:

* string lookup with a helpful error (``get("categorical_crossentrophy")`` suggests
  ``'categorical_crossentropy'``), used by ``compile`` and layer arguments;
* deserialization: a saved model names its classes, and loading only ever builds classes
  that are registered (never arbitrary code).

Example:
    >>> from lamina._registry import Registry
    >>> shapes = Registry("shape")
    >>> @shapes.register("Square", "square")
    ... class Square:
    ...     pass
    >>> shapes.lookup("square") is Square
    True
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Iterator
from typing import Any

__all__ = [
    "Registry",
    "all_registries",
    "serialize",
    "deserialize",
    "snake_case",
    "signature_config",
]

_REGISTRIES: dict[str, Registry] = {}


def snake_case(name: str) -> str:
    """``"GlobalMaxPooling1D"`` -> ``"global_max_pooling1d"`` (Keras's automatic layer names).

    Example:
        >>> snake_case("GlobalMaxPooling1D")
        'global_max_pooling1d'
    """
    s = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", s).lower()


def _normalize(name: str) -> str:
    return name.replace("_", "").lower()


class Registry:
    """Names -> objects of one kind (layers, losses, metrics, optimizers ...)."""

    def __init__(self, kind: str):
        self.kind = kind
        self._items: dict[str, Any] = {}
        self._canonical: dict[int, str] = {}
        _REGISTRIES[kind] = self

    def register(self, *names: str) -> Callable[[Any], Any]:
        """Decorator: register an object under its own ``__name__`` and any aliases."""

        def deco(obj: Any) -> Any:
            all_names = [obj.__name__, *names]
            for n in all_names:
                self._items[n] = obj
            self._canonical.setdefault(id(obj), names[0] if names else obj.__name__)
            return obj

        return deco

    def add(self, name: str, obj: Any) -> None:
        """Register ``obj`` under ``name`` (for objects registered from outside, e.g. users)."""
        self._items[name] = obj
        self._canonical.setdefault(id(obj), name)

    def names(self) -> list[str]:
        return sorted(self._items)

    def __contains__(self, name: str) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._items))

    def canonical_name(self, obj: Any) -> str | None:
        """The name a registered object is saved under, or None if it is not registered."""
        name = self._canonical.get(id(obj))
        if name is None and isinstance(obj, type):
            name = self._canonical.get(id(obj))
        return name

    def resolve(self, identifier: Any) -> Any:
        """An instance from a name, a config dict or a class; callables and instances as given;
        ``None`` stays ``None``. (The ``get()`` of initializers, regularizers, constraints.)"""
        if identifier is None:
            return None
        if isinstance(identifier, str):
            return self.lookup(identifier)()
        if isinstance(identifier, dict):
            return deserialize(identifier, self)
        if isinstance(identifier, type):
            return identifier()
        if callable(identifier):
            return identifier
        raise TypeError(f"Cannot interpret {identifier!r} as a {self.kind}.")

    def lookup(self, name: str) -> Any:
        """Return the object registered as ``name``; unknown names raise a ``ValueError``
        that suggests the closest registered names."""
        if name in self._items:
            return self._items[name]
        norm = _normalize(name)
        for key, obj in self._items.items():
            if _normalize(key) == norm:
                return obj
        close = difflib.get_close_matches(name, list(self._items), n=3, cutoff=0.6)
        if not close:
            lowered = {k.lower(): k for k in self._items}
            close = [lowered[c] for c in difflib.get_close_matches(name.lower(), lowered, n=3)]
        hint = f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
        known = ", ".join(sorted({k for k in self._items if k[:1].islower()} or self._items))
        raise ValueError(f"Unknown {self.kind}: {name!r}.{hint} Known {self.kind} names: {known}.")


def signature_config(obj: Any) -> dict[str, Any]:
    """Constructor arguments read back from attributes of the same names (sklearn style).

    Example:
        >>> class Scale:
        ...     def __init__(self, factor=2.0):
        ...         self.factor = factor
        >>> signature_config(Scale(3.0))
        {'factor': 3.0}
    """
    import inspect

    params = inspect.signature(type(obj).__init__).parameters.values()
    return {
        p.name: getattr(obj, p.name)
        for p in params
        if p.name != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
    }


class Configurable:
    """Base for small registered objects whose constructor stores its arguments under their own
    names: ``get_config`` reads them back, ``from_config`` rebuilds, ``repr`` shows them."""

    def get_config(self) -> dict[str, Any]:
        return signature_config(self)

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Any:
        return cls(**config)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


def all_registries() -> dict[str, Registry]:
    return dict(_REGISTRIES)


def serialize(obj: Any, registry: Registry) -> Any:
    """Turn a registered object (or a string, or None) into JSON-compatible data.

    Objects with ``get_config`` become ``{"class_name": ..., "config": ...}``; registered
    functions become their registered name.
    """
    if obj is None or isinstance(obj, (str, int, float, bool)):
        return obj
    if hasattr(obj, "get_config") and not isinstance(obj, type):
        cls = type(obj)
        name = registry.canonical_name(cls) or cls.__name__
        if name not in registry:
            raise ValueError(
                f"Cannot serialize {obj!r}: its class {cls.__name__} is not registered as a "
                f"{registry.kind}. Register it with lamina.saving.register_serializable() or "
                f"pass custom_objects when loading."
            )
        return {"class_name": name, "config": obj.get_config()}
    name = registry.canonical_name(obj)
    if name is None:
        raise ValueError(
            f"Cannot serialize {obj!r}: it is not a registered {registry.kind}. Use a name "
            f"lamina knows or register the object with lamina.saving.register_serializable()."
        )
    return name


def deserialize(data: Any, registry: Registry, custom_objects: dict | None = None) -> Any:
    """Inverse of :func:`serialize`. Only registered names (or ``custom_objects``) are built."""
    if data is None:
        return None
    if isinstance(data, dict) and "class_name" in data:
        name = data["class_name"]
        cls = (custom_objects or {}).get(name) or registry.lookup(name)
        return (
            cls.from_config(data.get("config", {}))
            if hasattr(cls, "from_config")
            else cls(**data.get("config", {}))
        )
    if isinstance(data, str):
        obj = (custom_objects or {}).get(data)
        return obj if obj is not None else registry.lookup(data)
    return data
