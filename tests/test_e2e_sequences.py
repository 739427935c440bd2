"""End-to-end: recurrent models learn synthetic text and time-series tasks through ``fit``."""

import numpy as np
import pytest
import torch

import lamina
from lamina.layers.core import Dense
from lamina.layers.embedding import Embedding
from lamina.layers.recurrent import GRU, LSTM
from lamina.utils.sequence import pad_sequences
from lamina.utils.timeseries import timeseries_dataset_from_array

VOCAB, POSITIVE, NEGATIVE = 300, range(2, 12), range(12, 22)


@pytest.fixture(autouse=True)
def _one_thread():
    """These models are small: one thread is faster than two, and on a shared, busy machine
    threads that wait for each other make a step many times slower."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def sentiment_data(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Reviews of 8-40 filler words; a positive review contains a few "positive" words, a
    negative one a few "negative" words, anywhere. Padded 'pre' (the Keras default)."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, n)
    reviews = []
    for label in labels:
        words = list(rng.integers(22, VOCAB, rng.integers(8, 41)))
        cues = POSITIVE if label else NEGATIVE
        for _ in range(rng.integers(1, 4)):
            words.insert(int(rng.integers(0, len(words) + 1)), int(rng.choice(cues)))
        reviews.append(words)
    return pad_sequences(reviews, maxlen=44), labels.astype("float32")


@pytest.mark.slow
def test_embedding_lstm_classifier_learns_word_presence():
    lamina.utils.set_random_seed(0)
    x_train, y_train = sentiment_data(2000, seed=1)
    x_test, y_test = sentiment_data(500, seed=2)
    model = lamina.Sequential(
        [
            Embedding(VOCAB, 16, mask_zero=True),
            LSTM(16),
            Dense(1, activation="sigmoid"),
        ]
    )
    model.compile(optimizer="rmsprop", loss="binary_crossentropy", metrics=["accuracy"])
    model.fit(x_train, y_train, epochs=6, batch_size=32, verbose=0)
    _, accuracy = model.evaluate(x_test, y_test, verbose=0)
    assert accuracy >= 0.85


def periodic_series(n: int, seed: int) -> np.ndarray:
    """A daily cycle (period 24) plus a slower one and noise: the "temperature"."""
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    series = np.sin(2 * np.pi * t / 24) + 0.5 * np.sin(2 * np.pi * t / 97)
    return (series + 0.1 * rng.normal(size=n)).astype("float32")


@pytest.mark.slow
def test_gru_beats_the_naive_last_value_baseline():
    lamina.utils.set_random_seed(0)
    series = periodic_series(3000, seed=0)
    lookback, delay = 48, 12  # predict 12 steps after the end of a 48-step window
    data, targets = series[:, None], series[lookback + delay - 1 :]

    def windows(start: int, end: int, shuffle: bool):
        return timeseries_dataset_from_array(
            data[:-delay],
            targets,
            sequence_length=lookback,
            batch_size=64,
            shuffle=shuffle,
            seed=0,
            start_index=start,
            end_index=end,
        )

    train, val = windows(0, 2200, True), windows(2200, None, False)
    naive = np.mean(
        np.concatenate([np.abs(x[:, -1, 0] - y) for x, y in (val[i] for i in range(len(val)))])
    )
    model = lamina.Sequential([GRU(16, input_shape=(lookback, 1)), Dense(1)])
    model.compile(optimizer="rmsprop", loss="mae")
    model.fit(train, epochs=6, verbose=0)
    mae = model.evaluate(val, verbose=0)
    assert mae < 0.5 * naive, (mae, naive)


def test_ragged_token_lists_without_padding_fail_with_a_clear_error():
    model = lamina.Sequential([Embedding(10, 4), LSTM(2), Dense(1)])
    model.compile("rmsprop", "mse")
    with pytest.raises(ValueError, match=r"different lengths.*[Pp]ad"):
        model.fit([[1, 2, 3], [4, 5]], [0.0, 1.0], verbose=0)
