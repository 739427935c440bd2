"""Checks on the data before training starts: input shapes against the model, targets against
the output and the loss, duplicates between training and validation data, and the
problem-type advisor. Each failure says what was wrong and what to do.

Example:
    >>> import torch
    >>> from lamina import Sequential, layers
    >>> from lamina.engine.checks import check_inputs
    >>> model = Sequential([layers.Dense(1, input_shape=(3,), name="first")])
    >>> check_inputs(model, torch.zeros(2, 4))
    Traceback (most recent call last):
    ...
    ValueError: Input 0 of model ... (first layer 'first') expects samples of shape (3,)...
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np
import torch

from lamina.engine import tree
from lamina.engine.compile_utils import align_targets
from lamina.engine.data_adapter import ArrayAdapter, DataAdapter
from lamina.errors import LaminaWarning

__all__ = ["check_inputs", "check_targets", "warn_duplicates", "advise"]


def check_inputs(model: Any, x: Any) -> None:
    """Compare the data's sample shapes with the model's inputs before any training."""
    inputs = getattr(model, "inputs", None)
    if not inputs:
        return
    graph = getattr(model, "_graph", None)
    try:
        flat = graph.flatten_inputs(x) if graph is not None else tree.flatten(x)
    except ValueError:
        raise
    for i, (spec, data) in enumerate(zip(inputs, flat)):
        if not hasattr(data, "shape"):
            continue
        if isinstance(data, np.ndarray) and spec.dtype != "string":
            kinds = sorted({type(v).__name__ for v in data.ravel()[:1000]})
            raise ValueError(
                f"Input {i} of model '{model.name}' expects {spec.dtype} numbers, but the data is "
                f"an object array holding {', '.join(kinds)} values (mixed or text columns?). "
                "Convert it to numbers first (e.g. pandas.get_dummies for categories, "
                "pd.to_numeric for numeric text), or start the model with a TextVectorization / "
                "StringLookup layer on an Input(dtype='string')."
            )
        got = tuple(data.shape)
        want = spec.shape
        if spec.dtype == "string" and len(got) == 1 and want[1:] == (1,):
            continue  # a flat array of strings for Input((1,), dtype="string"), as Keras allows
        ok = len(got) == len(want) and all(w is None or w == g for w, g in zip(want[1:], got[1:]))
        if not ok:
            first = _first_layer_name(model)
            raise ValueError(
                f"Input {i} of model '{model.name}' (first layer '{first}') expects samples "
                f"of shape {tuple(want[1:])} (batch shape {want}), but the data has samples "
                f"of shape {got[1:]} (batch shape {(None, *got[1:])}). " + _reshape_hint(want, got)
            )


def check_targets(model: Any, adapter: DataAdapter, y_true: list[Any], y_pred: list[Any]) -> None:
    """Labels out of range for the output size, one-hot size mismatches, binary labels."""
    full = adapter.y if isinstance(adapter, ArrayAdapter) else None
    full_list = (
        align_targets(full, model._compiled_loss.output_names) if full is not None else y_true
    )
    for name, fn, yt, yp in zip(
        model._compiled_loss.output_names, model._compiled_loss.losses, full_list, y_pred
    ):
        if fn is None or yt is None or not torch.is_tensor(yt) or not torch.is_tensor(yp):
            continue
        loss_name = getattr(fn, "name", "") or ""
        out_dim = yp.shape[-1] if yp.dim() > 1 else 1
        where = f"output '{name}'" if len(y_pred) > 1 else "the model's output"
        if "sparse_categorical" in loss_name:
            if yt.is_floating_point() and not torch.equal(yt, yt.round()):
                raise ValueError(
                    f"sparse_categorical_crossentropy needs integer class labels, but y for "
                    f"{where} holds fractional values. For one-hot targets use "
                    "categorical_crossentropy."
                )
            if yt.numel():
                hi, lo = int(yt.max()), int(yt.min())
                if hi >= out_dim or lo < 0:
                    raise ValueError(
                        f"Labels for {where} range from {lo} to {hi}, but the output has "
                        f"{out_dim} units, so valid labels are 0..{out_dim - 1}. Use "
                        f"Dense({hi + 1}) as the last layer or fix the labels."
                    )
        elif loss_name == "categorical_crossentropy":
            if yt.dim() == 1 or (yt.dim() == yp.dim() and yt.shape[-1] == 1 and out_dim > 1):
                raise ValueError(
                    f"categorical_crossentropy expects one-hot targets of shape (n, "
                    f"{out_dim}) for {where}, but y has shape {tuple(yt.shape)} (integer "
                    "labels?). Use loss='sparse_categorical_crossentropy' or convert with "
                    "lamina.utils.to_categorical(y)."
                )
            if yt.shape[-1] != out_dim:
                raise ValueError(
                    f"The targets for {where} are one-hot vectors of size {yt.shape[-1]}, but "
                    f"the output has {out_dim} units. Make the last layer Dense("
                    f"{yt.shape[-1]}) or fix the targets."
                )
        elif loss_name == "binary_crossentropy" and yt.numel():
            lo, hi = float(yt.min()), float(yt.max())
            if lo < 0 or hi > 1:
                raise ValueError(
                    f"binary_crossentropy needs targets in [0, 1] for {where}, but y ranges "
                    f"from {lo:g} to {hi:g}. For several classes use "
                    "sparse_categorical_crossentropy with a softmax output."
                )


def _first_layer_name(model: Any) -> str:
    for layer in getattr(model, "layers", []):
        if type(layer).__name__ != "InputLayer":
            return layer.name
    return model.name


def _reshape_hint(want: tuple, got: tuple) -> str:
    want_size = math.prod(d for d in want[1:] if d is not None)
    got_size = math.prod(got[1:])
    if None not in want[1:] and want_size == got_size:
        return f"Reshape the data: x.reshape((len(x), {', '.join(str(d) for d in want[1:])}))."
    return "Check the input_shape of the first layer against the data."


def warn_duplicates(train: DataAdapter, val: DataAdapter) -> None:
    """Warn when validation samples also appear in the training data (information leak)."""
    if not (isinstance(train, ArrayAdapter) and isinstance(val, ArrayAdapter)):
        return
    try:
        from lamina.workflow.checks import count_shared_samples
    except ImportError:
        return
    shared = count_shared_samples(train.x, val.x)
    if shared:
        warnings.warn(
            f"{shared} of {val.num_samples} validation samples also appear in the training data: "
            "validation scores will be optimistic. Remove duplicates before splitting "
            "(lamina.workflow.check_splits shows them).",
            LaminaWarning,
            stacklevel=3,
        )


def advise(model: Any, y_true: list[Any], y_pred: list[Any]) -> None:
    """Warn about a last layer / loss that does not fit the targets (the problem-type table)."""
    try:
        from lamina.workflow.advisor import check_setup
    except ImportError:
        return
    check_setup(model, y_true, y_pred)
