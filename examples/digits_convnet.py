"""The book's first convnet (*Deep Learning with Python*, section 5.1) on handwritten digits.

``Conv2D(32, 3) -> MaxPooling2D(2) -> Conv2D(64, 3) -> MaxPooling2D(2) -> Conv2D(64, 3) ->
Flatten -> Dense(64) -> Dense(10, softmax)`` on 28x28x1 images, RMSprop and sparse categorical
cross-entropy. The data is ``lamina.datasets.digits``: scikit-learn's bundled 8x8 digits scaled
into 28x28 frames like MNIST, so the script runs offline (1,500 training and 297 test images).
With ``--mnist`` it uses ``lamina.datasets.mnist`` instead (downloaded once).

Run: ``python examples/digits_convnet.py`` (under a minute on two cores; ``--quick`` for a
few seconds).
"""

from __future__ import annotations

import argparse

import numpy as np

import lamina
from lamina.layers.convolutional import Conv2D
from lamina.layers.core import Dense, Flatten
from lamina.layers.pooling import MaxPooling2D


def build_model() -> lamina.Sequential:
    model = lamina.Sequential(
        [
            Conv2D(32, (3, 3), activation="relu", input_shape=(28, 28, 1)),
            MaxPooling2D((2, 2)),
            Conv2D(64, (3, 3), activation="relu"),
            MaxPooling2D((2, 2)),
            Conv2D(64, (3, 3), activation="relu"),
            Flatten(),
            Dense(64, activation="relu"),
            Dense(10, activation="softmax"),
        ]
    )
    model.compile(optimizer="rmsprop", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def main(argv: list[str] | None = None) -> float:
    parser = argparse.ArgumentParser(description="The book's first convnet on digits.")
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--quick", action="store_true", help="two epochs")
    parser.add_argument("--mnist", action="store_true", help="use MNIST (downloads it once)")
    opts = parser.parse_args(argv)
    lamina.utils.set_random_seed(0)

    if opts.mnist:
        from lamina.datasets import mnist as source
    else:
        from lamina.datasets import digits as source
    (train_images, train_labels), (test_images, test_labels) = source.load_data()
    # Channels-last images with one channel, scaled to [0, 1].
    train_images = train_images.reshape(-1, 28, 28, 1).astype("float32") / 255
    test_images = test_images.reshape(-1, 28, 28, 1).astype("float32") / 255

    model = build_model()
    model.summary()
    model.fit(
        train_images,
        train_labels.astype(np.int64),
        epochs=2 if opts.quick else opts.epochs,
        batch_size=32 if not opts.mnist else 64,
        validation_split=0.1,
        verbose=2,
    )
    test_loss, test_acc = model.evaluate(test_images, test_labels.astype(np.int64), verbose=0)
    print(f"test_acc: {test_acc:.4f}  test_loss: {test_loss:.4f}")
    return test_acc


if __name__ == "__main__":
    main()
