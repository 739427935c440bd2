"""Single-label multi-class classification of newswires into 46 topics, with a small search.

The Reuters example of *Deep Learning with Python* (section 3.5): wires as multi-hot vectors of
the 10,000 most frequent words, ``Dense(64, relu) -> Dense(64, relu) -> Dense(46, softmax)``,
1,000 wires held out for validation. The workflow around it: the problem-type table (integer
labels -> softmax with sparse categorical cross-entropy; one-hot labels -> categorical
cross-entropy), a stratified hold-out checked for class balance, the majority-class and
class-prior baselines (about 19% for Reuters: a model must beat that), the book's
"information bottleneck" experiment as a hyper-parameter search over the hidden size with
Optuna (``lamina.workflow.tune``, bad trials pruned on their validation curve), and the
diagnosis of the final curves.

The Reuters data is used when it is in lamina's cache (``~/.lamina/datasets/reuters.npz``);
otherwise synthetic wires are made whose topic decides which words they use.

Run: ``python examples/multiclass_topics.py`` (``--quick``: a few seconds).
"""

from __future__ import annotations

import argparse
import os

import numpy as np

import lamina
from lamina import layers, workflow
from lamina.utils import multi_hot

NUM_WORDS = 10000
TOPICS = 46


def reuters_if_cached():
    from lamina.datasets import reuters
    from lamina.datasets._download import cache_home

    if not os.path.exists(os.path.join(cache_home(), "datasets", "reuters.npz")):
        return None
    return reuters.load_data(num_words=NUM_WORDS)


def synthetic_wires(n: int, seed: int):
    """Wires of common filler words plus words from their topic's own vocabulary; topic sizes
    are skewed like Reuters (a few large topics, many small ones)."""
    rng = np.random.default_rng(seed)
    sizes = 1.0 / np.arange(1, TOPICS + 1) ** 1.2
    labels = rng.choice(TOPICS, n, p=sizes / sizes.sum())
    wires = []
    for topic in labels:
        vocab = 500 + topic * 150 + np.arange(150)
        words = list(rng.integers(1, 500, rng.integers(20, 80)))
        words += list(rng.choice(vocab, rng.integers(3, 12)))
        wires.append(words)
    return wires, labels


def build_model(units: int = 64):
    model = lamina.Sequential(
        [
            layers.Dense(units, activation="relu", input_shape=(NUM_WORDS,)),
            layers.Dense(units, activation="relu"),
            layers.Dense(TOPICS, activation="softmax"),
        ]
    )
    model.compile("rmsprop", "sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small data, few trials")
    parser.add_argument("--out", default="lamina_demo_output", help="folder for the plot")
    args = parser.parse_args()
    lamina.utils.set_random_seed(0)

    data = None if args.quick else reuters_if_cached()
    if data is not None:
        (train_seq, y_train), (test_seq, y_test) = data
        source = "Reuters"
    else:
        n = 3000 if args.quick else 9000
        wires, labels = synthetic_wires(n + n // 4, seed=0)
        train_seq, y_train, test_seq, y_test = wires[:n], labels[:n], wires[n:], labels[n:]
        source = "synthetic wires"
    x_train, x_test = multi_hot(train_seq, NUM_WORDS), multi_hot(test_seq, NUM_WORDS)
    y_train, y_test = np.asarray(y_train), np.asarray(y_test)
    print(f"Data: {source}, {len(x_train)} training and {len(x_test)} test wires")

    print(workflow.suggest(y_train))
    print(
        "With one-hot labels the table says:",
        workflow.suggest(lamina.utils.to_categorical(y_train, TOPICS)).loss,
    )

    train_idx, val_idx = workflow.holdout_split(len(x_train), 1000, seed=0, stratify=y_train)
    x_part, y_part = x_train[train_idx], y_train[train_idx]
    x_val, y_val = x_train[val_idx], y_train[val_idx]
    report = workflow.check_splits(x_part, x_val, labels=[y_part, y_val])
    print(f"Split check: {'OK' if report.ok else report.issues}")
    base = workflow.baseline(y_part, y_val)
    print(base)

    # The information bottleneck: a 4-unit hidden layer cannot carry 46 topics. Let the search
    # find the size (it keeps the same validation split for every trial).
    epochs, batch_size = (6, 128) if args.quick else (20, 512)
    result = workflow.tune(
        build_model,
        {"units": [4, 16, 64]},
        x_part,
        y_part,
        validation=(x_val, y_val),
        trials=3 if args.quick else 8,
        epochs=epochs,
        batch_size=batch_size,
        seed=0,
        verbose=0,
        refit=False,
    )
    print(result)

    units = result.best_params["units"]
    model = build_model(units)
    history = model.fit(
        x_part,
        y_part,
        epochs=epochs,
        batch_size=batch_size,
        validation_data=(x_val, y_val),
        verbose=0,
        callbacks=[workflow.BaselineCallback(base, monitor="val_accuracy")],
    )
    diagnosis = workflow.diagnose(history)
    print("Diagnosis:", diagnosis)
    path = os.path.join(args.out, "multiclass_topics_curves.png")
    workflow.plot_diagnosis(history, path)
    print(f"Training curves: {path}")
    _, acc = model.evaluate(x_test, y_test, verbose=0)
    print("Test:", workflow.baseline(y_train, y_test).compare("accuracy", acc))


if __name__ == "__main__":
    main()
