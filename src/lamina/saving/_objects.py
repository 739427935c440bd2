"""Custom objects: ``register_serializable`` puts a user class or function in the registry of its
kind, so that models using it can be saved by name and loaded again; ``custom_object_scope``
makes objects known for the duration of one load.

Example:
    >>> from lamina import layers
    >>> from lamina.saving import register_serializable
    >>> @register_serializable(package="Docs")
    ... class Doubler(layers.Layer):
    ...     def call(self, x):
    ...         return 2 * x
    >>> layers.get("Docs>Doubler") is Doubler
    True
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

from lamina._registry import Registry, all_registries

__all__ = [
    "register_serializable", "register_keras_serializable", "get_custom_objects",
    "get_registered_name", "custom_object_scope",
]  # fmt: skip

# Objects registered with `register_serializable` (or added by hand, Keras style), by name.
_CUSTOM_OBJECTS: dict[str, Any] = {}

# The kind of registry a class goes to, decided by its base class: (module, base, registry kind).
_KINDS = (
    ("lamina.engine.layer", "Layer", "layer"),
    ("lamina.losses", "Loss", "loss"),
    ("lamina.metrics", "Metric", "metric"),
    ("lamina.optimizers.base", "Optimizer", "optimizer"),
    ("lamina.optimizers.schedules", "LearningRateSchedule", "learning_rate_schedule"),
    ("lamina.initializers", "Initializer", "initializer"),
    ("lamina.regularizers", "Regularizer", "regularizer"),
    ("lamina.constraints", "Constraint", "constraint"),
)
# Plain functions serve as activations, losses and metric functions (metric wrappers look their
# function up among the losses).
_FUNCTION_KINDS = ("activation", "loss")


def _registry(kind: str) -> Registry:
    return all_registries()[kind]


def registries_for(obj: Any) -> list[Registry]:
    """The registries ``obj`` belongs in: by base class for classes, several for functions."""
    import importlib

    if isinstance(obj, type):
        for module, base, kind in _KINDS:
            if issubclass(obj, getattr(importlib.import_module(module), base)):
                return [_registry(kind)]
        kinds = ", ".join(base for _, base, _ in _KINDS)
        raise TypeError(
            f"Cannot register {obj.__name__}: it is not a subclass of a lamina base class that "
            f"can be saved ({kinds})."
        )
    if callable(obj):
        for module in ("lamina.activations", "lamina.losses"):
            importlib.import_module(module)
        return [_registry(kind) for kind in _FUNCTION_KINDS]
    raise TypeError(f"Only classes and functions can be registered, got {obj!r}.")


def _same_definition(a: Any, b: Any) -> bool:
    """True when ``b`` is ``a`` defined again (a re-run notebook cell or a reloaded module)."""
    return getattr(a, "__module__", None) == getattr(b, "__module__", None) and getattr(
        a, "__qualname__", None
    ) == getattr(b, "__qualname__", None)


def _put(registry: Registry, name: str, obj: Any) -> Any:
    """Register ``obj`` as ``name``; returns what was there before (None if nothing)."""
    # Registry has no removal API; the two dicts below are all it keeps.
    items, canonical = registry._items, registry._canonical
    previous = items.get(name)
    if previous is not None and previous is not obj:
        if canonical.get(id(previous)) == name:
            del canonical[id(previous)]
    items[name] = obj
    canonical.setdefault(id(obj), name)
    return previous


def _restore(registry: Registry, name: str, obj: Any, previous: Any) -> None:
    items, canonical = registry._items, registry._canonical
    if items.get(name) is obj:
        if previous is None:
            del items[name]
        else:
            items[name] = previous
            canonical.setdefault(id(previous), name)
    if canonical.get(id(obj)) == name:
        del canonical[id(obj)]


def register_serializable(package: str = "Custom", name: str | None = None) -> Callable[[Any], Any]:
    """Decorator: make a custom class or function known by the name ``"package>name"``.

    The object goes to the registry of its kind, decided by its base class: layers and models
    (``Layer``), losses (``Loss``), metrics (``Metric``), optimizers, learning-rate schedules,
    initializers, regularizers and constraints. A plain function becomes usable as an activation,
    a loss and a metric function. Saved models then name it, and ``load_model`` rebuilds it in a
    process where the same registration has run. Keras's ``register_keras_serializable``.

    Args:
        package: the name's prefix, which keeps names of different libraries apart.
        name: the name within the package (default: the object's ``__name__``).

    Example:
        >>> import torch
        >>> from lamina import losses
        >>> @register_serializable(package="Docs")
        ... def l4_loss(y_true, y_pred):
        ...     return ((y_true - y_pred) ** 4).mean(-1)
        >>> losses.get("Docs>l4_loss")(torch.zeros(1, 2), torch.ones(1, 2))
        tensor(1.)
    """
    if not isinstance(package, str) or not package or ">" in package:
        raise ValueError(f"package must be a non-empty string without '>', got {package!r}.")

    def decorator(obj: Any) -> Any:
        registries = registries_for(obj)
        if isinstance(obj, type) and not hasattr(obj, "get_config"):
            raise TypeError(f"Cannot register {obj.__name__}: the class has no get_config().")
        key = f"{package}>{name or obj.__name__}"
        old = _CUSTOM_OBJECTS.get(key)
        if old is not None and old is not obj and not _same_definition(old, obj):
            raise ValueError(
                f"{key!r} is already registered to {old!r}. Choose another package= or name=."
            )
        for registry in registries:
            if old is not None and registry.canonical_name(old) == key:
                _restore(registry, key, old, None)
            _put(registry, key, obj)
        _CUSTOM_OBJECTS[key] = obj
        return obj

    return decorator


register_keras_serializable = register_serializable


def get_custom_objects() -> dict[str, Any]:
    """The live dict of registered custom objects, by name (``"Custom>MyLayer"``).

    Objects added to it by hand (Keras style) are known to ``load_model`` as if they were
    passed in ``custom_objects``.

    Example:
        >>> from lamina.saving import get_custom_objects
        >>> isinstance(get_custom_objects(), dict)
        True
    """
    return _CUSTOM_OBJECTS


def get_registered_name(obj: Any) -> str:
    """The name ``obj`` is saved under (``"Custom>MyLayer"``, ``"Dense"``), else its ``__name__``.

    Example:
        >>> from lamina import layers
        >>> get_registered_name(layers.Dense)
        'Dense'
    """
    for registry in all_registries().values():
        found = registry.canonical_name(obj)
        if found is not None:
            return found
    return getattr(obj, "__name__", type(obj).__name__)


def _expand(custom_objects: dict[str, Any], names: set[str]) -> dict[str, Any]:
    """Map the saved names (``"pkg>Name"``) to objects passed as ``{"Name": obj}`` too."""
    out = dict(custom_objects)
    for saved in names:
        if saved not in out and ">" in saved:
            short = saved.rsplit(">", 1)[1]
            if short in custom_objects:
                out[saved] = custom_objects[short]
    return out


@contextlib.contextmanager
def custom_object_scope(
    custom_objects: dict[str, Any] | None, names: set[str] | None = None
) -> Iterator[dict[str, Any]]:
    """Within the ``with`` block, ``custom_objects`` resolve by name as if registered.

    ``names`` are the names a file uses; ``"pkg>Name"`` among them also resolves to an object
    passed as ``{"Name": obj}``. Registrations are undone on exit. Not thread-safe: do not load
    models with different custom objects concurrently.

    Example:
        >>> from lamina import activations
        >>> def halve(x):
        ...     return x / 2
        >>> with custom_object_scope({"halve": halve}):
        ...     activations.get("halve") is halve
        True
    """
    objects = _expand({**_CUSTOM_OBJECTS, **(custom_objects or {})}, names or set())
    for key, obj in objects.items():
        if not isinstance(key, str):
            raise TypeError(f"custom_objects keys must be names (strings), got {key!r}.")
        registries_for(obj)  # a clear TypeError for objects that cannot be registered
    undo: list[tuple[Registry, str, Any, Any]] = []
    try:
        for key, obj in objects.items():
            for registry in registries_for(obj):
                if registry._items.get(key) is not obj:
                    undo.append((registry, key, obj, _put(registry, key, obj)))
        yield objects
    finally:
        for registry, key, obj, previous in reversed(undo):
            _restore(registry, key, obj, previous)
