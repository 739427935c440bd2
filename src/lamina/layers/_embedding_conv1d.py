"""``Embedding`` followed by ``Conv1D``, computed through the vocabulary instead of the sequence.

A ``Conv1D`` applied to embedded tokens sums, for output step ``t``, one ``(channels x
filters)`` product per tap ``k`` of the vector of the token at step ``t + k``. The product
depends only on the token and the tap, so it can be taken once per vocabulary entry:

* ``table[v, k] = embeddings[v] @ kernel[:, :, k].T`` — one ``(vocab, channels) @ (channels,
  kernel_size * filters)`` matrix product;
* ``y[b, t] = sum_k table[ids[b, t + k], k] + bias`` — a gather-and-sum
  (``F.embedding_bag``), ``kernel_size`` rows of ``filters`` numbers per output step.

The backward pass is the same in reverse: the gradient of the table is scattered from the
output gradient (``index_add_``, one call per tap), and the gradients of the embeddings and the
kernel are two more ``vocab``-sized matrix products. A convolution costs ``2 * batch * steps *
channels * filters * kernel_size`` multiply-adds per pass; this costs the same with ``vocab``
in place of ``batch * steps``, plus the gathers. The book's IMDB convnet (vocabulary 10,000,
batch 128 x 500 steps, 128 channels, 32 filters, 7 taps) needs ~6x fewer. The gathers and
scatters cost ``kernel_size * filters`` numbers per output step, which the convolution does not
pay, so narrow embeddings (few channels) can be faster the usual way: ``Conv1D`` takes this path
only where the cost model below (fitted to measured times) says it is cheaper. In inference the
table is kept until a weight changes. Results equal the convolution's up to float rounding
(checked against ``F.conv1d`` and by ``gradcheck`` in the tests).

``Embedding`` marks its output with the token ids it came from (``embed``); ``Conv1D`` looks for
the mark (``source``), which is only honoured while the output is unchanged (its version
counter has not moved) — any layer or operation in between makes a new tensor, and the layers
then run as usual.

Example:
    >>> import torch
    >>> ids = torch.tensor([[1, 2, 3, 0]])
    >>> emb, w = torch.randn(5, 3), torch.randn(2, 3, 2)  # kernel (filters, channels, taps)
    >>> y = embedding_conv1d(ids, emb, w, None, 1, 1, (0, 0))
    >>> ref = torch.nn.functional.conv1d(emb[ids].transpose(1, 2), w).transpose(1, 2)
    >>> bool(torch.allclose(y, ref, atol=1e-5)), tuple(y.shape)
    (True, (1, 3, 2))
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

__all__ = [
    "GatherSum",
    "cheaper_in_inference",
    "cheaper_in_training",
    "embed",
    "embedding_conv1d",
    "source",
]

_MARK = "_lamina_token_ids"


def embed(ids: torch.Tensor, embeddings: torch.Tensor) -> torch.Tensor:
    """``F.embedding(ids, embeddings)``, marked on CPU with where it came from. The mark needs
    a version counter, which inference-mode tensors lack, so in inference mode the output is
    made as a normal tensor (still without gradients). Not marked on other devices or while
    ``torch.compile`` traces (attributes on tensors would break the graph)."""
    if ids.device.type != "cpu" or torch.compiler.is_compiling():
        return F.embedding(ids, embeddings)
    if torch.is_inference_mode_enabled():
        with torch.inference_mode(False), torch.no_grad():
            return embed(ids, embeddings)
    output = F.embedding(ids, embeddings)
    setattr(output, _MARK, (ids, embeddings, output._version))
    return output


def source(x: Any) -> tuple[torch.Tensor, torch.Tensor] | None:
    """``(ids, embeddings)`` if ``x`` is an unchanged ``Embedding`` output, else None."""
    found = getattr(x, _MARK, None)
    if found is None or found[2] != x._version:
        return None
    return found[0], found[1]


class GatherSum(torch.autograd.Function):
    """``out[n] = sum_k table[index[n, k]]``; the backward scatters with ``index_add_`` (one
    call per column of ``index``: several times faster on CPU than ``embedding_bag``'s own
    sort-based backward, and deterministic)."""

    @staticmethod
    def forward(ctx: Any, table: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(index)
        ctx.rows = table.shape[0]
        return F.embedding_bag(index, table, mode="sum")

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple:
        (index,) = ctx.saved_tensors
        grad = grad.contiguous()
        table_grad = grad.new_zeros(ctx.rows, grad.shape[1])
        for column in index.T.contiguous():
            table_grad.index_add_(0, column, grad)
        return table_grad, None


def cheaper_in_training(vocab: int, channels: int, filters: int, taps: int, steps: int) -> bool:
    """Whether a training step (forward and backward) through the vocabulary costs less than
    the convolution, for ``steps`` output steps in the batch. Costs in nanoseconds, fitted to
    nine shapes timed on the 2-core reference machine (``docs/convolutions.md``): through the
    vocabulary ``0.059 V C F k + 2.0 S F k + 0.19 V F k`` (products, gather and scatter,
    zeroing the table gradient), the convolution ``0.056 S C F k + 3.0 S C`` (convolution
    passes, the embedding gather and its backward); taken with a 10 % margin."""
    through = (
        0.059 * vocab * channels * filters * taps + (2.0 * steps + 0.19 * vocab) * filters * taps
    )
    convolution = 0.056 * steps * channels * filters * taps + 3.0 * steps * channels
    return through < 0.9 * convolution


def cheaper_in_inference(channels: int, filters: int, taps: int) -> bool:
    """Whether, with the table already made, the gather-sum (``0.32 F k`` ns per output step)
    costs less than the forward convolution (``0.0125 C F k + 0.07 C`` ns beyond the gather
    both pay); fitted like ``cheaper_in_training``, with the same margin."""
    return 0.32 * filters * taps < 0.9 * (0.0125 * channels * filters * taps + 0.07 * channels)


def positions(length: int, taps: int, stride: int, dilation: int, pads: tuple[int, int]):
    """``(out_steps, taps)`` input step of each tap of each output step (``-1``: padding)."""
    left, right = pads
    out_steps = (length + left + right - dilation * (taps - 1) - 1) // stride + 1
    pos = torch.arange(out_steps).unsqueeze(1) * stride + torch.arange(taps) * dilation - left
    return torch.where((pos >= 0) & (pos < length), pos, -1)


def table_of(embeddings: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """``(vocab * taps, filters)``: row ``v * taps + k`` is ``embeddings[v] @ kernel[:, :, k].T``
    (``kernel`` in PyTorch's ``(filters, channels, taps)`` layout)."""
    filters, channels, taps = kernel.shape
    stacked = kernel.permute(1, 2, 0).reshape(channels, taps * filters)
    return (embeddings @ stacked).view(-1, filters)


def embedding_conv1d(
    ids: torch.Tensor,
    embeddings: torch.Tensor,
    kernel: torch.Tensor,
    bias: torch.Tensor | None,
    stride: int,
    dilation: int,
    pads: tuple[int, int],
    table: torch.Tensor | None = None,
) -> torch.Tensor:
    """``conv1d(embeddings[ids])`` in channels-last layout ``(batch, out_steps, filters)``
    without forming ``embeddings[ids]`` (see the module docstring); ``table`` (from
    ``table_of``) may be passed in when it is already known."""
    taps = kernel.shape[2]
    vocab = embeddings.shape[0]
    if table is None:
        table = table_of(embeddings, kernel)
    pos = positions(ids.shape[1], taps, stride, dilation, pads).to(ids.device)
    index = ids.long()[:, pos.clamp(min=0)] * taps + torch.arange(taps, device=ids.device)
    if bool((pos < 0).any()):
        # padding steps read an extra zero row at the end of the table
        index = torch.where(pos >= 0, index, vocab * taps)
        table = torch.cat([table, table.new_zeros(1, table.shape[1])])
    batch, out_steps = index.shape[:2]
    y = GatherSum.apply(table, index.view(-1, taps)).view(batch, out_steps, -1)
    return y if bias is None else y + bias
