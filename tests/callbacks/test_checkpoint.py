"""ModelCheckpoint: which epochs write a file, under which name, and that the file holds the
model of that moment."""

from __future__ import annotations

import hashlib
import os

import numpy as np
import pytest

from lamina.callbacks import Callback, LambdaCallback, ModelCheckpoint
from lamina.errors import LaminaWarning


def _scripted(values, key="score"):
    return LambdaCallback(on_epoch_end=lambda epoch, logs: logs.__setitem__(key, values[epoch]))


class _FileWatch(Callback):
    """After each epoch: the file's content hash (None if absent) and the model's weights."""

    def __init__(self, path):
        super().__init__()
        self.path = path
        self.hashes, self.weights = [], []

    def on_epoch_end(self, epoch, logs=None):
        exists = os.path.exists(self.path)
        self.hashes.append(
            hashlib.sha256(open(self.path, "rb").read()).hexdigest() if exists else None
        )
        self.weights.append(self.model.get_weights())


def test_save_best_only_writes_only_on_improvement(tmp_path, data, model_factory):
    x, y, _, _ = data
    path = str(tmp_path / "best.weights.safetensors")
    watch = _FileWatch(path)
    model = model_factory()
    ckpt = ModelCheckpoint(
        path, monitor="score", mode="min", save_best_only=True, save_weights_only=True
    )
    model.fit(
        x,
        y,
        batch_size=8,
        epochs=4,
        verbose=0,
        callbacks=[_scripted([0.5, 0.3, 0.4, 0.2]), ckpt, watch],
    )
    h = watch.hashes
    assert None not in h and h[0] != h[1] and h[2] == h[1] and h[3] != h[2]
    assert ckpt.best == 0.2
    restored = model_factory(seed=1)
    restored.load_weights(path)
    for got, want in zip(restored.get_weights(), watch.weights[3]):
        np.testing.assert_array_equal(got, want)


def test_initial_value_threshold_and_mode_auto(tmp_path, data, model_factory):
    x, y, _, _ = data
    path = str(tmp_path / "best.weights.safetensors")
    watch = _FileWatch(path)
    ckpt = ModelCheckpoint(
        path,
        monitor="val_accuracy",
        save_best_only=True,
        save_weights_only=True,
        initial_value_threshold=0.6,
    )
    model_factory().fit(
        x,
        y,
        batch_size=8,
        epochs=3,
        verbose=0,
        callbacks=[_scripted([0.5, 0.7, 0.65], "val_accuracy"), ckpt, watch],
    )
    assert watch.hashes[0] is None and watch.hashes[1] is not None
    assert watch.hashes[2] == watch.hashes[1]  # accuracy goes up: 0.65 < 0.7 is no improvement


def test_file_names_are_formatted_from_epoch_and_logs(tmp_path, data, model_factory):
    from lamina.models import load_model

    x, y, xv, yv = data
    model = model_factory()
    pattern = str(tmp_path / "m-{epoch:02d}-{val_loss:.3f}.lamina")
    h = model.fit(
        x,
        y,
        batch_size=8,
        epochs=2,
        verbose=0,
        validation_data=(xv, yv),
        callbacks=[ModelCheckpoint(pattern)],
    )
    expected = [f"m-{e + 1:02d}-{v:.3f}.lamina" for e, v in enumerate(h.history["val_loss"])]
    assert sorted(os.listdir(tmp_path)) == expected
    loaded = load_model(str(tmp_path / expected[-1]))
    np.testing.assert_allclose(
        loaded.predict(xv, verbose=0), model.predict(xv, verbose=0), rtol=1e-6
    )


def test_integer_save_freq_counts_batches(tmp_path, data, model_factory):
    x, y, _, _ = data
    pattern = str(tmp_path / "e{epoch}-b{batch}.weights.safetensors")
    model_factory().fit(
        x,
        y,
        batch_size=8,
        epochs=2,
        verbose=0,
        callbacks=[ModelCheckpoint(pattern, save_weights_only=True, save_freq=2)],
    )
    # 5 batches per epoch, a save every 2 batches counted across epochs
    names = ["e1-b2", "e1-b4", "e2-b1", "e2-b3", "e2-b5"]
    assert sorted(os.listdir(tmp_path)) == sorted(f"{n}.weights.safetensors" for n in names)


def test_bad_paths_and_arguments_are_clear_errors(tmp_path, data, model_factory):
    x, y, _, _ = data
    with pytest.raises(KeyError, match=r"uses \{val_acc\}.*Available: epoch, loss, mae"):
        model_factory().fit(
            x,
            y,
            epochs=1,
            verbose=0,
            callbacks=[ModelCheckpoint(str(tmp_path / "{val_acc:.2f}.lamina"))],
        )
    with pytest.raises(IsADirectoryError, match="is a directory"):
        model_factory().fit(x, y, epochs=1, verbose=0, callbacks=[ModelCheckpoint(tmp_path)])
    with pytest.raises(ValueError, match="save_freq"):
        ModelCheckpoint("m.lamina", save_freq=0)


def test_save_best_only_without_the_value_warns_and_saves(tmp_path, data, model_factory):
    x, y, _, _ = data
    path = tmp_path / "m.weights.safetensors"
    cb = ModelCheckpoint(path, save_best_only=True, save_weights_only=True)
    with pytest.warns(LaminaWarning, match="'val_loss', which is not in the logs"):
        model_factory().fit(x, y, epochs=1, verbose=0, callbacks=[cb])
    assert path.exists()


def test_only_rank_0_writes_files(tmp_path, data, model_factory, monkeypatch):
    from lamina import distributed
    from lamina.callbacks import BackupAndRestore, CSVLogger, TensorBoard

    x, y, _, _ = data
    monkeypatch.setattr(distributed, "is_main_process", lambda: False)
    callbacks = [
        ModelCheckpoint(tmp_path / "m.lamina"),
        CSVLogger(tmp_path / "log.csv"),
        BackupAndRestore(tmp_path / "backup", delete_checkpoint=False),
    ]
    try:
        callbacks.append(TensorBoard(tmp_path / "tb"))
    except ImportError:
        pass
    model_factory().fit(x, y, batch_size=8, epochs=2, verbose=0, callbacks=callbacks)
    assert os.listdir(tmp_path) == []
