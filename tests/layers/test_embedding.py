"""Embedding and Masking: lookups, masks, initial weights, frozen weights, bad ids."""

import numpy as np
import pytest
import torch
from helpers import check_layer

import lamina
from lamina import regularizers
from lamina.layers.core import Dense, Flatten
from lamina.layers.embedding import Embedding, Masking
from lamina.layers.recurrent import LSTM


def test_embedding_check_layer_and_lookup():
    layer = check_layer(
        Embedding, {"input_dim": 10, "output_dim": 3}, (4, 6), (4, 6, 3), 30, input_dtype="int64"
    )
    ids = torch.tensor([[1, 9, 0], [4, 4, 2]])
    table = layer.get_weights()[0]
    np.testing.assert_array_equal(layer(ids).detach().numpy(), table[ids.numpy()])


def test_embedding_default_initializer_is_keras_uniform():
    layer = Embedding(2000, 16)
    layer(torch.zeros(1, 1, dtype=torch.long))
    (table,) = layer.get_weights()
    assert -0.05 <= table.min() < -0.049 and 0.049 < table.max() <= 0.05
    assert abs(table.mean()) < 0.002


def test_embedding_accepts_int32_numpy_and_whole_floats():
    layer = Embedding(5, 2)
    a = layer(np.array([[1, 2]], dtype=np.int32))
    b = layer(torch.tensor([[1.0, 2.0]]))
    torch.testing.assert_close(a, b)
    with pytest.raises(ValueError, match="integer token ids.*fractional"):
        layer(torch.tensor([[1.5, 2.0]]))


def test_mask_zero():
    layer = Embedding(10, 2, mask_zero=True)
    out = layer(torch.tensor([[3, 0, 4], [0, 0, 1]]))
    assert torch.equal(out._keras_mask, torch.tensor([[True, False, True], [False, False, True]]))
    assert getattr(Embedding(10, 2)(torch.tensor([[0, 1]])), "_keras_mask", None) is None


def test_weights_argument_and_set_weights():
    matrix = np.arange(12, dtype=np.float32).reshape(4, 3)
    layer = Embedding(4, 3, weights=[matrix])
    np.testing.assert_array_equal(layer(torch.tensor([[3, 1]])).detach().numpy()[0], matrix[[3, 1]])
    layer.set_weights([matrix * 2])
    np.testing.assert_array_equal(layer.get_weights()[0], matrix * 2)
    with pytest.raises(ValueError, match=r"\(4, 3\).*\(3, 4\)"):
        layer.set_weights([matrix.T])


def test_frozen_embedding_stays_bit_identical_through_fit_and_counts_as_non_trainable():
    matrix = np.random.default_rng(0).normal(size=(20, 4)).astype(np.float32)
    model = lamina.Sequential(
        [
            Embedding(20, 4, weights=[matrix], trainable=False, input_length=5),
            Flatten(),
            Dense(1, activation="sigmoid"),
        ]
    )
    assert model.count_params() == 80 + 21
    assert sum(w.numel() for w in model.trainable_weights) == 21
    x = np.random.default_rng(1).integers(0, 20, size=(32, 5))
    y = (x[:, 0] > 10).astype("float32")
    model.compile("rmsprop", "binary_crossentropy")
    dense_before = model.layers[-1].get_weights()[0].copy()
    model.fit(x, y, epochs=2, batch_size=8, verbose=0)
    np.testing.assert_array_equal(model.layers[0].get_weights()[0], matrix)
    assert not np.array_equal(model.layers[-1].get_weights()[0], dense_before)


def test_input_length_builds_a_sequential_model_with_int_input():
    model = lamina.Sequential([Embedding(100, 8, input_length=12), LSTM(4)])
    assert model.built and model.output_shape == (None, 4)
    assert model.inputs[0].dtype == "int64"
    assert Embedding.from_config(Embedding(100, 8, input_length=12).get_config()).input_length == 12


def test_config_round_trip():
    layer = Embedding(
        50, 6, mask_zero=True, embeddings_regularizer=regularizers.l2(0.1), name="words"
    )
    config = layer.get_config()
    assert config["input_dim"] == 50 and config["output_dim"] == 6 and config["mask_zero"]
    clone = Embedding.from_config(config)
    assert clone.get_config() == config


def test_regularizer_penalty():
    layer = Embedding(5, 2, embeddings_regularizer=regularizers.l1(0.5))
    layer(torch.tensor([[0]]))
    (penalty,) = layer.losses
    assert float(penalty.detach()) == pytest.approx(0.5 * np.abs(layer.get_weights()[0]).sum())


@pytest.mark.parametrize("bad", [10, 57, -1])
def test_out_of_range_ids_name_the_layer_the_id_and_input_dim(bad):
    layer = Embedding(10, 2, name="tokens")
    with pytest.raises(ValueError, match=rf"'tokens'.*token id {bad}.*input_dim is 10"):
        layer(torch.tensor([[1, bad, 3]]))


def test_out_of_range_ids_fail_in_fit_before_training():
    model = lamina.Sequential([Embedding(10, 2, input_length=3), Flatten(), Dense(1)])
    model.compile("sgd", "mse")
    before = model.get_weights()
    with pytest.raises(ValueError, match="token id 12.*input_dim is 10"):
        model.fit(np.array([[1, 2, 12]] * 4), np.zeros(4), verbose=0)
    for a, b in zip(model.get_weights(), before):
        np.testing.assert_array_equal(a, b)


def test_bad_constructor_arguments():
    with pytest.raises(ValueError, match="input_dim must be a positive integer"):
        Embedding(0, 3)
    with pytest.raises(ValueError, match="output_dim must be a positive integer"):
        Embedding(10, 2.5)


# ---------------------------------------------------------------------- Masking
def test_masking_zeroes_masked_steps_and_sets_the_mask():
    check_layer(Masking, {"mask_value": 0.0}, (2, 5, 3), (2, 5, 3), 0)
    x = torch.tensor([[[1.0, -1.0], [-1.0, -1.0], [0.0, 2.0]]])
    out = Masking(mask_value=-1.0)(x)
    assert torch.equal(out._keras_mask, torch.tensor([[True, False, True]]))
    assert torch.equal(out, torch.tensor([[[1.0, -1.0], [0.0, 0.0], [0.0, 2.0]]]))
    assert Masking.from_config(Masking(-1.0).get_config()).mask_value == -1.0


def test_masking_makes_an_lstm_skip_padded_steps():
    lstm = LSTM(3)
    x = torch.randn(1, 4, 2)
    padded = torch.cat([torch.zeros(1, 2, 2), x], 1)
    torch.testing.assert_close(lstm(Masking()(padded)), lstm(x), rtol=1e-6, atol=1e-6)
