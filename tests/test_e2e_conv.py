"""End to end: convolutional models learn real tasks, and the layers give Keras's outputs.

- an Embedding + Conv1D + GlobalMaxPooling1D classifier on a synthetic sentiment task whose
  label depends on which words a sequence contains;
- the book's first convnet (Conv2D -> MaxPooling2D -> Conv2D -> Flatten -> Dense) on the
  bundled digits shaped like MNIST;
- where Keras 3 is installed (the ``bench`` extra, JAX backend), every layer family against
  Keras itself with the same weights.
"""

import os
import time

import numpy as np
import pytest
import torch

import lamina
from lamina.datasets import digits
from lamina.layers.convolutional import Conv1D, Conv2D, Conv2DTranspose
from lamina.layers.core import Dense, Flatten
from lamina.layers.depthwise import DepthwiseConv2D, SeparableConv1D, SeparableConv2D
from lamina.layers.embedding import Embedding
from lamina.layers.normalization import BatchNormalization, LayerNormalization
from lamina.layers.pooling import (
    AveragePooling1D,
    AveragePooling2D,
    GlobalMaxPooling1D,
    MaxPooling1D,
    MaxPooling2D,
)
from lamina.layers.reshaping import UpSampling2D
from lamina.utils import set_random_seed

# Keras's JAX backend warns about NumPy 2 copy semantics inside its own code.
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.fixture
def one_thread():
    """These small models gain nothing from a second intra-op thread, and on a shared 2-core
    machine OpenMP's waits for a descheduled thread made training ~10x slower; restored after."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def sentiment_data(n, rng, vocab=1000, length=80):
    """Neutral filler words (ids 41..vocab-1); a positive review holds 1-3 words from 1..20,
    a negative one 1-3 words from 21..40, at random places."""
    x = rng.integers(41, vocab, size=(n, length))
    y = rng.integers(0, 2, size=n)
    for i in range(n):
        words = rng.integers(1, 21, size=rng.integers(1, 4)) + (0 if y[i] else 20)
        x[i, rng.choice(length, size=len(words), replace=False)] = words
    return x, y.astype("float32")


@pytest.mark.slow
def test_conv1d_text_classifier_learns_word_presence(one_thread):
    set_random_seed(0)
    rng = np.random.default_rng(0)
    x, y = sentiment_data(2000, rng)
    xt, yt = sentiment_data(500, rng)
    model = lamina.Sequential(
        [
            Embedding(1000, 16),
            Conv1D(32, 5, activation="relu"),
            GlobalMaxPooling1D(),
            Dense(1, activation="sigmoid"),
        ]
    )
    model.compile(optimizer="rmsprop", loss="binary_crossentropy", metrics=["accuracy"])
    start = time.perf_counter()
    model.fit(x, y, epochs=8, batch_size=64, verbose=0)
    _, acc = model.evaluate(xt, yt, verbose=0)
    assert acc >= 0.85, acc
    assert time.perf_counter() - start < 60


@pytest.mark.slow
def test_first_convnet_reaches_95_percent_on_digits(one_thread):
    set_random_seed(1)
    (x, y), (xt, yt) = digits.load_data()
    x = x.reshape(-1, 28, 28, 1).astype("float32") / 255
    xt = xt.reshape(-1, 28, 28, 1).astype("float32") / 255
    model = lamina.Sequential(
        [
            Conv2D(32, (3, 3), activation="relu", input_shape=(28, 28, 1)),
            MaxPooling2D((2, 2)),
            Conv2D(64, (3, 3), activation="relu"),
            MaxPooling2D((2, 2)),
            Flatten(),
            Dense(10, activation="softmax"),
        ]
    )
    assert model.count_params() == 320 + 18496 + 1600 * 10 + 10
    model.compile(optimizer="rmsprop", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x, y, epochs=8, batch_size=32, verbose=0)
    _, acc = model.evaluate(xt, yt, verbose=0)
    assert acc >= 0.95, acc


# ---------------------------------------------------------------------- Keras itself
KERAS_CASES = [
    (Conv1D, dict(filters=3, kernel_size=4, strides=3, padding="same"), (2, 11, 4)),
    (
        Conv1D,
        dict(filters=4, kernel_size=3, dilation_rate=2, padding="causal", groups=2),
        (2, 11, 4),
    ),
    (Conv2D, dict(filters=3, kernel_size=(2, 4), strides=2, padding="same"), (2, 9, 10, 4)),
    (Conv2DTranspose, dict(filters=3, kernel_size=3, strides=2, padding="same"), (2, 5, 6, 4)),
    (Conv2DTranspose, dict(filters=3, kernel_size=3, strides=2, output_padding=1), (2, 5, 6, 4)),
    (SeparableConv1D, dict(filters=5, kernel_size=4, strides=2, padding="same"), (2, 11, 4)),
    (SeparableConv2D, dict(filters=5, kernel_size=3, depth_multiplier=2), (2, 9, 8, 4)),
    (
        DepthwiseConv2D,
        dict(kernel_size=(2, 3), strides=2, padding="same", depth_multiplier=3),
        (2, 9, 8, 4),
    ),
    (MaxPooling1D, dict(pool_size=4, strides=1, padding="same"), (2, 11, 3)),
    (AveragePooling1D, dict(pool_size=3, strides=2, padding="same"), (2, 11, 3)),
    (AveragePooling2D, dict(pool_size=(2, 3), strides=2, padding="same"), (2, 7, 8, 3)),
    (UpSampling2D, dict(size=(2, 3), interpolation="bilinear"), (2, 4, 5, 3)),
    (LayerNormalization, dict(axis=[1, 2]), (4, 3, 5)),
]


@pytest.fixture(scope="module")
def keras():
    os.environ.setdefault("KERAS_BACKEND", "jax")
    return pytest.importorskip("keras")


@pytest.mark.slow
@pytest.mark.parametrize(
    "cls, kwargs, shape", KERAS_CASES, ids=lambda v: getattr(v, "__name__", "")
)
def test_outputs_equal_keras_for_the_same_weights(keras, cls, kwargs, shape):
    rng = np.random.default_rng(0)
    x = rng.standard_normal(shape).astype("float32")
    theirs = getattr(keras.layers, cls.__name__)(**kwargs)
    theirs(x)
    ours = cls(**kwargs)
    ours(torch.from_numpy(x))
    assert [w.shape for w in ours.get_weights()] == [w.shape for w in theirs.get_weights()]
    weights = [rng.standard_normal(w.shape).astype("float32") for w in theirs.get_weights()]
    theirs.set_weights(weights)
    ours.set_weights(weights)
    expected = np.asarray(theirs(x))
    got = ours(torch.from_numpy(x)).detach().numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)


@pytest.mark.slow
def test_batchnorm_training_and_moving_stats_equal_keras(keras):
    rng = np.random.default_rng(1)
    x = (rng.standard_normal((8, 4, 5)) * 3 + 1).astype("float32")
    theirs = keras.layers.BatchNormalization(momentum=0.9)
    theirs(x)
    ours = BatchNormalization(momentum=0.9)
    ours(torch.from_numpy(x))
    weights = [rng.standard_normal(5).astype("float32") for _ in range(3)]
    weights.append((rng.random(5) + 0.5).astype("float32"))
    theirs.set_weights(weights)
    ours.set_weights(weights)
    for _ in range(2):
        expected = np.asarray(theirs(x, training=True))
        got = ours(torch.from_numpy(x), training=True).detach().numpy()
        np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)
    for a, b in zip(ours.get_weights(), theirs.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    theirs.trainable = False
    ours.trainable = False
    np.testing.assert_allclose(
        ours(torch.from_numpy(x), training=True).detach().numpy(),
        np.asarray(theirs(x, training=True)),
        rtol=1e-4,
        atol=1e-4,
    )
