import sys

import numpy as np
import optuna
import pytest

import lamina
from lamina import Sequential, layers
from lamina.workflow import PruningCallback, tune


def data():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 4)).astype("float32")
    y = (x @ np.array([1.0, -2.0, 0.5, 3.0]) + 0.1 * rng.normal(size=200)).astype("float32")
    return x, y


def build(lr, units=1):
    layer_list = [layers.Dense(units, activation="relu")] if units > 1 else []
    model = Sequential([layers.Input((4,)), *layer_list, layers.Dense(1)])
    model.compile(lamina.optimizers.SGD(lr), "mse", metrics=["mae"])
    return model


def test_tune_finds_the_clearly_better_setting():
    x, y = data()
    result = tune(
        build, {"lr": [1e-5, 0.05]}, x, y, trials=4, epochs=4, batch_size=32, verbose=0, seed=0
    )
    assert result.best_params == {"lr": 0.05}
    assert result.direction == "minimize" and result.metric == "val_loss"
    values = [t["value"] for t in result.trials if t["state"] == "COMPLETE"]
    assert result.best_value == pytest.approx(min(values))
    assert 1 <= result.best_epoch <= 4
    # The best configuration was rebuilt and retrained: it fits far better than predicting 0.
    mse = float(np.mean((result.best_model.predict(x, verbose=0)[:, 0] - y) ** 2))
    assert mse < 0.2 * float(np.mean(y**2))
    assert len(result.trials) == 4
    text = str(result)
    assert text.splitlines()[0].split()[:3] == ["trial", "state", "val_loss"]
    assert "Best: {'lr': 0.05}" in text
    table = result.table()
    assert list(table.index)[0] == min(result.trials, key=lambda t: t["value"])["number"]


def test_ranges_fixed_values_and_callable_space():
    x, y = data()
    seen = []

    def space(trial):
        params = {"lr": trial.suggest_float("lr", 0.01, 0.05, log=True)}
        seen.append(params["lr"])
        return params

    result = tune(
        build,
        space,
        x[:160],
        y[:160],
        validation=(x[160:], y[160:]),
        trials=2,
        epochs=1,
        verbose=0,
        seed=0,
        refit=False,
    )
    assert all(0.01 <= v <= 0.05 for v in seen)
    assert result.best_model is not None and result.best_model.history is not None
    r2 = tune(
        build,
        {"lr": (0.01, 0.05, "log"), "units": (2, 3)},
        x,
        y,
        trials=2,
        epochs=1,
        verbose=0,
        seed=1,
    )
    assert 0.01 <= r2.best_params["lr"] <= 0.05 and r2.best_params["units"] in (2, 3)


def test_bad_trials_are_pruned_on_the_validation_curve():
    x, y = data()
    # Prune any trial whose val_loss still exceeds 3 after its third epoch: lr=1e-6 does not move
    # from its initial error (at least 4.4 for these weights), lr=0.05 is below 1.
    pruner = optuna.pruners.ThresholdPruner(upper=3.0, n_warmup_steps=2)
    result = tune(
        build, {"lr": [1e-6, 0.05]}, x, y, trials=6, epochs=6, verbose=0, seed=0, pruner=pruner
    )
    states = {lr: {t["state"] for t in result.trials if t["lr"] == lr} for lr in (1e-6, 0.05)}
    assert states == {1e-6: {"PRUNED"}, 0.05: {"COMPLETE"}}
    pruned = [t for t in result.trials if t["state"] == "PRUNED"]
    assert all(t["epochs"] == 3 for t in pruned)
    assert str(result).splitlines()[2].split()[1] == "COMPLETE"  # complete trials first
    assert result.best_params == {"lr": 0.05}


def test_pruning_callback_stops_training():
    class Trial:
        def __init__(self):
            self.reports = []

        def report(self, value, step):
            self.reports.append((step, value))

        def should_prune(self):
            return len(self.reports) >= 2

    x, y = data()
    model = build(0.01)
    trial = Trial()
    cb = PruningCallback(trial, "val_loss")
    history = model.fit(x, y, validation_split=0.2, epochs=5, verbose=0, callbacks=[cb])
    assert cb.pruned and cb.pruned_at == 2 and len(history.history["loss"]) == 2
    assert [s for s, _ in trial.reports] == [0, 1]
    np.testing.assert_allclose([v for _, v in trial.reports], history.history["val_loss"])


def test_errors(monkeypatch):
    x, y = data()
    with pytest.raises(TypeError, match="space must be a dict"):
        tune(build, [0.1], x, y, trials=1, verbose=0)
    with pytest.raises(ValueError, match="third entry may only be 'log'"):
        tune(build, {"lr": (0.1, 0.2, "lin")}, x, y, trials=1, verbose=0)
    with pytest.raises(KeyError, match="val_auc"):
        tune(build, {"lr": [0.1]}, x, y, trials=1, epochs=1, metric="val_auc", verbose=0)
    with pytest.raises(TypeError, match="build_model"):
        tune(build(0.1), {"lr": [0.1]}, x, y, trials=1, verbose=0)
    monkeypatch.setitem(sys.modules, "optuna", None)
    with pytest.raises(ImportError, match="pip install optuna"):
        tune(build, {"lr": [0.1]}, x, y, trials=1, verbose=0)
