"""Warnings when a model's last layer or loss does not fit its targets (``check_setup``, run by
``fit`` and ``evaluate`` on the first batch). See :mod:`lamina.workflow.advisor` for the table.

Example:
    >>> import torch
    >>> from lamina import Sequential, layers
    >>> from lamina.workflow.setup_check import check_setup
    >>> model = Sequential([layers.Dense(3, activation="softmax", input_shape=(2,))])
    >>> model.compile(loss="categorical_crossentropy")
    >>> model._build_compiled()
    >>> check_setup(model, [torch.eye(3)], [model(torch.ones(3, 2))])
    []
"""

from __future__ import annotations

import os
import sys
import warnings
from typing import Any

import torch

from lamina.errors import LaminaWarning

__all__ = ["check_setup"]


def _loss_kind(loss: Any) -> tuple[str | None, bool]:
    """``(kind, from_logits)`` of a compiled loss: 'bce', 'cce', 'scce', 'regression' or None."""
    from lamina import losses as L

    fn = getattr(loss, "fn", None)
    kinds = {
        L.binary_crossentropy: "bce",
        L.binary_focal_crossentropy: "bce",
        L.categorical_crossentropy: "cce",
        L.sparse_categorical_crossentropy: "scce",
        L.mean_squared_error: "regression",
        L.mean_absolute_error: "regression",
        L.huber: "regression",
        L.log_cosh: "regression",
    }
    return kinds.get(fn), bool(getattr(loss, "from_logits", False))


def _activation(y_pred: torch.Tensor) -> str | None:
    """'softmax' or 'sigmoid' when the output came from lamina's softmax / sigmoid (they attach
    their logits to the result), else None (linear, or anything unknown)."""
    z = getattr(y_pred, "_keras_logits", None)
    if z is None or not torch.is_tensor(z) or z.shape != y_pred.shape or y_pred.dim() < 1:
        return None
    tol = _tolerance(y_pred)
    p, z = y_pred.detach().float(), z.detach().float()
    # Sigmoid first: a saturated sigmoid unit (all 1.0) looks like a 1-unit softmax otherwise.
    if torch.allclose(torch.sigmoid(z), p, atol=tol):
        return "sigmoid"
    if torch.allclose(torch.softmax(z, dim=-1), p, atol=tol):
        return "softmax"
    return None


def _tolerance(y_pred: torch.Tensor) -> float:
    return 1e-2 if y_pred.dtype in (torch.float16, torch.bfloat16) else 1e-5


def _target_evidence(yt: torch.Tensor, yp: torch.Tensor) -> dict[str, Any]:
    t = yt.detach().float().cpu()
    units = yp.shape[-1] if yp.dim() > 1 else 1
    ev: dict[str, Any] = {"n": int(t.shape[0]) if t.dim() else 1, "lo": None, "hi": None}
    if t.numel():
        ev["lo"], ev["hi"] = float(t.min()), float(t.max())
    binary = bool(t.numel()) and bool(((t == 0) | (t == 1)).all())
    full = t.dim() == yp.dim() and t.dim() > 1 and t.shape[-1] == units and units > 1
    rows = t.reshape(-1, units).sum(-1) if full else None
    ev["multi_hot"] = full and binary and bool((rows >= 2).any())
    ev["one_hot"] = full and binary and bool((rows == 1).all())
    integral = bool(t.numel()) and bool(torch.equal(t, t.round()))
    ev["int_labels"] = (
        integral
        and ev["lo"] is not None
        and ev["lo"] >= 0
        and (t.dim() < yp.dim() or (t.shape[-1] == 1 and units > 1))
    )
    return ev


def check_setup(model: Any, y_true: list[Any], y_pred: list[Any]) -> list[str]:
    """Warn (``LaminaWarning``) when the last layer or the loss does not fit the targets.

    ``fit`` / ``evaluate`` call this once, with the first batch's targets and the model's
    predictions for it (lists aligned with ``model.output_names``). Each warning names the
    mismatch and the fix; correct set-ups are silent. Mismatches the trainer already rejects
    with an error (labels out of range, integer labels with categorical cross-entropy) are
    not repeated here. Returns the messages.

    Example:
        >>> import numpy as np, torch, warnings
        >>> from lamina import Sequential, layers
        >>> model = Sequential([layers.Dense(1, activation="softmax", input_shape=(2,))])
        >>> model.compile(loss="binary_crossentropy")
        >>> with warnings.catch_warnings(record=True) as w:
        ...     warnings.simplefilter("always")
        ...     msgs = check_setup(model, [torch.ones(4, 1)], [model(torch.ones(4, 2))])
        >>> "softmax over 1 unit" in msgs[0]
        True
    """
    compiled = getattr(model, "_compiled_loss", None)
    if compiled is None:
        return []
    names = list(getattr(compiled, "output_names", [])) or [None] * len(y_pred)
    messages = []
    for name, loss, yt, yp in zip(names, compiled.losses, y_true, y_pred):
        if loss is None or yt is None or not torch.is_tensor(yt) or not torch.is_tensor(yp):
            continue
        if yp.dim() == 0 or not yp.is_floating_point():
            continue
        where = f"output '{name}'" if len(y_pred) > 1 else "the output"
        msg = _mismatch(loss, yt, yp, where)
        if msg:
            messages.append(msg)
            warnings.warn(msg, LaminaWarning, stacklevel=_user_stacklevel())
    return messages


def _mismatch(loss: Any, yt: torch.Tensor, yp: torch.Tensor, where: str) -> str | None:
    kind, from_logits = _loss_kind(loss)
    act = _activation(yp)
    units = yp.shape[-1] if yp.dim() > 1 else 1
    ev = _target_evidence(yt, yp)
    loss_name = getattr(loss, "name", "the loss")
    table = " (see lamina.workflow.suggest(y) for the table's row)"
    if act == "softmax" and units == 1:
        return (
            f"{where[0].upper() + where[1:]} is a softmax over 1 unit, which always gives 1.0: the "
            "model cannot learn. For two classes use Dense(1, activation='sigmoid') with "
            "loss='binary_crossentropy'" + table + "."
        )
    if act == "softmax" and ev["multi_hot"]:
        return (
            f"The targets of {where} have several labels per sample (multi-hot), but the output "
            "is a softmax, whose units compete and sum to 1. For multi-label classification use "
            "activation='sigmoid' with loss='binary_crossentropy'" + table + "."
        )
    if act == "sigmoid" and units > 1 and ev["one_hot"] and ev["n"] >= 16:
        return (
            f"The targets of {where} are one-hot (exactly one class per sample), but the output "
            f"is {units} independent sigmoids. For single-label classes use "
            "activation='softmax' with loss='categorical_crossentropy'" + table + "."
        )
    if act == "sigmoid" and kind in ("cce", "scce"):
        fix = (
            "loss='binary_crossentropy'"
            if ev["multi_hot"]
            else "activation='softmax' on the last layer"
        )
        return (
            f"{loss_name} expects a softmax output (probabilities that sum to 1), but {where} is "
            f"a sigmoid per unit. Use {fix}" + table + "."
        )
    if kind == "bce" and act == "softmax" and units > 2:
        return (
            f"binary_crossentropy on a softmax of {units} units scores each unit as a separate "
            "yes/no question (and 'accuracy' becomes binary accuracy, which looks high). For "
            "single-label classes use loss='categorical_crossentropy' (one-hot targets) or "
            "'sparse_categorical_crossentropy' (integer labels)."
        )
    if kind == "regression" and act == "softmax" and (ev["one_hot"] or ev["int_labels"]):
        good = "categorical_crossentropy" if ev["one_hot"] else "sparse_categorical_crossentropy"
        return (
            f"{loss_name} on a softmax output with class labels: this is classification, where "
            f"cross-entropy trains much better. Use loss='{good}'" + table + "."
        )
    if (
        kind == "regression"
        and act in ("softmax", "sigmoid")
        and ev["lo"] is not None
        and (ev["lo"] < 0 or ev["hi"] > 1)
    ):
        return (
            f"The targets of {where} range from {ev['lo']:g} to {ev['hi']:g}, but a {act} output "
            "lies in [0, 1] and can never reach them. For regression to arbitrary values remove "
            "the activation (Dense(units) with no activation) and keep loss='mse'."
        )
    if kind in ("cce", "scce") and not from_logits and act is None:
        p = yp.detach().float()
        sums = p.sum(-1)
        tol = 1e-3 if _tolerance(yp) < 1e-3 else 5e-2
        if bool((p < 0).any()) or not torch.allclose(sums, torch.ones_like(sums), atol=tol):
            return (
                f"{loss_name} expects probabilities, but {where} has no softmax (its values do not "
                "sum to 1). Add activation='softmax' to the last layer, or compile with "
                f"lamina.losses.{_class_name(kind)}(from_logits=True)."
            )
    if kind == "bce" and not from_logits and act is None:
        p = yp.detach().float()
        if bool((p < 0).any()) or bool((p > 1).any()):
            return (
                f"binary_crossentropy expects probabilities in [0, 1], but {where} has no sigmoid "
                "(its values leave [0, 1]). Add activation='sigmoid' to the last layer, or "
                "compile with lamina.losses.BinaryCrossentropy(from_logits=True)."
            )
    return None


def _class_name(kind: str) -> str:
    return "CategoricalCrossentropy" if kind == "cce" else "SparseCategoricalCrossentropy"


_LAMINA_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _user_stacklevel() -> int:
    """The stacklevel that points a warning at the first frame outside lamina (the user's
    ``fit`` call), however deep inside the library it is raised."""
    frame, level = sys._getframe(1), 1
    while frame is not None and os.path.abspath(frame.f_code.co_filename).startswith(_LAMINA_DIR):
        frame, level = frame.f_back, level + 1
    return level
