"""The Adam family: Adam, AdamW, Adamax, Nadam (Keras's names, defaults and formulas).

Each class also takes :class:`~lamina.optimizers.Optimizer`'s keyword arguments
(``weight_decay``, ``clipnorm``, ``use_ema`` ...). ``g`` is the gradient after clipping, ``t`` the
1-based step.

Example:
    >>> import torch
    >>> from lamina.optimizers import Adam
    >>> w = torch.nn.Parameter(torch.tensor([1.0]))
    >>> opt = Adam(learning_rate=0.1)
    >>> opt.build([w])
    >>> w.grad = torch.tensor([0.5])
    >>> opt.step()
    >>> round(w.item(), 4)  # the first step moves each weight by about lr
    0.9
"""

from __future__ import annotations

from typing import Any

import torch

from lamina.optimizers import kernels
from lamina.optimizers.base import OPTIMIZERS, Optimizer

__all__ = ["Adam", "AdamW", "Adamax", "Nadam"]


@OPTIMIZERS.register("Adam", "adam")
class Adam(Optimizer):
    """Adam: adaptive first and second moments.

    ``m += (g-m)(1-beta_1); v += (g²-v)(1-beta_2)``;
    ``w -= lr*sqrt(1-beta_2^t)/(1-beta_1^t) * m / (sqrt(v) + epsilon)``. ``amsgrad``: use
    ``v_hat = max(v_hat, v)`` in place of ``v``.

    Args:
        learning_rate: Defaults to 0.001.
        beta_1: Defaults to 0.9.
        beta_2: Defaults to 0.999.
        epsilon: Defaults to 1e-7 (Keras's "epsilon hat", not rescaled by bias correction).
        amsgrad: Defaults to False.

    Example:
        >>> Adam(amsgrad=True).amsgrad
        True
    """

    def __init__(
        self,
        learning_rate: Any = 0.001,
        beta_1: float = 0.9,
        beta_2: float = 0.999,
        epsilon: float = 1e-7,
        amsgrad: bool = False,
        name: str = "adam",
        **kwargs: Any,
    ):
        super().__init__(learning_rate=learning_rate, name=name, **kwargs)
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.amsgrad = amsgrad

    def _make_torch_optimizer(self, params, lr):
        return kernels.KerasAdam(
            params, lr=lr, betas=(self.beta_1, self.beta_2), eps=self.epsilon, amsgrad=self.amsgrad
        )


@OPTIMIZERS.register("AdamW", "adamw")
class AdamW(Adam):
    """Adam with decoupled weight decay: ``w -= lr*weight_decay*w`` before the Adam update.

    Args:
        learning_rate: Defaults to 0.001.
        weight_decay: Defaults to 0.004.
        beta_1, beta_2, epsilon, amsgrad: As :class:`Adam`.

    Example:
        >>> AdamW().weight_decay
        0.004
    """

    def __init__(
        self,
        learning_rate: Any = 0.001,
        weight_decay: float = 0.004,
        beta_1: float = 0.9,
        beta_2: float = 0.999,
        epsilon: float = 1e-7,
        amsgrad: bool = False,
        name: str = "adamw",
        **kwargs: Any,
    ):
        if weight_decay is None:
            raise ValueError("Argument `weight_decay` must be a float. Received: None.")
        super().__init__(
            learning_rate=learning_rate,
            beta_1=beta_1,
            beta_2=beta_2,
            epsilon=epsilon,
            amsgrad=amsgrad,
            weight_decay=weight_decay,
            name=name,
            **kwargs,
        )


@OPTIMIZERS.register("Adamax", "adamax")
class Adamax(Optimizer):
    """Adamax: Adam with the infinity norm.

    ``m += (g-m)(1-beta_1); u = max(beta_2*u, |g|); w -= lr/(1-beta_1^t) * m/(u + epsilon)``.

    Args:
        learning_rate: Defaults to 0.001.
        beta_1: Defaults to 0.9.
        beta_2: Defaults to 0.999.
        epsilon: Defaults to 1e-7.

    Example:
        >>> Adamax().beta_2
        0.999
    """

    def __init__(
        self,
        learning_rate: Any = 0.001,
        beta_1: float = 0.9,
        beta_2: float = 0.999,
        epsilon: float = 1e-7,
        name: str = "adamax",
        **kwargs: Any,
    ):
        super().__init__(learning_rate=learning_rate, name=name, **kwargs)
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon

    def _make_torch_optimizer(self, params, lr):
        return kernels.KerasAdamax(
            params, lr=lr, betas=(self.beta_1, self.beta_2), eps=self.epsilon
        )


@OPTIMIZERS.register("Nadam", "nadam")
class Nadam(Optimizer):
    """Nadam: Adam with Nesterov momentum (runs ``torch.optim.NAdam`` with
    ``momentum_decay=1``, which is Keras's formula).

    ``u_t = beta_1*(1 - 0.5*0.96^t)``, ``P_t = u_1...u_t``; ``m``, ``v`` as Adam;
    ``m_hat = u_{t+1}*m/(1 - P_t*u_{t+1}) + (1-u_t)*g/(1 - P_t)``;
    ``w -= lr*m_hat / (sqrt(v/(1-beta_2^t)) + epsilon)``.

    Args:
        learning_rate: Defaults to 0.001.
        beta_1: Defaults to 0.9.
        beta_2: Defaults to 0.999.
        epsilon: Defaults to 1e-7.

    Example:
        >>> Nadam().epsilon
        1e-07
    """

    def __init__(
        self,
        learning_rate: Any = 0.001,
        beta_1: float = 0.9,
        beta_2: float = 0.999,
        epsilon: float = 1e-7,
        name: str = "nadam",
        **kwargs: Any,
    ):
        super().__init__(learning_rate=learning_rate, name=name, **kwargs)
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon

    def _make_torch_optimizer(self, params, lr):
        return torch.optim.NAdam(
            params, lr=lr, betas=(self.beta_1, self.beta_2), eps=self.epsilon, momentum_decay=1.0
        )
