import os

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer, load_diabetes

import lamina
from lamina import Sequential, layers
from lamina.errors import LaminaWarning
from lamina.workflow import baseline, cross_validate


@pytest.fixture(scope="module")
def diabetes():
    x, y = load_diabetes(return_X_y=True)
    x = ((x - x.mean(0)) / x.std(0)).astype("float32")
    return x[:200], ((y[:200] - y.mean()) / y.std()).astype("float32")


def build_regressor():
    model = Sequential([layers.Dense(8, activation="relu", input_shape=(10,)), layers.Dense(1)])
    model.compile(lamina.optimizers.RMSprop(0.01), "mse", metrics=["mae"])
    return model


def test_k_fold_histories_curves_and_statistics(diabetes):
    x, y = diabetes
    cv = cross_validate(build_regressor, x, y, k=4, epochs=3, batch_size=32, verbose=0, seed=0)
    assert len(cv.histories) == 4 and len(cv.scores) == 4
    assert cv.curves("val_mae").shape == (4, 3) and cv.curves("loss").shape == (4, 3)
    np.testing.assert_allclose(cv.mean_curves["val_mae"], cv.curves("val_mae").mean(0))
    for name in ("loss", "mae"):
        values = np.array([s[name] for s in cv.scores])
        assert cv.mean[name] == pytest.approx(values.mean())
        assert cv.std[name] == pytest.approx(values.std())
    # The final scores are the trained models on their validation folds = the last val epoch.
    np.testing.assert_allclose(
        [s["mae"] for s in cv.scores], cv.curves("val_mae")[:, -1], rtol=1e-4
    )
    vals = np.sort(np.concatenate([va for _, va in cv.splits]))
    np.testing.assert_array_equal(vals, np.arange(len(x)))
    expected = np.mean([baseline(y[tr], y[va]).scores["mae"] for tr, va in cv.splits])
    assert cv.baseline.get("val_mae") == pytest.approx(expected)
    assert cv.best_epoch("val_mae") == int(np.argmin(cv.mean_curves["val_mae"])) + 1
    text = str(cv)
    assert "4-fold" in text and "val_mae" in text and "baseline" in text


def test_seed_makes_runs_reproducible(diabetes):
    x, y = diabetes
    a = cross_validate(build_regressor, x, y, k=2, epochs=2, verbose=0, seed=5)
    b = cross_validate(build_regressor, x, y, k=2, epochs=2, verbose=0, seed=5)
    assert a.scores == b.scores


def test_iterated_k_fold(diabetes):
    x, y = diabetes
    cv = cross_validate(
        build_regressor, x[:80], y[:80], k=2, repeats=2, epochs=1, verbose=0, seed=1
    )
    assert len(cv.histories) == 4 and cv.repeats == 2
    first = np.sort(np.concatenate([va for _, va in cv.splits[:2]]))
    np.testing.assert_array_equal(first, np.arange(80))
    assert "2-fold x 2" in str(cv)
    with pytest.raises(ValueError, match="needs shuffling"):
        cross_validate(build_regressor, x, y, k=2, repeats=2, shuffle=False, verbose=0)


def test_time_ordered_folds_never_look_ahead(diabetes):
    x, y = diabetes
    cv = cross_validate(build_regressor, x, y, k=3, epochs=1, time_ordered=True, verbose=0)
    for tr, va in cv.splits:
        assert tr.max() < va.min()
    with pytest.raises(ValueError, match="train on the future"):
        cross_validate(build_regressor, x, y, k=3, time_ordered=True, shuffle=True, verbose=0)


def test_stratified_classification_with_baseline():
    x, y = load_breast_cancer(return_X_y=True)
    x = ((x - x.mean(0)) / x.std(0)).astype("float32")

    def build():
        model = Sequential([layers.Dense(1, activation="sigmoid", input_shape=(30,))])
        model.compile("rmsprop", "binary_crossentropy", metrics=["accuracy"])
        return model

    cv = cross_validate(build, x, y, k=3, epochs=2, stratify=True, verbose=0, seed=0)
    for _, va in cv.splits:
        assert abs(y[va].mean() - y.mean()) < 0.02
    assert cv.baseline.kind == "binary"
    assert cv.mean["accuracy"] > cv.baseline.get("val_accuracy")


def test_repeated_samples_warn_once(diabetes):
    x, y = diabetes
    x2 = np.concatenate([x[:60], x[:5]])
    y2 = np.concatenate([y[:60], y[:5]])
    with pytest.warns(LaminaWarning, match="5 samples of x repeat") as record:
        cross_validate(build_regressor, x2, y2, k=3, epochs=1, verbose=0, seed=0)
    assert len(record) == 1


def test_bad_arguments(diabetes):
    x, y = diabetes

    def uncompiled():
        return Sequential([layers.Dense(1, input_shape=(10,))])

    with pytest.raises(ValueError, match="not compiled"):
        cross_validate(uncompiled, x, y, k=2, verbose=0)
    with pytest.raises(ValueError, match="validation_split"):
        cross_validate(build_regressor, x, y, validation_split=0.2, verbose=0)
    with pytest.raises(ValueError, match="x has 200 samples but y has 10"):
        cross_validate(build_regressor, x, y[:10], verbose=0)
    with pytest.raises(TypeError, match="build_model"):
        cross_validate(build_regressor(), x, y, verbose=0)


def test_plot_writes_the_mean_curve(tmp_path, diabetes):
    x, y = diabetes
    cv = cross_validate(build_regressor, x[:80], y[:80], k=2, epochs=3, verbose=0, seed=0)
    path = str(tmp_path / "cv.png")
    fig = cv.plot("val_mae", path, smooth=0.5)
    assert os.path.getsize(path) > 0
    line = fig.axes[0].lines[0]
    np.testing.assert_allclose(line.get_xdata(), [1, 2, 3])
    with pytest.raises(KeyError, match="No fold logged 'val_auc'"):
        cv.curves("val_auc")
