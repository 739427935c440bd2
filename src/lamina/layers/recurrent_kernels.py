"""lamina's own sequence kernels for LSTM, GRU and SimpleRNN: a forward loop over time and a
hand-written backward pass through time, each a ``torch.autograd.Function``.

They run where torch has no fused kernel for the formula (recurrent dropout) or where torch's
is slower (GRU and SimpleRNN on CPU, which torch computes as one autograd node per operation
per step; torch's LSTM on CPU is oneDNN's fused kernel and stays in use without recurrent
dropout). The input projections of all timesteps are one matrix product outside the kernel
(autograd differentiates it). Inside, each step does one ``h·U`` product and a few element-wise
operations, and keeps what the backward pass needs. The backward pass first computes, for all
timesteps at once, every factor that does not depend on the incoming gradient (the gate
derivatives), so that its loop does one matrix product and three to five element-wise products
per step; the recurrent kernel's gradient is then one matrix product over all steps.

Tensors inside are time-major (``(steps, batch, features)``): one step is one contiguous
block. The kernels take the projected inputs ``xp`` time-major and return the output sequence
as a ``(batch, steps, units)`` view.

Every kernel is checked against autograd through the textbook cell equations
(:mod:`lamina.layers.recurrent_cells`) in the tests, in float64 (``gradcheck``) and float32.

Example:
    >>> import torch
    >>> xp = torch.randn(5, 2, 12, requires_grad=True)  # 5 steps, batch 2, 4 gates x 3 units
    >>> seq, cells, h, c = lstm_sequence(xp, torch.zeros(2, 3), torch.zeros(2, 3), torch.eye(12, 3))
    >>> seq.shape, torch.equal(seq[:, -1], h), type(h.grad_fn).__name__
    (torch.Size([2, 5, 3]), True, 'LSTMKernelBackward')
"""

from __future__ import annotations

from typing import Any

import torch

__all__ = [
    "LSTMKernel",
    "GRUKernel",
    "SimpleRNNKernel",
    "lstm_sequence",
    "gru_sequence",
    "simple_rnn_sequence",
]


def _buffers(like: torch.Tensor, keep: bool, *shapes: tuple) -> list[Any]:
    """Per-step storage kept for the backward pass, or ``None`` (fresh temporaries) when no
    gradient is wanted."""
    return [like.new_empty(shape) if keep else None for shape in shapes]


def _at(buffer: torch.Tensor | None, t: int) -> torch.Tensor | None:
    return None if buffer is None else buffer[t]


def _start(d_last: Any, d_seq: Any, steps: int, like: torch.Tensor, batch: int, n: int):
    """The gradient reaching the last step: from the final state and from the last output."""
    if d_seq is None:
        return like.new_zeros(batch, n) if d_last is None else d_last.clone()
    return d_seq[steps - 1].clone() if d_last is None else d_last + d_seq[steps - 1]


def _differentiable(*tensors: torch.Tensor) -> bool:
    """Whether autograd needs the kernel's backward pass (else the forward loop runs alone and
    keeps nothing)."""
    return torch.is_grad_enabled() and any(t.requires_grad for t in tensors)


# ---------------------------------------------------------------------- LSTM
class LSTMKernel(torch.autograd.Function):
    """LSTM over a sequence, Keras's formula with sigmoid gates and tanh.

    Inputs: ``xp`` ``(steps, batch, 4 * units)``, the input projections plus bias with the gate
    blocks in the order i, f, o, g and the g block doubled (so that one sigmoid serves every
    gate: ``tanh(a) = 2 * sigmoid(2a) - 1``); ``h0``, ``c0`` ``(batch, units)``; ``u``
    ``(4 * units, units)``, the recurrent kernel in the same order and scale; ``rec_mask``
    ``(batch, units)`` multiplies the state fed back (recurrent dropout) or is ``None``.

    Outputs: the outputs ``h_t`` and the cell states ``c_t``, each ``(batch, steps, units)``
    (time-major views); the final states are their last steps.
    """

    @staticmethod
    def forward(ctx: Any, xp, h0, c0, u, rec_mask):  # type: ignore[override]
        ctx.set_materialize_grads(False)
        outputs, saved = _lstm_forward(xp, h0, c0, u, rec_mask, keep=True)
        ctx.save_for_backward(*saved)
        ctx.rec_mask = rec_mask
        return outputs

    @staticmethod
    def backward(ctx: Any, d_seq, d_cells, d_h, d_c):  # type: ignore[override]
        if d_seq is None and d_cells is None and d_h is None and d_c is None:
            return None, None, None, None, None
        gates, cells, tanh_c, h_in, u = ctx.saved_tensors
        rec_mask = ctx.rec_mask
        steps, batch, width = gates.shape
        n = width // 4
        # Gate derivatives for all steps: d(pre-activation) = incoming gradient * factor.
        i, f, o, g2 = gates.split(n, -1)
        factor = gates * (1.0 - gates)
        factor[..., :n].mul_(g2 * 2.0 - 1.0)  # di: dc * tanh(g) * i(1-i)
        factor[..., n : 2 * n].mul_(cells[:-1])  # df: dc * c_prev * f(1-f)
        factor[..., 2 * n : 3 * n].mul_(tanh_c)  # do: dh * tanh(c) * o(1-o)
        factor[..., 3 * n :].mul_(i).mul_(2.0)  # dg: dc * i * 2 sigmoid'(2g) (doubled block)
        to_cell = o * (1.0 - tanh_c * tanh_c)  # dc += dh * o * tanh'(c)
        forget = f.contiguous()
        d_seq = None if d_seq is None else d_seq.transpose(0, 1)
        d_cells = None if d_cells is None else d_cells.transpose(0, 1)
        d_gates = gates.new_empty(gates.shape)
        dh = _start(d_h, d_seq, steps, gates, batch, n)
        dc = _start(d_c, d_cells, steps, gates, batch, n)
        for t in range(steps - 1, -1, -1):
            dc = torch.addcmul(dc, dh, to_cell[t])
            dg = torch.cat([dc, dc, dh, dc], 1, out=d_gates[t]).mul_(factor[t])
            dc = dc.mul_(forget[t])
            dh = torch.mm(dg, u)
            if rec_mask is not None:
                dh.mul_(rec_mask)
            if t > 0:
                if d_seq is not None:
                    dh.add_(d_seq[t - 1])
                if d_cells is not None:
                    dc = dc.add_(d_cells[t - 1])
        flat = d_gates.view(steps * batch, width)
        d_u = torch.mm(flat.t(), h_in[:steps].reshape(steps * batch, n))
        return d_gates, dh, dc, d_u, None


def _lstm_forward(xp, h0, c0, u, rec_mask, keep):
    steps, batch, width = xp.shape
    n = width // 4
    (gates,) = _buffers(xp, keep, (steps, batch, width))
    (h_in,) = _buffers(xp, keep and rec_mask is not None, (steps, batch, n))
    cells, hs = xp.new_empty(steps + 1, batch, n), xp.new_empty(steps + 1, batch, n)
    tanh_c = xp.new_empty(steps, batch, n)
    cells[0], hs[0] = c0, h0
    u_t = u.t()
    for t in range(steps):
        h = hs[t]
        if rec_mask is not None:
            h = torch.mul(h, rec_mask, out=_at(h_in, t))
        s = torch.addmm(xp[t], h, u_t, out=_at(gates, t)).sigmoid_()
        i, f, o, g2 = s.split(n, 1)
        # c = f * c + i * tanh(g) with tanh(g) = 2 * sigmoid(2g) - 1
        c = torch.mul(f, cells[t], out=cells[t + 1]).sub_(i).addcmul_(i, g2, value=2.0)
        torch.mul(o, torch.tanh(c, out=tanh_c[t]), out=hs[t + 1])
    outputs = (hs[1:].transpose(0, 1), cells[1:].transpose(0, 1))
    outputs += (hs[steps].clone(), cells[steps].clone())
    saved = (gates, cells, tanh_c, hs if rec_mask is None else h_in, u) if keep else ()
    return outputs, saved


def lstm_sequence(xp, h0, c0, u, rec_mask=None):
    """:class:`LSTMKernel` on these inputs: ``(outputs, cell states, h_T, c_T)``."""
    if _differentiable(xp, h0, c0, u):
        return LSTMKernel.apply(xp, h0, c0, u, rec_mask)
    return _lstm_forward(xp, h0, c0, u, rec_mask, keep=False)[0]


# ---------------------------------------------------------------------- GRU
class GRUKernel(torch.autograd.Function):
    """GRU (``reset_after=True``, torch's formula) over a sequence.

    Inputs: ``xp`` ``(steps, batch, 3 * units)``, the input projections in torch's gate order
    r, z, n, plus the input bias and the recurrent bias of r and z (the recurrent bias of n is
    multiplied by r, so it stays apart: ``b_hn`` ``(units,)``); ``h0`` ``(batch, units)``;
    ``u`` ``(3 * units, units)``, the recurrent kernel (r, z, n); ``rec_mask`` as
    :class:`LSTMKernel`.

    Outputs: the outputs ``(batch, steps, units)`` (a time-major view).
    """

    @staticmethod
    def forward(ctx: Any, xp, h0, u, b_hn, rec_mask):  # type: ignore[override]
        ctx.set_materialize_grads(False)
        outputs, saved = _gru_forward(xp, h0, u, b_hn, rec_mask, keep=True)
        ctx.save_for_backward(*saved)
        ctx.rec_mask = rec_mask
        return outputs

    @staticmethod
    def backward(ctx: Any, d_seq, d_h):  # type: ignore[override]
        if d_seq is None and d_h is None:
            return None, None, None, None, None
        rec, rz, new, diff, h_in, u = ctx.saved_tensors
        rec_mask = ctx.rec_mask
        steps, batch, width = rec.shape
        n = width // 3
        r, z = rz[..., :n], rz[..., n:]
        # Gate derivatives for all steps (see forward): with g the gradient reaching h_t,
        #   dn = g * (1 - z) * (1 - n^2),   dz = g * (h - n) * z(1-z),
        #   dr = dn * (U_n h + b_hn) * r(1-r),   d(U_n h + b_hn) = dn * r.
        to_new = (1.0 - z) * (1.0 - new * new)
        factor = torch.cat([rec[..., 2 * n :] * r, diff * z, r], -1)
        factor[..., : 2 * n].mul_(1.0 - rz)
        keep_z = z.contiguous()
        d_seq = None if d_seq is None else d_seq.transpose(0, 1)
        d_rec = rec.new_empty(rec.shape)  # gradients of h·U + b: r, z, n blocks
        d_new = rec.new_empty(steps, batch, n)  # gradients of the n pre-activation
        dh = _start(d_h, d_seq, steps, rec, batch, n)
        for t in range(steps - 1, -1, -1):
            dn = torch.mul(dh, to_new[t], out=d_new[t])
            dr = torch.cat([dn, dh, dn], 1, out=d_rec[t]).mul_(factor[t])
            back = torch.mm(dr, u)
            if rec_mask is not None:
                back.mul_(rec_mask)
            dh = back.addcmul_(dh, keep_z[t])
            if t > 0 and d_seq is not None:
                dh.add_(d_seq[t - 1])
        d_xp = torch.cat([d_rec[..., : 2 * n], d_new], -1)
        flat = d_rec.view(steps * batch, width)
        d_u = torch.mm(flat.t(), h_in[:steps].reshape(steps * batch, n))
        d_b_hn = flat[:, 2 * n :].sum(0)
        return d_xp, dh, d_u, d_b_hn, None


def _gru_forward(xp, h0, u, b_hn, rec_mask, keep):
    steps, batch, width = xp.shape
    n = width // 3
    size = (steps, batch, n)
    rec, rz, new, diff = _buffers(
        xp, keep, (steps, batch, width), (steps, batch, 2 * n), size, size
    )
    (h_in,) = _buffers(xp, keep and rec_mask is not None, size)
    hs = xp.new_empty(steps + 1, batch, n)
    hs[0] = h0
    bias = torch.cat([b_hn.new_zeros(2 * n), b_hn])
    u_t = u.t()
    for t in range(steps):
        h = hs[t]
        if rec_mask is not None:
            h = torch.mul(h, rec_mask, out=_at(h_in, t))
        hm = torch.addmm(bias, h, u_t, out=_at(rec, t))
        x_t = xp[t]
        gate = torch.add(x_t[:, : 2 * n], hm[:, : 2 * n], out=_at(rz, t)).sigmoid_()
        cand = torch.addcmul(x_t[:, 2 * n :], gate[:, :n], hm[:, 2 * n :], out=_at(new, t))
        cand.tanh_()
        # h = z * h + (1 - z) * n = n + z * (h - n)
        d = torch.sub(hs[t], cand, out=_at(diff, t))
        torch.addcmul(cand, gate[:, n:], d, out=hs[t + 1])
    outputs = (hs[1:].transpose(0, 1), hs[steps].clone())
    saved = (rec, rz, new, diff, hs if rec_mask is None else h_in, u) if keep else ()
    return outputs, saved


def gru_sequence(xp, h0, u, b_hn, rec_mask=None):
    """:class:`GRUKernel` on these inputs: ``(outputs, h_T)``."""
    if _differentiable(xp, h0, u, b_hn):
        return GRUKernel.apply(xp, h0, u, b_hn, rec_mask)
    return _gru_forward(xp, h0, u, b_hn, rec_mask, keep=False)[0]


# ---------------------------------------------------------------------- SimpleRNN
class SimpleRNNKernel(torch.autograd.Function):
    """SimpleRNN (``tanh`` or ``relu``) over a sequence: ``h_t = act(xp_t + h_{t-1}·U)``.

    Inputs: ``xp`` ``(steps, batch, units)`` (projections plus bias), ``h0``, ``u``
    ``(units, units)``, ``rec_mask`` as :class:`LSTMKernel`, and ``relu`` (bool).
    Outputs: the outputs ``(batch, steps, units)`` (a time-major view).
    """

    @staticmethod
    def forward(ctx: Any, xp, h0, u, rec_mask, relu):  # type: ignore[override]
        ctx.set_materialize_grads(False)
        outputs, saved = _simple_rnn_forward(xp, h0, u, rec_mask, relu, keep=True)
        ctx.save_for_backward(*saved)
        ctx.rec_mask, ctx.relu = rec_mask, relu
        return outputs

    @staticmethod
    def backward(ctx: Any, d_seq, d_h):  # type: ignore[override]
        if d_seq is None and d_h is None:
            return None, None, None, None, None
        hs, h_in, u = ctx.saved_tensors
        rec_mask = ctx.rec_mask
        steps, batch, n = hs.shape[0] - 1, hs.shape[1], hs.shape[2]
        out = hs[1:]
        factor = (out > 0).to(out.dtype) if ctx.relu else 1.0 - out * out
        d_seq = None if d_seq is None else d_seq.transpose(0, 1)
        d_pre = out.new_empty(out.shape)
        dh = _start(d_h, d_seq, steps, out, batch, n)
        for t in range(steps - 1, -1, -1):
            da = torch.mul(dh, factor[t], out=d_pre[t])
            dh = torch.mm(da, u)
            if rec_mask is not None:
                dh.mul_(rec_mask)
            if t > 0 and d_seq is not None:
                dh.add_(d_seq[t - 1])
        d_u = torch.mm(d_pre.view(steps * batch, n).t(), h_in[:steps].reshape(steps * batch, n))
        return d_pre, dh, d_u, None, None


def _simple_rnn_forward(xp, h0, u, rec_mask, relu, keep):
    steps, batch, n = xp.shape
    (h_in,) = _buffers(xp, keep and rec_mask is not None, (steps, batch, n))
    hs = xp.new_empty(steps + 1, batch, n)
    hs[0] = h0
    u_t = u.t()
    for t in range(steps):
        h = hs[t]
        if rec_mask is not None:
            h = torch.mul(h, rec_mask, out=_at(h_in, t))
        out = torch.addmm(xp[t], h, u_t, out=hs[t + 1])
        out.relu_() if relu else out.tanh_()
    outputs = (hs[1:].transpose(0, 1), hs[steps].clone())
    saved = (hs, hs if rec_mask is None else h_in, u) if keep else ()
    return outputs, saved


def simple_rnn_sequence(xp, h0, u, rec_mask=None, relu=False):
    """:class:`SimpleRNNKernel` on these inputs: ``(outputs, h_T)``."""
    if _differentiable(xp, h0, u):
        return SimpleRNNKernel.apply(xp, h0, u, rec_mask, relu)
    return _simple_rnn_forward(xp, h0, u, rec_mask, relu, keep=False)[0]
