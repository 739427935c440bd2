import os

import numpy as np
import pytest
from sklearn.datasets import load_digits

import lamina
from lamina import Sequential, layers
from lamina.callbacks import History
from lamina.workflow import diagnose, plot_diagnosis

OVERFIT = {"loss": [1.0, 0.6, 0.4, 0.3, 0.2, 0.1], "val_loss": [1.1, 0.8, 0.7, 0.75, 0.9, 1.0]}


def test_overfitting_best_epoch_and_gap():
    d = diagnose(OVERFIT)
    assert (d.status, d.best_epoch, d.epochs) == ("overfitting", 3, 6)
    assert d.best_value == pytest.approx(0.7) and d.final_value == pytest.approx(1.0)
    assert d.gap == pytest.approx(0.9) and d.gap_at_best == pytest.approx(0.3)
    assert "train for 3 epochs" in d.advice and "EarlyStopping" in str(d)


def test_underfitting_converged_and_not_learning():
    under = diagnose({"loss": [1.0, 0.8, 0.6], "val_loss": [1.0, 0.85, 0.7]})
    assert under.status == "underfitting" and under.best_epoch == 3
    assert "more epochs" in under.advice
    flat = {
        "loss": [1.0, 0.5, 0.4, 0.35, 0.3, 0.28, 0.27, 0.26, 0.25, 0.24],
        "val_loss": [1.0, 0.6, 0.5, 0.5, 0.501, 0.5, 0.502, 0.501, 0.5005, 0.501],
    }
    assert diagnose(flat).status == "converged"
    stuck = diagnose({"loss": [0.69, 0.69, 0.691], "val_loss": [0.7, 0.7, 0.7]})
    assert stuck.status == "not learning" and "learning rate" in stuck.advice


def test_accuracy_is_higher_is_better():
    h = {"accuracy": [0.5, 0.7, 0.9, 0.95], "val_accuracy": [0.5, 0.8, 0.75, 0.7]}
    d = diagnose(h, monitor="val_accuracy")
    assert (d.status, d.best_epoch) == ("overfitting", 2)
    assert d.gap == pytest.approx(0.25)  # validation is 0.25 worse than training


def test_no_validation_and_empty_history():
    d = diagnose({"loss": [1.0, 0.5]})
    assert d.status == "no validation" and d.best_epoch is None
    assert "validation_split" in str(d)
    with pytest.raises(ValueError, match="empty"):
        diagnose({})


def test_diagnose_a_real_overfitting_run():
    x, y = load_digits(return_X_y=True)
    x = (x / 16).astype("float32")
    model = Sequential(
        [
            layers.Dense(128, activation="relu", input_shape=(64,)),
            layers.Dense(10, activation="softmax"),
        ]
    )
    model.compile(lamina.optimizers.Adam(0.01), "sparse_categorical_crossentropy")
    # 60 training samples: the model memorizes them within a few epochs.
    history = model.fit(
        x[:60],
        y[:60],
        validation_data=(x[1000:1300], y[1000:1300]),
        epochs=40,
        batch_size=16,
        verbose=0,
    )
    d = diagnose(history)
    val = history.history["val_loss"]
    assert d.best_epoch == int(np.argmin(val)) + 1
    assert d.status == "overfitting"
    assert d.gap > 0


def test_plot_diagnosis_annotates_the_curves(tmp_path):
    h = History()
    h.on_train_begin()
    for e, (loss, val) in enumerate(zip(OVERFIT["loss"], OVERFIT["val_loss"])):
        h.on_epoch_end(e, {"loss": loss, "val_loss": val})
    path = str(tmp_path / "diag.png")
    fig = plot_diagnosis(h, path)
    assert os.path.getsize(path) > 0
    assert fig._suptitle.get_text().startswith("overfitting — best val_loss at epoch 3 of 6")
    ax = fig.axes[0]
    assert any("gap 0.9" in t.get_text() for t in ax.texts)
    assert "overfitting region" in [t.get_text() for t in ax.get_legend().get_texts()]
