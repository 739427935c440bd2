"""EarlyStopping and TerminateOnNaN: they stop at the right moment and restore the right
weights."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from lamina.callbacks import Callback, CallbackList, EarlyStopping, LambdaCallback, TerminateOnNaN
from lamina.callbacks.base import LazyLogs
from lamina.errors import LaminaWarning, TrainingStopped


def _drive(cb, values, key="val_loss"):
    """Feed a scripted metric sequence; return the epoch at which training would stop."""
    cb.on_train_begin()
    for epoch, value in enumerate(values):
        cb.on_epoch_end(epoch, {key: value})
        if cb.model.stop_training:
            return epoch
    return None


@pytest.mark.parametrize(
    ("kwargs", "values", "stop_at"),
    [
        ({"patience": 2}, [1.0, 0.9, 0.95, 0.96, 0.97], 3),
        ({"patience": 0}, [1.0, 0.9, 0.95], 2),
        ({"patience": 2}, [1.0, 0.9, 0.8, 0.7], None),
        # an improvement smaller than min_delta does not count
        ({"patience": 1, "min_delta": 0.1}, [1.0, 0.95, 0.92], 1),
        # wait is not reset while the baseline is not beaten
        ({"patience": 2, "baseline": 0.3}, [0.5, 0.45, 0.46], 2),
        ({"patience": 2}, [0.5, 0.45, 0.46], None),
        # nothing is monitored during the warm-up epochs
        ({"patience": 0, "start_from_epoch": 2}, [1.0, 2.0, 3.0, 4.0], 3),
    ],
)
def test_stops_at_the_right_epoch(kwargs, values, stop_at):
    cb = EarlyStopping(**kwargs)
    assert _drive(cb, values) == stop_at
    assert cb.stopped_epoch == (stop_at or 0)


def test_mode_auto_maximises_accuracy_and_explicit_mode_wins():
    assert _drive(EarlyStopping("val_accuracy", patience=1), [0.5, 0.6, 0.55], "val_accuracy") == 2
    assert _drive(EarlyStopping("val_auc", patience=1), [0.5, 0.6, 0.7], "val_auc") is None
    # mode='min' on an accuracy stops as soon as it rises
    assert (
        _drive(EarlyStopping("val_accuracy", patience=1, mode="min"), [0.5, 0.6], "val_accuracy")
        == 1
    )


def test_unknown_direction_and_bad_arguments_are_clear_errors():
    with pytest.raises(ValueError, match="mode='max'.*mode='min'"):
        EarlyStopping(monitor="val_widgets").on_train_begin()
    with pytest.raises(ValueError, match="mode must be one of"):
        EarlyStopping(mode="maximum")
    with pytest.raises(ValueError, match="patience"):
        EarlyStopping(patience=-1)


def test_missing_monitor_warns_with_the_available_keys():
    cb = EarlyStopping(monitor="val_loss", patience=0)
    cb.on_train_begin()
    with pytest.warns(LaminaWarning, match=r"'val_loss'.*Available keys: loss, mae.*validation"):
        cb.on_epoch_end(0, {"loss": 1.0, "mae": 0.5})
    cb.on_epoch_end(1, {"loss": 2.0, "mae": 0.5})  # warned once per fit (no second warning)
    assert not cb.model.stop_training


def _scripted(values, key="score"):
    """A callback (placed first) that writes a scripted value into the epoch logs."""
    return LambdaCallback(on_epoch_end=lambda epoch, logs: logs.__setitem__(key, values[epoch]))


class _WeightsPerEpoch(Callback):
    def __init__(self):
        super().__init__()
        self.weights = []

    def on_epoch_end(self, epoch, logs=None):
        self.weights.append(self.model.get_weights())


def test_fit_stops_at_the_right_epoch(data, model_factory):
    x, y, _, _ = data
    model = model_factory()
    stop = EarlyStopping(monitor="score", mode="max", patience=1)
    h = model.fit(
        x,
        y,
        batch_size=8,
        epochs=10,
        verbose=0,
        callbacks=[_scripted([0.1, 0.5, 0.4, 0.3, 0.9, 1.0] + [0.0] * 4), stop],
    )
    assert len(h.history["loss"]) == 3 and stop.stopped_epoch == 2
    assert h.stopped_reason.startswith("early stopping: 'score' did not improve")


def test_restore_best_weights_even_when_patience_never_ran_out(data, model_factory):
    x, y, _, _ = data
    model = model_factory()
    seen = _WeightsPerEpoch()
    stop = EarlyStopping(monitor="score", mode="max", patience=10, restore_best_weights=True)
    h = model.fit(
        x,
        y,
        batch_size=8,
        epochs=4,
        verbose=0,
        callbacks=[_scripted([0.1, 0.9, 0.3, 0.2]), seen, stop],
    )
    assert len(h.history["loss"]) == 4 and stop.stopped_epoch == 0 and stop.best_epoch == 1
    for got, want in zip(model.get_weights(), seen.weights[1]):
        np.testing.assert_array_equal(got, want)
    assert not np.array_equal(seen.weights[1][0], seen.weights[3][0])


def test_restore_best_weights_after_an_early_stop(data, model_factory):
    x, y, _, _ = data
    model = model_factory()
    seen = _WeightsPerEpoch()
    stop = EarlyStopping(monitor="score", mode="min", patience=2, restore_best_weights=True)
    model.fit(
        x,
        y,
        batch_size=8,
        epochs=10,
        verbose=0,
        callbacks=[_scripted([3.0, 1.0, 2.0, 2.0, 0.5] + [9.0] * 5), seen, stop],
    )
    assert stop.stopped_epoch == 3 and len(seen.weights) == 4
    for got, want in zip(model.get_weights(), seen.weights[1]):
        np.testing.assert_array_equal(got, want)


def test_state_dict_round_trip():
    cb = EarlyStopping(patience=5)
    _drive(cb, [1.0, 0.5, 0.7])
    clone = EarlyStopping(patience=5)
    clone.load_state_dict(cb.state_dict())
    assert (clone.wait, clone.best, clone.best_epoch) == (1, 0.5, 1)


# ---------------------------------------------------------------------- TerminateOnNaN
def test_terminate_on_nan_reads_the_batch_loss(model_factory, capsys):
    model = model_factory()
    cb = TerminateOnNaN()
    cb.set_model(model)
    model.stop_training = False
    cb.on_train_batch_end(0, LazyLogs(lambda: {"loss": torch.tensor(0.5)}, ["loss"]))
    assert not model.stop_training
    cb.on_train_batch_end(1, LazyLogs(lambda: {"loss": torch.tensor(math.inf)}, ["loss"]))
    assert model.stop_training
    assert "Batch 1: Invalid loss, terminating training" in capsys.readouterr().out
    assert CallbackList([cb]).wants("on_train_batch_end")  # the trainer calls it every batch


def test_terminate_on_nan_can_raise():
    cb = TerminateOnNaN(raise_error=True)
    with pytest.raises(TrainingStopped, match="nan at batch 4"):
        cb.on_batch_end(4, {"loss": float("nan")})
