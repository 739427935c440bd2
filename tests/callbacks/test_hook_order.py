"""The exact sequence of callback hooks that fit / evaluate / predict call (STYLE rule 14)."""

from __future__ import annotations

import numpy as np
import pytest

from lamina.callbacks import Callback, CallbackList

HOOKS = (
    "on_train_begin",
    "on_train_end",
    "on_epoch_begin",
    "on_epoch_end",
    "on_train_batch_begin",
    "on_train_batch_end",
    "on_test_begin",
    "on_test_end",
    "on_test_batch_begin",
    "on_test_batch_end",
    "on_predict_begin",
    "on_predict_end",
    "on_predict_batch_begin",
    "on_predict_batch_end",
)


class Recorder(Callback):
    """Records every hook call as (hook, index) or (hook,), with the logs it got."""

    def __init__(self):
        super().__init__()
        self.calls: list[tuple] = []
        self.logs: list = []


def _recording(hook: str):
    def method(self, *args):
        *index, logs = args if args else (None,)
        self.calls.append((hook, *index))
        self.logs.append(dict(logs) if logs is not None else None)

    return method


for _hook in HOOKS:
    setattr(Recorder, _hook, _recording(_hook))


def _batches(kind: str, n: int) -> list[tuple]:
    out: list[tuple] = []
    for b in range(n):
        out += [(f"on_{kind}_batch_begin", b), (f"on_{kind}_batch_end", b)]
    return out


def test_fit_with_validation_calls_hooks_in_keras_order(keras_trainer, data, model_factory):
    x, y, xv, yv = data
    model = model_factory()
    rec = Recorder()
    model.fit(
        x[:18],
        y[:18],
        batch_size=6,
        epochs=2,
        verbose=0,
        validation_data=(xv[:8], yv[:8]),
        callbacks=[rec],
    )
    expected = [("on_train_begin",)]
    for epoch in range(2):
        expected += [("on_epoch_begin", epoch), *_batches("train", 3)]
        expected += [("on_test_begin",), *_batches("test", 2), ("on_test_end",)]
        expected += [("on_epoch_end", epoch)]
    expected += [("on_train_end",)]
    assert rec.calls == expected
    assert rec.model is model
    assert rec.params["epochs"] == 2 and rec.params["steps"] == 3
    epoch_end_logs = rec.logs[rec.calls.index(("on_epoch_end", 1))]
    assert set(epoch_end_logs) == {"loss", "mae", "val_loss", "val_mae"}
    assert epoch_end_logs["val_loss"] == pytest.approx(model.history.history["val_loss"][1])
    assert set(rec.logs[rec.calls.index(("on_train_batch_end", 0))]) == {"loss", "mae"}


def test_evaluate_and_predict_call_hooks_in_keras_order(keras_trainer, data, model_factory):
    x, y, _, _ = data
    model = model_factory()
    rec = Recorder()
    model.evaluate(x[:10], y[:10], batch_size=4, verbose=0, callbacks=[rec])
    assert rec.calls == [("on_test_begin",), *_batches("test", 3), ("on_test_end",)]
    assert set(rec.logs[-1]) == {"loss", "mae"}
    rec = Recorder()
    out = model.predict(x[:10], batch_size=4, verbose=0, callbacks=[rec])
    assert rec.calls == [("on_predict_begin",), *_batches("predict", 3), ("on_predict_end",)]
    assert out.shape == (10, 1)
    np.testing.assert_allclose(rec.logs[-2]["outputs"].cpu().numpy(), out[8:], rtol=1e-6)


def test_classic_on_batch_hooks_run_for_training_batches_only(data, model_factory):
    x, y, _, _ = data

    class Classic(Callback):
        def __init__(self):
            super().__init__()
            self.seen: list[tuple] = []

        def on_batch_begin(self, batch, logs=None):
            self.seen.append(("begin", batch))

        def on_batch_end(self, batch, logs=None):
            self.seen.append(("end", batch))

    cb = Classic()
    model = model_factory()
    model.fit(x[:12], y[:12], batch_size=6, epochs=1, verbose=0, callbacks=[cb])
    model.evaluate(x[:12], y[:12], batch_size=6, verbose=0, callbacks=[cb])
    assert cb.seen == [("begin", 0), ("end", 0), ("begin", 1), ("end", 1)]


def test_batch_hooks_go_only_to_callbacks_that_define_them():
    class EpochOnly(Callback):
        def on_epoch_end(self, epoch, logs=None):
            pass

    cbs = CallbackList([EpochOnly()])
    assert not cbs.wants("on_train_batch_end")
    assert CallbackList([Recorder()]).wants("on_train_batch_end")
