"""The Keras-style optimizer base: arguments now, parameters at ``build``, one ``step()``.

An :class:`Optimizer` is created without parameters (``RMSprop(learning_rate=1e-3)``). At
``build(params)`` it creates a ``torch.optim.Optimizer`` over them (``opt.torch_optimizer``):
one of lamina's :mod:`~lamina.optimizers.kernels` where Keras's formula differs from
``torch.optim``, else the ``torch.optim`` class itself. ``step()`` then does, in Keras's order:
loss-scale unscaling, gradient accumulation, clipping (``clipnorm`` / ``global_clipnorm`` /
``clipvalue``), the learning rate at the current iteration, decoupled weight decay
(``w -= lr * weight_decay * w``), the update, the moving average (``use_ema``) and
``iterations += 1``.

Example:
    >>> import torch
    >>> from lamina.optimizers import SGD
    >>> w = torch.nn.Parameter(torch.tensor([1.0, -2.0]))
    >>> opt = SGD(learning_rate=0.1)
    >>> opt.build([w])
    >>> w.grad = torch.tensor([1.0, 1.0])
    >>> opt.step()
    >>> [round(v, 6) for v in w.tolist()], opt.iterations
    ([0.9, -2.1], 1)
"""

from __future__ import annotations

import inspect
import numbers
import warnings
from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch.optim import optimizer as _torch_optimizer_module

from lamina._registry import Registry, snake_case
from lamina.errors import LaminaWarning
from lamina.optimizers import schedules
from lamina.optimizers.state import OptimizerState

__all__ = ["Optimizer", "OPTIMIZERS"]

OPTIMIZERS = Registry("optimizer")


def _check_rate(value: Any, what: str = "learning_rate") -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not value >= 0:
        raise ValueError(
            f"Argument `{what}` should be a float >= 0, a LearningRateSchedule or a callable "
            f"that takes no arguments. Received: {what}={value!r}."
        )
    return float(value)


class Optimizer(OptimizerState):
    """Base class of lamina optimizers (Keras names, torch kernels).

    Args:
        learning_rate: A float, a ``LearningRateSchedule`` (evaluated at ``iterations``), or a
            zero-argument callable returning a float.
        weight_decay: If set, each step first does ``w -= learning_rate * weight_decay * w``.
        clipnorm: Clip each parameter's gradient to this L2 norm.
        clipvalue: Clip each gradient element to ``[-clipvalue, clipvalue]``.
        global_clipnorm: Clip all gradients together to this global L2 norm.
        use_ema: Keep an exponential moving average of the parameters.
        ema_momentum: The average's momentum: ``avg = m*avg + (1-m)*w``.
        ema_overwrite_frequency: Every this many steps, copy the average into the parameters;
            ``None`` waits for ``finalize_variable_values()``.
        loss_scale_factor: Gradients are divided by it (pair with ``scale_loss(loss)``).
        gradient_accumulation_steps: Update every this many steps with the mean gradient.
        name: A name for the optimizer.
        lr: Keras 2 spelling of ``learning_rate``, accepted for old code.
        decay: Keras 2 time decay: ``lr / (1 + decay * iterations)``, accepted for old code.

    Example:
        >>> from lamina.optimizers import Adam
        >>> opt = Adam(learning_rate=1e-3, global_clipnorm=1.0)
        >>> opt.get_config()["global_clipnorm"]
        1.0
    """

    def __init__(
        self,
        learning_rate: float | schedules.LearningRateSchedule | Callable[[], float] = 0.001,
        weight_decay: float | None = None,
        clipnorm: float | None = None,
        clipvalue: float | None = None,
        global_clipnorm: float | None = None,
        use_ema: bool = False,
        ema_momentum: float = 0.99,
        ema_overwrite_frequency: int | None = None,
        loss_scale_factor: float | None = None,
        gradient_accumulation_steps: int | None = None,
        name: str | None = None,
        *,
        lr: float | None = None,
        decay: float | None = None,
    ):
        if lr is not None:
            learning_rate = lr
        if decay:
            learning_rate = schedules.InverseTimeDecay(_check_rate(learning_rate), 1, decay)
        clips = {"clipnorm": clipnorm, "clipvalue": clipvalue, "global_clipnorm": global_clipnorm}
        if sum(v is not None for v in clips.values()) > 1:
            raise ValueError(
                "Only one of `clipnorm`, `clipvalue` and `global_clipnorm` can be set. Received: "
                + ", ".join(f"{k}={v}" for k, v in clips.items())
            )
        for key, value in [*clips.items(), ("weight_decay", weight_decay)]:
            if value is not None:
                _check_rate(value, key)
        if not 0 <= ema_momentum <= 1:
            raise ValueError(f"`ema_momentum` must be in [0, 1]. Received: {ema_momentum}.")
        for key, value in [
            ("ema_overwrite_frequency", ema_overwrite_frequency),
            ("gradient_accumulation_steps", gradient_accumulation_steps),
        ]:
            if value is not None and (not isinstance(value, int) or value < 1):
                raise ValueError(f"`{key}` must be an integer >= 1 or None. Received: {value!r}.")
        self.name = name or snake_case(type(self).__name__)
        self.weight_decay = weight_decay
        self.clipnorm = clipnorm
        self.clipvalue = clipvalue
        self.global_clipnorm = global_clipnorm
        self.use_ema = use_ema
        self.ema_momentum = ema_momentum
        self.ema_overwrite_frequency = ema_overwrite_frequency
        self.loss_scale_factor = loss_scale_factor
        self.gradient_accumulation_steps = gradient_accumulation_steps
        self._learning_rate: Any = self._check_learning_rate(learning_rate)
        self._iterations = 0
        self._lr_was_set = False
        self._params: list[torch.Tensor] = []
        self._torch_opt: torch.optim.Optimizer | None = None
        self._ema: list[torch.Tensor] = []
        self._accumulators: list[torch.Tensor] = []
        self._decay_mask: list[bool] = []
        self._exclude_ids: set[int] = set()
        self._exclude_names: tuple[str, ...] = ()
        self._pending_tensors: dict[str, torch.Tensor] | None = None
        self._pending_json: dict[str, Any] | None = None
        self.built = False

    # ----------------------------------------------------------------- subclass hook
    def _make_torch_optimizer(self, params: list[torch.Tensor], lr: float) -> torch.optim.Optimizer:
        raise NotImplementedError(f"{type(self).__name__} must define _make_torch_optimizer().")

    # ----------------------------------------------------------------- learning rate
    @staticmethod
    def _check_learning_rate(value: Any) -> Any:
        if isinstance(value, schedules.LearningRateSchedule) or callable(value):
            return value
        return _check_rate(value)

    @property
    def learning_rate(self) -> float:
        """The learning rate the next step uses; settable to a float (or a schedule)."""
        lr = self._learning_rate
        if isinstance(lr, schedules.LearningRateSchedule):
            return float(lr(self._iterations))
        if callable(lr):
            return float(lr())
        if self._torch_opt is not None:  # torch lr_schedulers write into the param groups
            return float(self._torch_opt.param_groups[0]["lr"])
        return lr

    @learning_rate.setter
    def learning_rate(self, value: Any) -> None:
        value = self._check_learning_rate(value)
        if isinstance(value, float) and isinstance(
            self._learning_rate, schedules.LearningRateSchedule
        ):
            raise TypeError(
                f"This optimizer's learning rate is a {type(self._learning_rate).__name__} "
                "schedule, so it cannot be set to a float. Create the optimizer with a float "
                "learning_rate to be able to set it (e.g. from ReduceLROnPlateau)."
            )
        self._learning_rate = value
        self._lr_was_set = True
        if isinstance(value, float) and self._torch_opt is not None:
            for group in self._torch_opt.param_groups:
                group["lr"] = value

    @property
    def _lr_is_scheduled(self) -> bool:
        """Whether the learning rate can change during training (a schedule, a callable, or a
        value set after creation); the trainer logs it then, as Keras does."""
        return not isinstance(self._learning_rate, float) or self._lr_was_set

    @property
    def iterations(self) -> int:
        """Number of updates applied (steps // gradient_accumulation_steps)."""
        return self._iterations // (self.gradient_accumulation_steps or 1)

    # ----------------------------------------------------------------- lifecycle
    @property
    def torch_optimizer(self) -> torch.optim.Optimizer:
        """The underlying ``torch.optim.Optimizer`` (after ``build``): attach
        ``torch.optim.lr_scheduler`` objects to it."""
        if self._torch_opt is None:
            raise RuntimeError(
                f"{type(self).__name__} has no torch optimizer yet: call "
                "optimizer.build(parameters) first (fit() does this at the first step)."
            )
        return self._torch_opt

    @property
    def param_groups(self) -> list[dict[str, Any]]:
        return self.torch_optimizer.param_groups

    def build(self, params: Iterable[torch.Tensor]) -> None:
        """Create the torch optimizer and slots for ``params``; a second call is a no-op."""
        unique = list({id(p): p for p in params}.values())
        if self.built:
            if [id(p) for p in unique] != [id(p) for p in self._params]:
                raise ValueError(
                    f"{type(self).__name__} was already built for {len(self._params)} other "
                    "parameters. Create a new optimizer for a new set of parameters."
                )
            return
        for p in unique:
            if not isinstance(p, torch.Tensor):
                raise TypeError(f"build() expects torch tensors / Parameters, got {type(p)}.")
        self._params = unique
        if unique:
            self._torch_opt = self._make_torch_optimizer(unique, self._lr_now())
        self._decay_mask = [self._decays(p) for p in unique]
        if self.use_ema:
            self._ema = [torch.zeros_like(p, requires_grad=False) for p in unique]
        if self.gradient_accumulation_steps:
            self._accumulators = [torch.zeros_like(p, requires_grad=False) for p in unique]
        self.built = True
        self._apply_pending()

    def _lr_now(self) -> float:
        if isinstance(self._learning_rate, float):
            return self._learning_rate
        return self.learning_rate

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Drop the gradients of the parameters (``p.grad = None``)."""
        if self._torch_opt is None:
            return
        if set_to_none:
            # The same as torch's zero_grad without its per-call profiler record (measurable
            # on small models, where the whole step takes well under a millisecond).
            for group in self._torch_opt.param_groups:
                for p in group["params"]:
                    p.grad = None
        else:
            self._torch_opt.zero_grad(set_to_none=set_to_none)

    @torch.no_grad()
    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """Apply ``p.grad`` to every parameter that has one. Unscaling and clipping modify
        ``p.grad`` in place, as ``torch.nn.utils.clip_grad_norm_`` does."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        if not self.built:
            raise RuntimeError(
                f"{type(self).__name__} has no parameters: call optimizer.build(parameters) "
                "before step() (fit() does this for you)."
            )
        self._apply_pending()
        idx = [i for i, p in enumerate(self._params) if p.grad is not None]
        if self._params and not idx:
            raise ValueError(
                "No gradients provided for any parameter: is the loss connected to the model's "
                "weights, and was loss.backward() called before step()?"
            )
        params = [self._params[i] for i in idx]
        grads = [p.grad for p in params]
        if params and self.loss_scale_factor is not None:
            torch._foreach_div_(grads, self.loss_scale_factor)
        n_acc = self.gradient_accumulation_steps
        if params and n_acc:
            accumulators = [self._accumulators[i] for i in idx]
            if (self._iterations + 1) % n_acc:
                torch._foreach_add_(accumulators, grads)
                self._iterations += 1
                return loss
            torch._foreach_add_(grads, accumulators)
            torch._foreach_div_(grads, n_acc)
            torch._foreach_zero_(self._accumulators)
        if params:
            self._update(idx, params, grads)
        self._iterations += 1
        return loss

    def _update(self, idx: list[int], params: list[torch.Tensor], grads: list[torch.Tensor]):
        self._clip(grads)
        lr = self.learning_rate
        opt = self.torch_optimizer
        if not isinstance(self._learning_rate, float):
            for group in opt.param_groups:
                group["lr"] = lr
        if self.weight_decay:
            decayed = [p for i, p in zip(idx, params) if self._decay_mask[i]]
            torch._foreach_mul_(decayed, 1 - lr * self.weight_decay)
        if _unhooked(opt):
            with torch.no_grad():
                opt._step_unhooked()
        else:
            opt.step()
        if self.use_ema:
            m = self.ema_momentum if self.iterations else 0.0
            torch._foreach_mul_(self._ema, m)
            torch._foreach_add_(self._ema, self._params, alpha=1 - m)
            freq = self.ema_overwrite_frequency
            if freq and (self.iterations + 1) % freq == 0:
                torch._foreach_copy_(self._params, self._ema)

    def _clip(self, grads: list[torch.Tensor]) -> None:
        if self.clipnorm:
            scales = torch._foreach_norm(grads)
            torch._foreach_clamp_min_(scales, self.clipnorm)
            torch._foreach_reciprocal_(scales)
            torch._foreach_mul_(scales, self.clipnorm)
            torch._foreach_mul_(grads, scales)
        elif self.global_clipnorm:
            norms = torch._foreach_norm(grads)
            total = torch.linalg.vector_norm(torch.stack([n.to(norms[0].device) for n in norms]))
            # clip / max(total, clip), and NaN when the norm is not finite (as Keras)
            clip = self.global_clipnorm
            scale = clip * torch.minimum(1 / total, total.new_tensor(1 / clip)) + (total - total)
            torch._foreach_mul_(grads, scale)
        elif self.clipvalue:
            torch._foreach_clamp_min_(grads, -self.clipvalue)
            torch._foreach_clamp_max_(grads, self.clipvalue)

    def apply(
        self, grads: list[torch.Tensor], trainable_variables: list[torch.Tensor] | None = None
    ) -> None:
        """Keras's ``apply``: set the gradients of ``trainable_variables`` (default: the built
        parameters) to ``grads`` and step.

        Example:
            >>> from lamina.optimizers import SGD
            >>> w = torch.nn.Parameter(torch.tensor([1.0]))
            >>> SGD(learning_rate=0.5).apply([torch.tensor([1.0])], [w])
            >>> w.item()
            0.5
        """
        if trainable_variables is None:
            trainable_variables = self._params
        else:
            self.build(trainable_variables)
        if len(grads) != len(trainable_variables):
            raise ValueError(
                f"Got {len(grads)} gradients for {len(trainable_variables)} variables."
            )
        for g, p in zip(grads, trainable_variables):
            p.grad = g
        self.step()

    def apply_gradients(self, grads_and_vars: Iterable[tuple[torch.Tensor, torch.Tensor]]):
        """Keras's ``apply_gradients(zip(grads, vars))``."""
        grads, variables = zip(*grads_and_vars)
        self.apply(list(grads), list(variables))

    def scale_loss(self, loss: torch.Tensor) -> torch.Tensor:
        """``loss * loss_scale_factor`` (the loss unchanged when no factor is set)."""
        return loss if self.loss_scale_factor is None else loss * self.loss_scale_factor

    def finalize_variable_values(self, var_list: Iterable[torch.Tensor] | None = None) -> None:
        """With ``use_ema``, copy the moving averages into the parameters (end of training)."""
        if self.use_ema and self._ema:
            with torch.no_grad():
                torch._foreach_copy_(self._params, self._ema)

    def exclude_from_weight_decay(
        self, var_list: Iterable[torch.Tensor] | None = None, var_names: Iterable[str] | None = None
    ) -> None:
        """Exempt parameters from weight decay, by identity or by a substring of their
        ``path`` / ``name`` attribute. Call before ``build``."""
        if self.built:
            raise ValueError("exclude_from_weight_decay() must be called before build().")
        self._exclude_ids = {id(v) for v in var_list or ()}
        self._exclude_names = tuple(var_names or ())

    def _decays(self, p: torch.Tensor) -> bool:
        if id(p) in self._exclude_ids:
            return False
        label = str(getattr(p, "path", None) or getattr(p, "name", None) or "")
        return not any(n in label for n in self._exclude_names)

    @property
    def variables(self) -> list[torch.Tensor]:
        """The optimizer's slot tensors (grouped by slot, then parameter, as Keras). RMSprop
        without momentum or centering and Adagrad hold their squared-gradient slot in the form
        torch's fused kernels need (``scaled_velocity``, ``accumulator_plus_eps``; see
        docs/optimizers.md)."""
        self._apply_pending()
        if self._torch_opt is None:
            return []
        states = [self._torch_opt.state.get(p, {}) for p in self._params]
        names = list(dict.fromkeys(k for s in states for k in s if k != "step"))
        slots = [s[n] for n in names for s in states if torch.is_tensor(s.get(n))]
        return slots + self._ema + self._accumulators

    # ----------------------------------------------------------------- state save / load
    def _class_name(self) -> str:
        return OPTIMIZERS.canonical_name(type(self)) or type(self).__name__

    # ----------------------------------------------------------------- config
    @classmethod
    def _arg_names(cls) -> dict[str, Any]:
        """``__init__`` argument name -> default, over the class and the base."""
        out: dict[str, Any] = {}
        for klass in (Optimizer, cls):
            for n, p in inspect.signature(klass.__init__).parameters.items():
                if n in ("self", "lr", "decay") or p.kind in (p.VAR_KEYWORD, p.VAR_POSITIONAL):
                    continue
                out[n] = p.default
        return out

    def get_config(self) -> dict[str, Any]:
        """The ``__init__`` arguments (Keras names); ``from_config`` rebuilds the optimizer."""
        config = {"name": self.name, "learning_rate": self._learning_rate_config()}
        config.update({n: getattr(self, n) for n in self._arg_names() if n not in config})
        return config

    def _learning_rate_config(self) -> Any:
        lr = self._learning_rate
        if isinstance(lr, schedules.LearningRateSchedule):
            return schedules.serialize(lr)
        if callable(lr):
            warnings.warn(
                f"{self.name}: a plain callable learning rate cannot be saved; its current "
                "value is stored. Use a LearningRateSchedule to save the schedule.",
                LaminaWarning,
                stacklevel=3,
            )
        return self.learning_rate

    @classmethod
    def from_config(cls, config: dict[str, Any], custom_objects: dict | None = None) -> Optimizer:
        config = dict(config)
        if isinstance(config.get("learning_rate"), dict):
            config["learning_rate"] = schedules.deserialize(config["learning_rate"], custom_objects)
        return cls(**config)

    def __repr__(self) -> str:
        defaults = self._arg_names()
        config = self.get_config()
        shown = {
            k: v
            for k, v in config.items()
            if k == "learning_rate" or (defaults.get(k, inspect.Parameter.empty) != v)
        }
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in shown.items())})"


def _unhooked(opt: torch.optim.Optimizer) -> bool:
    """Whether ``opt.step()`` would only run the update: one of lamina's kernels, with no step
    hooks, and ``step`` not replaced on the instance (a torch LR scheduler's call counter, or
    ``jit_compile``'s compiled step)."""
    return (
        hasattr(opt, "_step_unhooked")
        and "step" not in opt.__dict__
        and not opt._optimizer_step_pre_hooks
        and not opt._optimizer_step_post_hooks
        and not _torch_optimizer_module._global_optimizer_pre_hooks
        and not _torch_optimizer_module._global_optimizer_post_hooks
    )
