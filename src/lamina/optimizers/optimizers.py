"""SGD, RMSprop, Adagrad, Adadelta, Ftrl and Lion: Keras's names, defaults and formulas.

The Adam family is in :mod:`lamina.optimizers.adam`. Every class takes the keyword arguments of
:class:`~lamina.optimizers.Optimizer` (``weight_decay``, ``clipnorm``, ``clipvalue``,
``global_clipnorm``, ``use_ema``,
``ema_momentum``, ``ema_overwrite_frequency``, ``loss_scale_factor``,
``gradient_accumulation_steps``, ``name``) besides its own. ``g`` below is the gradient after
clipping, ``t`` the 1-based step, ``lr`` the learning rate of the step.

Example:
    >>> import torch
    >>> from lamina.optimizers import RMSprop
    >>> w = torch.nn.Parameter(torch.tensor([10.0]))
    >>> opt = RMSprop(learning_rate=0.1)
    >>> opt.build([w])
    >>> w.grad = w.detach().clone()  # d(w**2 / 2)/dw
    >>> opt.step()
    >>> round(w.item(), 5)  # Keras's documented value for this example
    9.68377
"""

from __future__ import annotations

from typing import Any

import torch

from lamina.optimizers import kernels
from lamina.optimizers.base import OPTIMIZERS, Optimizer

__all__ = ["SGD", "RMSprop", "Adagrad", "Adadelta", "Ftrl", "Lion"]  # fmt: skip


@OPTIMIZERS.register("SGD", "sgd")
class SGD(Optimizer):
    """Gradient descent with optional (Nesterov) momentum.

    ``m = momentum*m - lr*g; w += m`` (``nesterov``: ``w += momentum*m - lr*g``); without
    momentum ``w -= lr*g``.

    Args:
        learning_rate: Defaults to 0.01.
        momentum: Float in [0, 1]. Defaults to 0.0.
        nesterov: Use Nesterov momentum. Defaults to False.

    Example:
        >>> SGD(momentum=0.9, nesterov=True).get_config()["nesterov"]
        True
    """

    def __init__(
        self,
        learning_rate: Any = 0.01,
        momentum: float = 0.0,
        nesterov: bool = False,
        name: str = "SGD",
        **kwargs: Any,
    ):
        super().__init__(learning_rate=learning_rate, name=name, **kwargs)
        if (
            isinstance(momentum, bool)
            or not isinstance(momentum, (int, float))
            or not (0 <= momentum <= 1)
        ):
            raise ValueError(f"`momentum` must be a float in [0, 1]. Received: {momentum!r}.")
        self.momentum = float(momentum)
        self.nesterov = nesterov

    def _make_torch_optimizer(self, params, lr):
        return kernels.KerasSGD(params, lr=lr, momentum=self.momentum, nesterov=self.nesterov)


@OPTIMIZERS.register("RMSprop", "rmsprop")
class RMSprop(Optimizer):
    """RMSprop: divide the gradient by a running root mean square.

    ``v = rho*v + (1-rho)*g²``; ``w -= lr*g / sqrt(v + epsilon)``. ``centered``: also
    ``a = rho*a + (1-rho)*g`` and divide by ``sqrt(v - a² + epsilon)``. ``momentum > 0``:
    ``m = momentum*m + lr*g/sqrt(...)``; ``w -= m``.

    Args:
        learning_rate: Defaults to 0.001.
        rho: Discount of the squared-gradient average. Defaults to 0.9.
        momentum: Defaults to 0.0.
        epsilon: Defaults to 1e-7.
        centered: Normalize by the gradient's estimated variance. Defaults to False.

    Example:
        >>> RMSprop().rho, RMSprop().epsilon
        (0.9, 1e-07)
    """

    def __init__(
        self,
        learning_rate: Any = 0.001,
        rho: float = 0.9,
        momentum: float = 0.0,
        epsilon: float = 1e-7,
        centered: bool = False,
        name: str = "rmsprop",
        **kwargs: Any,
    ):
        super().__init__(learning_rate=learning_rate, name=name, **kwargs)
        self.rho = rho
        self.momentum = momentum
        self.epsilon = epsilon
        self.centered = centered

    def _make_torch_optimizer(self, params, lr):
        return kernels.KerasRMSprop(
            params,
            lr=lr,
            rho=self.rho,
            momentum=self.momentum,
            eps=self.epsilon,
            centered=self.centered,
        )


@OPTIMIZERS.register("Adagrad", "adagrad")
class Adagrad(Optimizer):
    """Adagrad: per-coordinate rates from the sum of squared gradients.

    ``acc += g²; w -= lr*g / sqrt(acc + epsilon)``, ``acc`` starting at
    ``initial_accumulator_value``.

    Args:
        learning_rate: Defaults to 0.001.
        initial_accumulator_value: Defaults to 0.1.
        epsilon: Defaults to 1e-7.

    Example:
        >>> Adagrad().initial_accumulator_value
        0.1
    """

    def __init__(
        self,
        learning_rate: Any = 0.001,
        initial_accumulator_value: float = 0.1,
        epsilon: float = 1e-7,
        name: str = "adagrad",
        **kwargs: Any,
    ):
        super().__init__(learning_rate=learning_rate, name=name, **kwargs)
        if initial_accumulator_value < 0:
            raise ValueError(
                f"`initial_accumulator_value` must be >= 0. Received: {initial_accumulator_value}."
            )
        self.initial_accumulator_value = initial_accumulator_value
        self.epsilon = epsilon

    def _make_torch_optimizer(self, params, lr):
        return kernels.KerasAdagrad(
            params,
            lr=lr,
            eps=self.epsilon,
            initial_accumulator_value=self.initial_accumulator_value,
        )


@OPTIMIZERS.register("Adadelta", "adadelta")
class Adadelta(Optimizer):
    """Adadelta (runs ``torch.optim.Adadelta``, whose formula is Keras's).

    ``a = rho*a + (1-rho)*g²; d = -sqrt(b + epsilon)/sqrt(a + epsilon) * g;
    b = rho*b + (1-rho)*d²; w += lr*d``.

    Args:
        learning_rate: Defaults to 0.001 (use 1.0 for the paper's form).
        rho: Defaults to 0.95.
        epsilon: Defaults to 1e-7.

    Example:
        >>> Adadelta().rho
        0.95
    """

    def __init__(
        self,
        learning_rate: Any = 0.001,
        rho: float = 0.95,
        epsilon: float = 1e-7,
        name: str = "adadelta",
        **kwargs: Any,
    ):
        super().__init__(learning_rate=learning_rate, name=name, **kwargs)
        self.rho = rho
        self.epsilon = epsilon

    def _make_torch_optimizer(self, params, lr):
        return torch.optim.Adadelta(params, lr=lr, rho=self.rho, eps=self.epsilon)


@OPTIMIZERS.register("Ftrl", "ftrl")
class Ftrl(Optimizer):
    """FTRL-proximal (McMahan et al., 2013) with L1, L2 and L2-shrinkage regularization.

    See :class:`~lamina.optimizers.kernels.KerasFtrl` for the update.

    Args:
        learning_rate: Defaults to 0.001.
        learning_rate_power: <= 0. Defaults to -0.5.
        initial_accumulator_value: >= 0. Defaults to 0.1.
        l1_regularization_strength: Defaults to 0.0.
        l2_regularization_strength: Defaults to 0.0.
        l2_shrinkage_regularization_strength: Defaults to 0.0.
        beta: Defaults to 0.0.

    Example:
        >>> Ftrl(l1_regularization_strength=0.01).l1_regularization_strength
        0.01
    """

    def __init__(
        self,
        learning_rate: Any = 0.001,
        learning_rate_power: float = -0.5,
        initial_accumulator_value: float = 0.1,
        l1_regularization_strength: float = 0.0,
        l2_regularization_strength: float = 0.0,
        l2_shrinkage_regularization_strength: float = 0.0,
        beta: float = 0.0,
        name: str = "ftrl",
        **kwargs: Any,
    ):
        super().__init__(learning_rate=learning_rate, name=name, **kwargs)
        if learning_rate_power > 0:
            raise ValueError(
                f"`learning_rate_power` must be <= 0. Received: {learning_rate_power}."
            )
        for key, value in [
            ("initial_accumulator_value", initial_accumulator_value),
            ("l1_regularization_strength", l1_regularization_strength),
            ("l2_regularization_strength", l2_regularization_strength),
            ("l2_shrinkage_regularization_strength", l2_shrinkage_regularization_strength),
        ]:
            if value < 0:
                raise ValueError(f"`{key}` must be >= 0. Received: {key}={value}.")
        self.learning_rate_power = learning_rate_power
        self.initial_accumulator_value = initial_accumulator_value
        self.l1_regularization_strength = l1_regularization_strength
        self.l2_regularization_strength = l2_regularization_strength
        self.l2_shrinkage_regularization_strength = l2_shrinkage_regularization_strength
        self.beta = beta

    def _make_torch_optimizer(self, params, lr):
        return kernels.KerasFtrl(
            params, lr=lr, lr_power=self.learning_rate_power,
            initial_accumulator_value=self.initial_accumulator_value,
            l1=self.l1_regularization_strength, l2=self.l2_regularization_strength,
            l2_shrinkage=self.l2_shrinkage_regularization_strength, beta=self.beta,
        )  # fmt: skip


@OPTIMIZERS.register("Lion", "lion")
class Lion(Optimizer):
    """Lion: the sign of an interpolated momentum (Chen et al., 2023).

    ``w -= lr*sign(beta_1*m + (1-beta_1)*g); m = beta_2*m + (1-beta_2)*g``.

    Args:
        learning_rate: Defaults to 0.001 (typically 3-10x smaller than for AdamW).
        beta_1: In (0, 1]. Defaults to 0.9.
        beta_2: Defaults to 0.99.

    Example:
        >>> Lion().beta_2
        0.99
    """

    def __init__(
        self,
        learning_rate: Any = 0.001,
        beta_1: float = 0.9,
        beta_2: float = 0.99,
        name: str = "lion",
        **kwargs: Any,
    ):
        super().__init__(learning_rate=learning_rate, name=name, **kwargs)
        if not 0 < beta_1 <= 1:
            raise ValueError(
                "Argument `beta_1` must be in the (0, 1] range. Otherwise, the optimizer "
                f"degenerates to SignSGD. Received: beta_1={beta_1}."
            )
        self.beta_1 = beta_1
        self.beta_2 = beta_2

    def _make_torch_optimizer(self, params, lr):
        return kernels.KerasLion(params, lr=lr, betas=(self.beta_1, self.beta_2))
