"""Normalization layers: BatchNormalization and LayerNormalization, with Keras's defaults
(``epsilon=1e-3``, ``momentum=0.99``) and update rules.

BatchNormalization normalizes with the batch's mean and (biased) variance during training and
with its moving averages at inference. After each training batch, as Keras does::

    moving_mean     = moving_mean     * momentum + batch_mean     * (1 - momentum)
    moving_variance = moving_variance * momentum + batch_variance * (1 - momentum)

where ``batch_variance`` is the biased variance (divided by the count, not count - 1; PyTorch's
``nn.BatchNorm`` would use the unbiased one and ``momentum = 1 - keras_momentum``). A layer with
``trainable=False`` runs in inference mode even inside ``fit`` (Keras 3 semantics), which is
what fine-tuning a pretrained convnet needs.

Example:
    >>> import torch
    >>> from lamina.layers.normalization import BatchNormalization
    >>> bn = BatchNormalization()
    >>> _ = bn(torch.randn(8, 4), training=True)
    >>> [w.shape for w in bn.get_weights()], bn.count_params()
    ([(4,), (4,), (4,), (4,)], 16)
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from lamina import config, constraints, initializers, regularizers
from lamina.engine.layer import InputSpec, Layer, register_layer

__all__ = ["BatchNormalization", "LayerNormalization"]


def _normalize(
    x: torch.Tensor,
    mean: torch.Tensor,
    variance: torch.Tensor,
    gamma: torch.Tensor | None,
    beta: torch.Tensor | None,
    epsilon: float,
) -> torch.Tensor:
    """The textbook formula ``gamma * (x - mean) / sqrt(variance + epsilon) + beta``."""
    out = (x - mean) * torch.rsqrt(variance + epsilon)
    if gamma is not None:
        out = out * gamma
    return out if beta is None else out + beta


@register_layer()
class BatchNormalization(Layer):
    """Normalizes each feature (channel) with batch statistics in training and moving
    averages at inference.

    Args:
        axis: the features axis (``-1`` for channels-last data, ``1`` for channels-first).
        momentum: weight of the old value in the moving averages (default 0.99).
        epsilon: added to the variance (default 1e-3).
        center / scale: learn ``beta`` / ``gamma``.
        beta_initializer, gamma_initializer, moving_mean_initializer,
        moving_variance_initializer: defaults zeros, ones, zeros, ones.
        beta_regularizer, gamma_regularizer, beta_constraint, gamma_constraint: as Dense.
        synchronized: only ``False`` (batch statistics are per process).

    Weights (Keras order): ``gamma, beta`` (trainable), ``moving_mean, moving_variance``
    (non-trainable; PyTorch buffers, so they are in ``state_dict`` but not ``parameters()``).
    A mask (one rank lower than the inputs) restricts the batch statistics to unmasked steps.

    Example:
        >>> bn = BatchNormalization(momentum=0.9)
        >>> x = torch.tensor([[0.0], [2.0]])
        >>> [round(v, 4) for v in bn(x, training=True).flatten().tolist()]  # (x-1)/sqrt(1.001)
        [-0.9995, 0.9995]
        >>> # moving = 0.9 * old + 0.1 * batch (biased variance of [0, 2] is 1)
        >>> round(bn.moving_mean.item(), 4), round(bn.moving_variance.item(), 4)
        (0.1, 1.0)
    """

    supports_masking = True

    def __init__(
        self,
        axis: int = -1,
        momentum: float = 0.99,
        epsilon: float = 1e-3,
        center: bool = True,
        scale: bool = True,
        beta_initializer: Any = "zeros",
        gamma_initializer: Any = "ones",
        moving_mean_initializer: Any = "zeros",
        moving_variance_initializer: Any = "ones",
        beta_regularizer: Any = None,
        gamma_regularizer: Any = None,
        beta_constraint: Any = None,
        gamma_constraint: Any = None,
        synchronized: bool = False,
        **kwargs: Any,
    ):
        super().__init__(**kwargs)
        if not isinstance(axis, int):
            raise TypeError(f"BatchNormalization axis must be an integer, got {axis!r}.")
        if synchronized:
            raise ValueError(
                "BatchNormalization(synchronized=True) is not supported yet: batch statistics "
                "are computed per process (per replica under DDP). Use synchronized=False."
            )
        if not 0.0 <= momentum <= 1.0:
            raise ValueError(f"BatchNormalization momentum must be in [0, 1], got {momentum!r}.")
        self.axis = axis
        self.momentum = float(momentum)
        self.epsilon = float(epsilon)
        self.center, self.scale = center, scale
        self.beta_initializer = initializers.get(beta_initializer)
        self.gamma_initializer = initializers.get(gamma_initializer)
        self.moving_mean_initializer = initializers.get(moving_mean_initializer)
        self.moving_variance_initializer = initializers.get(moving_variance_initializer)
        self.beta_regularizer = regularizers.get(beta_regularizer)
        self.gamma_regularizer = regularizers.get(gamma_regularizer)
        self.beta_constraint = constraints.get(beta_constraint)
        self.gamma_constraint = constraints.get(gamma_constraint)
        self.synchronized = synchronized

    def build(self, input_shape: tuple) -> None:
        rank = len(input_shape)
        if not -rank <= self.axis < rank or (self.axis % rank) == 0:
            raise ValueError(
                f"Layer '{self.name}' (BatchNormalization): axis={self.axis} is not a feature "
                f"axis of inputs of shape {tuple(input_shape)} (the batch axis 0 is excluded)."
            )
        size = input_shape[self.axis]
        if size is None:
            raise ValueError(
                f"Layer '{self.name}' (BatchNormalization) needs axis {self.axis} of its input "
                f"to be known, got input shape {tuple(input_shape)}."
            )
        if self.scale:
            self.gamma = self.add_weight(
                "gamma",
                (size,),
                self.gamma_initializer,
                regularizer=self.gamma_regularizer,
                constraint=self.gamma_constraint,
            )
        else:
            self.gamma = None
        if self.center:
            self.beta = self.add_weight(
                "beta",
                (size,),
                self.beta_initializer,
                regularizer=self.beta_regularizer,
                constraint=self.beta_constraint,
            )
        else:
            self.beta = None
        self.moving_mean = self.add_weight(
            "moving_mean", (size,), self.moving_mean_initializer, trainable=False
        )
        self.moving_variance = self.add_weight(
            "moving_variance", (size,), self.moving_variance_initializer, trainable=False
        )
        self.input_spec = InputSpec(ndim=rank, axes={self.axis: size})

    def call(
        self,
        inputs: torch.Tensor,
        training: bool | None = None,
        mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        if training is None:
            training = self.training
        x = inputs
        if x.dtype in (torch.float16, torch.bfloat16):  # statistics overflow in half precision
            x = x.float()
        axis = self.axis % x.ndim
        if mask is not None and mask.ndim != x.ndim - 1:
            raise ValueError(
                f"Layer '{self.name}' (BatchNormalization): the mask must have one axis fewer "
                f"than the inputs, got mask shape {tuple(mask.shape)} for inputs of shape "
                f"{tuple(x.shape)}."
            )
        use_batch = bool(training) and self.trainable
        if mask is not None and use_batch:
            out = self._masked_training(x, mask, axis)
        else:
            # F.batch_norm wants the features on axis 1: a permuted view, no copy. A 3D
            # (batch, steps, features) input gets a unit axis so that it is 4D channels_last
            # memory, whose kernel is several times faster than the strided 3D one.
            moved = x.movedim(axis, 1) if axis != 1 else x
            lifted = moved.ndim == 3
            if lifted:
                moved = moved.unsqueeze(2)
            if use_batch:
                out = self._batch_training(moved)
            else:
                out = F.batch_norm(
                    moved,
                    self.moving_mean,
                    self.moving_variance,
                    self.gamma,
                    self.beta,
                    False,
                    0.0,
                    self.epsilon,
                )
            out = out.squeeze(2) if lifted else out
            out = out.movedim(1, axis) if axis != 1 else out
        return out.to(inputs.dtype) if out.dtype != inputs.dtype else out

    def _batch_training(self, x: torch.Tensor) -> torch.Tensor:
        count = x.numel() // x.shape[1]
        if count < 2:  # PyTorch refuses one value per channel; the variance is then 0
            dims = [d for d in range(x.ndim) if d != 1]
            var, mean = torch.var_mean(x, dim=dims, correction=0)
            self._update_moving(mean.detach(), var.detach())
            shape = [1, -1] + [1] * (x.ndim - 2)
            gamma = None if self.gamma is None else self.gamma.view(shape)
            beta = None if self.beta is None else self.beta.view(shape)
            return _normalize(x, mean.view(shape), var.view(shape), gamma, beta, self.epsilon)
        # The fused kernel normalizes with the biased batch variance (as Keras) and, with
        # momentum=1, writes the batch mean and *unbiased* variance into scratch buffers;
        # the moving averages are then updated with Keras's rule and the biased variance.
        batch_mean = torch.zeros_like(self.moving_mean)
        batch_var = torch.zeros_like(self.moving_variance)
        out = F.batch_norm(x, batch_mean, batch_var, self.gamma, self.beta, True, 1.0, self.epsilon)
        self._update_moving(batch_mean, batch_var * ((count - 1) / count))
        return out

    def _masked_training(self, x: torch.Tensor, mask: torch.Tensor, axis: int) -> torch.Tensor:
        """Statistics over unmasked positions only (Keras's weighted moments)."""
        dims = [d for d in range(x.ndim) if d != axis]
        weights = mask.to(x.dtype).unsqueeze(axis)
        total = weights.sum(dim=dims, keepdim=True) + config.epsilon()
        mean = (weights * x).sum(dim=dims, keepdim=True) / total
        var = (weights * (x - mean) ** 2).sum(dim=dims, keepdim=True) / total
        self._update_moving(mean.detach().flatten(), var.detach().flatten())
        shape = [1] * x.ndim
        shape[axis] = -1
        gamma = None if self.gamma is None else self.gamma.view(shape)
        beta = None if self.beta is None else self.beta.view(shape)
        return _normalize(x, mean, var, gamma, beta, self.epsilon)

    @torch.no_grad()
    def _update_moving(self, mean: torch.Tensor, variance: torch.Tensor) -> None:
        m = self.momentum
        self.moving_mean.mul_(m).add_(mean.to(self.moving_mean.dtype), alpha=1.0 - m)
        self.moving_variance.mul_(m).add_(variance.to(self.moving_variance.dtype), alpha=1.0 - m)

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        return input_shape


@register_layer()
class LayerNormalization(Layer):
    """Normalizes each sample over ``axis`` (the features by default):
    ``gamma * (x - mean) / sqrt(variance + epsilon) + beta`` with the sample's mean and
    biased variance; the same in training and inference.

    Args:
        axis: an axis or a list of axes to normalize over (default ``-1``); ``gamma`` and
            ``beta`` have the sizes of these axes.
        epsilon: added to the variance (default 1e-3, as Keras; PyTorch's default is 1e-5).
        center / scale: learn ``beta`` / ``gamma``.
        beta_initializer, gamma_initializer, beta_regularizer, gamma_regularizer,
        beta_constraint, gamma_constraint: as BatchNormalization.

    Example:
        >>> ln = LayerNormalization()
        >>> [round(v, 4) for v in ln(torch.tensor([[1.0, 3.0]]))[0].tolist()]  # (x-2)/sqrt(1.001)
        [-0.9995, 0.9995]
    """

    supports_masking = True

    def __init__(
        self,
        axis: int | list[int] = -1,
        epsilon: float = 1e-3,
        center: bool = True,
        scale: bool = True,
        beta_initializer: Any = "zeros",
        gamma_initializer: Any = "ones",
        beta_regularizer: Any = None,
        gamma_regularizer: Any = None,
        beta_constraint: Any = None,
        gamma_constraint: Any = None,
        **kwargs: Any,
    ):
        super().__init__(**kwargs)
        if isinstance(axis, (list, tuple)):
            axis = [int(a) for a in axis]
        elif not isinstance(axis, int):
            raise TypeError(
                f"LayerNormalization axis must be an int or a list of ints, got {axis!r}."
            )
        self.axis = axis
        self.epsilon = float(epsilon)
        self.center, self.scale = center, scale
        self.beta_initializer = initializers.get(beta_initializer)
        self.gamma_initializer = initializers.get(gamma_initializer)
        self.beta_regularizer = regularizers.get(beta_regularizer)
        self.gamma_regularizer = regularizers.get(gamma_regularizer)
        self.beta_constraint = constraints.get(beta_constraint)
        self.gamma_constraint = constraints.get(gamma_constraint)

    def _axes(self, rank: int) -> list[int]:
        axes = self.axis if isinstance(self.axis, list) else [self.axis]
        bad = [a for a in axes if not -rank <= a < rank or a % rank == 0]
        if bad:
            raise ValueError(
                f"Layer '{self.name}' (LayerNormalization): axis {bad} is out of range for "
                f"inputs of rank {rank} (the batch axis 0 is excluded)."
            )
        return sorted({a % rank for a in axes})

    def build(self, input_shape: tuple) -> None:
        axes = self._axes(len(input_shape))
        shape = tuple(input_shape[a] for a in axes)
        if any(d is None for d in shape):
            raise ValueError(
                f"Layer '{self.name}' (LayerNormalization) needs the normalized axes {axes} to "
                f"be known, got input shape {tuple(input_shape)}."
            )
        self.gamma = self.beta = None
        if self.scale:
            del self.gamma
            self.gamma = self.add_weight(
                "gamma",
                shape,
                self.gamma_initializer,
                regularizer=self.gamma_regularizer,
                constraint=self.gamma_constraint,
            )
        if self.center:
            del self.beta
            self.beta = self.add_weight(
                "beta",
                shape,
                self.beta_initializer,
                regularizer=self.beta_regularizer,
                constraint=self.beta_constraint,
            )
        self.input_spec = InputSpec(ndim=len(input_shape), axes=dict(zip(axes, shape)))

    def call(self, inputs: torch.Tensor) -> torch.Tensor:
        x = inputs.float() if inputs.dtype in (torch.float16, torch.bfloat16) else inputs
        axes = self._axes(x.ndim)
        if axes == list(range(x.ndim - len(axes), x.ndim)):
            # Trailing axes: PyTorch's fused kernel computes exactly this formula.
            shape = tuple(x.shape[a] for a in axes)
            out = F.layer_norm(x, shape, self.gamma, self.beta, self.epsilon)
        else:
            var, mean = torch.var_mean(x, dim=axes, keepdim=True, correction=0)
            shape = [1] * x.ndim
            for a in axes:
                shape[a] = x.shape[a]
            gamma = None if self.gamma is None else self.gamma.view(shape)
            beta = None if self.beta is None else self.beta.view(shape)
            out = _normalize(x, mean, var, gamma, beta, self.epsilon)
        return out.to(inputs.dtype) if out.dtype != inputs.dtype else out

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        return input_shape
