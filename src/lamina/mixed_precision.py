"""Mixed precision: compute in 16-bit floats, keep weights in float32 (Keras's policies).

``set_global_policy("mixed_bfloat16")`` or ``("mixed_float16")`` makes ``fit``, ``evaluate``
and ``predict`` run the forward pass and the loss under ``torch.autocast`` (matrix products
and convolutions in 16 bits, reductions and softmax in float32), while the weights and the
optimizer stay in float32. ``mixed_float16`` also scales the loss dynamically so that small
gradients do not underflow: the scale starts at 2**15, halves (and the step is skipped) when a
gradient is not finite, and doubles after 2,000 good steps, as Keras's ``LossScaleOptimizer``.
``bfloat16`` has float32's range and needs no scaling. The policy is read when ``fit`` starts.

Example:
    >>> from lamina import mixed_precision
    >>> mixed_precision.set_global_policy("mixed_bfloat16")
    >>> mixed_precision.global_policy()
    <Policy "mixed_bfloat16">
    >>> policy = mixed_precision.global_policy()
    >>> policy.compute_dtype, policy.variable_dtype
    ('bfloat16', 'float32')
    >>> mixed_precision.set_global_policy("float32")
"""

from __future__ import annotations

import contextlib
import warnings
from typing import Any

import torch

from lamina.errors import LaminaWarning

__all__ = [
    "Policy",
    "set_global_policy",
    "global_policy",
    "LossScaler",
    "autocast",
    "autocast_dtype",
    "warn_if_emulated",
]

_POLICIES = {
    "float32": ("float32", "float32"),
    "mixed_bfloat16": ("bfloat16", "float32"),
    "mixed_float16": ("float16", "float32"),
}


class Policy:
    """A dtype policy: ``compute_dtype`` for the computation, ``variable_dtype`` for weights."""

    def __init__(self, name: str):
        if name not in _POLICIES:
            raise ValueError(
                f"Unknown dtype policy {name!r}: use 'float32', 'mixed_bfloat16' or "
                "'mixed_float16'."
            )
        self.name = name
        self.compute_dtype, self.variable_dtype = _POLICIES[name]

    @property
    def is_mixed(self) -> bool:
        return self.compute_dtype != self.variable_dtype

    def __repr__(self) -> str:
        return f'<Policy "{self.name}">'


_GLOBAL = Policy("float32")


def set_global_policy(policy: str | Policy) -> None:
    """Set the policy used by every later ``fit`` / ``evaluate`` / ``predict``."""
    global _GLOBAL
    _GLOBAL = policy if isinstance(policy, Policy) else Policy(policy)


def global_policy() -> Policy:
    """The current policy (``float32`` unless changed)."""
    return _GLOBAL


def autocast(device: torch.device) -> contextlib.AbstractContextManager[Any]:
    """``torch.autocast`` with the global policy's compute dtype, or nothing for float32. The
    context can be entered again after it exits (predict enters it once per batch)."""
    policy = _GLOBAL
    if not policy.is_mixed:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=getattr(torch, policy.compute_dtype))


def autocast_dtype(device_type: str) -> torch.dtype | None:
    """The dtype ``torch.autocast`` computes in on ``device_type`` ("cpu", "cuda") right now,
    or ``None`` when autocast is off there. Layers whose own kernels (``autograd.Function``s,
    fused recurrent kernels) autocast does not reach read it to run in that dtype themselves.

    Example:
        >>> autocast_dtype("cpu") is None
        True
        >>> with torch.autocast("cpu", dtype=torch.bfloat16):
        ...     autocast_dtype("cpu")
        torch.bfloat16
    """
    try:
        enabled = torch.is_autocast_enabled(device_type)
    except TypeError:  # torch < 2.4: no device argument
        enabled = (
            torch.is_autocast_cpu_enabled() if device_type == "cpu" else torch.is_autocast_enabled()
        )
    if not enabled:
        return None
    try:
        return torch.get_autocast_dtype(device_type)
    except AttributeError:  # torch < 2.4
        if device_type == "cpu":
            return torch.get_autocast_cpu_dtype()
        return torch.get_autocast_gpu_dtype()


class LossScaler:
    """Dynamic loss scaling for float16 (Keras's ``LossScaleOptimizer`` rules).

    Example:
        >>> import torch
        >>> scaler = LossScaler()
        >>> p = torch.nn.Parameter(torch.ones(2))
        >>> p.grad = torch.tensor([float("inf"), 1.0])
        >>> scaler.unscale_and_check([p]), scaler.scale
        (False, 16384.0)
    """

    def __init__(self, initial_scale: float = 2.0**15, growth_interval: int = 2000):
        self.scale = float(initial_scale)
        self.growth_interval = growth_interval
        self._good_steps = 0

    def unscale_and_check(self, params: list[torch.Tensor]) -> bool:
        """Divide the gradients by the scale; False (and a smaller scale) if any is not
        finite, in which case the step must be skipped."""
        grads = [p.grad for p in params if p.grad is not None]
        if not grads:
            return True
        found_inf = torch.zeros(1, device=grads[0].device)
        inv = torch.full((1,), 1.0 / self.scale, device=grads[0].device)
        torch._amp_foreach_non_finite_check_and_unscale_(grads, found_inf, inv)
        if bool(found_inf.item()):
            self.scale /= 2.0
            self._good_steps = 0
            return False
        self._good_steps += 1
        if self._good_steps >= self.growth_interval:
            self.scale *= 2.0
            self._good_steps = 0
        return True


_WARNED: set[str] = set()


def _cpu_computes(dtype_name: str) -> bool:
    """Whether this CPU has arithmetic for ``dtype_name`` (oneDNN's own check; True when torch
    cannot say)."""
    try:
        if dtype_name == "bfloat16":
            return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
        return bool(torch.ops.mkldnn._is_mkldnn_fp16_supported())
    except (AttributeError, RuntimeError):
        return True


def warn_if_emulated(device: torch.device) -> None:
    """Warn (once per policy and process) when a mixed policy computes on a CPU that has no
    arithmetic for its 16-bit type: torch then converts every operand, and a step is many
    times slower than in float32 (W1: 108 vs 4.6 ms on a 2-core AVX2 machine)."""
    policy = _GLOBAL
    if not policy.is_mixed or device.type != "cpu" or policy.name in _WARNED:
        return
    if _cpu_computes(policy.compute_dtype):
        return
    _WARNED.add(policy.name)
    warnings.warn(
        f"The {policy.name!r} policy computes in {policy.compute_dtype} on the CPU, and this "
        f"CPU has no {policy.compute_dtype} arithmetic: every step converts its operands and "
        "runs many times slower than in float32 (the seed MLP: ~25x on a 2-core AVX2 "
        "machine). Use mixed_precision.set_global_policy('float32') here; mixed precision "
        "pays off on GPUs and on CPUs with bfloat16 units (AVX512-BF16, AMX).",
        LaminaWarning,
        stacklevel=3,
    )
