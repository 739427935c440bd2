"""LearningRateScheduler and ReduceLROnPlateau change the optimizer's rate at the right epoch,
and History records it."""

from __future__ import annotations

import numpy as np
import pytest

from lamina.callbacks import LearningRateScheduler, ReduceLROnPlateau
from lamina.optimizers import SGD
from lamina.optimizers.schedules import ExponentialDecay


def _torch_lr(model):
    return model.optimizer.torch_optimizer.param_groups[0]["lr"]


def test_scheduler_sets_the_rate_each_epoch_and_history_records_it(data, model_factory):
    x, y, _, _ = data
    model = model_factory(optimizer=SGD(learning_rate=0.08))
    cb = LearningRateScheduler(lambda epoch, lr: lr if epoch == 0 else lr / 2)
    h = model.fit(x, y, batch_size=8, epochs=3, verbose=0, callbacks=[cb])
    assert h.history["learning_rate"] == pytest.approx([0.08, 0.04, 0.02])
    assert _torch_lr(model) == pytest.approx(0.02)  # the torch optimizer really uses it


def test_one_argument_schedule_and_a_zero_rate_freezes_the_weights(data, model_factory):
    x, y, _, _ = data
    model = model_factory()
    before = model.get_weights()
    h = model.fit(
        x,
        y,
        batch_size=8,
        epochs=2,
        verbose=0,
        callbacks=[LearningRateScheduler(lambda epoch: 0.0)],
    )
    assert h.history["learning_rate"] == [0.0, 0.0]
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_scheduler_rejects_bad_output_and_schedules(data, model_factory):
    x, y, _, _ = data
    with pytest.raises(ValueError, match="must return a number.*epoch 0 it returned 'fast'"):
        model_factory().fit(
            x, y, epochs=1, verbose=0, callbacks=[LearningRateScheduler(lambda e, lr: "fast")]
        )
    with pytest.raises(TypeError, match="schedule must be a function"):
        LearningRateScheduler(0.1)
    model = model_factory(optimizer=SGD(learning_rate=ExponentialDecay(0.1, 10, 0.9)))
    with pytest.raises(ValueError, match="ExponentialDecay schedule"):
        model.fit(x, y, epochs=1, verbose=0, callbacks=[LearningRateScheduler(lambda e: 0.1)])


class _FakeOptimizer:
    def __init__(self, lr):
        self.learning_rate = lr


class _FakeModel:
    def __init__(self, lr):
        self.optimizer = _FakeOptimizer(lr)
        self.stop_training = False
        self.metrics = []


def _plateau(values, **kwargs):
    cb = ReduceLROnPlateau(**kwargs)
    cb.set_model(_FakeModel(0.1))
    cb.on_train_begin()
    logged = []
    for epoch, v in enumerate(values):
        logs = {"val_loss": v}
        cb.on_epoch_end(epoch, logs)
        logged.append(logs["learning_rate"])
    return logged, cb.model.optimizer.learning_rate


def test_plateau_reduces_after_patience_epochs():
    logged, final = _plateau([1.0, 1.0, 1.0, 0.5, 0.5, 0.5], factor=0.5, patience=2)
    # reduced at the end of epoch 2 and epoch 5; the log holds the rate each epoch used
    assert logged == pytest.approx([0.1, 0.1, 0.1, 0.05, 0.05, 0.05])
    assert final == pytest.approx(0.025)


def test_plateau_cooldown_min_delta_and_min_lr():
    _, final = _plateau([1.0] * 5, factor=0.5, patience=1, cooldown=2)
    assert final == pytest.approx(0.05 * 0.5)  # at epochs 1 and 3 (epoch 2 is in cooldown)
    # improvements below min_delta do not count
    _, final = _plateau([1.0, 0.99995, 0.99992], factor=0.5, patience=2)
    assert final == pytest.approx(0.05)
    _, final = _plateau([1.0] * 6, factor=0.1, patience=1, min_lr=0.005)
    assert final == pytest.approx(0.005)


def test_plateau_in_a_real_fit_changes_the_torch_rate(data, model_factory):
    x, y, _, _ = data
    model = model_factory(optimizer=SGD(learning_rate=0.05))
    # a min_delta no loss change can beat: every epoch after the first is a plateau
    cb = ReduceLROnPlateau(monitor="loss", factor=0.5, patience=1, min_delta=1e9)
    h = model.fit(x, y, batch_size=8, epochs=3, verbose=0, callbacks=[cb])
    assert h.history["learning_rate"] == pytest.approx([0.05, 0.05, 0.025])
    assert _torch_lr(model) == pytest.approx(0.0125)


def test_plateau_bad_arguments():
    with pytest.raises(ValueError, match="0 < factor < 1"):
        ReduceLROnPlateau(factor=1.5)
    with pytest.raises(ValueError, match="min_lr"):
        ReduceLROnPlateau(min_lr=-1)
