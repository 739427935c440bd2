"""The ``lamina`` command: ``lamina demo`` trains the founding example and plots it;
``lamina info`` prints versions and the device.

Example:
    >>> from lamina.cli import build_parser
    >>> build_parser().parse_args(["demo", "--epochs", "3"]).epochs
    3
"""

from __future__ import annotations

import argparse
import os
import sys
import time

__all__ = ["main", "build_parser", "run_demo"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lamina", description="The Keras programming model on PyTorch."
    )
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    sub = parser.add_subparsers(dest="command")
    demo = sub.add_parser(
        "demo",
        help="train the classic MNIST network on the bundled handwritten digits",
        description=(
            "Trains Dense(512, relu) -> Dropout(0.5) -> Dense(10, softmax) with RMSprop on "
            "scikit-learn's handwritten digits shaped like MNIST (no download), prints the test "
            "accuracy and writes a training-curve PNG."
        ),
    )
    demo.add_argument(
        "--epochs",
        type=int,
        default=20,
        help="epochs (default 20: the digits set has 1,200 training images, 50 times fewer "
        "than MNIST, so it needs more passes for the same number of updates)",
    )
    demo.add_argument("--batch-size", type=int, default=128)
    demo.add_argument(
        "--output",
        default="lamina_demo_output",
        help="folder for training_curves.png (default: %(default)s)",
    )
    demo.add_argument("--seed", type=int, default=0)
    demo.add_argument("--verbose", type=int, default=None, help="0 silent, 1 bar, 2 one line")
    sub.add_parser("info", help="print versions and the device lamina will use")
    return parser


def run_demo(
    epochs: int = 20,
    batch_size: int = 128,
    output: str = "lamina_demo_output",
    seed: int = 0,
    verbose: object = "auto",
) -> dict[str, float]:
    """Train the founding network on the digits set; returns test loss/accuracy and paths."""
    from lamina import layers, models
    from lamina.datasets import digits
    from lamina.utils import set_random_seed, to_categorical

    set_random_seed(seed)
    (train_images, train_labels), (test_images, test_labels) = digits.load_data()
    train_images = train_images.reshape((len(train_images), 28 * 28)).astype("float32") / 255
    test_images = test_images.reshape((len(test_images), 28 * 28)).astype("float32") / 255
    train_labels, test_labels = to_categorical(train_labels), to_categorical(test_labels)
    val_images, partial_train_images = train_images[:300], train_images[300:]
    val_labels, partial_train_labels = train_labels[:300], train_labels[300:]

    network = models.Sequential()
    network.add(layers.Dense(512, activation="relu", input_shape=(28 * 28,)))
    network.add(layers.Dropout(0.5))
    network.add(layers.Dense(10, activation="softmax"))
    network.compile(optimizer="rmsprop", loss="categorical_crossentropy", metrics=["accuracy"])
    network.summary()
    start = time.perf_counter()
    history = network.fit(
        partial_train_images,
        partial_train_labels,
        epochs=epochs,
        batch_size=batch_size,
        validation_data=(val_images, val_labels),
        verbose=verbose,
    )
    seconds = time.perf_counter() - start
    test_loss, test_acc = network.evaluate(test_images, test_labels, verbose=0)
    path = os.path.join(output, "training_curves.png")
    history.plot(path, title="lamina demo: digits, Dense(512) -> Dropout -> Dense(10)")
    print(
        f"test_loss: {test_loss:.4f} - test_acc: {test_acc:.4f} "
        f"({len(test_labels)} test digits, trained {epochs} epochs in {seconds:.1f}s)"
    )
    print(f"training curves: {os.path.abspath(path)}")
    return {"test_loss": test_loss, "test_acc": test_acc, "plot": path}


def _info() -> None:
    import platform

    import numpy
    import torch

    import lamina

    print(f"lamina {lamina.__version__}")
    print(
        f"torch {torch.__version__}, numpy {numpy.__version__}, python {platform.python_version()}"
    )
    print(f"device: {lamina.config.get_device()} (threads: {torch.get_num_threads()})")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.version:
        import lamina

        print(lamina.__version__)
        return 0
    if args.command == "demo":
        verbose = "auto" if args.verbose is None else args.verbose
        run_demo(args.epochs, args.batch_size, args.output, args.seed, verbose)
        return 0
    if args.command == "info":
        _info()
        return 0
    build_parser().print_help()
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
