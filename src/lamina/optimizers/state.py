"""Saving and restoring an optimizer's state as ``{name: tensor}`` plus JSON-compatible data.

Tensors (slots such as ``momentum``, ``velocity``; torch's ``step`` counters) are keyed
``"<parameter index>.<slot>"``, the index being the parameter's position in the list given to
``build``; they can go to safetensors as they are. Everything else (``iterations``, the torch
param groups with their hyper-parameters, non-tensor per-parameter state) goes to JSON. State set
before ``build`` waits and is applied at ``build``, so a model can be loaded before its first
training step.

Example:
    >>> import torch
    >>> from lamina.optimizers import Adam
    >>> w = torch.nn.Parameter(torch.zeros(2))
    >>> opt = Adam()
    >>> opt.build([w])
    >>> sorted(opt.get_state_tensors()), opt.get_state_json()["iterations"]
    (['0.momentum', '0.velocity'], 0)
"""

from __future__ import annotations

from typing import Any

import torch

__all__ = ["OptimizerState"]

_STATE_FORMAT = 1
_LAMINA_SLOTS = ("ema_average", "gradient_accumulator")  # kept by lamina, not by torch


def _jsonable(value: Any, where: str) -> Any:
    if isinstance(value, torch.Tensor):
        return value.item() if value.numel() == 1 else value.tolist()
    if isinstance(value, (list, tuple)):
        return [_jsonable(v, where) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v, f"{where}.{k}") for k, v in value.items()}
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise TypeError(f"Optimizer state {where} = {value!r} cannot be stored as JSON.")


def _parse_key(key: str, n: int) -> tuple[int, str]:
    idx, _, slot = key.partition(".")
    if not idx.isdigit() or not slot or int(idx) >= n:
        raise ValueError(
            f"Optimizer state key {key!r} is not '<parameter index>.<slot name>' with an index "
            f"below {n} (the number of parameters this optimizer was built with)."
        )
    return int(idx), slot


class OptimizerState:
    """State save/load methods of :class:`~lamina.optimizers.Optimizer` (a mixin: it reads the
    optimizer's ``_params``, ``_torch_opt``, ``_ema``, ``_accumulators``, ``_iterations``)."""

    _params: list[torch.Tensor]
    _torch_opt: torch.optim.Optimizer | None
    _ema: list[torch.Tensor]
    _accumulators: list[torch.Tensor]
    _iterations: int
    _learning_rate: Any
    _pending_tensors: dict[str, torch.Tensor] | None
    _pending_json: dict[str, Any] | None
    built: bool

    def _class_name(self) -> str:
        raise NotImplementedError

    def get_state_tensors(self) -> dict[str, torch.Tensor]:
        """Every state tensor, keyed ``"<parameter index>.<slot>"`` (copies, for safetensors)."""
        if not self.built:
            return dict(self._pending_tensors or {})
        self._apply_pending()
        out: dict[str, torch.Tensor] = {}
        if self._torch_opt is not None:
            for i, state in self._torch_opt.state_dict()["state"].items():
                for slot, v in state.items():
                    if torch.is_tensor(v):
                        out[f"{i}.{slot}"] = v.detach().clone().contiguous()
        for slot, tensors in zip(_LAMINA_SLOTS, (self._ema, self._accumulators)):
            out.update({f"{i}.{slot}": t.detach().clone() for i, t in enumerate(tensors)})
        return out

    def get_state_json(self) -> dict[str, Any]:
        """Everything else (iterations, torch param groups with hyper-parameters, non-tensor
        state) as JSON-compatible data."""
        if not self.built and self._pending_json is not None:
            return {**self._pending_json, "iterations": self._iterations}
        self._apply_pending()
        groups, scalars = None, {}
        if self._torch_opt is not None:
            sd = self._torch_opt.state_dict()
            groups = _jsonable(sd["param_groups"], "param_groups")
            for i, state in sd["state"].items():
                for slot, v in state.items():
                    if not torch.is_tensor(v):
                        scalars[f"{i}.{slot}"] = _jsonable(v, f"state {i}.{slot}")
        return {
            "format": _STATE_FORMAT,
            "class_name": self._class_name(),
            "iterations": self._iterations,
            "num_params": len(self._params) if self.built else None,
            "param_groups": groups,
            "state_scalars": scalars,
        }

    def set_state_tensors(self, tensors: dict[str, torch.Tensor]) -> None:
        """Restore :meth:`get_state_tensors` output (now, or at ``build`` if not built yet)."""
        if not isinstance(tensors, dict) or not all(torch.is_tensor(t) for t in tensors.values()):
            raise TypeError("set_state_tensors() expects a dict of {name: torch.Tensor}.")
        self._pending_tensors = {k: t.detach().clone() for k, t in tensors.items()}
        self._apply_pending()

    def set_state_json(self, data: dict[str, Any]) -> None:
        """Restore :meth:`get_state_json` output (now, or at ``build`` if not built yet)."""
        if not isinstance(data, dict) or data.get("format") != _STATE_FORMAT:
            raise ValueError(
                "set_state_json() expects the dict returned by get_state_json() "
                f"(format {_STATE_FORMAT}); got {str(data)[:80]!r}."
            )
        mine = self._class_name()
        if data.get("class_name") != mine:
            raise ValueError(
                f"This optimizer state was saved by {data.get('class_name')}; it cannot be "
                f"loaded into {mine}. Create a {data.get('class_name')} optimizer to resume."
            )
        self._iterations = int(data["iterations"])
        groups = data.get("param_groups")
        if groups and isinstance(self._learning_rate, float):
            self._learning_rate = float(groups[0]["lr"])
        self._pending_json = data
        self._apply_pending()

    def state_dict(self) -> dict[str, Any]:
        """``{"tensors": get_state_tensors(), "json": get_state_json()}``."""
        return {"tensors": self.get_state_tensors(), "json": self.get_state_json()}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Inverse of :meth:`state_dict`; before ``build`` the state waits for it."""
        if set(state_dict) != {"tensors", "json"}:
            raise ValueError(
                "load_state_dict() expects {'tensors': ..., 'json': ...} from "
                "Optimizer.state_dict(). For a bare torch.optim state dict use "
                "opt.torch_optimizer.load_state_dict()."
            )
        self.set_state_json(state_dict["json"])
        self.set_state_tensors(state_dict["tensors"])

    def _apply_pending(self) -> None:
        if not self.built or (self._pending_tensors is None and self._pending_json is None):
            return
        tensors, meta = self._pending_tensors or {}, self._pending_json
        self._pending_tensors = self._pending_json = None
        n = len(self._params)
        if meta is not None and meta.get("num_params") not in (None, n):
            raise ValueError(
                f"The optimizer state was saved for {meta['num_params']} parameters but this "
                f"optimizer has {n}: the model does not match the one that was saved."
            )
        torch_tensors = {}
        for key, t in tensors.items():
            i, slot = _parse_key(key, n)
            if slot in _LAMINA_SLOTS:
                own = (self._ema if slot == _LAMINA_SLOTS[0] else self._accumulators)[i : i + 1]
                if not own or own[0].shape != t.shape:
                    raise ValueError(f"Optimizer state {key!r} does not fit this optimizer.")
                own[0].copy_(t)
            else:
                torch_tensors[(i, slot)] = t
        if self._torch_opt is None:
            return
        sd = self._torch_opt.state_dict()
        state = {i: dict(s) for i, s in sd["state"].items()}
        groups = sd["param_groups"]
        if meta is not None and meta.get("param_groups") is not None:
            saved = meta["param_groups"]
            if [len(g["params"]) for g in saved] != [len(g["params"]) for g in groups]:
                raise ValueError("The saved optimizer's parameter groups do not match this one.")
            groups = [{**s, "params": g["params"]} for s, g in zip(saved, groups)]
            for key, v in meta.get("state_scalars", {}).items():
                i, slot = _parse_key(key, n)
                state.setdefault(i, {})[slot] = v
        for (i, slot), t in torch_tensors.items():
            current = state.get(i, {}).get(slot)
            if torch.is_tensor(current) and current.shape != t.shape:
                raise ValueError(
                    f"Optimizer state '{i}.{slot}' has shape {tuple(t.shape)} in the saved state "
                    f"but {tuple(current.shape)} here: the model does not match the saved one."
                )
            state.setdefault(i, {})[slot] = t
        self._torch_opt.load_state_dict({"state": state, "param_groups": groups})
