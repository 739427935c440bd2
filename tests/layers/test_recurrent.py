"""SimpleRNN / LSTM / GRU / RNN: Keras's equations (NumPy, Keras weight layouts), torch's own
modules, fused vs reference paths (values and gradients), masking, dropout, states."""

import numpy as np
import pytest
import torch
from helpers import check_layer

import lamina
from lamina import layers, regularizers
from lamina.layers import recurrent
from lamina.layers.embedding import Embedding
from lamina.layers.recurrent import GRU, LSTM, RNN, SimpleRNN, keep_rnn_states
from lamina.layers.recurrent_cells import GRUCell, LSTMCell, SimpleRNNCell


# ---------------------------------------------------------------------- NumPy reference
def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def keras_rnn(
    kind,
    x,
    weights,
    mask=None,
    go_backwards=False,
    reset_after=True,
    zero_output_for_mask=False,
    initial=None,
):
    """Keras's recurrence written from its documented equations, in float64, with Keras
    weight layouts and gate orders (LSTM i, f, c, o; GRU z, r, h). Returns
    (sequence, last_output, states)."""
    kernel, rec, bias = (np.asarray(w, np.float64) for w in weights)
    x = np.asarray(x, np.float64)
    batch, steps, _ = x.shape
    u = rec.shape[0]
    n_states = 2 if kind == "lstm" else 1
    states = (
        [np.zeros((batch, u)) for _ in range(n_states)]
        if initial is None
        else [np.asarray(s, np.float64) for s in initial]
    )
    mask = np.ones((batch, steps), bool) if mask is None else np.asarray(mask, bool)
    if go_backwards:
        x, mask = x[:, ::-1], mask[:, ::-1]
    outputs, prev = [], np.zeros((batch, u))
    for t in range(steps):
        xt, h = x[:, t], states[0]
        if kind == "lstm":
            z = xt @ kernel + h @ rec + bias
            i, f, g, o = np.split(z, 4, axis=-1)
            c = _sigmoid(f) * states[1] + _sigmoid(i) * np.tanh(g)
            h_new = _sigmoid(o) * np.tanh(c)
            new = [h_new, c]
        elif kind == "gru":
            if reset_after:
                mx, mh = xt @ kernel + bias[0], h @ rec + bias[1]
                z = _sigmoid(mx[:, :u] + mh[:, :u])
                r = _sigmoid(mx[:, u : 2 * u] + mh[:, u : 2 * u])
                hh = np.tanh(mx[:, 2 * u :] + r * mh[:, 2 * u :])
            else:
                mx = xt @ kernel + bias
                z = _sigmoid(mx[:, :u] + h @ rec[:, :u])
                r = _sigmoid(mx[:, u : 2 * u] + h @ rec[:, u : 2 * u])
                hh = np.tanh(mx[:, 2 * u :] + (r * h) @ rec[:, 2 * u :])
            h_new = z * h + (1 - z) * hh
            new = [h_new]
        else:
            h_new = np.tanh(xt @ kernel + h @ rec + bias)
            new = [h_new]
        m = mask[:, t : t + 1]
        states = [np.where(m, n, s) for n, s in zip(new, states)]
        out = np.where(m, h_new, 0.0 if zero_output_for_mask else prev)
        outputs.append(out)
        prev = out
    return np.stack(outputs, 1), outputs[-1], states


def random_weights(layer, scale=0.5, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.normal(0, scale, w.shape).astype(np.float32) for w in layer.get_weights()]


KINDS = {
    "simple_rnn": (SimpleRNN, "rnn", {}),
    "lstm": (LSTM, "lstm", {}),
    "gru": (GRU, "gru", {}),
    "gru_classic": (GRU, "gru", {"reset_after": False}),
}

MASK = np.array(
    [
        [1, 1, 1, 1, 1, 1],  # nothing hidden
        [0, 0, 1, 1, 1, 1],  # left padding (pad_sequences' default)
        [1, 1, 1, 0, 0, 0],  # right padding
        [0, 1, 0, 1, 1, 0],  # holes
        [0, 0, 0, 0, 0, 0],  # fully masked
    ],
    bool,
)


def _build(name, units=5, features=3, **kwargs):
    cls, kind, extra = KINDS[name]
    layer = cls(units, **extra, **kwargs)
    layer(torch.zeros(1, 2, features))
    layer.set_weights(random_weights(layer))
    return layer, kind, extra.get("reset_after", True)


def _record_paths(monkeypatch):
    """The path (``torch`` / ``lamina`` / ``loop``) each call of a recurrent layer takes."""
    paths = []
    original = recurrent.choose_path

    def spy(*args, **kwargs):
        paths.append(original(*args, **kwargs))
        return paths[-1]

    monkeypatch.setattr(recurrent, "choose_path", spy)
    return paths


def _force_path(monkeypatch, path):
    monkeypatch.setattr(recurrent, "choose_path", lambda layer, x, rec_mask: path)


# ---------------------------------------------------------------------- equations
@pytest.mark.parametrize("name", list(KINDS))
@pytest.mark.parametrize("go_backwards", [False, True])
@pytest.mark.parametrize("use_mask", [False, True])
def test_matches_keras_equations(name, go_backwards, use_mask):
    layer, kind, reset_after = _build(
        name, return_sequences=True, return_state=True, go_backwards=go_backwards
    )
    x = np.random.default_rng(1).normal(size=(5, 6, 3)).astype(np.float32)
    mask = MASK if use_mask else None
    seq, last, states = keras_rnn(kind, x, layer.get_weights(), mask, go_backwards, reset_after)
    got = layer(torch.from_numpy(x), mask=None if mask is None else torch.from_numpy(mask))
    np.testing.assert_allclose(got[0].detach().numpy(), seq, rtol=1e-5, atol=1e-5)
    for g, s in zip(got[1:], states):
        np.testing.assert_allclose(g.detach().numpy(), s, rtol=1e-5, atol=1e-5)
    # return_sequences=False gives Keras's last output.
    layer.return_sequences, layer.return_state = False, False
    out = layer(torch.from_numpy(x), mask=None if mask is None else torch.from_numpy(mask))
    np.testing.assert_allclose(out.detach().numpy(), last, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name", ["lstm", "gru", "simple_rnn"])
def test_zero_output_for_mask_and_initial_state(name):
    layer, kind, reset_after = _build(name, return_sequences=True, zero_output_for_mask=True)
    x = np.random.default_rng(2).normal(size=(5, 6, 3)).astype(np.float32)
    n_states = 2 if kind == "lstm" else 1
    initial = [np.random.default_rng(3 + i).normal(size=(5, 5)) for i in range(n_states)]
    seq, _, _ = keras_rnn(kind, x, layer.get_weights(), MASK, False, reset_after, True, initial)
    init_t = [torch.tensor(s, dtype=torch.float32) for s in initial]
    got = layer(torch.from_numpy(x), mask=torch.from_numpy(MASK), initial_state=init_t)
    np.testing.assert_allclose(got.detach().numpy(), seq, rtol=1e-5, atol=1e-5)
    assert not got[4].any()  # a fully masked sequence outputs zeros


def _torch_module(name, layer):
    kernel, rec, bias = (torch.tensor(w) for w in layer.get_weights())
    u = rec.shape[0]
    if name == "lstm":
        module = torch.nn.LSTM(kernel.shape[0], u, batch_first=True)
        params = [kernel.T, rec.T, bias, torch.zeros_like(bias)]
    elif name == "gru":
        module = torch.nn.GRU(kernel.shape[0], u, batch_first=True)

        def zr(w):  # Keras z, r, h -> torch r, z, n
            return torch.cat([w[..., u : 2 * u], w[..., :u], w[..., 2 * u :]], -1)

        params = [zr(kernel).T, zr(rec).T, zr(bias[0]), zr(bias[1])]
    else:
        module = torch.nn.RNN(kernel.shape[0], u, batch_first=True)
        params = [kernel.T, rec.T, bias, torch.zeros_like(bias)]
    with torch.no_grad():
        for p, v in zip(module.parameters(), params):
            p.copy_(v)
    return module


@pytest.mark.parametrize("name", ["lstm", "gru", "simple_rnn"])
def test_matches_torch_modules_after_layout_conversion(name):
    layer, _, _ = _build(name, return_sequences=True)
    module = _torch_module(name, layer)
    x = torch.randn(4, 7, 3)
    for use_cudnn in ("auto", False):
        layer.use_cudnn = use_cudnn
        torch.testing.assert_close(layer(x), module(x)[0], rtol=1e-5, atol=1e-5)


# ---------------------------------------------------------------------- fast paths vs reference
@pytest.mark.parametrize("name", ["lstm", "gru", "simple_rnn"])
@pytest.mark.parametrize("use_mask", [False, True])
@pytest.mark.parametrize("go_backwards", [False, True])
@pytest.mark.parametrize("return_state", [False, True])  # LSTM: packed sequences with a mask
def test_fast_paths_and_reference_loop_agree_on_values_and_gradients(
    name, use_mask, go_backwards, return_state, monkeypatch
):
    x = torch.randn(5, 6, 3)
    mask = torch.from_numpy(MASK) if use_mask else None
    target = torch.randn(5, 6, 5)
    results = []
    for path in ("loop", "torch", "lamina"):
        _force_path(monkeypatch, path)
        layer, _, _ = _build(
            name, return_sequences=True, return_state=return_state, go_backwards=go_backwards
        )
        xg = x.clone().requires_grad_()
        out = layer(xg, mask=mask)
        seq, states = (out[0], out[1:]) if return_state else (out, [])
        loss = (seq * target).sum() + sum((s**2).sum() for s in states)
        grads = torch.autograd.grad(loss, [xg, *layer.trainable_weights])
        results.append([seq, *states, *grads])
    reference = results[0]
    for result in results[1:]:
        for a, b in zip(result, reference):
            torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name", ["lstm", "gru", "simple_rnn"])
@pytest.mark.parametrize("use_mask", [False, True])
@pytest.mark.parametrize("return_sequences", [False, True])
def test_recurrent_dropout_kernel_agrees_with_the_reference_loop(
    name, use_mask, return_sequences, monkeypatch
):
    """The same seed draws the same dropout masks, so lamina's kernel and the loop over the
    cell equations must give the same outputs and gradients."""
    x = torch.randn(5, 6, 3)
    mask = torch.from_numpy(MASK) if use_mask else None
    results = []
    for path in ("loop", "lamina"):
        _force_path(monkeypatch, path)
        layer, _, _ = _build(
            name, recurrent_dropout=0.4, dropout=0.2, seed=7, return_sequences=return_sequences
        )
        xg = x.clone().requires_grad_()
        out = layer(xg, mask=mask, training=True)
        grads = torch.autograd.grad(
            (out * torch.linspace(-1, 1, out.numel()).view_as(out)).sum(),
            [xg, *layer.trainable_weights],
        )
        results.append([out, *grads])
    for a, b in zip(*results):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)


def test_which_path_runs(monkeypatch):
    paths = _record_paths(monkeypatch)
    x = torch.randn(2, 4, 3)
    LSTM(3)(x)  # oneDNN's fused LSTM on CPU
    LSTM(3, dropout=0.5)(x, training=True)  # input dropout runs before the fused kernel
    LSTM(3, recurrent_dropout=0.5)(x, training=False)  # no dropout at inference
    RNN(LSTMCell(3))(x)  # the generic layer with a built-in cell is fast too
    GRU(3, use_cudnn=True)(x)
    assert paths == ["torch"] * 5
    paths.clear()
    GRU(3)(x)  # on CPU lamina's kernel beats torch's per-step autograd graph
    SimpleRNN(3, activation="relu")(x)
    LSTM(3, recurrent_dropout=0.5)(x, training=True)
    LSTM(3, dtype="float64")(x.double())  # oneDNN computes float32 only
    assert paths == ["lamina"] * 4
    paths.clear()
    GRU(3, reset_after=False)(x)
    LSTM(3, activation="relu")(x)
    SimpleRNN(3, activation="sigmoid")(x)
    LSTM(3, use_cudnn=False)(x)
    RNN(GRUCell(3, reset_after=False))(x)
    assert paths == ["loop"] * 5
    with pytest.raises(ValueError, match="use_cudnn=True.*recurrent_dropout"):
        LSTM(3, recurrent_dropout=0.2, use_cudnn=True)(x, training=True)


# ---------------------------------------------------------------------- shapes, config, weights
@pytest.mark.parametrize(
    "cls,kwargs,out_shape,n_params",
    [
        (SimpleRNN, {"units": 4}, (2, 4), 3 * 4 + 4 * 4 + 4),
        (LSTM, {"units": 4, "return_sequences": True}, (2, 5, 4), 4 * (3 * 4 + 4 * 4 + 4)),
        (GRU, {"units": 4}, (2, 4), 3 * (3 * 4 + 4 * 4 + 2 * 4)),
        (GRU, {"units": 4, "reset_after": False}, (2, 4), 3 * (3 * 4 + 4 * 4 + 4)),
        (LSTM, {"units": 4, "use_bias": False, "go_backwards": True}, (2, 4), 4 * (12 + 16)),
    ],
)
def test_check_layer(cls, kwargs, out_shape, n_params):
    check_layer(cls, kwargs, (2, 5, 3), out_shape, n_params)


def test_check_layer_generic_rnn_and_return_state():
    check_layer(RNN, {"cell": SimpleRNNCell(3), "return_state": True}, (2, 5, 3), (2, 3), 21)
    check_layer(LSTM, {"units": 2, "return_state": True}, (2, 5, 3), (2, 2), 48)


def test_dropout_is_stochastic_in_training_only():
    check_layer(LSTM, {"units": 4, "dropout": 0.5}, (4, 5, 3), (4, 4), stochastic=True)
    check_layer(GRU, {"units": 4, "recurrent_dropout": 0.5}, (4, 5, 3), (4, 4), stochastic=True)


def test_keras_weight_layouts_and_initializers():
    lstm = LSTM(3)
    lstm(torch.zeros(1, 2, 5))
    kernel, rec, bias = lstm.get_weights()
    assert (kernel.shape, rec.shape, bias.shape) == ((5, 12), (3, 12), (12,))
    np.testing.assert_array_equal(bias, [0, 0, 0, 1, 1, 1, 0, 0, 0, 0, 0, 0])  # unit_forget_bias
    # Keras draws the recurrent kernel orthogonal in its (units, 4 * units) layout.
    np.testing.assert_allclose(rec @ rec.T, np.eye(3), atol=1e-5)
    limit = np.sqrt(6 / (5 + 12))
    assert np.abs(kernel).max() <= limit
    gru = GRU(3)
    gru(torch.zeros(1, 2, 5))
    assert [w.shape for w in gru.get_weights()] == [(5, 9), (3, 9), (2, 9)]
    classic = GRU(3, reset_after=False)
    classic(torch.zeros(1, 2, 5))
    assert [w.shape for w in classic.get_weights()] == [(5, 9), (3, 9), (9,)]
    assert LSTM(3, unit_forget_bias=False).get_config()["unit_forget_bias"] is False


def test_set_weights_round_trip_and_shape_error():
    layer, _, _ = _build("gru")
    weights = random_weights(layer, seed=5)
    layer.set_weights(weights)
    for a, b in zip(layer.get_weights(), weights):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match=r"has shape \(3, 15\).*\(15, 3\)"):
        layer.set_weights([weights[0].T, weights[1], weights[2]])


def test_regularizers_and_constraints_see_keras_layout():
    from lamina.constraints import NonNeg

    layer = GRU(3, kernel_regularizer=regularizers.l1(0.1), recurrent_constraint=NonNeg())
    layer(torch.zeros(1, 2, 4))
    (penalty,) = layer.losses
    assert float(penalty.detach()) == pytest.approx(
        0.1 * np.abs(layer.get_weights()[0]).sum(), rel=1e-5
    )
    layer.set_weights([w - 1.0 for w in layer.get_weights()])
    layer._apply_constraints()
    assert layer.get_weights()[1].min() == 0.0


def test_trainable_false_freezes_the_cell():
    layer = LSTM(3, trainable=False)
    layer(torch.zeros(1, 2, 4))
    assert layer.trainable_weights == [] and len(layer.non_trainable_weights) == 3


def test_config_round_trip_keeps_every_argument():
    layer = GRU(
        7,
        activation="relu",
        recurrent_activation="hard_sigmoid",
        dropout=0.25,
        recurrent_dropout=0.1,
        return_sequences=True,
        go_backwards=True,
        reset_after=False,
        kernel_regularizer=regularizers.l2(0.01),
        unroll=True,
        seed=3,
    )
    clone = GRU.from_config(layer.get_config())
    assert clone.get_config() == {**layer.get_config(), "name": clone.name}
    assert clone.units == 7 and clone.cell.reset_after is False and clone.dropout == 0.25
    assert "cell" not in layer.get_config()
    generic = RNN(LSTMCell(2), return_sequences=True)
    rebuilt = layers.deserialize(layers.serialize(generic))
    assert isinstance(rebuilt.cell, LSTMCell) and rebuilt.return_sequences


# ---------------------------------------------------------------------- masking
@pytest.mark.parametrize("cls", [SimpleRNN, LSTM, GRU])
@pytest.mark.parametrize("padding", ["pre", "post"])
def test_embedding_mask_skips_padding(cls, padding):
    torch.manual_seed(0)
    emb = Embedding(20, 4, mask_zero=True)
    rnn = cls(3)
    tokens = torch.tensor([[5, 7, 9]])
    padded = torch.tensor([[0, 0, 5, 7, 9]] if padding == "pre" else [[5, 7, 9, 0, 0]])
    expected = rnn(emb(tokens))
    for use_cudnn in ("auto", False):
        rnn.use_cudnn = use_cudnn
        torch.testing.assert_close(rnn(emb(padded)), expected, rtol=1e-6, atol=1e-6)


def test_masked_steps_repeat_the_previous_output_and_mask_propagates():
    emb = Embedding(20, 4, mask_zero=True)
    rnn = LSTM(3, return_sequences=True)
    seq = rnn(emb(torch.tensor([[0, 4, 5, 0, 6, 0]])))
    assert torch.equal(seq[0, 0], torch.zeros(3))  # before the first token
    assert torch.equal(seq[0, 3], seq[0, 2]) and torch.equal(seq[0, 5], seq[0, 4])
    assert torch.equal(seq._keras_mask, torch.tensor([[False, True, True, False, True, False]]))
    assert getattr(LSTM(3)(seq), "_keras_mask", None) is None


def test_masking_layer_then_stacked_lstms_in_a_model():
    from lamina.layers.core import Dense
    from lamina.layers.embedding import Masking

    x = np.random.default_rng(0).normal(size=(6, 5, 2)).astype(np.float32)
    x[:3, :2] = 0.0  # padded steps
    model = lamina.Sequential(
        [Masking(input_shape=(5, 2)), LSTM(4, return_sequences=True), GRU(3), Dense(1)]
    )
    out = model(torch.from_numpy(x))
    trimmed = model(torch.from_numpy(x[:3, 2:]))
    torch.testing.assert_close(out[:3], trimmed, rtol=1e-5, atol=1e-6)


# ---------------------------------------------------------------------- dropout semantics
@pytest.mark.parametrize("activation", ["tanh", "linear"])  # fused and reference paths
def test_input_dropout_mask_is_the_same_at_every_timestep(activation):
    layer = SimpleRNN(
        8, activation=activation, dropout=0.5, return_sequences=True, recurrent_initializer="zeros"
    )
    x = torch.ones(4, 6, 10)  # the same input at every step, and no recurrence
    out = layer(x, training=True)
    torch.testing.assert_close(out, out[:, :1].expand_as(out), rtol=0, atol=1e-6)
    assert not torch.allclose(out, layer(x, training=False))


def test_recurrent_dropout_mask_is_the_same_at_every_timestep():
    layer = SimpleRNN(
        6, activation="linear", recurrent_dropout=0.5, return_sequences=True, use_bias=False
    )
    layer(torch.zeros(1, 1, 6))
    layer.set_weights([np.eye(6, dtype=np.float32), np.eye(6, dtype=np.float32)])
    x = torch.zeros(50, 4, 6)
    x[:, 0] = 1.0  # h1 = 1, then h_t = (h_{t-1} * m) for a mask m fixed per sequence
    out = layer(x, training=True)
    m = out[:, 1]
    assert set(m.unique().tolist()) == {0.0, 2.0}
    torch.testing.assert_close(out[:, 2], m * m)
    torch.testing.assert_close(out[:, 3], m * m * m)


# ---------------------------------------------------------------------- states
def test_stateful_carries_state_across_batches_and_resets():
    layer = LSTM(3, stateful=True, return_sequences=True)
    x = torch.randn(2, 8, 4)
    first, second = layer(x[:, :4]), layer(x[:, 4:])
    layer.use_cudnn = False
    whole = LSTM.from_config({**layer.get_config(), "stateful": False})
    whole(x)
    whole.set_weights(layer.get_weights())
    torch.testing.assert_close(torch.cat([first, second], 1), whole(x), rtol=1e-5, atol=1e-6)
    layer.reset_states()
    torch.testing.assert_close(layer(x[:, :4]), first, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="stateful.*batches of 2 samples.*batch of 3"):
        layer(torch.randn(3, 4, 4))
    with keep_rnn_states(layer):
        layer(x[:, :4])
    torch.testing.assert_close(layer.states[0], first[:, -1])
    with pytest.raises(AttributeError, match="not stateful"):
        LSTM(2).reset_states()


def test_go_backwards_is_the_reversed_sequence():
    layer = GRU(3, return_sequences=True, go_backwards=True)
    x = torch.randn(2, 5, 4)
    forward = GRU.from_config({**layer.get_config(), "go_backwards": False})
    layer(x)
    forward(x)
    forward.set_weights(layer.get_weights())
    torch.testing.assert_close(layer(x), forward(x.flip(1)))


def test_initial_state_shape_is_checked():
    with pytest.raises(ValueError, match=r"initial_state as 2 tensor\(s\) of shape"):
        LSTM(3)(torch.randn(2, 4, 1), initial_state=[torch.zeros(2, 3)])


# ---------------------------------------------------------------------- custom cells
class MinimalCell(lamina.layers.Layer):
    """A user cell in Keras's style: ``state_size`` and ``call(x_t, states)``."""

    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.state_size = units

    def build(self, input_shape):
        self.w = self.add_weight("w", (input_shape[-1], self.units))

    def call(self, inputs, states):
        out = torch.tanh(inputs @ self.w) + 0.5 * states
        return out, [out]


def test_generic_rnn_runs_a_user_cell():
    cell = MinimalCell(2)
    layer = RNN(cell, return_sequences=True)
    x = torch.randn(3, 4, 5)
    out = layer(x, mask=torch.tensor([[1, 1, 0, 1]] * 3, dtype=torch.bool))
    w = cell.w.detach()
    h = torch.zeros(3, 2)
    expected = []
    for t in range(4):
        if t != 2:
            h = torch.tanh(x[:, t] @ w) + 0.5 * h
        expected.append(h)
    torch.testing.assert_close(out, torch.stack(expected, 1))


# ---------------------------------------------------------------------- bad input
@pytest.mark.parametrize("cls", [SimpleRNN, LSTM, GRU])
def test_2d_input_gives_a_clear_error(cls):
    with pytest.raises(ValueError, match=r"take \(batch, timesteps, features\).*Embedding"):
        cls(4)(torch.zeros(8, 10))
    layer = cls(4)
    layer(torch.zeros(8, 10, 1))
    with pytest.raises(ValueError, match=r"rank 3.*Embedding"):
        layer(torch.zeros(8, 10))


def test_2d_input_in_a_sequential_model_names_the_layer():
    with pytest.raises(ValueError, match=r"'lstm_in_model'.*\(batch, timesteps, features\)"):
        lamina.Sequential([LSTM(4, input_shape=(10,), name="lstm_in_model")])


def test_bad_arguments():
    with pytest.raises(ValueError, match="positive integer"):
        LSTM(0)
    with pytest.raises(ValueError, match="dropout must be in"):
        GRU(3, dropout=1.5)
    with pytest.raises(ValueError, match="takes one cell"):
        RNN([LSTMCell(2), LSTMCell(2)])
    with pytest.raises(ValueError, match="mask must be"):
        LSTM(2)(torch.zeros(2, 5, 3), mask=torch.ones(2, 4, dtype=torch.bool))
