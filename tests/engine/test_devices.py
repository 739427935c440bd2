"""Weights and inputs land on one device. On a GPU machine a model is trained on CUDA while
the data comes from NumPy; these tests use torch's "meta" device (shapes only, no data) to
stand in for a second device, so they run on any machine."""

import numpy as np
import pytest
import torch

import lamina
from lamina import layers

META = torch.device("meta")


@pytest.mark.parametrize("kind", ["mlp", "embedding_bilstm", "conv"])
def test_a_deferred_sequential_builds_its_weights_on_the_data_device(kind):
    # fit() and predict() build a Sequential with no input shape from the first batch, on the
    # batch's device; the layers' weights must be made there, not on the CPU.
    stacks = {
        "mlp": ([layers.Dense(8, activation="relu"), layers.Dropout(0.5), layers.Dense(2)], 3),
        "embedding_bilstm": (
            [layers.Embedding(10, 4), layers.Bidirectional(layers.LSTM(3)), layers.Dense(1)],
            5,
        ),
        "conv": ([layers.Conv1D(4, 3), layers.GlobalMaxPooling1D(), layers.Dense(1)], (7, 2)),
    }
    stack, features = stacks[kind]
    model = lamina.Sequential(stack)
    shape = (None, *features) if isinstance(features, tuple) else (None, features)
    model._maybe_build(shape, META)
    devices = {p.device for p in model.parameters()}
    assert devices == {META}


def test_numpy_input_goes_to_the_device_of_the_weights():
    model = lamina.Sequential([lamina.Input((3,)), layers.Dense(2)])
    x = np.ones((4, 3), dtype="float32")
    assert model(x).device.type == "cpu"
    model.to(META)
    out = model(x)  # would raise "Expected all tensors to be on the same device" before
    assert out.device == META and tuple(out.shape) == (4, 2)
    with pytest.raises(RuntimeError, match="same device|meta"):
        model(torch.ones(4, 3))  # a tensor stays where the caller put it, as in PyTorch
    norm = layers.Normalization(mean=[1.0, 2.0, 3.0], variance=[1.0, 1.0, 4.0])
    norm(x)  # built on the CPU; its statistics are buffers, not parameters
    norm.to(META)
    assert norm(x).device == META
