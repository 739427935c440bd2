import numpy as np
import pytest
import torch
from sklearn.datasets import load_breast_cancer, load_diabetes, load_digits

import lamina
from lamina import Sequential, layers, losses
from lamina.errors import LaminaWarning
from lamina.utils import to_categorical
from lamina.workflow import check_setup, suggest

RNG = np.random.default_rng(0)
X = RNG.normal(size=(64, 5)).astype("float32")
Y_INT = RNG.integers(0, 3, 64)
Y_ONEHOT = to_categorical(Y_INT, 3)
Y_MULTI = (RNG.random((64, 3)) > 0.5).astype("float32")
Y_MULTI[0] = 1.0
Y_BIN = RNG.integers(0, 2, 64).astype("float32")
Y_REG = RNG.normal(size=64) * 10


# ---------------------------------------------------------------------- suggest: the table
def test_suggest_binary_rows():
    for y in (
        np.array([0, 1, 1, 0]),
        np.array([0.0, 1.0, 0.0, 1.0]),
        np.array([True, False]),
        np.array([[0], [1], [1], [0]]),
    ):
        s = suggest(y)
        assert (s.problem, s.units, s.activation, s.loss, s.metrics) == (
            "binary",
            1,
            "sigmoid",
            "binary_crossentropy",
            ("accuracy",),
        )
    strings = suggest(np.array(["pos", "neg", "pos"]))
    assert strings.problem == "binary" and "not numbers" in strings.note


def test_suggest_imbalanced_binary_adds_precision_recall():
    s = suggest(np.array([0] * 95 + [1] * 5))
    assert s.metrics == ("accuracy", "precision", "recall", "auc")
    assert s.imbalance == pytest.approx(0.05) and "5%" in s.note


def test_suggest_multiclass_rows():
    _, y = load_digits(return_X_y=True)
    s = suggest(y)
    assert (s.problem, s.units, s.activation, s.loss, s.label_format) == (
        "multiclass",
        10,
        "softmax",
        "sparse_categorical_crossentropy",
        "integer",
    )
    oh = suggest(to_categorical(y))
    assert (oh.problem, oh.units, oh.activation, oh.loss, oh.label_format) == (
        "multiclass",
        10,
        "softmax",
        "categorical_crossentropy",
        "one-hot",
    )
    soft = suggest(np.array([[0.2, 0.8], [0.5, 0.5]]))
    assert (soft.problem, soft.loss, soft.label_format) == (
        "multiclass",
        "categorical_crossentropy",
        "probabilities",
    )


def test_suggest_multilabel_row():
    s = suggest(np.array([[1, 0, 1], [0, 1, 0], [0, 0, 0]]))
    assert (s.problem, s.units, s.activation, s.loss) == (
        "multilabel",
        3,
        "sigmoid",
        "binary_crossentropy",
    )
    assert "binary_accuracy" in s.metrics


def test_suggest_regression_rows():
    _, y = load_diabetes(return_X_y=True)
    s = suggest(y)
    assert (s.problem, s.units, s.activation, s.loss, s.metrics) == (
        "regression",
        1,
        None,
        "mse",
        ("mae",),
    )
    s01 = suggest((y - y.min()) / (y.max() - y.min()))
    assert (s01.problem, s01.activation, s01.loss) == ("regression_01", "sigmoid", "mse")
    assert "binary_crossentropy" in s01.alternatives
    assert suggest(np.array([-1, 3, 7])).problem == "regression"
    assert suggest(RNG.normal(size=(10, 4))).units == 4
    assert "quantities" in suggest(np.array([0.0, 3.0, 2.0])).note


def test_suggest_kind_override_and_errors():
    assert suggest(np.array([0.0, 1.0, 2.0]), kind="multiclass").units == 3
    assert suggest(np.array([0, 1, 2]), kind="regression").problem == "regression"
    with pytest.raises(ValueError, match="kind must be one of"):
        suggest(np.array([0, 1]), kind="ranking")
    with pytest.raises(ValueError, match="NaN"):
        suggest(np.array([0.0, np.nan]))
    with pytest.raises(ValueError, match="2 classes|3 classes"):
        suggest(np.array([0, 1, 2]), kind="binary")


def test_suggestion_builds_a_working_output():
    s = suggest(np.array([0, 2, 1]))
    layer = s.output_layer()
    assert layer.units == 3 and layer.activation is lamina.activations.softmax
    assert s.compile_kwargs() == {
        "optimizer": "rmsprop",
        "loss": "sparse_categorical_crossentropy",
        "metrics": ["accuracy"],
    }
    assert "Dense(3, activation='softmax')" in str(s)


# ---------------------------------------------------------------------- check_setup: mismatches
def _fit(units, activation, loss, y, batch_size=32):
    model = Sequential([layers.Dense(units, activation=activation, input_shape=(5,))])
    model.compile("rmsprop", loss)
    model.fit(X, y, epochs=1, verbose=0, batch_size=batch_size)
    return model


MISMATCHES = [
    (1, "softmax", "binary_crossentropy", Y_BIN, "softmax over 1 unit"),
    (3, "softmax", "categorical_crossentropy", Y_MULTI, "several labels per sample"),
    (3, "softmax", "binary_crossentropy", Y_MULTI, "several labels per sample"),
    (3, "sigmoid", "binary_crossentropy", Y_ONEHOT, "one-hot .* independent sigmoids"),
    (3, "sigmoid", "categorical_crossentropy", Y_ONEHOT, "activation='softmax'"),
    (3, "sigmoid", "sparse_categorical_crossentropy", Y_INT, "expects a softmax output"),
    (3, "sigmoid", "categorical_crossentropy", Y_MULTI, "loss='binary_crossentropy'"),
    (3, "softmax", "binary_crossentropy", Y_ONEHOT, "separate yes/no question"),
    (3, "softmax", "mse", Y_ONEHOT, "this is classification.*categorical_crossentropy"),
    (1, "sigmoid", "mse", Y_REG, "can never reach them"),
    (1, "sigmoid", "mae", Y_REG, "remove the activation"),
    (3, None, "categorical_crossentropy", Y_ONEHOT, "has no softmax"),
    (3, None, "sparse_categorical_crossentropy", Y_INT, "from_logits=True"),
    (1, None, "binary_crossentropy", Y_BIN, "has no sigmoid"),
]


@pytest.mark.parametrize("units,activation,loss,y,message", MISMATCHES)
def test_each_mismatch_warns_with_the_fix(units, activation, loss, y, message):
    with pytest.warns(LaminaWarning, match=message) as record:
        _fit(units, activation, loss, y)
    assert len([w for w in record if issubclass(w.category, LaminaWarning)]) == 1
    assert record[0].filename == __file__  # points at the user's fit() call


def test_mismatch_that_the_trainer_rejects_is_not_repeated():
    # Integer labels with categorical cross-entropy: the trainer raises; no extra warning.
    with pytest.raises(ValueError, match="sparse_categorical_crossentropy"):
        _fit(3, "softmax", "categorical_crossentropy", Y_INT)


def test_evaluate_checks_too():
    model = Sequential([layers.Dense(1, activation="softmax", input_shape=(5,))])
    model.compile("rmsprop", "binary_crossentropy")
    with pytest.warns(LaminaWarning, match="softmax over 1 unit"):
        model.evaluate(X, Y_BIN, verbose=0)


def test_multi_output_names_the_output():
    inp = layers.Input((5,))
    good = layers.Dense(1, activation="sigmoid", name="good")(inp)
    bad = layers.Dense(3, activation="softmax", name="bad")(inp)
    model = lamina.Model(inp, [good, bad])
    model.compile("rmsprop", ["binary_crossentropy", "binary_crossentropy"])
    with pytest.warns(LaminaWarning, match="output 'bad'") as record:
        model.fit(X, [Y_BIN, Y_MULTI], epochs=1, verbose=0)
    assert len(record) == 1


def test_small_first_batch_is_not_enough_evidence_for_one_hot():
    # Eight one-hot rows might be multi-label data that happens to have one label each.
    _fit(3, "sigmoid", "binary_crossentropy", Y_ONEHOT, batch_size=8)


def test_check_setup_direct_call():
    model = Sequential([layers.Dense(3, activation="softmax", input_shape=(5,))])
    assert check_setup(model, [torch.zeros(2, 3)], [torch.zeros(2, 3)]) == []  # not compiled
    model.compile("rmsprop", "categorical_crossentropy")
    model._build_compiled()
    pred = model(torch.from_numpy(X))
    assert check_setup(model, [torch.from_numpy(Y_ONEHOT)], [pred]) == []
    with pytest.warns(LaminaWarning):
        msgs = check_setup(model, [torch.from_numpy(Y_MULTI)], [pred])
    assert "multi-hot" in msgs[0]


# ---------------------------------------------------------------------- correct set-ups: silent
def _scaled(x):
    return ((x - x.mean(0)) / (x.std(0) + 1e-8)).astype("float32")


def _train(x, y, hidden, out, loss, metrics, epochs=4):
    model = Sequential([layers.Dense(hidden, activation="relu", input_shape=(x.shape[1],)), out])
    model.compile(lamina.optimizers.RMSprop(0.01), loss, metrics=metrics)
    return model.fit(x, y, epochs=epochs, batch_size=32, verbose=0).history


def test_correct_binary_setup_is_silent_and_learns():
    x, y = load_breast_cancer(return_X_y=True)
    h = _train(
        _scaled(x),
        y.astype("float32"),
        16,
        layers.Dense(1, activation="sigmoid"),
        "binary_crossentropy",
        ["accuracy"],
    )
    assert h["accuracy"][-1] > 0.9


def test_correct_multiclass_setups_are_silent_and_learn():
    x, y = load_digits(return_X_y=True)
    x = (x[:600] / 16).astype("float32")
    y = y[:600]
    h = _train(
        x,
        y,
        32,
        layers.Dense(10, activation="softmax"),
        "sparse_categorical_crossentropy",
        ["accuracy"],
    )
    assert h["accuracy"][-1] > 0.8
    h = _train(
        x,
        to_categorical(y, 10),
        32,
        layers.Dense(10, activation="softmax"),
        "categorical_crossentropy",
        ["accuracy"],
    )
    assert h["accuracy"][-1] > 0.8
    h = _train(
        x,
        y,
        32,
        layers.Dense(10),
        losses.SparseCategoricalCrossentropy(from_logits=True),
        ["accuracy"],
    )
    assert h["loss"][-1] < h["loss"][0]
    soft = 0.9 * to_categorical(y, 10) + 0.01
    h = _train(
        x,
        soft.astype("float32"),
        32,
        layers.Dense(10, activation="softmax"),
        "categorical_crossentropy",
        None,
        epochs=2,
    )
    assert h["loss"][-1] < h["loss"][0]


def test_correct_multilabel_setup_is_silent_and_learns():
    x, y = load_digits(return_X_y=True)
    x = (x[:600] / 16).astype("float32")
    y = y[:600]
    labels = np.stack([y % 2 == 0, y > 4, np.isin(y, (2, 3, 5, 7))], 1).astype("float32")
    h = _train(
        x,
        labels,
        32,
        layers.Dense(3, activation="sigmoid"),
        "binary_crossentropy",
        ["binary_accuracy"],
    )
    assert h["binary_accuracy"][-1] > 0.8


def test_correct_regression_setups_are_silent_and_learn():
    x, y = load_diabetes(return_X_y=True)
    x = _scaled(x)
    h = _train(
        x,
        ((y - y.mean()) / y.std()).astype("float32"),
        16,
        layers.Dense(1),
        "mse",
        ["mae"],
        epochs=6,
    )
    assert h["loss"][-1] < h["loss"][0]
    y01 = ((y - y.min()) / (y.max() - y.min())).astype("float32")
    for loss in ("mse", "binary_crossentropy"):
        h = _train(x, y01, 16, layers.Dense(1, activation="sigmoid"), loss, ["mae"], epochs=6)
        assert h["loss"][-1] < h["loss"][0]


def test_models_built_from_suggest_are_silent():
    x, y = load_digits(return_X_y=True)
    x = (x[:300] / 16).astype("float32")
    y = y[:300]
    targets = [
        (y % 2).astype("float32"),
        y,
        to_categorical(y, 10),
        np.stack([y % 2 == 0, y > 4], 1).astype("float32"),
        y * 1.5 - 3.0,
        y / 9.0,
    ]
    for t in targets:
        s = suggest(t)
        model = Sequential(
            [layers.Dense(8, activation="relu", input_shape=(64,)), s.output_layer()]
        )
        model.compile(**s.compile_kwargs())
        model.fit(x, t, epochs=1, verbose=0)


def test_saturated_sigmoid_is_not_mistaken_for_a_one_unit_softmax():
    # Unscaled inputs around 100 saturate the sigmoid to exactly 1.0 at the start.
    x = np.random.default_rng(0).normal(loc=100, size=(64, 5)).astype("float32")
    model = Sequential([layers.Dense(1, activation="sigmoid", input_shape=(5,))])
    model.compile("rmsprop", "binary_crossentropy")
    with torch.no_grad():
        model.layers[-1].kernel.fill_(1.0)
    assert bool((model(torch.from_numpy(x)) == 1).all())
    model.fit(x, Y_BIN, epochs=1, verbose=0)
