"""End to end: the founding example trains to a real accuracy, through the CLI too."""

import os
import subprocess
import sys

import numpy as np
import pytest

from lamina import layers, models
from lamina.datasets import digits
from lamina.utils import set_random_seed, to_categorical


@pytest.mark.slow
def test_seed_network_reaches_95_percent_on_digits():
    set_random_seed(1)
    (x, y), (xt, yt) = digits.load_data()
    x = x.reshape(len(x), 784).astype("float32") / 255
    xt = xt.reshape(len(xt), 784).astype("float32") / 255
    y, yt = to_categorical(y), to_categorical(yt)
    network = models.Sequential()
    network.add(layers.Dense(512, activation="relu", input_shape=(28 * 28,)))
    network.add(layers.Dropout(0.5))
    network.add(layers.Dense(10, activation="softmax"))
    network.compile(optimizer="rmsprop", loss="categorical_crossentropy", metrics=["accuracy"])
    history = network.fit(
        x[300:], y[300:], epochs=30, batch_size=128, validation_data=(x[:300], y[:300]), verbose=0
    )
    test_loss, test_acc = network.evaluate(xt, yt, verbose=0)
    assert test_acc >= 0.95
    assert history.history["val_accuracy"][-1] >= 0.93
    assert history.history["loss"][-1] < history.history["loss"][0] / 3
    assert np.isfinite(test_loss)


@pytest.mark.slow
def test_cli_demo_prints_accuracy_and_writes_png(tmp_path):
    env = dict(os.environ, PYTHONHASHSEED="0")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "lamina.cli",
            "demo",
            "--epochs",
            "3",
            "--output",
            str(tmp_path),
            "--verbose",
            "2",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert result.returncode == 0, result.stderr
    assert "test_acc:" in result.stdout and "Total params: 407,050" in result.stdout
    acc = float(result.stdout.split("test_acc:")[1].split()[0])
    assert acc > 0.5
    png = tmp_path / "training_curves.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.slow
def test_seed_example_script_runs(tmp_path):
    script = os.path.join(os.path.dirname(__file__), "..", "examples", "seed_mnist.py")
    result = subprocess.run(
        [sys.executable, script], capture_output=True, text=True, timeout=300, cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    assert float(result.stdout.split("test_acc:")[1].split()[0]) > 0.8
