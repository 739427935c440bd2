"""Keras's update formulas as ``torch.optim.Optimizer`` subclasses, written with multi-tensor ops.

Each class here is a plain PyTorch optimizer (``Kernel(params, lr=..., ...)``, ``step()``,
``state_dict()``, usable with ``torch.optim.lr_scheduler``). It exists because
``torch.optim`` computes a *different* formula from Keras for that algorithm (for example
Keras's RMSprop divides by ``sqrt(v + eps)`` where ``torch.optim.RMSprop`` divides by
``sqrt(v) + eps``). Where ``torch.optim`` computes Keras's formula exactly (Adadelta, Nadam),
lamina uses ``torch.optim`` and there is no class here.

The hot path is one ``torch._foreach_*`` call per operation over all parameters of a group, in
place where possible: no per-parameter Python arithmetic. Hyper-parameter names follow
``torch.optim`` (``lr``, ``betas``, ``eps``, ``momentum``) so torch schedulers such as
``OneCycleLR`` find them; state slots carry Keras's names (``momentum``, ``velocity`` ...) and are
created when the optimizer is constructed. Each group counts its updates in ``group["step"]``.
On CPU, Adam, RMSprop (no momentum, not centered) and Adagrad run torch's fused single-pass
kernels; for those RMSprop and Adagrad keep their squared-gradient slot in a shifted form
(``scaled_velocity``, ``accumulator_plus_eps``; see ``_ForeachOptimizer._stored_form``).

Example:
    >>> import torch
    >>> from lamina.optimizers.kernels import KerasRMSprop
    >>> w = torch.nn.Parameter(torch.tensor([1.0]))
    >>> opt = KerasRMSprop([w], lr=0.1, rho=0.9)
    >>> w.grad = torch.tensor([1.0])
    >>> opt.step()
    >>> round(w.item(), 6)  # 1 - 0.1 * 1 / sqrt(0.1 + 1e-7)
    0.683772
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import torch

__all__ = [
    "KerasSGD",
    "KerasRMSprop",
    "KerasAdam",
    "KerasAdagrad",
    "KerasAdamax",
    "KerasFtrl",
    "KerasLion",
]

Tensors = list[torch.Tensor]


# The learning rate reaches the formulas as a float (eager) or as a 0-dim tensor (the compiled
# update of ``jit_compile``, so that a new rate is a new value, not a new graph). These apply a
# scale of either kind; with a float they are the single fused op they replace.
def _add_(targets: Tensors, sources: Tensors, scale: Any) -> None:
    """``targets += scale * sources``."""
    if isinstance(scale, torch.Tensor):
        torch._foreach_add_(targets, torch._foreach_mul(sources, scale))
    else:
        torch._foreach_add_(targets, sources, alpha=scale)


def _addcmul_(targets: Tensors, a: Tensors, b: Tensors, scale: Any) -> None:
    """``targets += scale * a * b``."""
    _add_combined_(targets, a, b, scale, divide=False)


def _addcdiv_(targets: Tensors, a: Tensors, b: Tensors, scale: Any) -> None:
    """``targets += scale * a / b``."""
    _add_combined_(targets, a, b, scale, divide=True)


def _add_combined_(targets: Tensors, a: Tensors, b: Tensors, scale: Any, divide: bool) -> None:
    if not isinstance(scale, torch.Tensor):
        fused = torch._foreach_addcdiv_ if divide else torch._foreach_addcmul_
        fused(targets, a, b, value=scale)
        return
    term = torch._foreach_div(a, b) if divide else torch._foreach_mul(a, b)
    torch._foreach_mul_(term, scale)
    torch._foreach_add_(targets, term)


# torch's single-pass CPU kernels for Adam and Adagrad (one read and one write of each tensor
# where the foreach form makes four to six passes). Keras's formulas are reached through them
# exactly: Adam by rescaling ``eps`` each step, RMSprop and Adagrad by keeping their squared-
# gradient slot in a shifted form (see ``_ForeachOptimizer._stored_form``). Older torch releases
# lack them; the foreach form is used there, on other devices and in the compiled update.
_FUSED_ADAM = getattr(torch, "_fused_adam_", None)
_FUSED_ADAGRAD = getattr(torch, "_fused_adagrad_", None)
_FUSED_DTYPES = (torch.float32, torch.float64)


def _run_fused(kernel: Any, params: Tensors, *args: Any, **kwargs: Any) -> None:
    """``kernel(params, *args, **kwargs)``, then the parameters' version counters bumped: the
    fused kernels write through data pointers, unseen by autograd's in-place checks and by
    caches keyed on versions (``Layer._derived``), which would otherwise keep stale weights.
    Tensors stored transposed go in as their contiguous ``.T`` (the update is element-wise,
    and ``_fusable`` made sure every tensor of a parameter shares its layout): given the
    transposed tensor itself, the kernel makes a contiguous copy of the gradient each step."""
    kernel(_row_major(params), *(_row_major(a) for a in args), **kwargs)
    try:
        torch.autograd.graph.increment_version(params)
    except TypeError:  # torch releases whose increment_version takes one tensor
        for p in params:
            torch.autograd.graph.increment_version(p)


def _row_major(tensors: Any) -> Any:
    """A list of tensors with each one stored transposed replaced by its (contiguous) ``.T``;
    anything else as it is."""
    if not isinstance(tensors, list) or all(t.is_contiguous() for t in tensors):
        return tensors
    return [t if t.is_contiguous() else t.T for t in tensors]


def _fusable(kernel: Any, lr: Any, params: Tensors, grads: Tensors, *slots: Tensors) -> bool:
    """Whether ``kernel`` (a fused op or None) can run this update: a float rate (not the
    compiled update's tensor), dense CPU tensors of a full-precision dtype, and for each
    parameter its gradient and ``slots`` laid out in memory as it is. The kernels walk
    memory in storage order, so a parameter stored transposed (a small Dense kernel, see
    ``Dense.build``) is fine, but a gradient or slot in another layout would be paired with the
    wrong elements, silently: such groups take the foreach form."""
    if kernel is None or isinstance(lr, torch.Tensor):
        return False
    for i, (p, g) in enumerate(zip(params, grads)):
        layout = _layout(p)
        if (
            layout is None
            or p.device.type != "cpu"
            or p.dtype not in _FUSED_DTYPES
            or g.dtype != p.dtype
            or g.device.type != "cpu"
            or _layout(g) != layout
        ):
            return False
        for s in slots:
            if _layout(s[i]) != layout:
                return False
    return True


def _layout(t: torch.Tensor) -> int | None:
    """How ``t`` covers its memory: 0 row-major without gaps (contiguous, which ignores the
    strides of size-1 axes), 1 a 2-D tensor stored transposed without gaps (its ``.T`` is
    contiguous), None anything else. Read from the strides: this runs for every parameter at
    every step, where comparing ``.T`` views took twice as long (``_fusable`` on W1's four
    parameters and their slots: 17.8 vs 9.5 us)."""
    if t.is_contiguous():
        return 0
    if t.dim() == 2:
        (rows, cols), (row_stride, col_stride) = t.shape, t.stride()
        if (rows == 1 or row_stride == 1) and (cols == 1 or col_stride == rows):
            return 1
    return None


def _same_layout(p: torch.Tensor, t: torch.Tensor) -> bool:
    """Whether ``t`` and ``p`` both cover their memory without gaps in the same order."""
    layout = _layout(p)
    return layout is not None and _layout(t) == layout


class _ForeachOptimizer(torch.optim.Optimizer):
    """Shared plumbing: eager slot creation, gathering (params, grads, slots) per group, step
    counting. Subclasses define ``_slots(group)`` and ``_update(group, params, grads, slots)``."""

    def _slots(self, group: dict[str, Any]) -> dict[str, float]:
        """Slot name -> initial fill value."""
        raise NotImplementedError

    def _update(
        self,
        group: dict[str, Any],
        params: Tensors,
        grads: Tensors,
        slots: dict[str, Tensors],
        lr: Any,
    ) -> None:
        """One update of a group; ``lr`` is ``group["lr"]`` as a float or a 0-dim tensor."""
        raise NotImplementedError

    def _stored_form(self, group: dict[str, Any]) -> tuple[str, str, float, float] | None:
        """``(slot, stored_slot, scale, shift)`` when the update keeps ``slot`` as
        ``stored_slot = scale * slot + shift`` (so that torch's fused kernels compute Keras's
        formula), else None. ``state`` and ``state_dict()`` hold the stored form (so a resumed
        run continues bit for bit), with the group's ``"stored_form"`` saying which."""
        return None

    def _stored_slots(self, group: dict[str, Any]) -> dict[str, float]:
        """``_slots(group)`` under the group's current stored form (name and fill value)."""
        slots = self._slots(group)
        form = group.get("stored_form")
        if form is None or form[0] not in slots:
            return slots
        name, stored, scale, shift = form
        return {
            (stored if k == name else k): (scale * v + shift if k == name else v)
            for k, v in slots.items()
        }

    def _sync_stored_forms(self) -> None:
        """Bring each group's slots to the form ``_stored_form`` asks for now (at the first
        step, after ``load_state_dict``, or when a hyper-parameter the form depends on
        changed), in place."""
        for group in self.param_groups:
            want, have = self._stored_form(group), group.get("stored_form")
            if want == have:
                continue
            for p in group["params"]:
                state = self.state.get(p)
                if not state:
                    continue
                if have is not None and have[1] in state:
                    name, stored, scale, shift = have
                    state[name] = state.pop(stored).sub_(shift).div_(scale)
                if want is not None and want[0] in state:
                    name, stored, scale, shift = want
                    state[stored] = state.pop(name).mul_(scale).add_(shift)
            group["stored_form"] = want

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """``torch.optim``'s, then one name per slot: a state saved in the other form (by an
        older lamina, or under other hyper-parameters) replaces this optimizer's slot and is
        converted at the next step."""
        super().load_state_dict(state_dict)
        for group in self.param_groups:
            for p in group["params"]:
                # Saved slots come back contiguous; a parameter stored transposed gets them in
                # its own layout again, which the fused kernels need (see ``_fusable``).
                state = self.state.get(p, {})
                for name, v in state.items():
                    if torch.is_tensor(v) and v.shape == p.shape and not _same_layout(p, v):
                        state[name] = torch.empty_like(p, dtype=v.dtype).copy_(v)
            form = group.get("stored_form")
            if form is not None:
                form = group["stored_form"] = tuple(form)  # a list after JSON
            pair = form or self._stored_form(group)
            if pair is None:
                continue
            stale = pair[0] if form is not None else pair[1]
            for p in group["params"]:
                state = self.state.get(p)
                if state and pair[0] in state and pair[1] in state:
                    del state[stale]

    def _step_tensors(self, group: dict[str, Any], n: int) -> Tensors:
        """The group's step as the per-parameter tensor list torch's fused kernels read (``n``
        references to one CPU tensor)."""
        step = self.__dict__.get("_step_value")
        if step is None:
            step = self.__dict__["_step_value"] = torch.zeros(())
        step.fill_(group["step"])
        return [step] * n

    def _init_state(self, group: dict[str, Any]) -> None:
        slots = self._stored_slots(group)
        for p in group["params"]:
            state = self.state[p]
            for name, fill in slots.items():
                if name not in state:
                    state[name] = torch.full_like(p, fill, memory_format=torch.preserve_format)

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        super().add_param_group(param_group)
        group = self.param_groups[-1]
        group.setdefault("step", 0)
        self._init_state(group)

    @torch.no_grad()
    def step(self, closure: Callable[[], Any] | None = None) -> Any:  # type: ignore[override]
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        self._step_unhooked()
        return loss

    # jit_compile sets this to the compiled form of ``_update_all`` (lamina/engine/trainer.py).
    _jit_update: Any = None

    def _step_unhooked(self) -> None:
        """The update itself, without ``torch.optim``'s step wrapper (its profiler record and
        hook loops cost more Python time than a small model's update): lamina's optimizers call
        it under ``no_grad`` when no step hook is registered (see ``base.Optimizer._update``)."""
        self._sync_stored_forms()
        if self._jit_update is None:
            self._update_all(None)
            return
        # The compiled update takes each group's rate as a 0-dim tensor filled here: changing
        # the rate (a schedule, ReduceLROnPlateau) then needs no new graph.
        rates = self.__dict__.setdefault("_rates", [])
        for i, group in enumerate(self.param_groups):
            first = group["params"][0] if group["params"] else torch.zeros(())
            if i == len(rates):
                rates.append(torch.zeros((), dtype=first.dtype, device=first.device))
            elif rates[i].device != first.device or rates[i].dtype != first.dtype:  # moved
                rates[i] = rates[i].to(first.device, first.dtype)
            rates[i].fill_(group["lr"])
        self._jit_update(rates[: len(self.param_groups)])

    def _update_all(self, rates: list[torch.Tensor] | None) -> None:
        """Every group's update; ``rates`` (0-dim tensors) replace the groups' float rates."""
        for index, group in enumerate(self.param_groups):
            params = [p for p in group["params"] if p.grad is not None]
            if not params:
                continue
            grads = [p.grad for p in params]
            if any(g.is_sparse for g in grads):
                raise RuntimeError(
                    f"{type(self).__name__} does not support sparse gradients; use dense "
                    "gradients (e.g. Embedding(sparse=False))."
                )
            names = self._stored_slots(group)
            states = [self.state[p] for p in params]
            if any(len(s) < len(names) for s in states):  # parameters added by hand
                self._init_state(group)
            slots = {name: [s[name] for s in states] for name in names}
            group["step"] += 1
            lr = group["lr"] if rates is None else rates[index]
            self._update(group, params, grads, slots, lr)


class KerasSGD(_ForeachOptimizer):
    """SGD with Keras's momentum: ``m = momentum*m - lr*g; w += m`` (Nesterov:
    ``w += momentum*m - lr*g``). The learning rate is folded into ``m`` as Keras does, which
    differs from ``torch.optim.SGD`` whenever the learning rate changes during training.

    Example:
        >>> w = torch.nn.Parameter(torch.tensor([1.0]))
        >>> opt = KerasSGD([w], lr=0.1, momentum=0.9)
        >>> w.grad = torch.tensor([1.0])
        >>> opt.step(); opt.step()
        >>> round(w.item(), 6)  # 1 - 0.1 - (0.9*0.1 + 0.1)
        0.71
    """

    def __init__(
        self, params: Iterable[Any], lr: float = 0.01, momentum: float = 0.0, nesterov: bool = False
    ):
        super().__init__(params, {"lr": lr, "momentum": momentum, "nesterov": nesterov})

    def _slots(self, group):
        return {"momentum": 0.0} if group["momentum"] != 0 else {}

    def _update(self, group, params, grads, slots, lr):
        mu = group["momentum"]
        if mu == 0:
            _add_(params, grads, -lr)
            return
        m = slots["momentum"]
        torch._foreach_mul_(m, mu)
        _add_(m, grads, -lr)
        if group["nesterov"]:
            torch._foreach_add_(params, m, alpha=mu)
            _add_(params, grads, -lr)
        else:
            torch._foreach_add_(params, m)


class KerasRMSprop(_ForeachOptimizer):
    """RMSprop as Keras: ``v = rho*v + (1-rho)*g²``; ``w -= lr*g / sqrt(v + eps)`` (centered:
    ``sqrt(v - a² + eps)`` with ``a = rho*a + (1-rho)*g``; momentum: ``m = momentum*m +
    increment; w -= m``). Without momentum or centering the velocity is kept as
    ``scaled_velocity = (v + eps) / (1 - rho)``, the form torch's fused Adagrad kernel needs.

    Example:
        >>> w = torch.nn.Parameter(torch.tensor([1.0]))
        >>> opt = KerasRMSprop([w], lr=0.1, centered=True)
        >>> w.grad = torch.tensor([1.0])
        >>> opt.step()
        >>> round(w.item(), 4)  # 1 - 0.1 / sqrt(0.1 - 0.01 + 1e-7)
        0.6667
    """

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 0.001,
        rho: float = 0.9,
        momentum: float = 0.0,
        eps: float = 1e-7,
        centered: bool = False,
    ):
        defaults = {"lr": lr, "rho": rho, "momentum": momentum, "eps": eps, "centered": centered}
        super().__init__(params, defaults)

    def _slots(self, group):
        slots = {"velocity": 0.0}
        if group["momentum"] > 0:
            slots["momentum"] = 0.0
        if group["centered"]:
            slots["average_gradient"] = 0.0
        return slots

    def _stored_form(self, group):
        rho = group["rho"]
        if group["momentum"] > 0 or group["centered"] or not 0 <= rho < 1:
            return None
        # s = (v + eps) / (1 - rho) turns the update into s = rho*s + eps + g²,
        # w -= lr/sqrt(1 - rho) * g/sqrt(s): a decay pass, then Adagrad's fused update.
        return ("velocity", "scaled_velocity", 1 / (1 - rho), group["eps"] / (1 - rho))

    def _update(self, group, params, grads, slots, lr):
        rho, eps = group["rho"], group["eps"]
        if group.get("stored_form") is not None:
            s = slots["scaled_velocity"]
            rate = lr / (1 - rho) ** 0.5
            if _fusable(_FUSED_ADAGRAD, lr, params, grads, s):
                # s = rho*s + eps as one lerp towards eps/(1-rho) per tensor: half the time of
                # foreach mul_ + add_ on CPU (which runs per tensor too, converting the scalars)
                end = torch.tensor(eps / (1 - rho), dtype=s[0].dtype)
                for t in s:
                    t.lerp_(end if t.dtype == end.dtype else end.to(t.dtype), 1 - rho)
                steps = self._step_tensors(group, len(params))
                _run_fused(_FUSED_ADAGRAD, params, grads, s, steps, lr=rate, lr_decay=0.0,
                           weight_decay=0.0, eps=0.0, maximize=False)  # fmt: skip
            else:
                torch._foreach_mul_(s, rho)
                torch._foreach_add_(s, eps)
                torch._foreach_addcmul_(s, grads, grads)
                _addcmul_(params, grads, torch._foreach_rsqrt(s), -rate)
            return
        v = slots["velocity"]
        torch._foreach_mul_(v, rho)
        torch._foreach_addcmul_(v, grads, grads, value=1 - rho)
        if group["centered"]:
            a = slots["average_gradient"]
            torch._foreach_lerp_(a, grads, 1 - rho)
            inv_rms = torch._foreach_addcmul(v, a, a, value=-1)
            torch._foreach_add_(inv_rms, eps)
        else:
            inv_rms = torch._foreach_add(v, eps)
        # 1/sqrt then a multiply: as exact as sqrt then a divide, and faster on CPU
        torch._foreach_rsqrt_(inv_rms)
        if group["momentum"] > 0:
            m = slots["momentum"]
            torch._foreach_mul_(m, group["momentum"])
            _addcmul_(m, grads, inv_rms, lr)
            torch._foreach_sub_(params, m)
        else:
            _addcmul_(params, grads, inv_rms, -lr)


class KerasAdam(_ForeachOptimizer):
    """Adam as Keras: ``m += (g-m)(1-b1); v += (g²-v)(1-b2)``;
    ``w -= lr*sqrt(1-b2^t)/(1-b1^t) * m / (sqrt(v) + eps)`` (Keras's "epsilon hat": ``eps`` is
    not rescaled by the bias correction, unlike ``torch.optim.Adam``). ``amsgrad`` uses
    ``max(v_hat, v)`` in place of ``v``.

    Example:
        >>> w = torch.nn.Parameter(torch.tensor([1.0]))
        >>> opt = KerasAdam([w], lr=0.1)
        >>> w.grad = torch.tensor([1.0])
        >>> opt.step()
        >>> round(w.item(), 6)  # the first Adam step moves by about lr
        0.9
    """

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 0.001,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-7,
        amsgrad: bool = False,
    ):
        super().__init__(params, {"lr": lr, "betas": betas, "eps": eps, "amsgrad": amsgrad})

    def _slots(self, group):
        slots = {"momentum": 0.0, "velocity": 0.0}
        if group["amsgrad"]:
            slots["velocity_hat"] = 0.0
        return slots

    def _update(self, group, params, grads, slots, lr):
        (b1, b2), t = group["betas"], group["step"]
        m, v = slots["momentum"], slots["velocity"]
        slots_in = [m, v, slots["velocity_hat"]] if group["amsgrad"] else [m, v]
        if b2**t < 1 and _fusable(_FUSED_ADAM, lr, params, grads, *slots_in):
            # torch's kernel divides by sqrt(v)/sqrt(1-b2^t) + eps: Keras's sqrt(v) + eps
            # (after the same bias corrections) is that with eps scaled by 1/sqrt(1-b2^t).
            amsgrad = group["amsgrad"]
            _run_fused(
                _FUSED_ADAM, params, grads, m, v, slots["velocity_hat"] if amsgrad else [],
                self._step_tensors(group, len(params)), lr=lr, beta1=b1, beta2=b2,
                weight_decay=0.0, eps=group["eps"] / (1 - b2**t) ** 0.5, amsgrad=amsgrad,
                maximize=False,
            )  # fmt: skip
            return
        torch._foreach_lerp_(m, grads, 1 - b1)
        torch._foreach_mul_(v, b2)
        torch._foreach_addcmul_(v, grads, grads, value=1 - b2)
        if group["amsgrad"]:
            torch._foreach_maximum_(slots["velocity_hat"], v)
            v = slots["velocity_hat"]
        alpha = lr * ((1 - b2**t) ** 0.5 / (1 - b1**t))
        denom = torch._foreach_sqrt(v)
        torch._foreach_add_(denom, group["eps"])
        _addcdiv_(params, m, denom, -alpha)


class KerasAdagrad(_ForeachOptimizer):
    """Adagrad as Keras: ``acc += g²; w -= lr*g / sqrt(acc + eps)``, ``acc`` starting at
    ``initial_accumulator_value``. The accumulator is kept as ``accumulator_plus_eps = acc +
    eps`` (torch's fused Adagrad kernel then computes Keras's update with its own eps at 0).

    Example:
        >>> w = torch.nn.Parameter(torch.tensor([1.0]))
        >>> opt = KerasAdagrad([w], lr=0.1)
        >>> w.grad = torch.tensor([1.0])
        >>> opt.step()
        >>> round(w.item(), 6)  # 1 - 0.1 / sqrt(1.1 + 1e-7)
        0.904654
    """

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 0.001,
        initial_accumulator_value: float = 0.1,
        eps: float = 1e-7,
    ):
        defaults = {"lr": lr, "initial_accumulator_value": initial_accumulator_value, "eps": eps}
        super().__init__(params, defaults)

    def _slots(self, group):
        return {"accumulator": group["initial_accumulator_value"]}

    def _stored_form(self, group):
        # s = acc + eps: s += g², w -= lr*g/sqrt(s) is torch's fused Adagrad with eps = 0.
        return ("accumulator", "accumulator_plus_eps", 1.0, group["eps"])

    def _update(self, group, params, grads, slots, lr):
        s = slots["accumulator_plus_eps"]
        if _fusable(_FUSED_ADAGRAD, lr, params, grads, s):
            steps = self._step_tensors(group, len(params))
            _run_fused(_FUSED_ADAGRAD, params, grads, s, steps, lr=lr, lr_decay=0.0,
                       weight_decay=0.0, eps=0.0, maximize=False)  # fmt: skip
            return
        torch._foreach_addcmul_(s, grads, grads)
        _addcmul_(params, grads, torch._foreach_rsqrt(s), -lr)


class KerasAdamax(_ForeachOptimizer):
    """Adamax as Keras: ``m += (g-m)(1-b1); u = max(b2*u, |g|)``;
    ``w -= lr/(1-b1^t) * m / (u + eps)`` (``torch.optim.Adamax`` puts ``eps`` inside the max).

    Example:
        >>> w = torch.nn.Parameter(torch.tensor([1.0]))
        >>> opt = KerasAdamax([w], lr=0.1)
        >>> w.grad = torch.tensor([2.0])
        >>> opt.step()
        >>> round(w.item(), 5)
        0.9
    """

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 0.001,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-7,
    ):
        super().__init__(params, {"lr": lr, "betas": betas, "eps": eps})

    def _slots(self, group):
        return {"momentum": 0.0, "norm": 0.0}

    def _update(self, group, params, grads, slots, lr):
        (b1, b2), t = group["betas"], group["step"]
        m, u = slots["momentum"], slots["norm"]
        torch._foreach_lerp_(m, grads, 1 - b1)
        torch._foreach_mul_(u, b2)
        torch._foreach_maximum_(u, torch._foreach_abs(grads))
        denom = torch._foreach_add(u, group["eps"])
        _addcdiv_(params, m, denom, -lr / (1 - b1**t))


class KerasLion(_ForeachOptimizer):
    """Lion as Keras: ``w -= lr*sign(b1*m + (1-b1)*g); m = b2*m + (1-b2)*g``.

    Example:
        >>> w = torch.nn.Parameter(torch.tensor([1.0]))
        >>> opt = KerasLion([w], lr=0.1)
        >>> w.grad = torch.tensor([-3.0])
        >>> opt.step()
        >>> round(w.item(), 6)
        1.1
    """

    def __init__(
        self, params: Iterable[Any], lr: float = 0.001, betas: tuple[float, float] = (0.9, 0.99)
    ):
        super().__init__(params, {"lr": lr, "betas": betas})

    def _slots(self, group):
        return {"momentum": 0.0}

    def _update(self, group, params, grads, slots, lr):
        b1, b2 = group["betas"]
        m = slots["momentum"]
        direction = torch._foreach_lerp(m, grads, 1 - b1)
        torch._foreach_sign_(direction)
        _add_(params, direction, -lr)
        torch._foreach_lerp_(m, grads, 1 - b2)


class KerasFtrl(_ForeachOptimizer):
    """FTRL-proximal as Keras (McMahan et al. 2013, with L2 shrinkage and ``beta``).

    With ``n`` the accumulator and ``z`` the linear term: ``n' = n + g²``;
    ``z += g + 2*shrink*w - (n'^-p - n^-p)/lr * w``;
    ``w = (clip(z, -l1, l1) - z) / (n'^-p/lr + 2*(l2 + beta/(2*lr)))``; ``n = n'``.

    Example:
        >>> w = torch.nn.Parameter(torch.tensor([1.0]))
        >>> opt = KerasFtrl([w], lr=0.1)
        >>> w.grad = torch.tensor([1.0])
        >>> opt.step()
        >>> round(w.item(), 4)
        0.6031
    """

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 0.001,
        lr_power: float = -0.5,
        initial_accumulator_value: float = 0.1,
        l1: float = 0.0,
        l2: float = 0.0,
        l2_shrinkage: float = 0.0,
        beta: float = 0.0,
    ):
        defaults = {
            "lr": lr, "lr_power": lr_power, "initial_accumulator_value": initial_accumulator_value,
            "l1": l1, "l2": l2, "l2_shrinkage": l2_shrinkage, "beta": beta,
        }  # fmt: skip
        super().__init__(params, defaults)

    def _slots(self, group):
        return {"accumulator": group["initial_accumulator_value"], "linear": 0.0}

    def _update(self, group, params, grads, slots, lr):
        power, l1 = -group["lr_power"], group["l1"]
        acc, linear = slots["accumulator"], slots["linear"]
        if group["l2_shrinkage"] > 0:
            grads_to_use = torch._foreach_add(grads, params, alpha=2 * group["l2_shrinkage"])
        else:
            grads_to_use = grads
        new_acc = torch._foreach_addcmul(acc, grads, grads)
        new_pow = torch._foreach_pow(new_acc, power)
        sigma = torch._foreach_sub(new_pow, torch._foreach_pow(acc, power))
        torch._foreach_div_(sigma, lr)
        torch._foreach_add_(linear, grads_to_use)
        torch._foreach_addcmul_(linear, sigma, params, value=-1)
        quadratic = torch._foreach_div(new_pow, lr)
        torch._foreach_add_(quadratic, 2 * (group["l2"] + group["beta"] / (2 * lr)))
        clipped = torch._foreach_clamp_min(linear, -l1)
        torch._foreach_clamp_max_(clipped, l1)
        torch._foreach_sub_(clipped, linear)
        torch._foreach_div_(clipped, quadratic)
        torch._foreach_copy_(params, clipped)
        torch._foreach_copy_(acc, new_acc)
