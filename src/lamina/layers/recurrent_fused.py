"""The fast paths of the recurrent layers, and which one runs.

Two kinds of whole-sequence kernels compute Keras's formulas for the built-in cells with their
default activations (sigmoid gates and tanh; SimpleRNN tanh or relu) and GRU
``reset_after=True``:

* **torch's fused kernels** (``torch._VF.lstm`` / ``gru`` / ``rnn_tanh`` / ``rnn_relu``, the
  ops behind ``torch.nn.LSTM``): cuDNN on a GPU, oneDNN's LSTM on CPU. They cannot apply
  recurrent dropout.
* **lamina's sequence kernels** (:mod:`lamina.layers.recurrent_kernels`): a loop over time
  with a hand-written backward pass, for recurrent dropout anywhere, and for GRU and SimpleRNN
  on CPU, where torch runs one autograd node per operation per step and is slower.

:func:`choose_path` picks one for a call (or the reference loop of the cell equations, for
anything else). With a mask, the steps the mask hides are moved out of the way (each
sequence's visible steps first, in order), the kernel runs over the compacted sequences, and
the outputs are put back where Keras has them (:func:`run_masked`); so left padding, right
padding and holes all run fast.

Example:
    >>> import torch
    >>> from lamina.layers.recurrent import GRU, LSTM
    >>> x = torch.zeros(2, 5, 3)
    >>> [choose_path(layer, x, rec_mask=None) for layer in (LSTM(4), GRU(4))]
    ['torch', 'lamina']
"""

from __future__ import annotations

import warnings
from typing import Any

import torch
import torch.nn.functional as F
from torch import _VF
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence, pad_packed_sequence

from lamina import activations
from lamina.layers.recurrent_cells import GRUCell, LSTMCell, SimpleRNNCell
from lamina.layers.recurrent_kernels import gru_sequence, lstm_sequence, simple_rnn_sequence

__all__ = ["choose_path", "kernel_dtype", "run_sequence", "run_masked", "torch_op"]

# On CUDA, cuDNN wants the weights in one buffer; lamina's are separate parameters (Keras's
# layout, plus the zero second bias), so cuDNN copies them together on each call (a few KB for
# a 32-unit LSTM). torch warns about that on every call and advises nn.LSTM's
# flatten_parameters(), which a lamina layer does not have: the advice is silenced here, for
# calls from this module only.
warnings.filterwarnings(
    "ignore",
    message="RNN module weights are not part of single contiguous chunk",
    category=UserWarning,
    module=__name__.replace(".", r"\."),
)


# ---------------------------------------------------------------------- choosing
def torch_op(cell: Any) -> Any:
    """The torch kernel that computes exactly this cell's formula, or ``None`` (then neither
    fast path can: lamina's kernels cover the same formulas)."""
    kind = type(cell)
    if kind in (LSTMCell, GRUCell):
        gates = getattr(cell, "recurrent_activation", None)
        if cell.activation is not activations.tanh or gates is not activations.sigmoid:
            return None
        if kind is LSTMCell:
            return _VF.lstm
        return _VF.gru if cell.reset_after else None  # torch's GRU is the reset_after form
    if kind is SimpleRNNCell:
        return {activations.tanh: _VF.rnn_tanh, activations.relu: _VF.rnn_relu}.get(cell.activation)
    return None


def choose_path(layer: Any, x: torch.Tensor, rec_mask: Any) -> str:
    """``'torch'`` (torch's fused kernel), ``'lamina'`` (lamina's sequence kernel) or
    ``'loop'`` (the reference loop) for a call of ``layer`` on ``x``; ``rec_mask`` is the
    recurrent dropout mask of this call (``None`` without one)."""
    cell, use_cudnn = layer.cell, layer.use_cudnn
    formula_ok = torch_op(cell) is not None
    if use_cudnn is True:
        reasons = []
        if not formula_ok:
            reasons.append("the cell's formula (activations, GRU reset_after=False, custom cell)")
        if rec_mask is not None:
            reasons.append("recurrent_dropout")
        if reasons:
            raise ValueError(
                f"Layer '{layer.name}' has use_cudnn=True, but torch's fused kernel cannot "
                f"compute it because of {' and '.join(reasons)}. Use use_cudnn='auto'."
            )
        return "torch"
    if use_cudnn is False or not formula_ok:
        return "loop"
    if torch.compiler.is_compiling():
        # torch.compile traces torch's kernel as one op; a Python loop would be unrolled.
        return "torch" if rec_mask is None else "loop"
    if rec_mask is not None:
        return "lamina"
    if x.device.type != "cpu":
        return "torch"  # cuDNN
    if type(cell) is LSTMCell and x.dtype in (torch.float32, torch.bfloat16):
        return "torch"  # oneDNN's fused LSTM
    return "lamina"


def kernel_dtype(path: str, x: torch.Tensor, autocast: torch.dtype | None) -> torch.dtype:
    """The dtype a fast path runs in, given autocast's dtype (``None`` when it is off).

    Under a mixed policy it is the compute dtype, as Keras computes the whole layer in it (the
    float32 weights are cast), except for torch's kernel on CUDA under ``bfloat16``: cuDNN
    takes float32 and float16 there, and the W2 model took 25.9 ms a step with its LSTM in
    bfloat16 against 4.0 in float32 (H200, torch 2.11), so it stays in float32.

    Example:
        >>> x = torch.zeros(2, 3, 4)
        >>> kernel_dtype("torch", x, None), kernel_dtype("torch", x, torch.bfloat16)
        (torch.float32, torch.bfloat16)
    """
    if autocast is None or not x.is_floating_point():
        return x.dtype
    if path == "torch" and x.device.type == "cuda" and autocast == torch.bfloat16:
        return x.dtype
    return autocast


# ---------------------------------------------------------------------- running
def _weights(cell: Any, dtype: torch.dtype) -> tuple[Any, Any, Any]:
    """The cell's kernel, recurrent kernel and bias in ``dtype`` (the inputs' dtype: the
    compute dtype under a mixed policy, where the float32 weights are cast; else themselves)."""
    weights = (cell.kernel, cell.recurrent_kernel, cell.bias)
    return tuple(None if w is None else w.to(dtype) for w in weights)


def _torch_params(cell: Any, dtype: torch.dtype) -> list[torch.Tensor]:
    """Weights in the order torch's kernels take them: W_ih, W_hh, b_ih, b_hh."""
    kernel, recurrent, bias = _weights(cell, dtype)
    weights = [kernel, recurrent]
    if bias is None:
        return weights
    if isinstance(cell, GRUCell):
        return [*weights, bias[0], bias[1]]
    # Keras has one bias where torch has two: the second is zero.
    return [*weights, bias, torch.zeros_like(bias)]


def _run_torch(cell: Any, x: torch.Tensor, states: list, batch_sizes: Any = None) -> tuple:
    """torch's kernel on ``(batch, time, features)`` or on packed data."""
    op = torch_op(cell)
    hx: Any = tuple(s.unsqueeze(0) for s in states) if op is _VF.lstm else states[0].unsqueeze(0)
    params, has_bias = _torch_params(cell, x.dtype), cell.bias is not None
    train = torch.is_grad_enabled()
    if batch_sizes is None:
        result = op(x, hx, params, has_bias, 1, 0.0, train, False, True)
    else:
        result = op(x, batch_sizes, hx, params, has_bias, 1, 0.0, train, False)
    return result[0], [s[0] for s in result[1:]]


def _lstm_gate_order(w: torch.Tensor) -> torch.Tensor:
    """LSTM gate blocks i, f, c, o -> i, f, o, 2c (the kernel's order; see LSTMKernel)."""
    i, f, c, o = w.chunk(4, dim=0)
    return torch.cat([i, f, o, c * 2.0])


def _run_lamina(cell: Any, x: torch.Tensor, states: list, rec_mask: Any) -> tuple:
    """lamina's kernel: ``(sequence, final states, cell-state sequence or None)``."""
    x_steps = x.transpose(0, 1)  # the projections come out time-major
    kernel, recurrent, bias = _weights(cell, x.dtype)
    if isinstance(cell, LSTMCell):
        b = None if bias is None else _lstm_gate_order(bias)
        xp = F.linear(x_steps, _lstm_gate_order(kernel), b)
        u = _lstm_gate_order(recurrent)
        seq, cells, h, c = lstm_sequence(xp, states[0], states[1], u, rec_mask)
        return seq, [h, c], cells
    if isinstance(cell, GRUCell):
        n = cell.units
        if bias is None:
            xp = F.linear(x_steps, kernel)
            b_hn = x.new_zeros(n)
        else:
            xp = F.linear(x_steps, kernel, bias[0] + F.pad(bias[1, : 2 * n], (0, n)))
            b_hn = bias[1, 2 * n :]
        seq, h = gru_sequence(xp, states[0], recurrent, b_hn, rec_mask)
        return seq, [h], None
    xp = F.linear(x_steps, kernel, bias)
    relu = cell.activation is activations.relu
    seq, h = simple_rnn_sequence(xp, states[0], recurrent, rec_mask, relu)
    return seq, [h], None


def run_sequence(cell: Any, path: str, x: torch.Tensor, states: list, rec_mask: Any) -> tuple:
    """Run a fast path over ``x`` ``(batch, time, features)``: ``(sequence, final states,
    cell-state sequence or None)``."""
    if path == "torch":
        seq, finals = _run_torch(cell, x, states)
        return seq, finals, None
    return _run_lamina(cell, x, states, rec_mask)


# ---------------------------------------------------------------------- masks
def _gather_steps(x: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """``x[b, index[b, t]]`` for a ``(batch, time, features)`` tensor."""
    return x.gather(1, index.unsqueeze(-1).expand(-1, -1, x.shape[-1]))


def run_masked(
    layer: Any, path: str, x: torch.Tensor, mask: torch.Tensor, states: list, rec_mask: Any
) -> tuple:
    """A fast path under a ``(batch, time)`` mask: ``(sequence or None, last output, final
    states)``, as Keras computes them.

    Masked steps change nothing, so the result is the kernel run over each sequence's visible
    steps only. They are moved to the front (stable sort, order kept) and the kernel runs over
    the whole length: outputs up to each sequence's length are exact, and the final states are
    the ones at its last visible step. (torch's LSTM gives only the final cell state ``c`` of
    the whole run, so when ``c`` is wanted it runs packed sequences, which stop at each
    length.) The outputs are then put back where Keras has them."""
    cell = layer.cell
    lengths = mask.sum(1)
    empty = (lengths == 0).unsqueeze(-1)  # fully masked: states stay the initial ones
    order = torch.sort((~mask).to(torch.uint8), dim=1, stable=True).indices
    compact = _gather_steps(x, order)
    want_c = isinstance(cell, LSTMCell) and (layer.return_state or layer.stateful)
    last_step = (lengths - 1).clamp(min=0).view(-1, 1)
    if want_c and path == "torch":
        compact, finals = _packed(layer, compact, lengths, states)
    else:
        compact, _, cells = run_sequence(cell, path, compact, states, rec_mask)
        finals = [_gather_steps(compact, last_step)[:, 0], *states[1:]]
        if want_c:
            finals[1] = _gather_steps(cells, last_step)[:, 0]
    finals = [torch.where(empty, s0, f) for f, s0 in zip(finals, states)]
    seen = mask[:, -1:] if layer.zero_output_for_mask else ~empty
    last = finals[0] * seen
    if not layer.return_sequences:
        return None, last, finals
    # Step t shows the output of the last visible step at or before t.
    count = mask.cumsum(1)
    sequence = _gather_steps(compact, (count - 1).clamp(min=0))
    keep = mask if layer.zero_output_for_mask else count > 0
    return sequence * keep.unsqueeze(-1), last, finals


def _packed(layer: Any, compact: torch.Tensor, lengths: torch.Tensor, states: list) -> tuple:
    packed = pack_padded_sequence(
        compact, lengths.clamp(min=1).cpu(), batch_first=True, enforce_sorted=False
    )
    hx = [s.index_select(0, packed.sorted_indices) for s in states]
    data, finals = _run_torch(layer.cell, packed.data, hx, packed.batch_sizes)
    finals = [f.index_select(0, packed.unsorted_indices) for f in finals]
    sequence = None
    if layer.return_sequences:
        sequence = pad_packed_sequence(
            PackedSequence(
                data, packed.batch_sizes, packed.sorted_indices, packed.unsorted_indices
            ),
            batch_first=True,
            total_length=compact.shape[1],
        )[0]
    return sequence, finals
