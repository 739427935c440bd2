"""The README's "Bad input" table, one test per row."""

import errno

import numpy as np
import pandas as pd
import pytest

import lamina
from lamina import layers
from lamina.errors import LaminaWarning


def _model():
    model = lamina.Sequential(
        [layers.Dense(4, activation="relu", input_shape=(3,)), layers.Dense(1)]
    )
    model.compile("sgd", "mse")
    return model


def _data(n=20):
    rng = np.random.default_rng(0)
    return rng.normal(size=(n, 3)).astype("float32"), rng.normal(size=(n, 1)).astype("float32")


def test_empty_dataset_is_refused():
    model = _model()
    with pytest.raises(ValueError, match="empty"):
        model.fit(np.zeros((0, 3)), np.zeros((0, 1)), verbose=0)

    class Empty(lamina.utils.PyDataset):
        def __len__(self):
            return 0

        def __getitem__(self, i):
            raise IndexError

    with pytest.raises(ValueError, match="empty"):
        model.fit(Empty(), verbose=0)


def test_batch_size_larger_than_dataset_gives_one_batch():
    model = _model()
    x, y = _data(10)
    hist = model.fit(x, y, batch_size=1000, epochs=2, verbose=0)
    assert len(hist.history["loss"]) == 2
    assert hist.history["loss"][0] == pytest.approx(
        float(((model.predict(x, verbose=0) - y) ** 2).mean()), rel=0.5
    )


def test_generator_that_raises_mid_epoch_keeps_weights_and_says_where():
    model = _model()
    x, y = _data(32)
    model.fit(x, y, epochs=1, verbose=0)

    def gen():
        yield x[:8], y[:8]
        yield x[8:16], y[8:16]
        raise RuntimeError("disk read failed")

    before = None

    class Snapshot(lamina.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            nonlocal before
            before = [w.copy() for w in self.model.get_weights()]

    with pytest.raises(RuntimeError, match="disk read failed") as info:
        model.fit(gen(), epochs=1, verbose=0, callbacks=[Snapshot()])
    if hasattr(info.value, "__notes__"):
        assert "epoch 1, batch 3" in " ".join(info.value.__notes__)
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert not model.training  # back in inference mode
    model.fit(x, y, epochs=1, verbose=0)  # still usable


def test_callback_that_raises_propagates_with_its_name():
    model = _model()
    x, y = _data()

    class Broken(lamina.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            raise ValueError("bad callback")

    with pytest.raises(ValueError, match="bad callback") as info:
        model.fit(x, y, epochs=2, verbose=0, callbacks=[Broken()])
    if hasattr(info.value, "__notes__"):
        assert "Broken.on_epoch_end" in " ".join(info.value.__notes__)
    assert not model.training


def test_keyboard_interrupt_returns_history_so_far():
    model = _model()
    x, y = _data()

    class Stop(lamina.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.epoch = epoch

        def on_train_batch_begin(self, batch, logs=None):
            if self.epoch == 1 and batch == 1:
                raise KeyboardInterrupt

    with pytest.warns(LaminaWarning, match="interrupted"):
        hist = model.fit(x, y, batch_size=4, epochs=3, verbose=0, callbacks=[Stop()])
    assert hist.epoch == [0]


def test_disk_full_while_saving_keeps_previous_file(tmp_path, monkeypatch):
    model = _model()
    path = tmp_path / "m.lamina"
    model.save(str(path))
    good = path.read_bytes()
    import os

    real_fsync = os.fsync

    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(OSError, match="No space left"):
        model.save(str(path))
    monkeypatch.setattr(os, "fsync", real_fsync)
    assert path.read_bytes() == good
    assert [p.name for p in tmp_path.iterdir()] == ["m.lamina"]


def test_mixed_dtypes_between_inputs_are_converted():
    a, b = lamina.Input((2,)), lamina.Input((1,))
    model = lamina.Model([a, b], layers.Dense(1)(layers.Concatenate()([a, b])))
    model.compile("sgd", "mse")
    xa = np.ones((6, 2), dtype=np.float64)
    xb = np.arange(6, dtype=np.int32).reshape(6, 1)
    hist = model.fit([xa, xb], np.zeros((6, 1)), verbose=0)
    assert np.isfinite(hist.history["loss"][0])


def test_object_arrays_and_mixed_frames_get_a_clear_error():
    model = _model()
    frame = pd.DataFrame({"a": [1.0, 2.0], "b": ["x", "y"], "c": [0.5, 0.1]})
    with pytest.raises(ValueError, match="object array holding"):
        model.fit(frame, np.zeros((2, 1)), verbose=0)
    ragged = np.array([[1, 2], [3]], dtype=object)
    with pytest.raises(ValueError, match="different lengths"):
        model.fit(ragged, np.zeros((2, 1)), verbose=0)
