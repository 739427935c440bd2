"""CSVLogger, TensorBoard, LambdaCallback and the progress output write what they should."""

from __future__ import annotations

import csv
import io
import sys

import pytest

from lamina.callbacks import CSVLogger, LambdaCallback, TensorBoard
from lamina.callbacks.progbar import progress_mode
from lamina.errors import LaminaWarning


def _rows(path, sep=","):
    with open(path, newline="") as f:
        return list(csv.reader(f, delimiter=sep))


# ---------------------------------------------------------------------- CSVLogger
def test_csv_logger_writes_one_row_per_epoch_equal_to_history(tmp_path, data, model_factory):
    x, y, xv, yv = data
    path = tmp_path / "log.csv"
    h = model_factory().fit(
        x,
        y,
        batch_size=8,
        epochs=3,
        verbose=0,
        validation_data=(xv, yv),
        callbacks=[CSVLogger(path)],
    )
    rows = _rows(path)
    assert rows[0] == ["epoch", "loss", "mae", "val_loss", "val_mae"]
    assert [r[0] for r in rows[1:]] == ["0", "1", "2"]
    for i, key in enumerate(rows[0][1:], start=1):
        assert [float(r[i]) for r in rows[1:]] == h.history[key]  # full precision


def test_csv_logger_append_keeps_one_header_and_its_columns(tmp_path, data, model_factory):
    x, y, _, _ = data
    path = tmp_path / "log.csv"
    model = model_factory()
    model.fit(x, y, batch_size=8, epochs=2, verbose=0, callbacks=[CSVLogger(path, separator=";")])
    model.fit(
        x,
        y,
        batch_size=8,
        epochs=1,
        verbose=0,
        callbacks=[CSVLogger(path, separator=";", append=True)],
    )
    rows = _rows(path, ";")
    assert rows[0] == ["epoch", "loss", "mae"] and len(rows) == 4
    assert [r[0] for r in rows[1:]] == ["0", "1", "0"]
    # a later run with a new logged value keeps the file's columns and says what is dropped
    model.compile(optimizer="sgd", loss="mse", metrics=["mae", "mse"])
    with pytest.warns(LaminaWarning, match=r"no column for \['mse'\]"):
        model.fit(
            x,
            y,
            batch_size=8,
            epochs=1,
            verbose=0,
            callbacks=[CSVLogger(path, separator=";", append=True)],
        )
    rows = _rows(path, ";")
    assert len(rows) == 5 and len(rows[-1]) == 3


def test_csv_logger_without_append_overwrites(tmp_path):
    path = tmp_path / "log.csv"
    path.write_text("old,stuff\n1,2\n")
    cb = CSVLogger(path)
    cb.on_train_begin()
    cb.on_epoch_end(0, {"loss": 0.25})
    cb.on_train_end()
    assert _rows(path) == [["epoch", "loss"], ["0", "0.25"]]
    with pytest.raises(ValueError, match="one character"):
        CSVLogger(path, separator="::")


# ---------------------------------------------------------------------- TensorBoard
def test_tensorboard_writes_scalars_that_read_back(tmp_path, data, model_factory):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    x, y, xv, yv = data
    tb = TensorBoard(log_dir=tmp_path, histogram_freq=1, update_freq="batch")
    model = model_factory()
    h = model.fit(x, y, batch_size=8, epochs=2, verbose=0, validation_data=(xv, yv), callbacks=[tb])
    keep_all = {"scalars": 0, "histograms": 0, "tensors": 0}
    train = EventAccumulator(str(tmp_path / "train"), size_guidance=keep_all).Reload()
    val = EventAccumulator(str(tmp_path / "validation"), size_guidance=keep_all).Reload()

    def values(acc, tag):
        return [e.value for e in acc.Scalars(tag)], [e.step for e in acc.Scalars(tag)]

    loss, steps = values(train, "epoch_loss")
    assert steps == [0, 1] and loss == pytest.approx(h.history["loss"], rel=1e-6)
    assert values(val, "epoch_loss")[0] == pytest.approx(h.history["val_loss"], rel=1e-6)
    assert values(val, "epoch_mae")[0] == pytest.approx(h.history["val_mae"], rel=1e-6)
    assert values(train, "epoch_learning_rate")[0] == pytest.approx([0.01, 0.01])
    assert values(train, "batch_loss")[1] == list(range(1, 11))  # 5 batches x 2 epochs
    tags = train.Tags()
    first, last = model.layers[0].name, model.layers[-1].name
    assert {f"{first}/kernel", f"{first}/bias", f"{last}/kernel"} <= set(tags["histograms"])
    assert len(train.Histograms(f"{first}/kernel")) == 2
    assert "model_summary/text_summary" in tags["tensors"]


def test_tensorboard_arguments():
    pytest.importorskip("tensorboard")
    with pytest.raises(ValueError, match="update_freq"):
        TensorBoard(update_freq="sometimes")
    with pytest.warns(LaminaWarning, match="write_images are not supported"):
        TensorBoard(write_images=True)


# ---------------------------------------------------------------------- LambdaCallback
def test_lambda_callback_calls_each_function(data, model_factory):
    x, y, _, _ = data
    calls = []
    cb = LambdaCallback(
        on_train_begin=lambda logs: calls.append("train_begin"),
        on_epoch_begin=lambda epoch, logs: calls.append(f"epoch_begin {epoch}"),
        on_batch_end=lambda batch, logs: calls.append(f"batch_end {batch} {logs['loss'] > 0}"),
        on_epoch_end=lambda epoch, logs: calls.append(f"epoch_end {epoch} {sorted(logs)}"),
        on_train_end=lambda logs: calls.append("train_end"),
        on_test_end=lambda logs: calls.append(f"test_end {sorted(logs)}"),
    )
    model = model_factory()
    model.fit(x[:16], y[:16], batch_size=8, epochs=1, verbose=0, callbacks=[cb])
    model.evaluate(x[:8], y[:8], verbose=0, callbacks=[cb])
    assert calls == [
        "train_begin",
        "epoch_begin 0",
        "batch_end 0 True",
        "batch_end 1 True",
        "epoch_end 0 ['loss', 'mae']",
        "train_end",
        "test_end ['loss', 'mae']",
    ]


def test_lambda_callback_rejects_unknown_hooks():
    with pytest.raises(TypeError, match=r"unknown hook\(s\) \['on_epoch_finish'\]"):
        LambdaCallback(on_epoch_finish=print)
    with pytest.raises(TypeError, match="must be a function"):
        LambdaCallback(on_epoch_end="print")


# ---------------------------------------------------------------------- progress output
class _TTY(io.StringIO):
    def isatty(self):
        return True


def test_progress_in_a_file_is_one_line_per_epoch_without_carriage_returns(
    monkeypatch, data, model_factory
):
    x, y, xv, yv = data
    out = io.StringIO()
    monkeypatch.setattr(sys, "stdout", out)
    model_factory().fit(x, y, batch_size=8, epochs=3, verbose=1, validation_data=(xv, yv))
    text = out.getvalue()
    assert "\r" not in text
    lines = text.splitlines()
    assert len(lines) == 3
    assert [line.split(" - ")[0] for line in lines] == ["Epoch 1/3", "Epoch 2/3", "Epoch 3/3"]
    assert all("5/5" in line and "val_loss: " in line for line in lines)


def test_progress_on_a_terminal_is_a_live_bar(monkeypatch, data, model_factory):
    x, y, _, _ = data
    tty = _TTY()
    assert progress_mode(1, tty) == "bar" and progress_mode(1, io.StringIO()) == "line"
    assert progress_mode(2, tty) == "line" and progress_mode(0, tty) == "silent"
    monkeypatch.setattr(sys, "stdout", tty)
    model_factory().fit(x, y, batch_size=8, epochs=2, verbose=1)
    text = tty.getvalue()
    assert "\r" in text  # tqdm redraws the bar in place
    assert "Epoch 1/2" in text and "Epoch 2/2" in text and "5/5" in text
    assert "loss=" in text or "loss: " in text
