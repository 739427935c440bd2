"""``save_model`` / ``load_model`` / ``save_weights`` / ``load_weights``.

Example:
    >>> import os, tempfile
    >>> import numpy as np
    >>> from lamina import layers, models
    >>> model = models.Sequential([layers.Dense(2, input_shape=(3,))])
    >>> path = os.path.join(tempfile.mkdtemp(), "tiny.lamina")
    >>> model.save(path)
    >>> x = np.ones((1, 3), dtype="float32")
    >>> bool((models.load_model(path).predict(x, verbose=0) == model.predict(x, verbose=0)).all())
    True
"""

from __future__ import annotations

import json
import math
import os
import warnings
from typing import Any

from lamina.errors import LaminaWarning, LoadError
from lamina.saving import _archive as ar, _schema as sc, _training as tr, _weights as wt
from lamina.saving._budget import AllocationBudget
from lamina.saving._objects import custom_object_scope

__all__ = ["save_model", "load_model", "save_weights", "load_weights"]

_KERAS_SUFFIXES = (".h5", ".hdf5", ".keras")


def _warn_suffix(path: str, what: str, better: str) -> None:
    if path.lower().endswith(_KERAS_SUFFIXES):
        warnings.warn(
            f"{path!r} is written in lamina's {what} format, not Keras's HDF5 / .keras; "
            f"name it '*{better}' to say so.",
            LaminaWarning,
            stacklevel=4,
        )


# ------------------------------------------------------------------------------------ saving
def _architecture(model: Any) -> dict[str, Any]:
    from lamina.engine.layer import LAYERS
    from lamina.engine.model import Model
    from lamina.engine.sequential import Sequential

    cls = type(model)
    name = LAYERS.canonical_name(cls)
    graph = getattr(model, "_graph", None)
    subclassed = graph is None and not isinstance(model, Sequential)
    if name is None or (cls is Model and graph is None):
        raise ValueError(
            f"Model class {cls.__name__} is not registered, so its architecture cannot be saved "
            "by name. Decorate the class with @lamina.saving.register_serializable() (its "
            "__init__ must store each argument under its own name, or override get_config()), "
            "or save only the weights with model.save_weights('<name>.weights.safetensors') and "
            "rebuild the model in code."
        )
    try:
        config = model.get_config()
        json.dumps(config)
    except (NotImplementedError, ValueError, TypeError) as e:
        raise ValueError(
            f"Cannot save the architecture of model '{model.name}': {e} Save only the weights "
            "with model.save_weights(...) and rebuild the model in code instead."
        ) from e
    build = None
    if subclassed:
        shape = getattr(model, "_build_input_shape", None)
        if isinstance(shape, (tuple, list)):
            build = {"input_shape": json.loads(json.dumps(shape))}  # tuples -> lists
        elif len(model.state_dict()):
            raise ValueError(
                f"Model '{model.name}' has weights, but lamina does not know the input shape "
                "they were built for (it was built by hand, or for a dict of inputs), so the "
                "saved architecture could not be rebuilt. Call the model on a batch of data "
                "before saving, or save only the weights with model.save_weights(...)."
            )
    return {"class_name": name, "config": config, "build_config": build}


def save_model(
    model: Any, filepath: str | os.PathLike, overwrite: bool = True, include_optimizer: bool = True
) -> None:
    """Save architecture, weights, compile settings and optimizer state to one ``.lamina`` file.

    The file is a zip of ``config.json`` (architecture by registered class names, compile
    settings), ``model.safetensors`` (weights) and, when ``include_optimizer`` and the optimizer
    has state, ``optimizer.safetensors`` + ``optimizer.json``. It is written atomically: a failure
    leaves any previous file intact. Without ``include_optimizer`` the model loads compiled with a
    fresh optimizer.

    Args:
        model: a ``Sequential``, functional or registered subclassed ``Model``.
        filepath: where to write (``.lamina`` recommended).
        overwrite: ``False`` refuses to replace an existing file (``FileExistsError``).
        include_optimizer: also save the optimizer's state, so training resumes exactly.

    Example:
        >>> import os, tempfile
        >>> from lamina import layers, models
        >>> model = models.Sequential([layers.Dense(1, input_shape=(2,))])
        >>> model.compile(optimizer="adam", loss="mse")
        >>> save_model(model, os.path.join(tempfile.mkdtemp(), "m.lamina"))
    """
    from lamina.engine.model import Model

    if not isinstance(model, Model):
        raise TypeError(
            f"save_model() saves a lamina Model; got {type(model).__name__}. For a "
            "plain torch module use safetensors.torch.save_file(module.state_dict())."
        )
    path = os.fspath(filepath)
    _warn_suffix(path, "model", ".lamina")
    config = {
        "format": sc.FORMAT,
        "format_version": sc.FORMAT_VERSION,
        "lamina_version": wt.metadata()["lamina_version"],
        **_architecture(model),
    }
    config["compile_config"] = tr.compile_config(model) if model.compiled else None
    members = {
        ar.CONFIG: json.dumps(config, indent=1).encode(),
        ar.WEIGHTS: wt.encode_tensors(wt.state_tensors(model), wt.metadata()),
    }
    if include_optimizer and config["compile_config"] is not None:
        members.update(tr.optimizer_members(model))
    ar.write_archive(path, members, overwrite)


def save_weights(model: Any, filepath: str | os.PathLike, overwrite: bool = True) -> None:
    """Save the weights (``state_dict`` names, safetensors format), atomically.

    Args:
        model: a built lamina model (or any ``torch.nn.Module``).
        filepath: a name ending in ``.weights.safetensors`` (or ``.safetensors``).
        overwrite: ``False`` refuses to replace an existing file.

    Example:
        >>> import os, tempfile
        >>> from lamina import layers, models
        >>> model = models.Sequential([layers.Dense(1, input_shape=(2,))])
        >>> save_weights(model, os.path.join(tempfile.mkdtemp(), "m.weights.safetensors"))
    """
    path = os.fspath(filepath)
    if path.lower().endswith(".lamina"):
        raise ValueError(
            f"save_weights() writes a safetensors file, not a .lamina model: name it "
            f"'{path[:-7]}.weights.safetensors', or use model.save({path!r})."
        )
    _warn_suffix(path, "safetensors weights", ".weights.safetensors")
    tensors = wt.state_tensors(model)
    if not tensors and not getattr(model, "built", True):
        raise ValueError(
            f"Model '{getattr(model, 'name', '?')}' has no weights yet: build it "
            "(give the first layer input_shape= or call it on data) before saving."
        )
    data = wt.encode_tensors(tensors, wt.metadata())
    ar.atomic_write(path, lambda f: f.write(data), overwrite)


# ----------------------------------------------------------------------------------- loading
def _as_shape(x: Any) -> Any:
    if isinstance(x, list) and x and all(isinstance(s, list) for s in x):
        return [tuple(s) for s in x]
    return tuple(x)


def _build(config: dict, objects: dict, safe_mode: bool, budget: int) -> Any:
    from lamina.engine.layer import LAYERS
    from lamina.engine.model import Model
    from lamina.layers import deserialize

    name = config["class_name"]
    cls = objects.get(name) or LAYERS.lookup(name)
    if not (isinstance(cls, type) and issubclass(cls, Model)):
        raise LoadError(f"config.json: the top-level class {name!r} is not a model.")
    with AllocationBudget(budget):
        try:
            model = deserialize(
                {"class_name": name, "config": config["config"]},
                custom_objects=objects,
                safe_mode=safe_mode,
            )
            if config.get("build_config"):
                model._maybe_build(_as_shape(config["build_config"]["input_shape"]))
        except LoadError:
            raise
        except Exception as e:  # noqa: BLE001 - any failure to build from the file is a bad file
            raise LoadError(
                f"The saved model cannot be rebuilt from config.json: {type(e).__name__}: {e}"
            ) from e
    return model


def _strings(x: Any) -> set[str]:
    out, stack = set(), [x]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if ">" in item:
                out.add(item)
        elif isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return out


def load_model(
    filepath: str | os.PathLike,
    custom_objects: dict[str, Any] | None = None,
    compile: bool = True,
    safe_mode: bool = True,
) -> Any:
    """Load a model written by :func:`save_model`; never runs code from the file.

    The archive, ``config.json`` and the tensors are validated first; the architecture is built
    only from registered classes and ``custom_objects``; weights must match it by name, shape and
    dtype. Any problem raises :class:`lamina.errors.LoadError`.

    Args:
        filepath: the ``.lamina`` file.
        custom_objects: ``{"Name": class_or_function}`` for custom objects the file names.
        compile: recompile with the saved settings and restore the optimizer state.
        safe_mode: refuse ``Lambda`` layers holding Python code (``False`` runs that code: only
            for files you trust).

    Example:
        >>> import os, tempfile
        >>> from lamina import layers, models
        >>> path = os.path.join(tempfile.mkdtemp(), "m.lamina")
        >>> models.Sequential([layers.Dense(1, input_shape=(2,))]).save(path)
        >>> load_model(path).count_params()
        3
    """
    path = os.fspath(filepath)
    members = ar.read_archive(path)
    config = ar.parse_json(members[ar.CONFIG], ar.CONFIG)
    sc.check_config(config)
    entries, _ = wt.read_header(members[ar.WEIGHTS], ar.WEIGHTS)
    values = sum(math.prod(shape) for _, shape in entries.values())
    budget = 4 * values + ar.LIMITS.build_margin_elements
    with custom_object_scope(custom_objects, _strings(config)) as objects:
        sc.check_classes({"class_name": config["class_name"], "config": config["config"]}, objects)
        sc.check_graph_order(config["config"])
        model = _build(config, objects, safe_mode, budget)
        _, problems = wt.match(model.state_dict(), entries)
        if problems:
            raise LoadError(
                wt.mismatch_message(f"{path!r}", model, problems, len(model.state_dict()))
            )
        _assign(model, wt.decode_tensors(members[ar.WEIGHTS], ar.WEIGHTS), path)
        comp = config.get("compile_config")
        if compile and comp:
            tr.compile_from_config(model, comp, objects)
            if ar.OPT_STATE in members:
                tr.restore_optimizer(model, members, comp, objects)
    return model


def _file_header(path: str) -> tuple[dict, dict]:
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        head = f.read(8)
        n = int.from_bytes(head, "little") if len(head) == 8 else 0
        if 0 < n <= ar.LIMITS.max_json_bytes and n <= size - 8:
            head += f.read(n)
    return wt.read_header(head, repr(path), data_len=size - len(head))


def load_weights(model: Any, filepath: str | os.PathLike, skip_mismatch: bool = False) -> None:
    """Load weights from a ``.weights.safetensors`` file or from a ``.lamina`` model file.

    Names, shapes and dtypes must match the model's ``state_dict`` (a model built the same way
    under other layer names loads by position). A mismatch raises one ``LoadError`` listing every
    problem; ``skip_mismatch=True`` loads what matches and warns about the rest.

    Example:
        >>> import os, tempfile
        >>> from lamina import layers, models
        >>> path = os.path.join(tempfile.mkdtemp(), "m.weights.safetensors")
        >>> a = models.Sequential([layers.Dense(1, input_shape=(2,))])
        >>> a.save_weights(path)
        >>> b = models.Sequential([layers.Dense(1, input_shape=(2,))])
        >>> load_weights(b, path)
        >>> bool((a.get_weights()[0] == b.get_weights()[0]).all())
        True
    """
    path = os.fspath(filepath)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"No such weights file: {path!r}.")
    data = None
    if ar.is_archive(path):
        data = ar.read_archive(path)[ar.WEIGHTS]
        entries, meta = wt.read_header(data, f"{path!r} ({ar.WEIGHTS})")
    else:
        entries, meta = _file_header(path)
    state = model.state_dict()
    pairs, problems = wt.match(state, entries, wt.saved_order(entries, meta))
    if problems:
        message = wt.mismatch_message(repr(path), model, problems, len(state), skip_mismatch)
        if not skip_mismatch:
            raise LoadError(message)
        warnings.warn(message, LaminaWarning, stacklevel=3)
    if data is not None:
        tensors = wt.decode_tensors(data, repr(path))
    else:
        from safetensors import safe_open

        try:
            with safe_open(path, framework="pt") as f:
                tensors = {name: f.get_tensor(name) for name in pairs}
        except Exception as e:  # noqa: BLE001 - the library's error types vary by version
            raise LoadError(f"{path!r} is damaged: {e}.") from None
    _assign(model, {pairs[name]: tensors[name] for name in pairs}, path)


def _assign(model: Any, tensors: dict, path: str) -> None:
    try:
        wt.assign(model, tensors)
    except Exception as e:  # noqa: BLE001 - a layer's own load hook refused a value
        raise LoadError(f"The weights in {path!r} cannot be loaded: {type(e).__name__}: {e}") from e
