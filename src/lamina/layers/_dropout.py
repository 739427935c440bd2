"""Dropout masks, fast on CPU.

torch draws CPU random numbers one element at a time from a Mersenne twister, so ``bernoulli_``
over a 128 x 512 activation takes 0.5-1.2 ms on a 2-core machine, about as long as the matrix
product of the layer it follows. A keep/drop decision needs far fewer random bits than a float.
When the rate is ``k / 2**bits`` with ``bits`` 1, 2, 4 or 8 (0.5, 0.25, 0.125, ...: any multiple
of 1/256), each element gets a field of that many bits, which decides it exactly: one bit at
0.5, all fields unpacked from 32-bit words by one broadcast shift; an element is kept when its
field is at least ``k``. Any other rate uses 16-bit slices of 64-bit words compared with a
threshold, which keeps each element with probability ``1 - rate`` up to 1/65536. The
comparisons are done by clamping integers (exact in float32) rather than with ``>=``, whose
boolean result converts to float slowly on CPU. A float32 mask from exact fields is made as
integers too: the 0 / 1 of each element times the bit pattern of ``1 / (1 - rate)``, viewed as
float32, replaces a conversion and a multiply; at rate 0.5 the shift puts each random bit
straight onto the exponent bit that makes 2.0 (``0x40000000``), so the mask is a shift and an
``and``. For the seed MLP's 128 x 512 dropout: see ``bench/dropout_mask.py``. On CUDA torch's
own kernel is already fast and is used as it is.

Example:
    >>> import torch
    >>> from lamina.layers._dropout import dropout_mask
    >>> _ = torch.manual_seed(0)
    >>> mask = dropout_mask((1000, 100), 0.25, torch.float32, torch.device("cpu"))
    >>> [round(v, 4) for v in mask.unique().tolist()]
    [0.0, 1.3333]
    >>> abs(float((mask > 0).float().mean()) - 0.75) < 0.01
    True
"""

from __future__ import annotations

import math
import struct

import torch

__all__ = ["dropout_mask", "apply_dropout"]

_INT16_RANGE = 65536
_FIELD_BITS = (1, 2, 4, 8)
_SHIFTS: dict[tuple[int, int, int, torch.device], torch.Tensor] = {}
_TWO_BITS = 0x40000000  # float32 2.0: sign 0, exponent 128, mantissa 0


def _shifts(start: int, stop: int, step: int, device: torch.device) -> torch.Tensor:
    """``torch.arange(start, stop, step)`` as int32 on ``device``, made once per process."""
    key = (start, stop, step, device)
    shifts = _SHIFTS.get(key)
    if shifts is None:
        shifts = _SHIFTS[key] = torch.arange(start, stop, step, dtype=torch.int32, device=device)
    return shifts


def _random_words(count: int, device: torch.device, generator: torch.Generator | None):
    """``count`` 64-bit words of random bits."""
    return torch.randint(
        -(2**63), 2**63 - 1, (count,), dtype=torch.int64, device=device, generator=generator
    )


def _exact_field(rate: float) -> tuple[int, int] | None:
    """``(bits, k)`` with ``rate == k / 2**bits`` for the smallest ``bits`` up to 8, or None."""
    for bits in _FIELD_BITS:
        k = rate * (1 << bits)
        if k == int(k) and k > 0:  # (rate 0: the slices keep everything)
            return bits, int(k)
    return None


def _keep_fields(
    n: int, bits: int, k: int, device: torch.device, generator: torch.Generator | None
) -> torch.Tensor:
    """``n`` int32 values, 1 with probability ``1 - k / 2**bits`` (exactly), else 0."""
    per_word = 64 // bits
    words = _random_words((n + per_word - 1) // per_word, device, generator)
    shifts = _shifts(0, 32, bits, device)
    # (Arithmetic shift: the sign bits it brings in are masked off.)
    fields = (words.view(torch.int32).unsqueeze(-1) >> shifts).bitwise_and_((1 << bits) - 1)
    fields = fields.view(-1)[:n]
    if bits > 1:  # field >= k  <=>  clamp(field - (k - 1), 0, 1) == 1
        fields = fields.sub_(k - 1).clamp_(0, 1)
    return fields


def _float32_bits(value: float) -> int:
    """The int32 whose bits are the float32 nearest ``value``."""
    return struct.unpack("<i", struct.pack("<f", value))[0]


def _half_mask(n: int, device: torch.device, generator: torch.Generator | None) -> torch.Tensor:
    """``n`` float32 values, 0.0 or 2.0 with probability 1/2 each: bit ``b`` (0-30) of a random
    int32 shifted left by ``30 - b`` onto bit 30 and the rest masked off (31 draws a word)."""
    shifts = _shifts(30, -1, -1, device)
    words = _random_words((n + 61) // 62, device, generator)
    fields = (words.view(torch.int32).unsqueeze(-1) << shifts).bitwise_and_(_TWO_BITS)
    return fields.view(-1)[:n].view(torch.float32)


def _keep_slices(
    n: int, rate: float, dtype: torch.dtype, device: torch.device, generator: torch.Generator | None
) -> torch.Tensor:
    """``n`` floats (float64 for a float64 ``dtype``, else float32), 1 with probability
    ``1 - rate`` (16-bit resolution), else 0."""
    words = _random_words((n + 3) // 4, device, generator)
    slices = words.view(torch.int16)[:n]
    threshold = round(-32768 + rate * _INT16_RANGE)
    # slice >= threshold  <=>  clamp(slice, threshold - 1, threshold) - (threshold - 1) == 1;
    # integers this small are exact in float32 (and the bool of >= converts slowly).
    work = torch.float64 if dtype == torch.float64 else torch.float32
    return slices.to(work).clamp_(threshold - 1, threshold).sub_(threshold - 1)


def dropout_mask(
    shape: tuple[int, ...],
    rate: float,
    dtype: torch.dtype,
    device: torch.device,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Inverted-dropout mask: 0 with probability ``rate``, else ``1 / (1 - rate)``."""
    shape = tuple(int(d) for d in shape)
    if device.type != "cpu":
        keep = torch.empty(shape, dtype=dtype, device=device)
        return keep.bernoulli_(1.0 - rate, generator=generator).div_(1.0 - rate)
    n = math.prod(shape)
    field = _exact_field(rate)
    if field is None:
        keep = _keep_slices(n, rate, dtype, device, generator)
    elif dtype != torch.float32:
        keep = _keep_fields(n, *field, device, generator)
    elif field == (1, 1):
        return _half_mask(n, device, generator).view(shape)
    else:  # int32 0 / 1 times the bits of the scale, read as float32
        bits = _keep_fields(n, *field, device, generator).mul_(_float32_bits(1.0 / (1.0 - rate)))
        return bits.view(torch.float32).view(shape)
    return keep.view(shape).to(dtype).mul_(1.0 / (1.0 - rate))


def apply_dropout(
    x: torch.Tensor,
    rate: float,
    noise_shape: tuple[int, ...] | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """``x`` with a fraction ``rate`` of entries zeroed and the rest scaled by
    ``1 / (1 - rate)``; ``noise_shape`` (with 1 on broadcast axes) shares one decision along
    those axes."""
    if rate <= 0:
        return x
    if (
        noise_shape is None
        and generator is None
        and (x.device.type != "cpu" or torch.compiler.is_compiling())
    ):
        # CUDA's kernel is fast, and under torch.compile the generated code draws its own.
        return torch.nn.functional.dropout(x, rate, True)
    shape = tuple(x.shape) if noise_shape is None else noise_shape
    return x * dropout_mask(shape, rate, x.dtype, x.device, generator)
