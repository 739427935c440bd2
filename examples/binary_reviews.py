"""Binary classification of movie reviews, with the workflow around the model.

The IMDB example of *Deep Learning with Python* (section 3.4): reviews as multi-hot vectors of
the 10,000 most frequent words, ``Dense(16, relu) -> Dense(16, relu) -> Dense(1, sigmoid)``,
RMSprop and binary cross-entropy, 10,000 reviews held out for validation. Around it, the
workflow steps of ``lamina.workflow``: the problem-type table says which last layer and loss
fit the targets, the hold-out split is checked for leakage, the majority-class baseline is
computed, the end of ``fit`` says by how much the model beats it, and the training curves are
diagnosed (best epoch, overfitting) and plotted.

The IMDB data is used when it is already in lamina's cache (``~/.lamina/datasets/imdb.npz``,
from ``lamina.datasets.imdb.load_data()``); otherwise synthetic reviews are made whose
sentiment depends on which words they contain, so the script runs offline.

Run: ``python examples/binary_reviews.py`` (``--quick``: a few seconds).
"""

from __future__ import annotations

import argparse
import os

import numpy as np

import lamina
from lamina import layers, workflow
from lamina.utils import multi_hot

NUM_WORDS = 10000


def imdb_if_cached():
    from lamina.datasets import imdb
    from lamina.datasets._download import cache_home

    if not os.path.exists(os.path.join(cache_home(), "datasets", "imdb.npz")):
        return None
    return imdb.load_data(num_words=NUM_WORDS)


def synthetic_reviews(n: int, seed: int):
    """Reviews of filler words with Zipf-like frequencies; positive ones also hold a few of 50
    "positive" words, negative ones a few of 50 "negative" words (with some noise)."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, n)
    ranks = np.arange(200, NUM_WORDS)
    p = 1.0 / ranks
    p /= p.sum()
    reviews = []
    for label in labels:
        words = list(rng.choice(ranks, rng.integers(40, 200), p=p))
        cues = np.arange(100, 150) if label else np.arange(150, 200)
        words += list(rng.choice(cues, rng.integers(1, 5)))
        words += list(rng.choice(np.arange(100, 200), rng.integers(0, 2)))  # mixed reviews
        reviews.append(words)
    return reviews, labels


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small data, few epochs")
    parser.add_argument("--out", default="lamina_demo_output", help="folder for the plot")
    args = parser.parse_args()
    lamina.utils.set_random_seed(0)

    data = None if args.quick else imdb_if_cached()
    if data is not None:
        (train_seq, y_train), (test_seq, y_test) = data
        source = "IMDB"
    else:
        n = 3000 if args.quick else 25000
        reviews, labels = synthetic_reviews(2 * n, seed=0)
        train_seq, y_train = reviews[:n], labels[:n]
        test_seq, y_test = reviews[n:], labels[n:]
        source = "synthetic reviews"
    x_train = multi_hot(train_seq, NUM_WORDS)
    x_test = multi_hot(test_seq, NUM_WORDS)
    y_train = np.asarray(y_train, dtype="float32")
    y_test = np.asarray(y_test, dtype="float32")
    print(f"Data: {source}, {len(x_train)} training and {len(x_test)} test reviews")

    # 1. The problem-type table: which last layer, loss and metrics fit these targets.
    row = workflow.suggest(y_train)
    print(row)

    # 2. Hold-out validation, checked for duplicates across splits and class balance.
    n_val = min(10000, len(x_train) // 3)
    train_idx, val_idx = workflow.holdout_split(len(x_train), n_val, seed=0)
    x_part, y_part = x_train[train_idx], y_train[train_idx]
    x_val, y_val = x_train[val_idx], y_train[val_idx]
    print(workflow.check_splits(x_part, x_val, x_test, labels=[y_part, y_val, y_test]))

    # 3. The baseline to beat.
    base = workflow.baseline(y_part, y_val)
    print(base)

    # 4. The model of the book, with the table's last layer and loss.
    model = lamina.Sequential(
        [
            layers.Dense(16, activation="relu", input_shape=(NUM_WORDS,)),
            layers.Dense(16, activation="relu"),
            row.output_layer(),
        ]
    )
    model.compile(**row.compile_kwargs())
    epochs = 4 if args.quick else 20
    history = model.fit(
        x_part,
        y_part,
        epochs=epochs,
        batch_size=512,
        validation_data=(x_val, y_val),
        verbose=0 if args.quick else "auto",
        callbacks=[workflow.BaselineCallback(base, monitor="val_accuracy")],
    )

    # 5. Overfitting diagnosis on the curves.
    diagnosis = workflow.diagnose(history)
    print("Diagnosis:", diagnosis)
    path = os.path.join(args.out, "binary_reviews_curves.png")
    workflow.plot_diagnosis(history, path)
    print(f"Training curves: {path}")

    # 6. Retrain for the best number of epochs on all training data; score on the test set.
    final = lamina.Sequential(
        [
            layers.Dense(16, activation="relu", input_shape=(NUM_WORDS,)),
            layers.Dense(16, activation="relu"),
            row.output_layer(),
        ]
    )
    final.compile(**row.compile_kwargs())
    final.fit(x_train, y_train, epochs=diagnosis.best_epoch, batch_size=512, verbose=0)
    loss, acc = final.evaluate(x_test, y_test, verbose=0)
    test_base = workflow.baseline(y_train, y_test)
    print(f"Test: loss {loss:.4f}, {test_base.compare('accuracy', acc)}")


if __name__ == "__main__":
    main()
