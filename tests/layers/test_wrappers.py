"""Bidirectional and TimeDistributed."""

import numpy as np
import pytest
import torch
from helpers import check_layer

import lamina
from lamina import layers
from lamina.layers.core import Dense
from lamina.layers.embedding import Embedding
from lamina.layers.recurrent import GRU, LSTM, SimpleRNN
from lamina.layers.wrappers import Bidirectional, TimeDistributed


def _directions(layer, x, mask=None):
    """The forward layer's outputs and the backward layer's outputs, computed separately."""
    fwd = layer.forward_layer(x, mask=mask)
    bwd = layer.backward_layer(x, mask=mask)
    return fwd, bwd


@pytest.mark.parametrize(
    "merge_mode,combine",
    [
        ("concat", lambda a, b: torch.cat([a, b], -1)),
        ("sum", lambda a, b: a + b),
        ("mul", lambda a, b: a * b),
        ("ave", lambda a, b: (a + b) / 2),
    ],
)
def test_merge_modes_combine_forward_and_flipped_backward(merge_mode, combine):
    units = 4
    width = 2 * units if merge_mode == "concat" else units
    per_direction = 3 * units + units * units + units
    layer = check_layer(
        Bidirectional,
        {"layer": SimpleRNN(units, return_sequences=True), "merge_mode": merge_mode},
        (2, 5, 3),
        (2, 5, width),
        2 * per_direction,
    )
    x = torch.randn(2, 5, 3)
    fwd, bwd = _directions(layer, x)
    torch.testing.assert_close(layer(x), combine(fwd, bwd.flip(1)))


def test_backward_direction_is_the_layer_on_the_reversed_sequence():
    layer = Bidirectional(LSTM(3))
    x = torch.randn(2, 6, 4)
    out = layer(x)
    fwd_w, bwd_w = layer.get_weights()[:3], layer.get_weights()[3:]
    plain = LSTM(3)
    plain(x)
    plain.set_weights(fwd_w)
    torch.testing.assert_close(out[:, :3], plain(x))
    plain.set_weights(bwd_w)
    torch.testing.assert_close(out[:, 3:], plain(x.flip(1)))
    assert layer.forward_layer.name.startswith("forward_")
    assert layer.backward_layer.name.startswith("backward_") and layer.backward_layer.go_backwards


def test_merge_mode_none_returns_a_list_and_return_state_appends_states():
    layer = Bidirectional(GRU(3, return_sequences=True, return_state=True), merge_mode=None)
    out = layer(torch.randn(2, 5, 4))
    assert [tuple(t.shape) for t in out] == [(2, 5, 3), (2, 5, 3), (2, 3), (2, 3)]
    x = layers.Input((5, 4))
    sym = layer(x)
    assert [t.shape for t in sym] == [(None, 5, 3), (None, 5, 3), (None, 3), (None, 3)]
    lstm = Bidirectional(LSTM(2, return_state=True))
    out = lstm(torch.randn(2, 5, 4))
    assert [tuple(t.shape) for t in out] == [(2, 4)] + [(2, 2)] * 4
    torch.testing.assert_close(out[0], torch.cat([out[1], out[3]], -1))


def test_masked_sequences_zero_the_padding_in_both_directions():
    emb = Embedding(30, 4, mask_zero=True)
    layer = Bidirectional(LSTM(3, return_sequences=True))
    ids = torch.tensor([[0, 0, 5, 6, 7], [8, 9, 0, 0, 0]])
    out = layer(emb(ids))
    mask = ids != 0
    assert torch.equal(out._keras_mask, mask)
    assert not out[~mask].any()  # Keras: masked steps are zeros when returning sequences
    # The visible steps equal the unpadded sequences.
    alone = layer(emb(torch.tensor([[5, 6, 7]])))
    torch.testing.assert_close(out[0, 2:], alone[0], rtol=1e-5, atol=1e-6)
    last = Bidirectional(GRU(3))
    torch.testing.assert_close(
        last(emb(ids))[:1], last(emb(torch.tensor([[5, 6, 7]]))), rtol=1e-5, atol=1e-6
    )


def test_config_round_trip_and_custom_backward_layer():
    layer = Bidirectional(
        LSTM(3, return_sequences=True),
        backward_layer=GRU(3, return_sequences=True, go_backwards=True),
        merge_mode="ave",
    )
    x = torch.randn(2, 4, 5)
    out = layer(x)
    clone = layers.deserialize(layers.serialize(layer))
    assert type(clone.backward_layer) is GRU and clone.merge_mode == "ave"
    clone(x)
    clone.set_weights(layer.get_weights())
    torch.testing.assert_close(clone(x), out)
    with pytest.raises(ValueError, match="opposite go_backwards"):
        Bidirectional(LSTM(2), backward_layer=LSTM(2))
    with pytest.raises(ValueError, match="same return_sequences"):
        Bidirectional(LSTM(2), backward_layer=LSTM(2, go_backwards=True, return_sequences=True))


def test_unknown_merge_mode_is_a_clear_error():
    with pytest.raises(ValueError, match=r"Unknown merge_mode 'concatenate'.*'concat', 'sum'"):
        Bidirectional(LSTM(2), merge_mode="concatenate")
    with pytest.raises(ValueError, match="wraps a recurrent layer"):
        Bidirectional(Dense(2))


def test_bidirectional_in_a_model_trains():
    model = lamina.Sequential(
        [Embedding(50, 8, input_length=6), Bidirectional(LSTM(4)), Dense(1, activation="sigmoid")]
    )
    assert model.output_shape == (None, 1)
    assert model.count_params() == 50 * 8 + 2 * 4 * (8 * 4 + 4 * 4 + 4) + 9
    x = np.random.default_rng(0).integers(1, 50, size=(16, 6))
    model.compile("rmsprop", "binary_crossentropy")
    before = [w.copy() for w in model.get_weights()]
    model.fit(x, (x[:, 0] > 25).astype("float32"), epochs=1, batch_size=8, verbose=0)
    assert all(not np.array_equal(a, b) for a, b in zip(model.get_weights(), before))


def test_stateful_bidirectional_resets_both_directions():
    layer = Bidirectional(LSTM(2, stateful=True))
    x = torch.randn(1, 3, 2)
    first = layer(x)
    assert not torch.allclose(layer(x), first)
    layer.reset_states()
    torch.testing.assert_close(layer(x), first)


# ---------------------------------------------------------------------- TimeDistributed
def test_time_distributed_dense_equals_dense_per_step():
    layer = check_layer(TimeDistributed, {"layer": Dense(4)}, (2, 5, 3), (2, 5, 4), 16)
    x = torch.randn(2, 5, 3)
    torch.testing.assert_close(layer(x), layer.layer(x))
    kernel, bias = layer.get_weights()
    np.testing.assert_allclose(
        layer(x)[:, 2].detach().numpy(), x[:, 2].numpy() @ kernel + bias, rtol=1e-5, atol=1e-6
    )


def test_time_distributed_higher_rank_and_mask_passthrough():
    from lamina.layers.core import Flatten

    layer = TimeDistributed(Flatten())
    assert layer(torch.zeros(2, 3, 4, 5)).shape == (2, 3, 20)
    assert layers.Input((3, 4, 5)).shape == (None, 3, 4, 5)
    assert TimeDistributed(Flatten())(layers.Input((3, 4, 5))).shape == (None, 3, 20)
    emb = Embedding(10, 3, mask_zero=True)
    out = TimeDistributed(Dense(2))(emb(torch.tensor([[1, 0, 2]])))
    assert torch.equal(out._keras_mask, torch.tensor([[True, False, True]]))
    with pytest.raises(ValueError, match=r"\(batch, timesteps, \.\.\.\)"):
        TimeDistributed(Dense(2))(torch.zeros(4, 3))


def test_time_distributed_config_round_trip_in_a_model():
    inp = layers.Input((4, 3))
    model = lamina.Model(inp, TimeDistributed(Dense(2, activation="relu"))(inp))
    layer = model.layers[-1]
    clone = layers.deserialize(layers.serialize(layer))
    assert isinstance(clone.layer, Dense) and clone.layer.units == 2
    x = torch.randn(5, 4, 3)
    clone(x)
    clone.set_weights(layer.get_weights())
    torch.testing.assert_close(clone(x), model(x))


def test_sequence_model_save_and_load_round_trip(tmp_path):
    model = lamina.Sequential(
        [
            Embedding(50, 8, mask_zero=True, input_length=7),
            Bidirectional(LSTM(4, return_sequences=True)),
            TimeDistributed(Dense(3)),
            GRU(5, reset_after=False),
            Dense(1),
        ]
    )
    x = np.random.default_rng(0).integers(0, 50, (4, 7))
    x[:, :2] = 0
    model.compile("rmsprop", "mse")
    model.fit(x, np.zeros(4), verbose=0)
    model.save(str(tmp_path / "seq.lamina"))
    loaded = lamina.saving.load_model(str(tmp_path / "seq.lamina"))
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    assert type(loaded.layers[1].backward_layer) is LSTM
