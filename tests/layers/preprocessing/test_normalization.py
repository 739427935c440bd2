"""Normalization (statistics from the training data only, Keras's formula and parameter count,
invert, batched adapt, errors), the missing-value strategy (Imputer, impute) and
Discretization."""

import copy

import numpy as np
import pytest
import torch
from helpers import check_layer
from sklearn.datasets import load_diabetes

import lamina
from lamina import layers
from lamina.layers.preprocessing import Discretization, Imputer, Normalization, impute


@pytest.fixture(scope="module")
def diabetes():
    x, _ = load_diabetes(return_X_y=True)
    x = x * 100 + np.arange(x.shape[1])  # distinct means and scales per feature
    return x[:300], x[300:]


# ---------------------------------------------------------------------- Normalization
def test_statistics_come_from_the_training_data_only(diabetes):
    x_train, x_test = diabetes
    layer = Normalization()
    layer.adapt(x_train)
    np.testing.assert_allclose(layer.adapt_mean.numpy(), x_train.mean(0), rtol=1e-5)
    np.testing.assert_allclose(layer.adapt_variance.numpy(), x_train.var(0), rtol=1e-5)
    assert int(layer.count) == len(x_train)
    expected = (x_test - x_train.mean(0)) / x_train.std(0)  # population std, training stats
    np.testing.assert_allclose(layer(x_test).numpy(), expected, rtol=1e-4, atol=1e-5)
    train_out = layer(x_train).numpy()
    np.testing.assert_allclose(train_out.mean(0), 0, atol=1e-5)
    np.testing.assert_allclose(train_out.std(0), 1, atol=1e-5)
    # the test set is not standardized by its own statistics
    assert np.abs(layer(x_test).numpy().mean(0)).max() > 0.05


def test_batched_adapt_equals_whole_array(diabetes):
    x_train, _ = diabetes
    whole = Normalization()
    whole.adapt(x_train)
    for data, kwargs in [
        (x_train, dict(batch_size=37)),
        (torch.utils.data.DataLoader(torch.tensor(x_train), batch_size=64), {}),
        ([(x_train[i : i + 50], np.zeros(50)) for i in range(0, 300, 50)], {}),  # (x, y) pairs
    ]:
        layer = Normalization()
        layer.adapt(data, **kwargs)
        np.testing.assert_allclose(layer.adapt_mean.numpy(), whole.adapt_mean.numpy(), rtol=1e-6)
        np.testing.assert_allclose(
            layer.adapt_variance.numpy(), whole.adapt_variance.numpy(), rtol=1e-5
        )


def test_keras_documented_examples():
    scalar = Normalization(axis=None)
    scalar.adapt(np.array([1.0, 2.0, 3.0, 4.0, 5.0]))
    np.testing.assert_allclose(
        scalar(np.array([1.0, 2.0, 3.0])).numpy(), [-1.4142135, -0.70710677, 0.0], rtol=1e-6
    )
    data = np.array([[0.0, 7.0, 4.0], [2.0, 9.0, 6.0], [0.0, 7.0, 4.0], [2.0, 9.0, 6.0]])
    inverse = Normalization(axis=-1, invert=True)
    inverse.adapt(data)
    np.testing.assert_allclose(inverse(np.array([[1.0, 2.0, 3.0]])).numpy(), [[2.0, 10.0, 8.0]])


def test_axes_keep_one_statistic_per_index():
    x = np.random.default_rng(0).normal(size=(6, 4, 3)) * [1.0, 2.0, 3.0] + 5
    per_channel = Normalization(axis=-1)
    per_channel.adapt(x)
    np.testing.assert_allclose(per_channel.adapt_mean.numpy(), x.mean((0, 1)), rtol=1e-5)
    per_cell = Normalization(axis=(1, 2))
    per_cell.adapt(x)
    assert per_cell.adapt_mean.shape == (4, 3)
    np.testing.assert_allclose(per_cell.adapt_variance.numpy(), x.var(0), rtol=1e-5)
    assert per_cell.count_params() == 4 * 3 * 2 + 1


def test_invert_round_trip_and_given_statistics(diabetes):
    x_train, x_test = diabetes
    norm = Normalization()
    norm.adapt(x_train)
    inverse = Normalization(invert=True, mean=x_train.mean(0), variance=x_train.var(0))
    np.testing.assert_allclose(inverse(norm(x_test)).numpy(), x_test, rtol=1e-5, atol=1e-4)
    given = Normalization(mean=3.0, variance=2.0)
    np.testing.assert_allclose(
        given(np.array([[1.0], [2.0], [3.0]])).numpy(),
        [[-1.4142135], [-0.70710677], [0.0]],
        rtol=1e-6,
    )
    # a zero variance is clamped by epsilon instead of dividing by zero
    flat = Normalization(mean=[1.0, 2.0], variance=[0.0, 4.0])
    np.testing.assert_allclose(flat(np.array([[1.0, 4.0]])).numpy(), [[0.0, 1.0]])


def test_weights_and_parameter_count_as_keras():
    model = lamina.Sequential([layers.Input((10,)), Normalization(), layers.Dense(1)])
    norm = model.layers[0]
    assert norm.count_params() == 21  # mean (10), variance (10), count (1)
    assert norm.trainable_weights == []
    assert [w.shape for w in norm.get_weights()] == [(10,), (10,), ()]
    assert sum(w.numel() for w in model.non_trainable_weights) == 21


def test_errors_before_adapt_and_with_missing_values():
    with pytest.raises(ValueError, match=r"no statistics yet: call layer.adapt\(x_train\)"):
        Normalization()(torch.ones(2, 3))
    bad = np.array([[1.0, np.nan], [2.0, 3.0]])
    with pytest.raises(ValueError, match=r"1 NaN .* indices \[1\].*lamina.layers.Imputer"):
        Normalization().adapt(bad)
    with pytest.raises(ValueError, match="give both mean and variance"):
        Normalization(mean=1.0)
    with pytest.raises(ValueError, match="nothing to adapt"):
        Normalization(mean=1.0, variance=1.0).adapt(np.ones((2, 1)))
    layer = Normalization()
    layer.adapt(np.ones((4, 3)))
    with pytest.raises(ValueError, match=r"built for inputs of shape \(None, 3\)"):
        layer.adapt(np.ones((4, 5)))


def test_saved_statistics_restore_the_layer(diabetes):
    x_train, x_test = diabetes
    layer = Normalization()
    layer.adapt(x_train)
    ref = layer(x_test)
    for restore in ("set_weights", "load_state_dict"):
        clone = Normalization.from_config(copy.deepcopy(layer.get_config()))
        clone(layers.Input((10,)))  # builds the weights (as inside a model)
        if restore == "set_weights":
            clone.set_weights(layer.get_weights())
        else:
            clone.load_state_dict(layer.state_dict())
        torch.testing.assert_close(clone(x_test), ref)


def test_normalization_check_layer():
    check_layer(
        Normalization,
        {"mean": [1.0, 2.0, 3.0], "variance": [1.0, 4.0, 9.0]},
        (4, 3),
        (4, 3),
        expected_num_params=0,
    )
    check_layer(
        Normalization,
        {"axis": None, "mean": 0.5, "variance": 2.0, "invert": True},
        (4, 2, 3),
        (4, 2, 3),
        expected_num_params=0,
    )


# ---------------------------------------------------------------------- missing values
MISSING = np.array([[1.0, np.nan, 5.0], [3.0, 4.0, np.nan], [np.nan, 8.0, 7.0], [5.0, 6.0, 1.0]])


def test_imputer_fills_with_training_means_and_adds_indicators():
    imputer = Imputer()
    imputer.adapt(MISSING)
    means = np.nanmean(MISSING, axis=0)
    np.testing.assert_allclose(imputer.fill.numpy(), means, rtol=1e-6)
    test = np.array([[np.nan, np.nan, 2.0]])
    np.testing.assert_allclose(
        imputer(test).numpy(), [[means[0], means[1], 2.0, 1, 1, 0]], rtol=1e-6
    )
    assert imputer.count_params() == 3 and imputer.trainable_weights == []


def test_imputer_median_and_constant():
    median = Imputer(strategy="median", add_indicator=False)
    median.adapt(MISSING, batch_size=2)
    np.testing.assert_allclose(median.fill.numpy(), np.nanmedian(MISSING, axis=0))
    constant = Imputer(strategy="constant", fill_value=-1.0, add_indicator=False)
    assert constant(MISSING).numpy()[0].tolist() == [1.0, -1.0, 5.0]


def test_imputer_errors():
    with pytest.raises(ValueError, match=r"no fill values yet: call imputer.adapt\(x_train\)"):
        Imputer()(torch.ones(2, 3))
    with pytest.raises(ValueError, match=r"features \[1\] have no observed value"):
        Imputer().adapt(np.array([[1.0, np.nan], [2.0, np.nan]]))
    with pytest.raises(ValueError, match="needs a fill_value"):
        Imputer(strategy="constant")


def test_impute_function_uses_training_statistics():
    train = np.array([[1.0, 10.0], [np.nan, 30.0], [3.0, np.nan]])
    test = np.array([[np.nan, np.nan]])
    train_out, test_out = impute(train, test)
    np.testing.assert_allclose(test_out, [[2.0, 20.0, 1.0, 1.0]])
    np.testing.assert_allclose(train_out[:, :2], [[1.0, 10.0], [2.0, 30.0], [3.0, 20.0]])
    assert impute(train, add_indicator=False).shape == (3, 2)


def test_imputer_then_normalization_in_a_model():
    imputer = Imputer()
    imputer.adapt(MISSING)
    norm = Normalization()
    norm.adapt(imputer(MISSING))  # statistics of the imputed training data
    model = lamina.Sequential([layers.Input((3,)), imputer, norm, layers.Dense(2)])
    assert model.output_shape == (None, 2)
    assert model.layers[1].adapt_mean.shape == (6,)
    out = model(MISSING)
    assert torch.isfinite(out).all()
    config = model.get_config()
    rebuilt = lamina.Sequential.from_config(copy.deepcopy(config))
    rebuilt.load_state_dict(model.state_dict())
    torch.testing.assert_close(rebuilt(MISSING), out)


# ---------------------------------------------------------------------- Discretization
def test_discretization_boundaries_and_quantiles():
    data = np.array([[-1.5, 1.0, 3.4, 0.5], [0.0, 3.0, 1.3, 0.0]])
    layer = Discretization(bin_boundaries=[0.0, 1.0, 2.0])
    assert layer(data).tolist() == [[0, 2, 3, 1], [1, 3, 2, 1]]
    learned = Discretization(num_bins=4)
    learned.adapt(data)
    np.testing.assert_allclose(learned.bin_boundaries, np.quantile(data, [0.25, 0.5, 0.75]))
    ids = learned(data).numpy()
    np.testing.assert_array_equal(ids, np.digitize(data, learned.bin_boundaries))
    hot = Discretization(bin_boundaries=[0.0], output_mode="one_hot")
    np.testing.assert_array_equal(hot(np.array([[-1.0], [2.0]])).numpy(), [[1, 0], [0, 1]])


def test_discretization_config_keeps_learned_boundaries():
    layer = Discretization(num_bins=3)
    layer.adapt(np.arange(12.0))
    clone = Discretization.from_config(copy.deepcopy(layer.get_config()))
    assert clone.bin_boundaries == layer.bin_boundaries
    with pytest.raises(ValueError, match="exactly one of bin_boundaries"):
        Discretization()
    with pytest.raises(ValueError, match="no bin boundaries yet"):
        Discretization(num_bins=2)(torch.ones(2))


def test_check_layer_on_imputer_and_discretization():
    check_layer(
        Imputer,
        {"strategy": "constant", "fill_value": 0.0},
        (4, 3),
        (4, 6),
        expected_num_params=3,
        expected_trainable=0,
    )
    check_layer(
        Discretization, {"bin_boundaries": [-0.5, 0.0, 0.5]}, (4, 3), (4, 3), expected_num_params=0
    )
