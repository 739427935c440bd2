"""A faster backward pass for channels-last ``Conv1D`` on CPU.

The forward pass stays oneDNN's (it runs at the machine's matrix-product rate), but oneDNN's
backward pass for long 1D sequences in channels-last memory is several times slower than the
matrix products it needs (``docs/convolutions.md``). Here the backward pass is written as
``kernel_size`` large matrix products over the whole batch at once:

With the input flattened to ``x`` of shape ``(batch * steps, channels)`` and the output gradient
zero-padded to the input's length and flattened to ``g`` of shape ``(batch * steps, filters)``,
tap ``j`` of the kernel (offset ``s = j * dilation``) connects row ``r`` of ``g`` to row
``r + s`` of ``x``. So

* ``dW[:, :, j] = g[: R - s].T @ x[s:]`` and
* ``dx[s:] += g[: R - s] @ W[:, :, j]``,

with ``R = batch * steps``. Rows of ``g`` past each sequence's last output step are zero, so
the pairs that would cross from one sequence into the next contribute nothing. Every slice is
contiguous: no copies of the input, no ``im2col`` buffer. (The input gradient is oneDNN's
transposed convolution, a forward kernel, which is fast.)

Used for stride 1 and ``groups=1`` (any dilation; padding is applied before). Checked against
autograd through ``F.conv1d`` in float64 (``gradcheck``) and float32 in the tests.

Example:
    >>> import torch
    >>> x = torch.randn(2, 9, 3, dtype=torch.float64, requires_grad=True)
    >>> w = torch.randn(4, 3, 2, dtype=torch.float64, requires_grad=True)
    >>> torch.autograd.gradcheck(lambda x, w: conv1d_channels_last(x, w, None, 2), (x, w))
    True
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

__all__ = ["conv1d_channels_last", "Conv1dChannelsLast"]


def _forward(x: torch.Tensor, weight: torch.Tensor, bias: Any, dilation: int) -> torch.Tensor:
    """oneDNN's kernel on the ``(N, C, 1, L)`` channels-last view of ``(N, L, C)``."""
    y = F.conv2d(x.movedim(-1, 1).unsqueeze(2), weight.unsqueeze(2), bias, 1, 0, (1, dilation))
    return y.squeeze(2).movedim(1, -1)


class Conv1dChannelsLast(torch.autograd.Function):
    """``(N, L, C)`` input, ``(F, C, k)`` kernel, stride 1, no padding -> ``(N, L', F)``."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, weight: torch.Tensor, bias: Any, dilation: int):
        x = x.contiguous()
        ctx.save_for_backward(x, weight)
        ctx.dilation, ctx.has_bias = dilation, bias is not None
        return _forward(x, weight, bias, dilation)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple:
        x, weight = ctx.saved_tensors
        d = ctx.dilation
        want_x, want_w = ctx.needs_input_grad[0], ctx.needs_input_grad[1]
        grad = grad.contiguous()
        dx = _input_grad(grad, weight, d) if want_x else None
        dw = _kernel_grad(x, grad, weight.shape, d) if want_w else None
        db = grad.sum((0, 1)) if ctx.has_bias and ctx.needs_input_grad[2] else None
        return dx, dw, db, None


def _input_grad(grad: torch.Tensor, weight: torch.Tensor, dilation: int) -> torch.Tensor:
    """oneDNN's transposed convolution (a forward kernel, fast) on channels-last views."""
    dx = F.conv_transpose2d(
        grad.movedim(-1, 1).unsqueeze(2), weight.unsqueeze(2), dilation=(1, dilation)
    )
    return dx.squeeze(2).movedim(1, -1)


_CHUNKS = 4  # batched matrix products: ~1.5x the rate of one long-inner-dimension product


def _kernel_grad(x: torch.Tensor, grad: torch.Tensor, shape: tuple, dilation: int):
    """``dW[:, :, j] = g[: R - s].T @ x[s:]`` for each tap (see the module docstring)."""
    n, length, channels = x.shape
    filters, _, k = shape
    g = grad.new_zeros(n, length, filters)
    g[:, : grad.shape[1]] = grad
    rows = n * length
    g, xf = g.view(rows, filters), x.view(rows, channels)
    dw = x.new_empty(filters, channels, k)
    reach = (k - 1) * dilation
    m = (rows - reach) // _CHUNKS  # CHUNKS blocks of m rows as one batch, then a short tail
    head = _CHUNKS * m
    g_head = g[:head].view(_CHUNKS, m, filters).transpose(1, 2)
    for j in range(k):
        s = j * dilation
        x_head = xf.as_strided(
            (_CHUNKS, m, channels), (m * channels, channels, 1), xf.storage_offset() + s * channels
        )
        tap = torch.bmm(g_head, x_head).sum(0)
        tap.addmm_(g[head : rows - s].t(), xf[head + s :])
        dw[:, :, j] = tap
    return dw


def conv1d_channels_last(
    x: torch.Tensor, weight: torch.Tensor, bias: Any, dilation: int = 1
) -> torch.Tensor:
    """Valid, stride-1 convolution of ``(N, L, C)`` with a ``(F, C, k)`` kernel: ``(N, L', F)``."""
    return Conv1dChannelsLast.apply(x, weight, bias, dilation)
