"""lamina's sequence kernels (hand-written backward through time) against autograd through the
textbook cell equations: ``gradcheck`` in float64, and the reference loop in float32."""

import pytest
import torch

from lamina.layers.recurrent_kernels import (
    GRUKernel,
    LSTMKernel,
    SimpleRNNKernel,
    gru_sequence,
)

BATCH, STEPS, UNITS = 3, 5, 4


# ---------------------------------------------------------------------- textbook equations
def lstm_reference(xp, h, c, u, rec_mask):
    """Keras's LSTM on projected inputs (torch gate order i, f, g, o), written plainly."""
    hs, cs = [], []
    for x_t in xp.unbind(0):
        h_in = h if rec_mask is None else h * rec_mask
        i, f, g, o = (x_t + h_in @ u.t()).chunk(4, -1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        h = torch.sigmoid(o) * torch.tanh(c)
        hs.append(h)
        cs.append(c)
    return torch.stack(hs, 1), torch.stack(cs, 1), h, c


def _kernel_order(w, dim):
    i, f, g, o = w.chunk(4, dim)
    return torch.cat([i, f, o, 2 * g], dim)


def lstm_kernel(xp, h, c, u, rec_mask):
    """The kernel on the same inputs: gate blocks reordered and the g block doubled."""
    return LSTMKernel.apply(_kernel_order(xp, -1), h, c, _kernel_order(u, 0), rec_mask)


def gru_reference(xp, h, u, b_hn, rec_mask):
    """GRU (reset_after) on projected inputs (r, z, n) with the r / z recurrent biases already
    in ``xp`` and the n recurrent bias ``b_hn``."""
    n = u.shape[1]
    hs = []
    for x_t in xp.unbind(0):
        h_in = h if rec_mask is None else h * rec_mask
        h_r, h_z, h_n = (h_in @ u.t()).chunk(3, -1)
        r = torch.sigmoid(x_t[:, :n] + h_r)
        z = torch.sigmoid(x_t[:, n : 2 * n] + h_z)
        cand = torch.tanh(x_t[:, 2 * n :] + r * (h_n + b_hn))
        h = z * h + (1 - z) * cand
        hs.append(h)
    return torch.stack(hs, 1), h


def rnn_reference(xp, h, u, rec_mask, relu):
    hs = []
    for x_t in xp.unbind(0):
        h_in = h if rec_mask is None else h * rec_mask
        pre = x_t + h_in @ u.t()
        h = torch.relu(pre) if relu else torch.tanh(pre)
        hs.append(h)
    return torch.stack(hs, 1), h


def _inputs(gates, dtype, seed=0, scale=0.7):
    g = torch.Generator().manual_seed(seed)
    shapes = [
        (STEPS, BATCH, gates * UNITS),
        (BATCH, UNITS),
        (BATCH, UNITS),
        (gates * UNITS, UNITS),
        (UNITS,),
    ]
    return [(torch.randn(s, generator=g, dtype=dtype) * scale).requires_grad_() for s in shapes]


def _rec_mask(dtype, seed=1):
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(BATCH, UNITS, generator=g) > 0.3).to(dtype) / 0.7


CASES = {
    "lstm": (
        4,
        lambda a, m: lstm_kernel(a[0], a[1], a[2], a[3], m),
        lambda a, m: lstm_reference(a[0], a[1], a[2], a[3], m),
        [0, 1, 2, 3],
    ),
    "gru": (
        3,
        lambda a, m: GRUKernel.apply(a[0], a[1], a[3], a[4], m),
        lambda a, m: gru_reference(a[0], a[1], a[3], a[4], m),
        [0, 1, 3, 4],
    ),
    "tanh": (
        1,
        lambda a, m: SimpleRNNKernel.apply(a[0], a[1], a[3], m, False),
        lambda a, m: rnn_reference(a[0], a[1], a[3], m, False),
        [0, 1, 3],
    ),
    "relu": (
        1,
        lambda a, m: SimpleRNNKernel.apply(a[0], a[1], a[3], m, True),
        lambda a, m: rnn_reference(a[0], a[1], a[3], m, True),
        [0, 1, 3],
    ),
}


@pytest.mark.parametrize("name", list(CASES))
@pytest.mark.parametrize("recurrent_dropout", [False, True])
def test_gradcheck_in_float64(name, recurrent_dropout):
    gates, kernel, _, used = CASES[name]
    args = _inputs(gates, torch.float64)
    mask = _rec_mask(torch.float64) if recurrent_dropout else None

    def fn(*inputs):
        full = list(args)
        for i, t in zip(used, inputs):
            full[i] = t
        return kernel(full, mask)

    assert torch.autograd.gradcheck(fn, [args[i] for i in used])


@pytest.mark.parametrize("name", list(CASES))
@pytest.mark.parametrize("recurrent_dropout", [False, True])
@pytest.mark.parametrize("wanted", ["sequence", "last", "both"])
def test_float32_values_and_gradients_match_autograd_through_the_equations(
    name, recurrent_dropout, wanted
):
    gates, kernel, reference, used = CASES[name]
    args = _inputs(gates, torch.float32, seed=2)
    mask = _rec_mask(torch.float32) if recurrent_dropout else None
    weights = torch.randn(BATCH, STEPS, UNITS), torch.randn(BATCH, UNITS)
    results = []
    for fn in (kernel, reference):
        outputs = fn(args, mask)
        seq, last = outputs[0], outputs[-2 if name == "lstm" else -1]
        loss = {"sequence": 0, "last": 0, "both": 0}[wanted]
        if wanted != "last":
            loss = loss + (seq * weights[0]).sum()
        if wanted != "sequence":
            loss = loss + (last * weights[1]).sum()
        if name == "lstm":  # the cell states get a gradient too
            loss = loss + outputs[1].sum() + outputs[3].pow(2).sum()
        grads = torch.autograd.grad(loss, [args[i] for i in used])
        results.append([*outputs, *grads])
    for a, b in zip(*results):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)


def test_without_gradients_nothing_is_kept_for_backward():
    args = _inputs(3, torch.float32)
    with torch.no_grad():
        seq, last = gru_sequence(args[0], args[1], args[3], args[4])
    assert not seq.requires_grad and torch.equal(seq[:, -1], last)
    expected = gru_reference(*(a.detach() for a in (args[0], args[1], args[3], args[4])), None)
    torch.testing.assert_close(seq, expected[0], rtol=1e-5, atol=1e-6)


def test_the_layers_use_the_kernels_on_long_sequences():
    """A 300-step GRU with recurrent dropout: the kernel's gradients equal autograd's through
    the equations over the whole length (errors would grow along the recurrence)."""
    from lamina.layers.recurrent import GRU

    torch.manual_seed(0)
    x = torch.randn(4, 300, 3)
    grads, weights = [], None
    for use_cudnn in ("auto", False):
        layer = GRU(8, recurrent_dropout=0.3, seed=1, use_cudnn=use_cudnn)
        layer.build(x.shape)
        weights = weights or layer.get_weights()
        layer.set_weights(weights)
        out = layer(x, training=True)
        grads.append(torch.autograd.grad(out.sum(), layer.trainable_weights))
    for a, b in zip(*grads):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)
