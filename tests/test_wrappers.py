import pickle

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.datasets import load_breast_cancer, load_diabetes, load_digits
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

import lamina
from lamina import Sequential, layers
from lamina.wrappers import KerasClassifier, KerasRegressor


@pytest.fixture(autouse=True)
def _one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def build_clf(meta, units=16):
    kind, n = meta["target_type_"], meta["n_classes_"]
    out = {
        "binary": layers.Dense(1, activation="sigmoid"),
        "multiclass": layers.Dense(n, activation="softmax"),
        "multilabel": layers.Dense(n, activation="sigmoid"),
    }[kind]
    return Sequential([layers.Dense(units, activation="relu"), out])


def build_reg(meta, units=16):
    return Sequential([layers.Dense(units, activation="relu"), layers.Dense(meta["n_outputs_"])])


def test_params_follow_the_sklearn_contract():
    clf = KerasClassifier(build_clf, units=8, epochs=3)
    params = clf.get_params()
    assert params["units"] == 8 and params["epochs"] == 3 and params["build_fn"] is build_clf
    copy = clone(clf)
    assert copy.get_params() == params and copy is not clf
    clf.set_params(units=32, batch_size=8)
    assert (clf.units, clf.batch_size) == (32, 8)
    with pytest.raises(ValueError, match="Invalid parameter 'colour'"):
        clf.set_params(colour="red")
    assert "units=32" in repr(clf)


def test_pipeline_and_cross_val_score_on_breast_cancer():
    x, y = load_breast_cancer(return_X_y=True)
    pipe = Pipeline(
        [
            ("scale", StandardScaler()),
            (
                "net",
                KerasClassifier(
                    build_clf, epochs=5, random_state=0, optimizer=lamina.optimizers.Adam(0.01)
                ),
            ),
        ]
    )
    scores = cross_val_score(pipe, x, y, cv=3)
    assert scores.shape == (3,) and scores.min() > 0.9


def test_grid_search_picks_the_better_learning_rate():
    x, y = load_breast_cancer(return_X_y=True)
    x = StandardScaler().fit_transform(x)[:300]
    y = y[:300]
    grid = GridSearchCV(
        KerasClassifier(build_clf, units=4, epochs=3, random_state=0),
        {"optimizer": [lamina.optimizers.SGD(1e-5), lamina.optimizers.Adam(0.01)], "units": [4, 8]},
        cv=2,
    )
    grid.fit(x, y)
    assert isinstance(grid.best_params_["optimizer"], lamina.optimizers.Adam)
    assert grid.best_score_ > 0.85
    assert len(grid.cv_results_["params"]) == 4
    assert grid.best_estimator_.model_ is not None


def test_classifier_labels_probabilities_and_losses():
    x, y = load_digits(return_X_y=True)
    x = (x[:400] / 16).astype("float32")
    names = np.array(list("abcdefghij"))[y[:400]]
    clf = KerasClassifier(
        build_clf, epochs=4, random_state=0, optimizer=lamina.optimizers.Adam(0.01)
    ).fit(x, names)
    assert clf.classes_.tolist() == list("abcdefghij") and clf.n_features_in_ == 64
    proba = clf.predict_proba(x[:20])
    assert proba.shape == (20, 10)
    np.testing.assert_allclose(proba.sum(1), 1.0, rtol=1e-5)
    assert set(clf.predict(x[:20])) <= set("abcdefghij")
    assert clf.score(x, names) > 0.8
    assert clf.model_._compiled_loss.losses[0].name == "sparse_categorical_crossentropy"
    # An explicit categorical loss gets one-hot targets.
    cce = KerasClassifier(build_clf, loss="categorical_crossentropy", epochs=2, random_state=0).fit(
        x, names
    )
    assert cce.predict_proba(x[:3]).shape == (3, 10)


def test_binary_sigmoid_gives_two_probability_columns():
    x, y = load_breast_cancer(return_X_y=True)
    x = StandardScaler().fit_transform(x)
    clf = KerasClassifier(build_clf, epochs=2, random_state=0).fit(x, y)
    p = clf.predict_proba(x[:5])
    assert p.shape == (5, 2)
    np.testing.assert_allclose(p.sum(1), 1.0, rtol=1e-6)
    np.testing.assert_array_equal(clf.predict(x[:5]), (p[:, 1] > 0.5).astype(int))


def test_multilabel_indicator_targets():
    x, y = load_digits(return_X_y=True)
    x = (x[:300] / 16).astype("float32")
    labels = np.stack([y[:300] % 2 == 0, y[:300] > 4], 1).astype(int)

    def build(meta):
        return Sequential(
            [layers.Dense(16, activation="relu"), layers.Dense(2, activation="sigmoid")]
        )

    clf = KerasClassifier(build, epochs=3, random_state=0).fit(x, labels)
    pred = clf.predict(x[:10])
    assert pred.shape == (10, 2) and set(np.unique(pred)) <= {0, 1}


def test_regressor_in_a_pipeline():
    x, y = load_diabetes(return_X_y=True)
    y = (y - y.mean()) / y.std()
    pipe = Pipeline(
        [
            ("scale", StandardScaler()),
            (
                "net",
                KerasRegressor(
                    build_reg, epochs=10, random_state=0, optimizer=lamina.optimizers.Adam(0.01)
                ),
            ),
        ]
    )
    scores = cross_val_score(pipe, x, y, cv=3)
    assert scores.mean() > 0.3  # R² of a linear model here is about 0.48
    reg = KerasRegressor(build_reg, epochs=1, random_state=0).fit(x, y)
    assert reg.predict(x).shape == (442,)
    two = KerasRegressor(build_reg, epochs=1, random_state=0).fit(x, np.stack([y, -y], 1))
    assert two.predict(x).shape == (442, 2)


def test_model_instance_is_copied_not_trained_in_place():
    model = Sequential([layers.Dense(1, input_shape=(10,))])
    model.compile("sgd", "mse")
    before = [w.copy() for w in model.get_weights()]
    x, y = load_diabetes(return_X_y=True)
    reg = KerasRegressor(model=model, epochs=2).fit(x, y / 100)
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert reg.model_ is not model
    with pytest.raises(ValueError, match="need a build_fn"):
        KerasRegressor(model=model, units=3).fit(x, y)


def test_random_state_makes_fits_reproducible_and_pickling_works():
    x, y = load_breast_cancer(return_X_y=True)
    x = StandardScaler().fit_transform(x)
    a = KerasClassifier(build_clf, epochs=2, random_state=3).fit(x, y)
    b = KerasClassifier(build_clf, epochs=2, random_state=3).fit(x, y)
    np.testing.assert_array_equal(a.predict_proba(x), b.predict_proba(x))
    restored = pickle.loads(pickle.dumps(a))
    np.testing.assert_allclose(restored.predict_proba(x), a.predict_proba(x))


def test_errors():
    x = np.random.default_rng(0).normal(size=(20, 3))
    y = np.arange(20) % 2
    with pytest.raises(NotFittedError):
        KerasClassifier(build_clf).predict(x)
    with pytest.raises(ValueError, match="needs build_fn"):
        KerasClassifier().fit(x, y)
    with pytest.raises(ValueError, match="build_fn does not accept"):
        KerasClassifier(build_clf, colour="red").fit(x, y)
    clf = KerasClassifier(build_clf, epochs=1).fit(x, y)
    with pytest.raises(ValueError, match="X has 4 features, but KerasClassifier is expecting 3"):
        clf.predict(np.zeros((2, 4)))
    with pytest.raises(ValueError, match="Unknown label type"):
        KerasClassifier(build_clf).fit(x, np.linspace(0, 1, 20))
    with pytest.raises(ValueError, match="sample weights are zero"):
        KerasClassifier(build_clf).fit(x, y, sample_weight=np.zeros(20))

    def two_units(meta):
        return Sequential([layers.Dense(2, activation="softmax")])

    with pytest.raises(ValueError, match="3 classes but the model outputs 2 units"):
        KerasClassifier(two_units).fit(x, np.arange(20) % 3)


@pytest.mark.slow
@parametrize_with_checks(
    [
        KerasClassifier(
            build_clf, epochs=15, random_state=0, optimizer=lamina.optimizers.Adam(0.03)
        ),
        KerasRegressor(
            build_reg, epochs=15, random_state=0, optimizer=lamina.optimizers.Adam(0.03)
        ),
    ],
    expected_failed_checks=lambda est: {
        "check_sample_weight_equivalence_on_dense_data": (
            "minibatch SGD: weighting a sample is not the same as repeating it"
        ),
        "check_methods_subset_invariance": (
            "float32 matmuls round differently for different batch sizes (~1e-7)"
        ),
    },
)
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)
