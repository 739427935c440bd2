"""BackupAndRestore: a run killed after epoch 2 and restarted ends exactly where an
uninterrupted run ends (CPU, fixed seed, shuffling and dropout), and backups are atomic."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch

from lamina.callbacks import (
    BackupAndRestore,
    Callback,
    EarlyStopping,
    LambdaCallback,
    ReduceLROnPlateau,
)
from lamina.errors import LoadError
from lamina.optimizers import Adam

EPOCHS = 5


class Kill(Callback):
    """Simulates the process dying at (epoch, batch), after that batch's update."""

    def __init__(self, epoch, batch):
        super().__init__()
        self.at = (epoch, batch)
        self.epoch = -1

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if (self.epoch, batch) == self.at:
            raise RuntimeError("killed")


def _callbacks():
    # min_delta no change can beat: every epoch after the first is a plateau, so the rate
    # drops at the ends of epochs 2 and 4 and the counters move every epoch.
    return [
        EarlyStopping(monitor="val_loss", patience=100, min_delta=1e9),
        ReduceLROnPlateau(monitor="val_loss", patience=2, factor=0.5, min_delta=1e9),
    ]


def _run(data, model_factory, extra=(), epochs=EPOCHS, **fit_kwargs):
    """'Start the script': seed, build, compile, fit."""
    x, y, xv, yv = data
    model = model_factory(seed=0, dropout=0.3, optimizer=Adam(learning_rate=0.02))
    cbs = _callbacks()
    h = model.fit(
        x,
        y,
        batch_size=8,
        epochs=epochs,
        shuffle=True,
        verbose=0,
        validation_data=(xv, yv),
        callbacks=[*cbs, *extra],
        **fit_kwargs,
    )
    return model, cbs, h


def _assert_same_end(model, cbs, h, ref_model, ref_cbs, ref_h, skip_history=()):
    for got, want in zip(model.get_weights(), ref_model.get_weights()):
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-6)
    assert model.optimizer.learning_rate == pytest.approx(ref_model.optimizer.learning_rate)
    assert model.optimizer.iterations == ref_model.optimizer.iterations
    assert cbs[0].state_dict() == ref_cbs[0].state_dict()
    assert cbs[1].state_dict() == ref_cbs[1].state_dict()
    assert h.epoch == list(range(EPOCHS))
    for key, values in ref_h.history.items():
        keep = [i for i in range(EPOCHS) if (key, i) not in skip_history]
        np.testing.assert_allclose(
            [h.history[key][i] for i in keep], [values[i] for i in keep], rtol=1e-6
        )


@pytest.fixture
def reference(data, model_factory):
    return _run(data, model_factory)


def test_killed_run_resumes_at_the_next_epoch_and_ends_like_an_uninterrupted_one(
    keras_trainer, tmp_path, data, model_factory, reference
):
    backup_dir = tmp_path / "backup"
    with pytest.raises(RuntimeError, match="killed"):
        _run(data, model_factory, [BackupAndRestore(backup_dir), Kill(epoch=2, batch=1)])
    assert os.listdir(backup_dir) == ["backup.safetensors"]

    epochs_run = []
    backup = BackupAndRestore(backup_dir)
    spy = LambdaCallback(on_epoch_begin=lambda epoch, logs: epochs_run.append(epoch))
    model, cbs, h = _run(data, model_factory, [backup, spy])
    assert epochs_run == [2, 3, 4]
    assert model.history.history["learning_rate"] == pytest.approx([0.02, 0.02, 0.02, 0.01, 0.01])
    _assert_same_end(model, cbs, h, *reference)
    assert not backup_dir.exists()  # deleted once training completed


def test_fit_resume_folder_is_backup_and_restore(tmp_path, data, model_factory, reference):
    backup_dir = tmp_path / "backup"
    with pytest.raises(RuntimeError, match="killed"):
        _run(data, model_factory, [Kill(epoch=3, batch=0)], resume=backup_dir)
    assert os.listdir(backup_dir) == ["backup.safetensors"]
    epochs_run = []
    spy = LambdaCallback(on_epoch_begin=lambda epoch, logs: epochs_run.append(epoch))
    model, cbs, h = _run(data, model_factory, [spy], resume=str(backup_dir))
    assert epochs_run == [3, 4]
    _assert_same_end(model, cbs, h, *reference)


def test_fit_resume_errors(tmp_path, data, model_factory):
    x, y, _, _ = data
    model = model_factory()
    with pytest.raises(ValueError, match="callbacks has none"):
        model.fit(x, y, verbose=0, resume=True)
    with pytest.raises(ValueError, match="already has one"):
        model.fit(x, y, verbose=0, resume=tmp_path, callbacks=[BackupAndRestore(tmp_path)])
    with pytest.raises(TypeError, match="folder path"):
        model.fit(x, y, verbose=0, resume=3)
    # resume=True with the callback: the callback's folder is used.
    h = model.fit(x, y, epochs=2, verbose=0, resume=True, callbacks=[BackupAndRestore(tmp_path)])
    assert h.epoch == [0, 1]


def test_resume_mid_epoch_with_an_integer_save_freq(
    keras_trainer, tmp_path, data, model_factory, reference
):
    backup_dir = tmp_path / "backup"
    with pytest.raises(RuntimeError, match="killed"):
        _run(data, model_factory, [BackupAndRestore(backup_dir, save_freq=3), Kill(2, 3)])
    # saved every 3 batches (counted across epochs): the last backup before the kill at
    # batch 3 of epoch 2 was taken after batch 1 of that epoch
    batches = []
    spy = LambdaCallback(on_train_batch_begin=lambda batch, logs: batches.append(batch))
    model, cbs, h = _run(data, model_factory, [BackupAndRestore(backup_dir, save_freq=3), spy])
    assert batches[:4] == [2, 3, 4, 0] and len(batches) == 3 + 2 * 5
    # the resumed epoch's training metrics cover only the batches run after the restart
    _assert_same_end(model, cbs, h, *reference, skip_history={("loss", 2), ("mae", 2)})


def test_a_new_run_without_a_backup_trains_from_the_start(
    keras_trainer, tmp_path, data, model_factory, reference
):
    backup = BackupAndRestore(tmp_path / "b", delete_checkpoint=False)
    model, cbs, h = _run(data, model_factory, [backup])
    _assert_same_end(model, cbs, h, *reference)
    assert os.path.isfile(backup.path)  # kept: delete_checkpoint=False
    # running the finished script again restores the end state and trains no further epoch
    epochs_run = []
    spy = LambdaCallback(on_epoch_begin=lambda epoch, logs: epochs_run.append(epoch))
    model, cbs, h = _run(data, model_factory, [BackupAndRestore(tmp_path / "b"), spy])
    assert epochs_run == []
    _assert_same_end(model, cbs, h, *reference)


def test_a_crash_during_a_save_leaves_the_previous_backup_intact(
    keras_trainer, tmp_path, data, model_factory, monkeypatch
):
    backup = BackupAndRestore(tmp_path)
    with pytest.raises(RuntimeError, match="killed"):
        _run(data, model_factory, [backup, Kill(1, 0)])
    good = open(backup.path, "rb").read()

    import safetensors.torch

    def dies_halfway(tensors, path, metadata=None):
        with open(path, "wb") as f:
            f.write(b"partial")
        raise OSError("No space left on device")

    monkeypatch.setattr(safetensors.torch, "save_file", dies_halfway)
    with pytest.raises(OSError, match="No space left"):
        _run(data, model_factory, [BackupAndRestore(tmp_path)])
    assert open(backup.path, "rb").read() == good
    assert os.listdir(tmp_path) == ["backup.safetensors"]  # no temporary file left behind


def test_damaged_or_foreign_backups_are_clear_errors(keras_trainer, tmp_path, data, model_factory):
    x, y, _, _ = data
    path = tmp_path / "backup.safetensors"
    path.write_bytes(b"\x00garbage")
    with pytest.raises(LoadError, match="cannot be read.*Delete it"):
        model_factory().fit(x, y, epochs=1, verbose=0, callbacks=[BackupAndRestore(tmp_path)])
    path.unlink()
    with pytest.raises(RuntimeError, match="killed"):
        _run(data, model_factory, [BackupAndRestore(tmp_path), Kill(1, 0)])
    from lamina import Sequential, layers

    other = Sequential([layers.Dense(3, input_shape=(4,)), layers.Dense(1)])
    other.compile(optimizer="adam", loss="mse")
    with pytest.raises(LoadError, match="different model"):
        other.fit(x, y, epochs=1, verbose=0, callbacks=[BackupAndRestore(tmp_path)])


def test_rng_states_round_trip():
    from lamina.callbacks._training_state import rng_state, set_rng_state

    tensors: dict = {}
    meta = rng_state(tensors, "rng")
    expected = (torch.rand(3), np.random.rand(3), __import__("random").random())
    torch.rand(5), np.random.rand(5)
    set_rng_state(tensors, "rng", meta)
    got = (torch.rand(3), np.random.rand(3), __import__("random").random())
    assert torch.equal(got[0], expected[0])
    np.testing.assert_array_equal(got[1], expected[1])
    assert got[2] == expected[2]


def test_bad_arguments():
    with pytest.raises(ValueError, match="backup_dir"):
        BackupAndRestore("")
    with pytest.raises(ValueError, match="save_freq"):
        BackupAndRestore("b", save_freq="batch")
