"""What ``compile()`` set up, saved by name and restored: the optimizer (its config and its state,
remapped by weight name), the losses, the metrics and their weights.

Example:
    >>> from lamina import layers, models
    >>> from lamina.saving._training import compile_config
    >>> model = models.Sequential([layers.Dense(1, input_shape=(2,))])
    >>> model.compile(optimizer="sgd", loss="mse", metrics=["mae"])
    >>> config = compile_config(model)
    >>> config["optimizer"]["class_name"], config["loss"], config["metrics"]
    ('SGD', 'mse', ['mae'])
"""

from __future__ import annotations

import json
import warnings
from typing import Any

from lamina.errors import LaminaWarning, LoadError
from lamina.saving import _archive as ar, _schema as sc, _weights as wt

__all__ = ["compile_config", "optimizer_members", "compile_from_config", "restore_optimizer"]


def _encode_spec(spec: Any, module: Any) -> Any:
    if spec is None or isinstance(spec, str):
        return spec
    if isinstance(spec, dict):
        return {str(k): _encode_spec(v, module) for k, v in spec.items()}
    if isinstance(spec, (list, tuple)):
        return [_encode_spec(v, module) for v in spec]
    return module.serialize(module.get(spec))


def _encode_weights(w: Any) -> Any:
    if isinstance(w, dict):
        return {str(k): _encode_weights(v) for k, v in w.items()}
    if isinstance(w, (list, tuple)):
        return [_encode_weights(v) for v in w]
    return None if w is None else float(w)


def compile_config(model: Any) -> dict[str, Any] | None:
    """The ``compile()`` arguments by name / config; ``None`` (with a warning) when some object
    cannot be saved by name, e.g. an unregistered loss function."""
    from lamina import losses, metrics, optimizers

    args = getattr(model, "_compile_args", None) or {}
    try:
        config = {
            "optimizer": optimizers.serialize(model.optimizer),
            "loss": _encode_spec(args.get("loss"), losses),
            "metrics": _encode_spec(args.get("metrics"), metrics),
            "loss_weights": _encode_weights(args.get("loss_weights")),
            "weighted_metrics": _encode_spec(args.get("weighted_metrics"), metrics),
            "jit_compile": bool(getattr(model, "_jit_compile", False)),
        }
        json.dumps(config)
        return config
    except (ValueError, TypeError) as e:
        warnings.warn(
            f"Model '{model.name}' is saved without its compile() settings, so it will load "
            f"uncompiled: {e}",
            LaminaWarning,
            stacklevel=4,
        )
        return None


def optimizer_members(model: Any) -> dict[str, bytes]:
    """``optimizer.safetensors`` and ``optimizer.json``: the state, with the name of the weight
    each parameter index stands for (so that loading can map it to the rebuilt model)."""
    opt = model.optimizer
    if opt is None or not hasattr(opt, "get_state_json"):
        return {}
    state = opt.get_state_json()
    if not state.get("num_params"):
        return {}  # never built and nothing restored: no state yet
    names_by_id = {id(p): n for n, p in model.named_parameters()}
    if opt.built:
        params = [p for g in opt.torch_optimizer.param_groups for p in g["params"]]
    else:  # restored by load_model, waiting for the first fit(): the trainer's order
        params = [p for p in model.parameters() if p.requires_grad]
    names = [names_by_id.get(id(p)) for p in params]
    if None in names or len(names) != state["num_params"]:
        warnings.warn(
            f"The optimizer of model '{model.name}' updates tensors that are not the "
            "model's weights; its state is not saved.",
            LaminaWarning,
            stacklevel=4,
        )
        return {}
    state_tensors = opt.get_state_tensors()
    tensors = {k: state_tensors[k].detach().to("cpu").contiguous() for k in sorted(state_tensors)}
    return {
        ar.OPT_WEIGHTS: wt.encode_tensors(tensors, wt.metadata()),
        ar.OPT_STATE: json.dumps({"param_names": names, "state": state}, indent=1).encode(),
    }


def _decode_spec(spec: Any, module: Any, objects: dict) -> Any:
    if spec is None or isinstance(spec, str):
        return spec
    if sc.is_entry(spec):
        return module.deserialize(spec, objects)
    if isinstance(spec, dict):
        return {k: _decode_spec(v, module, objects) for k, v in spec.items()}
    return [_decode_spec(v, module, objects) for v in spec]


def compile_from_config(model: Any, comp: dict, objects: dict) -> None:
    """Recompile ``model`` with the saved settings; failures raise ``LoadError``."""
    from lamina import losses, metrics, optimizers

    try:
        model.compile(
            optimizer=optimizers.deserialize(comp["optimizer"], objects),
            loss=_decode_spec(comp.get("loss"), losses, objects),
            metrics=_decode_spec(comp.get("metrics"), metrics, objects),
            loss_weights=comp.get("loss_weights"),
            weighted_metrics=_decode_spec(comp.get("weighted_metrics"), metrics, objects),
            jit_compile=comp.get("jit_compile", False),
        )
    except Exception as e:  # noqa: BLE001
        raise LoadError(
            f"The saved compile() settings cannot be restored ({type(e).__name__}: "
            f"{e}). Pass custom_objects for custom losses, metrics or optimizers, or "
            "load with compile=False."
        ) from e


def _slot_key(key: str, remap: dict[int, int]) -> str:
    idx, _, slot = key.partition(".")
    if not (idx.isdigit() and int(idx) in remap and slot and len(key) < 256):
        raise LoadError(
            f"optimizer state: {key[:80]!r} is not '<parameter index>.<slot>' for one "
            "of the saved parameters."
        )
    return f"{remap[int(idx)]}.{slot}"


def restore_optimizer(model: Any, members: dict, comp: dict, objects: dict) -> None:
    """Check the saved state against the model now, then hand it to ``model.optimizer``, which
    applies it when ``fit`` builds it (on the model's device, in the trainer's weight order)."""
    from lamina import optimizers

    meta = ar.parse_json(members[ar.OPT_STATE], ar.OPT_STATE)
    if not (
        isinstance(meta, dict)
        and set(meta) == {"param_names", "state"}
        and isinstance(meta["param_names"], list)
        and isinstance(meta["state"], dict)
        and all(isinstance(n, str) for n in meta["param_names"])
    ):
        raise LoadError(f"{ar.OPT_STATE} must be {{'param_names': [...], 'state': {{...}}}}.")
    params = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    position = {n: i for i, (n, _) in enumerate(params)}
    names = meta["param_names"]
    if sorted(names) != sorted(position):
        raise LoadError(
            "The optimizer state was saved for other weights than the model has "
            f"({len(names)} saved, {len(position)} trainable). Load with "
            "compile=False or recompile to start a fresh optimizer."
        )
    remap = {i: position[n] for i, n in enumerate(names)}
    wt.read_header(members[ar.OPT_WEIGHTS], ar.OPT_WEIGHTS)  # clear errors before decoding
    tensors = {
        _slot_key(k, remap): t
        for k, t in wt.decode_tensors(members[ar.OPT_WEIGHTS], ar.OPT_WEIGHTS).items()
    }
    for key, t in tensors.items():
        shape = tuple(params[int(key.partition(".")[0])][1].shape)
        if t.dim() and tuple(t.shape) != shape:
            raise LoadError(
                f"optimizer state {key!r} has shape {tuple(t.shape)}, but its weight "
                f"has shape {shape}."
            )
    state = dict(meta["state"])
    scalars = state.get("state_scalars") or {}
    if not isinstance(scalars, dict):
        raise LoadError(f"{ar.OPT_STATE}: 'state_scalars' must be an object.")
    state["state_scalars"] = {_slot_key(k, remap): v for k, v in scalars.items()}
    try:  # a throwaway optimizer checks the state against the weights now, not at fit()
        probe = optimizers.deserialize(comp["optimizer"], objects)
        probe.build([p for _, p in params])
        probe.set_state_json(state)
        probe.set_state_tensors(tensors)
        model.optimizer.set_state_json(state)
        model.optimizer.set_state_tensors(tensors)
    except Exception as e:  # noqa: BLE001
        raise LoadError(
            f"The saved optimizer state does not fit: {type(e).__name__}: {e}. "
            "Load with compile=False to skip it."
        ) from e
