"""The one layer-test helper every layer test uses (STYLE.md rule 11)."""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import torch

import lamina
from lamina import layers


def make_input(shape: tuple, dtype: str = "float32", high: int = 10) -> torch.Tensor:
    if dtype.startswith("int"):
        return torch.randint(0, high, shape, dtype=getattr(torch, dtype))
    return torch.randn(shape, dtype=getattr(torch, dtype))


def check_layer(
    cls: type,
    init_kwargs: dict[str, Any],
    input_shape: tuple,
    expected_output_shape: tuple,
    expected_num_params: int | None = None,
    input_dtype: str = "float32",
    expected_trainable: int | None = None,
    stochastic: bool = False,
    input_data: Any = None,
    rtol: float = 1e-5,
) -> lamina.layers.Layer:
    """Checks a layer class end to end and returns the built layer.

    - eager call: output shape;
    - symbolic call on ``Input``: the same output shape (``None`` batch);
    - parameter count (and trainable count);
    - config round trip: ``from_config(get_config())`` + ``set_weights(get_weights())`` gives
      the same outputs; ``state_dict`` load into the rebuilt layer gives the same outputs;
    - one SGD step inside a model changes every trainable parameter, each with a finite grad;
    - ``stochastic`` layers (dropout) differ between training and inference, and are identity-
      or deterministic at inference.
    """
    x = input_data if input_data is not None else make_input(input_shape, input_dtype)
    layer = cls(**init_kwargs)
    out = layer(x)
    out_tensor = out[0] if isinstance(out, (list, tuple)) else out
    assert tuple(out_tensor.shape) == tuple(expected_output_shape), (
        f"{cls.__name__}: eager output shape {tuple(out_tensor.shape)} != {expected_output_shape}"
    )
    symbolic = layers.Input(tuple(input_shape[1:]), dtype=input_dtype)
    sym_out = cls(**init_kwargs)(symbolic)
    sym_out = sym_out[0] if isinstance(sym_out, (list, tuple)) else sym_out
    expected_sym = (None, *expected_output_shape[1:])
    assert tuple(sym_out.shape) in (expected_sym, tuple(expected_output_shape)) or all(
        s is None or s == e for s, e in zip(sym_out.shape, expected_sym)
    ), f"{cls.__name__}: symbolic output shape {sym_out.shape} != {expected_sym}"
    if expected_num_params is not None:
        assert layer.count_params() == expected_num_params, (
            f"{cls.__name__}: {layer.count_params()} params, expected {expected_num_params}"
        )
    if expected_trainable is not None:
        n_train = sum(w.numel() for w in layer.trainable_weights)
        assert n_train == expected_trainable, f"{n_train} trainable, expected {expected_trainable}"

    # Config round trip, then the same weights give the same outputs (inference mode).
    config = layer.get_config()
    clone = cls.from_config(copy.deepcopy(config))
    clone(x)
    clone.set_weights(layer.get_weights())
    ref = _first(layer(x))
    got = _first(clone(x))
    torch.testing.assert_close(got, ref, rtol=rtol, atol=1e-6)
    rebuilt = cls.from_config(copy.deepcopy(config))
    rebuilt(x)
    rebuilt.load_state_dict(layer.state_dict())
    torch.testing.assert_close(_first(rebuilt(x)), ref, rtol=rtol, atol=1e-6)
    # get_weights / set_weights shapes are consistent.
    for a, b in zip(layer.get_weights(), clone.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-6)

    # One optimization step changes every trainable parameter.
    if layer.trainable_weights:
        inp = layers.Input(tuple(input_shape[1:]), dtype=input_dtype)
        trained = cls.from_config(copy.deepcopy(config))
        model = lamina.Model(inp, trained(inp))
        trained.set_weights(layer.get_weights())
        before = [w.detach().clone() for w in trained.trainable_weights]
        model.train()
        out = _first(model(x, training=True))
        loss = (out.float() * torch.randn_like(out.float())).sum()
        loss.backward()
        for w in trained.trainable_weights:
            assert w.grad is not None, f"{cls.__name__}: a trainable weight got no gradient"
            assert torch.isfinite(w.grad).all()
        with torch.no_grad():
            for w in trained.trainable_weights:
                w -= 0.1 * w.grad
        for w, b in zip(trained.trainable_weights, before):
            assert not torch.equal(w.detach(), b), f"{cls.__name__}: a weight did not change"

    if stochastic:
        layer.train()
        a = _first(layer(x, training=True))
        b = _first(layer(x, training=False))
        assert not torch.allclose(a, b), f"{cls.__name__}: training output equals inference"
        layer.eval()
    return layer


def _first(out: Any) -> torch.Tensor:
    return out[0] if isinstance(out, (list, tuple)) else out
