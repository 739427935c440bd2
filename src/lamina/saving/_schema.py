"""What a valid ``config.json`` looks like, checked before anything is built from it.

Example:
    >>> from lamina.saving._schema import check_config
    >>> check_config({"format": "lamina.model", "format_version": 99, "class_name": "Sequential",
    ...               "config": {}})
    Traceback (most recent call last):
    ...
    lamina.errors.LoadError: config.json: the file was written in format version 99 by a newer...
"""

from __future__ import annotations

from typing import Any

from lamina._registry import all_registries
from lamina.errors import LoadError

__all__ = ["FORMAT", "FORMAT_VERSION", "check_config", "check_classes", "check_graph_order"]

FORMAT = "lamina.model"
FORMAT_VERSION = 1
_TOP = {
    "format",
    "format_version",
    "lamina_version",
    "class_name",
    "config",
    "build_config",
    "compile_config",
}
_REQUIRED = {"format", "format_version", "class_name", "config"}
_COMPILE = {"optimizer", "loss", "metrics", "loss_weights", "weighted_metrics", "jit_compile"}
_MAX_NAME = 256
_MAX_WORK = 5_000_000  # graph rebuild steps allowed while checking a functional config's order


def _fail(msg: str) -> LoadError:
    return LoadError(f"config.json: {msg}")


def _is_int(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def _is_number(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def _check_shape(shape: Any, where: str) -> None:
    def one(s: Any) -> bool:
        return (
            isinstance(s, list)
            and len(s) <= 32
            and all(d is None or (_is_int(d) and d >= 0) for d in s)
        )

    if not (
        one(shape)
        or (isinstance(shape, list) and 0 < len(shape) <= 64 and all(one(s) for s in shape))
    ):
        raise _fail(f"{where} must be a shape (a list of sizes) or a list of shapes.")


def _check_spec(spec: Any, where: str, depth: int = 0) -> None:
    """loss / metrics: None, a name, a {"class_name", "config"} entry, or lists / dicts of them."""
    if spec is None:
        return
    if isinstance(spec, str):
        if len(spec) > _MAX_NAME:
            raise _fail(f"{where} holds a name longer than {_MAX_NAME} characters.")
        return
    if depth > 3:
        raise _fail(f"{where} is nested too deeply.")
    if is_entry(spec):
        _check_entry(spec, where)
    elif isinstance(spec, dict):
        for k, v in spec.items():
            _check_spec(v, f"{where}[{k!r}]", depth + 1)
    elif isinstance(spec, list):
        for i, v in enumerate(spec):
            _check_spec(v, f"{where}[{i}]", depth + 1)
    else:
        raise _fail(f"{where} has an entry of type {type(spec).__name__}.")


def is_entry(x: Any) -> bool:
    """A serialized object: ``{"class_name": ..., "config": {...}}``."""
    return isinstance(x, dict) and "class_name" in x and set(x) <= {"class_name", "config"}


def _check_entry(x: Any, where: str) -> None:
    if not is_entry(x) or not isinstance(x["class_name"], str) or len(x["class_name"]) > _MAX_NAME:
        raise _fail(f"{where} must be {{'class_name': <name>, 'config': {{...}}}}.")
    if not isinstance(x.get("config", {}), dict):
        raise _fail(f"{where}['config'] must be an object.")


def _check_weights(w: Any, where: str) -> None:
    if w is None or _is_number(w):
        return
    values = w.values() if isinstance(w, dict) else w if isinstance(w, list) else None
    if values is None or not all(_is_number(v) or v is None for v in values):
        raise _fail(f"{where} must be a number, or a list or dict of numbers.")


def check_config(config: Any) -> None:
    """Types and version of the top level of ``config.json``; raises ``LoadError``."""
    if not isinstance(config, dict):
        raise _fail(f"the top level must be an object, not {type(config).__name__}.")
    unknown, missing = set(config) - _TOP, _REQUIRED - set(config)
    if missing:
        raise _fail(f"required entries are missing: {sorted(missing)}.")
    if unknown:
        raise _fail(f"unknown entries {sorted(map(str, unknown))[:5]}.")
    if config["format"] != FORMAT:
        raise _fail(f"'format' is {str(config['format'])[:40]!r}, not {FORMAT!r}.")
    version = config["format_version"]
    if not _is_int(version) or version < 1:
        raise _fail(f"'format_version' must be a positive integer, got {str(version)[:20]}.")
    if version > FORMAT_VERSION:
        raise _fail(
            f"the file was written in format version {version} by a newer lamina; this "
            f"lamina reads version {FORMAT_VERSION}. Upgrade lamina to load it."
        )
    if not isinstance(config.get("lamina_version", ""), str):
        raise _fail("'lamina_version' must be a string.")
    name = config["class_name"]
    if not isinstance(name, str) or not 0 < len(name) <= _MAX_NAME:
        raise _fail("'class_name' must be a non-empty string.")
    if not isinstance(config["config"], dict):
        raise _fail(f"'config' must be an object, not {type(config['config']).__name__}.")
    build = config.get("build_config")
    if build is not None:
        if not isinstance(build, dict) or set(build) != {"input_shape"}:
            raise _fail("'build_config' must be {'input_shape': [...]}.")
        _check_shape(build["input_shape"], "build_config.input_shape")
    comp = config.get("compile_config")
    if comp is None:
        return
    if not isinstance(comp, dict) or set(comp) - _COMPILE or "optimizer" not in comp:
        raise _fail(f"'compile_config' must be an object with entries from {sorted(_COMPILE)}.")
    _check_entry(comp["optimizer"], "compile_config.optimizer")
    for key in ("loss", "metrics", "weighted_metrics"):
        _check_spec(comp.get(key), f"compile_config.{key}")
    _check_weights(comp.get("loss_weights"), "compile_config.loss_weights")
    if not isinstance(comp.get("jit_compile", False), bool):
        raise _fail("compile_config.jit_compile must be true or false.")


def _known(name: str, custom_objects: dict[str, Any]) -> bool:
    if name in custom_objects or name == "__lambda__":
        return True
    for registry in all_registries().values():
        try:
            registry.lookup(name)
            return True
        except ValueError:
            continue
    return False


def check_classes(config: Any, custom_objects: dict[str, Any]) -> None:
    """Every ``class_name`` in the architecture names a registered class or a custom object."""
    stack: list[tuple[Any, str]] = [(config, "")]
    while stack:
        item, where = stack.pop()
        if isinstance(item, dict):
            name = item.get("class_name")
            if "class_name" in item:
                if not isinstance(name, str) or not 0 < len(name) <= _MAX_NAME:
                    raise _fail(f"{where + '.' if where else ''}class_name must be a short string.")
                if not _known(name, custom_objects):
                    raise LoadError(
                        f"config.json names the unknown class {name!r} (at "
                        f"{where or 'the top level'}). Only registered classes can be loaded: if "
                        "it is your own class, pass "
                        f"custom_objects={{'{name.rsplit('>', 1)[-1]}': <the class>}} or "
                        "decorate it with @lamina.saving.register_serializable()."
                    )
            stack.extend((v, f"{where}.{k}" if where else str(k)) for k, v in item.items())
        elif isinstance(item, list):
            stack.extend((v, f"{where}[{i}]") for i, v in enumerate(item))


def _refs(x: Any) -> list[tuple[Any, Any]]:
    out, stack = [], [x]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            ref = item.get("__tensor__")
            if (
                isinstance(ref, list)
                and len(ref) == 3
                and isinstance(ref[0], str)
                and isinstance(ref[1], int)
            ):
                out.append((ref[0], ref[1]))  # malformed refs are reported by the engine
            else:
                stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return out


def check_graph_order(config: Any) -> None:
    """Refuse functional configs whose layer order would make rebuilding take quadratic time.

    The graph is rebuilt in passes over the layer list; a list saved by lamina needs one pass
    per reuse of a shared layer, a hostile one could need one per layer.
    """
    stack = [config]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            stack.extend(item.values())
            entries = item.get("layers")
            if "output_layers" in item and isinstance(entries, list):
                _simulate(entries)
        elif isinstance(item, list):
            stack.extend(item)


def _simulate(entries: list[Any]) -> None:
    produced: set[tuple[Any, Any]] = set()
    pending = []
    for e in entries:
        if not isinstance(e, dict) or not isinstance(e.get("inbound_nodes"), list):
            raise _fail("a functional model's layer entry lacks its 'inbound_nodes' list.")
        name = e.get("name")
        if not isinstance(name, str):
            raise _fail("a functional model's layer entry lacks its 'name'.")
        if e.get("class_name") == "InputLayer":
            produced.add((name, 0))
        pending.extend((name, node) for node in e["inbound_nodes"])
    counts: dict[str, int] = {}
    work = 0
    while pending:
        left = []
        for name, node in pending:
            refs = _refs(node)
            work += 1 + len(refs)
            if all(r in produced for r in refs):
                index = counts.get(name, 1 if (name, 0) in produced else 0)
                produced.add((name, index))
                counts[name] = index + 1
            else:
                left.append((name, node))
        if len(left) == len(pending):
            return  # not computable: the engine reports it with its own message
        if work > _MAX_WORK:
            raise _fail(
                "the functional graph's layers are listed in an order that would take "
                "too long to rebuild; the file was not written by lamina."
            )
        pending = left
