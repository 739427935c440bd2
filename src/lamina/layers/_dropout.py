"""Dropout masks, fast on CPU.

torch draws CPU random numbers one element at a time from a Mersenne twister, so
``bernoulli_`` over a 128 x 512 activation takes about 1.2 ms, more than the matrix products of
the layer it follows. A keep/drop decision needs far fewer random bits than a float: lamina
draws one 64-bit integer per four elements and compares 16-bit slices of it with a threshold,
which keeps each element with probability ``1 - rate`` up to 1/65536 and takes about a quarter
of the time. On CUDA torch's own kernel is already fast and is used as it is.

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

import torch

__all__ = ["dropout_mask", "apply_dropout"]

_INT16_RANGE = 65536


def _keep_bits(
    shape: tuple[int, ...], rate: float, device: torch.device, generator: torch.Generator | None
) -> torch.Tensor:
    """Boolean mask, True with probability ``1 - rate`` (16-bit resolution)."""
    n = math.prod(shape)
    words = torch.randint(
        -(2**63),
        2**63 - 1,
        ((n + 3) // 4,),
        dtype=torch.int64,
        device=device,
        generator=generator,
    )
    slices = words.view(torch.int16)[:n].view(shape)
    threshold = round(-32768 + rate * _INT16_RANGE)
    return slices >= threshold


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
    return _keep_bits(shape, rate, device, generator).to(dtype).mul_(1.0 / (1.0 - rate))


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
