"""The workload models written once against the Keras API, and run by every contender that
speaks it: lamina (``k`` is the ``lamina`` package), Keras 3 on JAX or torch, and tf.keras 2
(``k`` is ``keras`` or ``tf_keras``). That the same code runs on all of them is the point of
lamina; it also guarantees that every Keras-style contender trains the same model.

Nothing here imports a framework: the caller passes it in.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable
from typing import Any

from bench.harness import Skip, mark_baseline
from bench.workloads import common as c

# Where a lamina layer lives before its family is re-exported from ``lamina.layers``.
_LAMINA_FAMILIES = ("embedding", "recurrent", "convolutional", "pooling", "core")
_found_in: dict[str, str] = {}


def _layer(k: Any, name: str) -> Any:
    cls = getattr(k.layers, name, None)
    if cls is None and k.__name__ == "lamina":
        for family in _LAMINA_FAMILIES:
            try:
                module = importlib.import_module(f"lamina.layers.{family}")
            except ImportError:
                continue
            if hasattr(module, name):
                _found_in[name] = module.__name__
                return getattr(module, name)
    if cls is None:
        raise Skip(f"{k.__name__}.layers has no {name} (not written yet)")
    return cls


def build(k: Any, workload: str, jit_compile: bool = False) -> Any:
    """The compiled (for predict workloads: uncompiled) Sequential model of ``workload``."""

    def L(name: str, *a: Any, **kw: Any) -> Any:  # noqa: N802 - reads like a layer class
        return _layer(k, name)(*a, **kw)

    compile_kw: dict[str, Any] = {"optimizer": "rmsprop", "metrics": ["accuracy"]}
    if workload == "W0":
        stack = [L("Dense", c.TINY_HIDDEN, activation="relu"), L("Dense", 1)]
        compile_kw = {"optimizer": "sgd", "loss": "mse"}
    elif workload in ("W1", "W4a"):
        stack = [
            L("Dense", c.MLP_HIDDEN, activation="relu"),
            L("Dropout", 0.5),
            L("Dense", c.MLP_CLASSES, activation="softmax"),
        ]
        compile_kw["loss"] = "categorical_crossentropy"
    elif workload in ("W2", "W4b"):
        stack = [
            L("Embedding", c.VOCAB, c.LSTM_EMBED),
            L("LSTM", c.LSTM_UNITS),
            L("Dense", 1, activation="sigmoid"),
        ]
        compile_kw["loss"] = "binary_crossentropy"
    elif workload == "W3":
        stack = [
            L("Embedding", c.VOCAB, c.CONV_EMBED),
            L("Conv1D", c.CONV_FILTERS, c.CONV_KERNEL, activation="relu"),
            L("MaxPooling1D", c.CONV_POOL),
            L("Conv1D", c.CONV_FILTERS, c.CONV_KERNEL, activation="relu"),
            L("GlobalMaxPooling1D"),
            L("Dense", 1),
        ]
        # The book's Dense(1) has no activation: its output is a logit.
        compile_kw["loss"] = k.losses.BinaryCrossentropy(from_logits=True)
    elif workload == "W5":
        stack = [
            L("Embedding", c.VOCAB, c.LSTM_EMBED),
            L("GRU", c.LSTM_UNITS, recurrent_dropout=0.2),
            L("Dense", 1, activation="sigmoid"),
        ]
        compile_kw["loss"] = "binary_crossentropy"
    else:
        raise ValueError(f"unknown workload {workload!r}")
    model = k.models.Sequential(stack)
    if workload.startswith("W4"):
        return model
    if jit_compile:
        compile_kw["jit_compile"] = True
    model.compile(**compile_kw)
    return model


def data(workload: str, args: dict) -> tuple[Any, Any]:
    """The NumPy data of ``workload`` at the size in ``args``."""
    if workload == "W0":
        return c.tiny_data(args["n"])
    if workload in ("W1", "W4a"):
        return c.mlp_data(args["n"])
    return c.token_data(args["n"], args.get("seq_len", c.SEQ_LEN))


def run(
    k: Any, args: dict, jit_compile: bool = False, sync: Callable[[], None] | None = None
) -> dict:
    """Build ``args['workload']``'s model with framework ``k``, make the data, time it
    (``sync`` waits for a GPU before each clock reading)."""
    workload = args["workload"]
    model = build(k, workload, jit_compile=jit_compile)
    if "torch" in sys.modules:
        # torch.optim imports torch._dynamo (and sympy, ~90 MB) at its first optimizer; the
        # hand-written loop builds its optimizer before the baseline, so do that import here too.
        importlib.import_module("torch._dynamo")
    mark_baseline()
    x, y = data(workload, args)
    if workload.startswith("W4"):
        out = c.keras_style_predict(model, x, args)
    else:
        out = c.keras_style_fit(model, k.callbacks.Callback, x, y, args, sync)
    if _found_in:
        out["info_not_reexported"] = sorted(f"{n} ({m})" for n, m in _found_in.items())
    return out
