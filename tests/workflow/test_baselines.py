import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer, load_diabetes, load_digits

from lamina import Sequential, layers
from lamina.utils import to_categorical
from lamina.workflow import Baseline, BaselineCallback, baseline, last_value_forecast


def test_binary_majority_and_prior_accuracy():
    _, y = load_breast_cancer(return_X_y=True)
    tr, te = y[:400], y[400:]
    b = baseline(tr, te)
    majority = np.bincount(tr).argmax()
    assert b.kind == "binary"
    assert b.scores["accuracy"] == pytest.approx(np.mean(te == majority))
    p = np.bincount(tr) / len(tr)
    q = np.bincount(te, minlength=2) / len(te)
    assert b.scores["prior_accuracy"] == pytest.approx((p * q).sum())
    assert b.scores["crossentropy"] == pytest.approx(-(q * np.log(p)).sum())


def test_multiclass_baseline_same_for_integer_and_one_hot_labels():
    _, y = load_digits(return_X_y=True)
    b = baseline(y[:1000], y[1000:])
    b2 = baseline(to_categorical(y[:1000], 10), to_categorical(y[1000:], 10))
    assert b.kind == b2.kind == "multiclass"
    for k in b.scores:
        assert b.scores[k] == pytest.approx(b2.scores[k])
    assert b.scores["accuracy"] == pytest.approx(
        np.mean(y[1000:] == np.bincount(y[:1000]).argmax())
    )


def test_class_unseen_in_training_counts_as_wrong():
    b = baseline(np.array([0, 0, 1]), np.array([0, 2, 2, 1]))
    assert b.scores["accuracy"] == pytest.approx(0.25)
    assert np.isfinite(b.scores["crossentropy"])


def test_multilabel_baseline():
    rng = np.random.default_rng(0)
    tr = (rng.random((200, 4)) < [0.1, 0.6, 0.3, 0.8]).astype(int)
    te = (rng.random((50, 4)) < [0.1, 0.6, 0.3, 0.8]).astype(int)
    b = baseline(tr, te)
    majority = (tr.mean(0) >= 0.5).astype(int)
    assert b.kind == "multilabel"
    assert b.scores["binary_accuracy"] == pytest.approx(np.mean(te == majority))


def test_regression_mean_and_median_predictors():
    _, y = load_diabetes(return_X_y=True)
    tr, te = y[:350], y[350:]
    b = baseline(tr, te)
    assert b.kind == "regression"
    assert b.scores["mae"] == pytest.approx(np.mean(np.abs(te - np.median(tr))))
    assert b.scores["mse"] == pytest.approx(np.mean((te - tr.mean()) ** 2))
    assert b.scores["mean_mae"] == pytest.approx(np.mean(np.abs(te - tr.mean())))
    assert b.scores["median_mse"] == pytest.approx(np.mean((te - np.median(tr)) ** 2))
    assert baseline(y / y.max()).kind == "regression_01"


def test_naive_time_series_forecast():
    t = np.arange(200)
    series = np.sin(t / 10.0)
    b = baseline(series, kind="time_series", lag=3)
    assert b.scores["mae"] == pytest.approx(np.mean(np.abs(series[3:] - series[:-3])))
    b2 = baseline(series[:150], series[150:], kind="time_series", lag=1)
    assert b2.scores["mse"] == pytest.approx(np.mean((series[150:] - series[149:-1]) ** 2))
    with pytest.raises(ValueError, match="lag"):
        baseline(series, kind="time_series", lag=0)


def test_last_value_forecast_on_windows():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(30, 5, 2))
    y = rng.normal(size=30)
    b = last_value_forecast(x, y, feature=1, scale=2.0, offset=1.0)
    assert b.scores["mae"] == pytest.approx(np.mean(np.abs(y - (x[:, -1, 1] * 2 + 1))))
    with pytest.raises(ValueError, match="windows"):
        last_value_forecast(x[:, 0], y)


def test_get_and_compare_resolve_history_names():
    b = Baseline("regression", {"mae": 2.0, "mse": 5.0}, "median")
    assert b.get("val_mean_absolute_error") == 2.0
    assert b.get("val_loss") == 5.0
    assert b.get("val_accuracy") is None
    assert b.margin("val_mae", 1.5) == pytest.approx(0.5)
    assert "does not beat" in b.compare("val_mae", 2.5)
    c = Baseline("binary", {"accuracy": 0.6, "crossentropy": 0.7}, "majority")
    assert c.margin("val_acc", 0.9) == pytest.approx(0.3)
    assert c.get("loss") == 0.7
    assert "beats the baseline (majority: 0.6) by 0.3" in c.compare("val_accuracy", 0.9)


def test_baseline_callback_reports_at_the_end_of_fit(capsys):
    x, y = load_breast_cancer(return_X_y=True)
    x = ((x - x.mean(0)) / x.std(0)).astype("float32")
    model = Sequential([layers.Dense(1, activation="sigmoid", input_shape=(30,))])
    model.compile("rmsprop", "binary_crossentropy", metrics=["accuracy"])
    cb = BaselineCallback(monitor="val_accuracy", y_train=y[:450], y_val=y[450:])
    history = model.fit(
        x[:450], y[:450], validation_data=(x[450:], y[450:]), epochs=3, verbose=0, callbacks=[cb]
    )
    expected = history.history["val_accuracy"][-1] - np.mean(y[450:] == 1)
    assert cb.margin == pytest.approx(expected, abs=1e-6)
    assert cb.message in capsys.readouterr().out
    missing = BaselineCallback(0.5, monitor="val_auc", verbose=0)
    missing.on_train_end({"loss": 1.0})
    assert "not in the logs" in missing.message and missing.margin is None
    with pytest.raises(ValueError, match="needs baseline"):
        BaselineCallback()
