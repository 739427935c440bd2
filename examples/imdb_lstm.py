"""Classify movie reviews as positive or negative with an Embedding + LSTM model.

The model of *Deep Learning with Python* (section 6.2): the 10,000 most frequent words, reviews
cut or padded to 500 words, ``Embedding(10000, 32) -> LSTM(32) -> Dense(1, sigmoid)``.

The IMDB data is used when it is already in lamina's cache (``~/.lamina/datasets/imdb.npz``,
from ``lamina.datasets.imdb.load_data()``); otherwise the script makes synthetic reviews whose
sentiment depends on which words they contain, so that it runs offline.

Run: ``python examples/imdb_lstm.py`` (``--quick`` for a run of a few seconds).
"""

from __future__ import annotations

import argparse
import os

import numpy as np
import torch

import lamina
from lamina.layers.core import Dense
from lamina.layers.embedding import Embedding
from lamina.layers.recurrent import LSTM
from lamina.utils.sequence import pad_sequences

MAX_FEATURES = 10000  # words kept (the most frequent ones)


def imdb_if_cached(maxlen: int):
    from lamina.datasets import imdb
    from lamina.datasets._download import cache_home

    if not os.path.exists(os.path.join(cache_home(), "datasets", "imdb.npz")):
        return None
    (x_train, y_train), (x_test, y_test) = imdb.load_data(num_words=MAX_FEATURES)
    return (pad_sequences(x_train, maxlen), y_train), (pad_sequences(x_test, maxlen), y_test)


def synthetic_reviews(n: int, maxlen: int, seed: int):
    """Reviews of filler words drawn with Zipf-like frequencies; a positive review also holds a
    few of 50 "positive" words, a negative one a few of 50 "negative" words."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, n)
    ranks = np.arange(200, MAX_FEATURES)
    weights = 1.0 / ranks
    reviews = []
    for label in labels:
        length = rng.integers(maxlen // 4, maxlen)
        words = list(rng.choice(ranks, length, p=weights / weights.sum()))
        cues = np.arange(100, 150) if label else np.arange(150, 200)
        for _ in range(rng.integers(2, 6)):
            words.insert(int(rng.integers(0, len(words) + 1)), int(rng.choice(cues)))
        reviews.append(words)
    return pad_sequences(reviews, maxlen), labels.astype("float32")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small data, 8 epochs")
    parser.add_argument("--synthetic", action="store_true", help="do not use cached IMDB data")
    parser.add_argument("--threads", type=int, help="torch threads (--quick: 1)")
    args = parser.parse_args()
    # Small models step faster on one thread; on a busy machine, threads that wait for each
    # other can make every step many times slower.
    if args.threads or args.quick:
        torch.set_num_threads(args.threads or 1)
    maxlen, epochs, n = (80, 8, 2000) if args.quick else (500, 10, 25000)
    lamina.utils.set_random_seed(0)

    data = None if args.synthetic else imdb_if_cached(maxlen)
    if data is None:
        print("IMDB not in the cache: using synthetic reviews.")
        data = synthetic_reviews(n, maxlen, seed=1), synthetic_reviews(n // 4, maxlen, seed=2)
    (x_train, y_train), (x_test, y_test) = data
    x_train, y_train = x_train[:n], y_train[:n]
    print(f"{len(x_train)} training reviews of {x_train.shape[1]} words")

    model = lamina.Sequential(
        [
            Embedding(MAX_FEATURES, 32, input_length=maxlen),
            LSTM(32),
            Dense(1, activation="sigmoid"),
        ]
    )
    model.summary()
    model.compile(optimizer="rmsprop", loss="binary_crossentropy", metrics=["acc"])
    history = model.fit(
        x_train, y_train, epochs=epochs, batch_size=128, validation_split=0.2, verbose=2
    )
    loss, acc = model.evaluate(x_test, y_test, verbose=0)
    print(f"best validation accuracy {max(history.history['val_acc']):.3f}, test {acc:.3f}")


if __name__ == "__main__":
    main()
