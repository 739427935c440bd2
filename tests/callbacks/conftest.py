"""Fixtures for the callback tests."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest


@pytest.fixture
def keras_trainer():
    """Kept for the tests that name it: the trainer now lets BackupAndRestore move the
    starting epoch / batch and calls every Keras hook."""
    yield


# ---------------------------------------------------------------------- small models and data
@pytest.fixture
def data():
    """40 training samples (5 batches of 8) and 12 validation samples, 4 features."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 4)).astype("float32")
    y = (x @ np.array([[1.0], [-2.0], [0.5], [0.0]], dtype="float32") + 0.1).astype("float32")
    xv = rng.normal(size=(12, 4)).astype("float32")
    yv = (xv @ np.array([[1.0], [-2.0], [0.5], [0.0]], dtype="float32") + 0.1).astype("float32")
    return x, y, xv, yv


def make_model(seed: int = 0, dropout: float = 0.0, optimizer: Any = "sgd") -> Any:
    """A small regression MLP, seeded so that the same seed gives the same weights."""
    from lamina import Sequential, layers
    from lamina.utils import set_random_seed

    set_random_seed(seed)
    stack = [layers.Dense(8, activation="relu", input_shape=(4,))]
    if dropout:
        stack.append(layers.Dropout(dropout))
    stack.append(layers.Dense(1))
    model = Sequential(stack)
    model.compile(optimizer=optimizer, loss="mse", metrics=["mae"])
    return model


@pytest.fixture
def model_factory():
    return make_model
