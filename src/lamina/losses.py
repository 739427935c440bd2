"""Losses: stateless functions (the source of truth) and Keras-style ``Loss`` objects.

A loss function takes ``(y_true, y_pred)`` and returns the loss of every sample, reduced over the
last axis like Keras (shape ``y_pred.shape[:-1]``). A ``Loss`` object calls its function, weights
the result by ``sample_weight`` and reduces it; ``reduction`` is one of

* ``"sum_over_batch_size"`` (default; ``"mean"`` is an alias): ``sum(loss * w) / loss.numel()``,
  as Keras 3 does (not divided by the sum of the weights);
* ``"mean_with_sample_weight"``: ``sum(loss * w) / sum(w)``;
* ``"sum"``: ``sum(loss * w)``;
* ``"none"`` or ``None``: the weighted per-sample losses.

A boolean ``_keras_mask`` on ``y_pred`` (set by masking layers) leaves the masked entries out.

Cross-entropy from logits (DESIGN decision 7): a ``softmax`` / ``sigmoid`` output made by lamina
carries its input as ``y_pred._keras_logits``. With ``from_logits=False`` the cross-entropies use
those logits (``log_softmax`` / ``binary_cross_entropy_with_logits``), which stays exact where the
clipped probabilities saturate; other tensors take Keras's clipped-probability formula.

Example:
    >>> import torch
    >>> from lamina import losses
    >>> losses.get("mse")(torch.tensor([[0.0, 1.0]]), torch.tensor([[1.0, 1.0]]))
    tensor(0.5000)
"""

from __future__ import annotations

import inspect
import math
import warnings
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F

from lamina import _registry, config
from lamina._registry import Registry, snake_case
from lamina.errors import LaminaWarning

# fmt: off
__all__ = [
    "Loss", "LossFunctionWrapper", "get", "serialize", "deserialize", "binary_crossentropy",
    "binary_focal_crossentropy", "categorical_crossentropy", "sparse_categorical_crossentropy",
    "mean_squared_error", "mean_absolute_error", "mean_absolute_percentage_error",
    "mean_squared_logarithmic_error", "huber", "log_cosh", "kl_divergence", "hinge",
    "squared_hinge", "categorical_hinge", "cosine_similarity", "poisson", "ctc", "crossentropy",
    "mse", "mae", "mape", "msle", "kld", "kullback_leibler_divergence", "logcosh",
    "BinaryCrossentropy", "BinaryFocalCrossentropy", "CategoricalCrossentropy",
    "SparseCategoricalCrossentropy",
    "MeanSquaredError", "MeanAbsoluteError", "MeanAbsolutePercentageError",
    "MeanSquaredLogarithmicError", "Huber", "LogCosh", "KLDivergence", "Hinge", "SquaredHinge",
    "CategoricalHinge", "CosineSimilarity", "Poisson", "CTC",
]
# fmt: on

_REGISTRY = Registry("loss")
_SOBS = "sum_over_batch_size"
_REDUCTIONS = (_SOBS, "mean", "mean_with_sample_weight", "sum", "none", None)


# ----------------------------------------------------------------------------- helpers
def _torch_dtype(dtype: Any) -> torch.dtype:
    if dtype is None:
        return config.floatx_dtype()
    return dtype if isinstance(dtype, torch.dtype) else getattr(torch, str(dtype))


def _pred(y_pred: Any) -> torch.Tensor:
    """``y_pred`` as a float tensor (lists and integer arrays become floatx)."""
    y_pred = y_pred if torch.is_tensor(y_pred) else torch.as_tensor(y_pred)
    return y_pred if y_pred.is_floating_point() else y_pred.to(config.floatx_dtype())


def _cast(y_pred: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """Cast to the loss dtype, carrying the logits and mask attributes to the new tensor."""
    if y_pred.dtype == dtype:
        return y_pred
    out = y_pred.to(dtype)
    logits, mask = getattr(y_pred, "_keras_logits", None), getattr(y_pred, "_keras_mask", None)
    if logits is not None:
        out._keras_logits = logits.to(dtype)
    if mask is not None:
        out._keras_mask = mask
    return out


def _same_rank(a: torch.Tensor, b: torch.Tensor, expand_rank_1: bool = True) -> tuple:
    """Squeeze or expand a trailing size-1 axis where the ranks differ by one (Keras rule), so
    that ``(n,)`` against ``(n, 1)`` never broadcasts to ``(n, n)``."""
    if a.dim() == b.dim() + 1 and a.shape[-1] == 1:
        if b.dim() == 1 and expand_rank_1:
            b = b.unsqueeze(-1)
        else:
            a = a.squeeze(-1)
    elif b.dim() == a.dim() + 1 and b.shape[-1] == 1:
        if a.dim() == 1 and expand_rank_1:
            a = a.unsqueeze(-1)
        else:
            b = b.squeeze(-1)
    return a, b


def _prepare(y_true: Any, y_pred: Any, name: str, from_logits: bool = False) -> tuple:
    """Tensors of one dtype and device, ranks matched, shapes checked, plus the logits to use
    (``y_pred`` itself when ``from_logits``, its ``_keras_logits`` if any, else ``None``)."""
    y_pred = _pred(y_pred)
    z = y_pred if from_logits else getattr(y_pred, "_keras_logits", None)
    if z is not None and z.shape != y_pred.shape:
        z = None
    y_true = torch.as_tensor(y_true, device=y_pred.device).to(y_pred.dtype)
    y_true, new_pred = _same_rank(y_true, y_pred)
    if z is not None and new_pred.shape != y_pred.shape:
        z = z.reshape(new_pred.shape)
    y_pred = new_pred
    if y_true.shape != y_pred.shape:
        try:
            ok = torch.broadcast_shapes(y_true.shape, y_pred.shape) == y_pred.shape
        except RuntimeError:
            ok = False
        if not ok:
            raise ValueError(
                f"{name}: y_true of shape {tuple(y_true.shape)} does not match y_pred of shape "
                f"{tuple(y_pred.shape)}. Give targets with the shape of the model's output."
            )
    return y_true, y_pred, z


def _warn_softmax_as_logits(y_pred: Any, name: str) -> None:
    if getattr(y_pred, "_keras_logits", None) is not None:
        warnings.warn(
            f"{name} got from_logits=True, but y_pred was produced by a softmax/sigmoid "
            "activation and holds probabilities. Use from_logits=False (lamina then uses the "
            "logits anyway) or remove the activation.",
            LaminaWarning,
            stacklevel=3,
        )


def _init_config(obj: Any) -> dict:
    """Config read from the ``__init__`` signature: each argument is stored under its name."""
    params = inspect.signature(type(obj).__init__).parameters.values()
    skip = (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
    return {p.name: getattr(obj, p.name) for p in params if p.name != "self" and p.kind not in skip}


def _register_fn(fn: Callable, *aliases: str) -> Callable:
    _REGISTRY.register()(fn)
    for alias in aliases:
        _REGISTRY.add(alias, fn)
    return fn


# ----------------------------------------------------------------------------- functions
def binary_crossentropy(
    y_true: Any,
    y_pred: Any,
    from_logits: bool = False,
    label_smoothing: float = 0.0,
    axis: int = -1,
) -> torch.Tensor:
    """Binary cross-entropy, averaged over ``axis``; labels are squeezed to
    ``y * (1 - label_smoothing) + 0.5 * label_smoothing``.

    Example:
        >>> binary_crossentropy([[0.0, 1.0]], [[0.5, 0.5]])
        tensor([0.6931])
    """
    if from_logits:
        _warn_softmax_as_logits(y_pred, "binary_crossentropy")
    y_true, y_pred, z = _prepare(y_true, y_pred, "binary_crossentropy", from_logits)
    if label_smoothing:
        y_true = y_true * (1.0 - label_smoothing) + 0.5 * label_smoothing
    if z is not None:
        loss = F.binary_cross_entropy_with_logits(z, y_true.expand_as(z), reduction="none")
    else:
        eps = config.epsilon()
        p = y_pred.clamp(eps, 1.0 - eps)
        loss = -(y_true * torch.log(p) + (1.0 - y_true) * torch.log1p(-p))
    return loss.mean(dim=axis)


def binary_focal_crossentropy(
    y_true: Any,
    y_pred: Any,
    apply_class_balancing: bool = False,
    alpha: float = 0.25,
    gamma: float = 2.0,
    from_logits: bool = False,
    label_smoothing: float = 0.0,
    axis: int = -1,
) -> torch.Tensor:
    """Focal loss (Lin et al. 2018): binary cross-entropy times ``(1 - p_t) ** gamma``.

    Example:
        >>> binary_focal_crossentropy([[1.0]], [[0.5]], gamma=0.0)
        tensor([0.6931])
    """
    y_true, y_pred, z = _prepare(y_true, y_pred, "binary_focal_crossentropy", from_logits)
    if label_smoothing:
        y_true = y_true * (1.0 - label_smoothing) + 0.5 * label_smoothing
    if z is not None:
        bce = F.binary_cross_entropy_with_logits(z, y_true.expand_as(z), reduction="none")
        y_pred = torch.sigmoid(z)
    else:
        bce = binary_crossentropy(y_true.unsqueeze(-1), y_pred.unsqueeze(-1))
    p_t = y_true * y_pred + (1.0 - y_true) * (1.0 - y_pred)
    loss = (1.0 - p_t) ** gamma * bce
    if apply_class_balancing:
        loss = (y_true * alpha + (1.0 - y_true) * (1.0 - alpha)) * loss
    return loss.mean(dim=axis)


def categorical_crossentropy(
    y_true: Any,
    y_pred: Any,
    from_logits: bool = False,
    label_smoothing: float = 0.0,
    axis: int = -1,
) -> torch.Tensor:
    """Cross-entropy against one-hot labels. Probabilities are renormalized to sum to 1 and
    clipped to ``[eps, 1 - eps]``; smoothing gives ``y * (1 - s) + s / num_classes``.

    Example:
        >>> categorical_crossentropy([[0.0, 1.0]], [[0.5, 0.5]])
        tensor([0.6931])
    """
    if from_logits:
        _warn_softmax_as_logits(y_pred, "categorical_crossentropy")
    y_pred = _pred(y_pred)
    y_t = torch.as_tensor(y_true)
    if (
        y_pred.shape[axis] > 1
        and y_t.shape != y_pred.shape
        and y_t.numel() * y_pred.shape[axis] == y_pred.numel()
    ):
        raise ValueError(
            f"categorical_crossentropy expects one-hot y_true of shape {tuple(y_pred.shape)}, "
            f"got {tuple(y_t.shape)}. For integer class labels use "
            "'sparse_categorical_crossentropy'."
        )
    y_true, y_pred, z = _prepare(y_true, y_pred, "categorical_crossentropy", from_logits)
    num_classes = y_pred.shape[axis]
    if num_classes == 1:
        warnings.warn(
            "categorical_crossentropy got y_pred with 1 class, so the loss is always 0. Use "
            "'binary_crossentropy' with a sigmoid output for two classes.",
            LaminaWarning,
            stacklevel=2,
        )
    if label_smoothing:
        y_true = y_true * (1.0 - label_smoothing) + label_smoothing / num_classes
    if z is not None:
        log_p = F.log_softmax(z, dim=axis)
    else:
        eps = config.epsilon()
        log_p = (y_pred / y_pred.sum(dim=axis, keepdim=True)).clamp(eps, 1.0 - eps).log()
    return -(y_true * log_p).sum(dim=axis)


def sparse_categorical_crossentropy(
    y_true: Any, y_pred: Any, from_logits: bool = False, ignore_class: int | None = None, axis=-1
) -> torch.Tensor:
    """Cross-entropy against integer labels of shape ``(n,)`` or ``(n, 1)``. Entries labelled
    ``ignore_class`` get loss 0 and are left out of the mean.

    Example:
        >>> sparse_categorical_crossentropy([1], [[0.5, 0.5]])
        tensor([0.6931])
    """
    if from_logits:
        _warn_softmax_as_logits(y_pred, "sparse_categorical_crossentropy")
    y_pred = _pred(y_pred)
    z = y_pred if from_logits else getattr(y_pred, "_keras_logits", None)
    z = z if z is not None and z.shape == y_pred.shape else None
    y_true = torch.as_tensor(y_true, device=y_pred.device)
    if y_true.dim() == y_pred.dim() and y_true.shape[-1] == 1:
        y_true = y_true.squeeze(-1)
    axis = axis % y_pred.dim()
    num_classes = y_pred.shape[axis]
    expected = y_pred.shape[:axis] + y_pred.shape[axis + 1 :]
    if y_true.shape != expected:
        raise ValueError(
            f"sparse_categorical_crossentropy expects integer labels of shape {tuple(expected)} "
            f"(or with a trailing 1) for y_pred of shape {tuple(y_pred.shape)}; got "
            f"{tuple(y_true.shape)}. For one-hot labels use 'categorical_crossentropy'."
        )
    valid = None if ignore_class is None else y_true != ignore_class
    if y_true.device.type == "cpu" and y_true.numel():  # free to check here; GPUs are not asked
        checked = y_true if valid is None else y_true[valid]
        if checked.numel() and (
            checked.min() < 0
            or checked.max() >= num_classes
            or (y_true.is_floating_point() and bool((checked != checked.round()).any()))
        ):
            raise ValueError(
                f"sparse_categorical_crossentropy: labels must be integers in [0, {num_classes}) "
                f"for y_pred with {num_classes} classes; found values from {checked.min().item()} "
                f"to {checked.max().item()}. Check the labels or the size of the last layer."
            )
    y_true = y_true.long()
    if z is not None:
        logits = z.movedim(axis, 1) if z.dim() > 2 else z
        ignore = -100 if ignore_class is None else int(ignore_class)
        loss = F.cross_entropy(logits, y_true, reduction="none", ignore_index=ignore)
    else:
        eps = config.epsilon()
        log_p = (y_pred / y_pred.sum(dim=axis, keepdim=True)).clamp(eps, 1.0 - eps).log()
        index = y_true if valid is None else torch.where(valid, y_true, 0)
        loss = -log_p.gather(axis, index.unsqueeze(axis)).squeeze(axis)
        if valid is not None:
            loss = torch.where(valid, loss, 0.0)
    if valid is not None:
        loss._keras_mask = valid
    return loss


def mean_squared_error(y_true: Any, y_pred: Any) -> torch.Tensor:
    """``mean((y_true - y_pred) ** 2, axis=-1)``.

    Example:
        >>> mean_squared_error([[0.0, 1.0]], [[1.0, 1.0]])
        tensor([0.5000])
    """
    y_true, y_pred, _ = _prepare(y_true, y_pred, "mean_squared_error")
    return (y_true - y_pred).square().mean(dim=-1)


def mean_absolute_error(y_true: Any, y_pred: Any) -> torch.Tensor:
    """``mean(abs(y_true - y_pred), axis=-1)``.

    Example:
        >>> mean_absolute_error([[0.0, 1.0]], [[1.0, 1.0]])
        tensor([0.5000])
    """
    y_true, y_pred, _ = _prepare(y_true, y_pred, "mean_absolute_error")
    return (y_true - y_pred).abs().mean(dim=-1)


def mean_absolute_percentage_error(y_true: Any, y_pred: Any) -> torch.Tensor:
    """``100 * mean(abs((y_true - y_pred) / max(abs(y_true), eps)), axis=-1)``.

    Example:
        >>> mean_absolute_percentage_error([[2.0, 4.0]], [[1.0, 4.0]])
        tensor([25.])
    """
    y_true, y_pred, _ = _prepare(y_true, y_pred, "mean_absolute_percentage_error")
    diff = (y_true - y_pred).abs() / y_true.abs().clamp_min(config.epsilon())
    return 100.0 * diff.mean(dim=-1)


def mean_squared_logarithmic_error(y_true: Any, y_pred: Any) -> torch.Tensor:
    """``mean((log(max(y_pred, eps) + 1) - log(max(y_true, eps) + 1)) ** 2, axis=-1)``.

    Example:
        >>> mean_squared_logarithmic_error([[0.0]], [[0.0]])
        tensor([0.])
    """
    y_true, y_pred, _ = _prepare(y_true, y_pred, "mean_squared_logarithmic_error")
    eps = config.epsilon()
    return (y_pred.clamp_min(eps).log1p() - y_true.clamp_min(eps).log1p()).square().mean(dim=-1)


def huber(y_true: Any, y_pred: Any, delta: float = 1.0) -> torch.Tensor:
    """``0.5 * e**2`` where ``|e| <= delta``, else ``delta * |e| - 0.5 * delta**2``; mean over -1.

    Example:
        >>> huber([[0.0, 0.0]], [[0.5, 3.0]])
        tensor([1.3125])
    """
    y_true, y_pred, _ = _prepare(y_true, y_pred, "huber")
    err = (y_pred - y_true).abs()
    return torch.where(err <= delta, 0.5 * err.square(), delta * err - 0.5 * delta**2).mean(-1)


def log_cosh(y_true: Any, y_pred: Any) -> torch.Tensor:
    """``mean(log(cosh(y_pred - y_true)), axis=-1)``, computed without overflow.

    Example:
        >>> log_cosh([[0.0]], [[0.0]])
        tensor([0.])
    """
    y_true, y_pred, _ = _prepare(y_true, y_pred, "log_cosh")
    x = y_pred - y_true
    return (x + F.softplus(-2.0 * x) - math.log(2.0)).mean(dim=-1)


def kl_divergence(y_true: Any, y_pred: Any) -> torch.Tensor:
    """``sum(y_true * log(y_true / y_pred), axis=-1)``, both clipped to ``[eps, 1]``.

    Example:
        >>> kl_divergence([[0.5, 0.5]], [[0.5, 0.5]])
        tensor([0.])
    """
    y_true, y_pred, _ = _prepare(y_true, y_pred, "kl_divergence")
    eps = config.epsilon()
    y_true, y_pred = y_true.clamp(eps, 1.0), y_pred.clamp(eps, 1.0)
    return (y_true * (y_true / y_pred).log()).sum(dim=-1)


def poisson(y_true: Any, y_pred: Any) -> torch.Tensor:
    """``mean(y_pred - y_true * log(y_pred + eps), axis=-1)``.

    Example:
        >>> poisson([[0.0]], [[1.0]])
        tensor([1.])
    """
    y_true, y_pred, _ = _prepare(y_true, y_pred, "poisson")
    return (y_pred - y_true * (y_pred + config.epsilon()).log()).mean(dim=-1)


def _hinge_labels(y_true: torch.Tensor) -> torch.Tensor:
    # 0/1 labels become -1/1; decided on the device (no host sync).
    is_binary = ((y_true == 0) | (y_true == 1)).all()
    return torch.where(is_binary, 2.0 * y_true - 1.0, y_true)


def hinge(y_true: Any, y_pred: Any) -> torch.Tensor:
    """``mean(max(1 - y_true * y_pred, 0), axis=-1)``; 0/1 labels are turned into -1/1.

    Example:
        >>> hinge([[0.0, 1.0]], [[-1.0, 0.5]])
        tensor([0.2500])
    """
    y_true, y_pred, _ = _prepare(y_true, y_pred, "hinge")
    return (1.0 - _hinge_labels(y_true) * y_pred).clamp_min(0.0).mean(dim=-1)


def squared_hinge(y_true: Any, y_pred: Any) -> torch.Tensor:
    """``mean(max(1 - y_true * y_pred, 0) ** 2, axis=-1)``; 0/1 labels become -1/1.

    Example:
        >>> squared_hinge([[0.0, 1.0]], [[-1.0, 0.5]])
        tensor([0.1250])
    """
    y_true, y_pred, _ = _prepare(y_true, y_pred, "squared_hinge")
    return (1.0 - _hinge_labels(y_true) * y_pred).clamp_min(0.0).square().mean(dim=-1)


def categorical_hinge(y_true: Any, y_pred: Any) -> torch.Tensor:
    """``max(neg - pos + 1, 0)`` with ``pos = sum(y_true * y_pred)`` and
    ``neg = max((1 - y_true) * y_pred)`` over the last axis.

    Example:
        >>> categorical_hinge([[0.0, 1.0]], [[0.3, 0.8]])
        tensor([0.5000])
    """
    y_true, y_pred, _ = _prepare(y_true, y_pred, "categorical_hinge")
    pos = (y_true * y_pred).sum(dim=-1)
    neg = ((1.0 - y_true) * y_pred).amax(dim=-1)
    return (neg - pos + 1.0).clamp_min(0.0)


def cosine_similarity(y_true: Any, y_pred: Any, axis: int = -1) -> torch.Tensor:
    """Negative cosine similarity ``-sum(l2_normalize(y_true) * l2_normalize(y_pred))`` (Keras 3
    sign: -1 is best, so it can be minimized).

    Example:
        >>> cosine_similarity([[1.0, 0.0]], [[2.0, 0.0]])
        tensor([-1.])
    """
    y_true, y_pred, _ = _prepare(y_true, y_pred, "cosine_similarity")
    eps = config.epsilon()
    return -(F.normalize(y_true, dim=axis, eps=eps) * F.normalize(y_pred, dim=axis, eps=eps)).sum(
        dim=axis
    )


def ctc(y_true: Any, y_pred: Any) -> torch.Tensor:
    """Connectionist temporal classification loss, Keras 3 convention: ``y_true`` is
    ``(batch, max_label_length)`` integer labels padded at the end with 0, which is also the
    blank class; ``y_pred`` is ``(batch, steps, num_classes)`` logits (not softmaxed; a lamina
    softmax output is traced back to its logits). Uses ``torch.nn.functional.ctc_loss``.

    Example:
        >>> ctc([[1]], torch.zeros(1, 1, 2))
        tensor([0.6931])
    """
    y_pred = _pred(y_pred)
    logits = getattr(y_pred, "_keras_logits", None)
    logits = logits if logits is not None and logits.shape == y_pred.shape else y_pred
    y_true = torch.as_tensor(y_true, device=y_pred.device)
    if y_true.dim() != 2 or y_pred.dim() != 3:
        raise ValueError(
            "ctc expects y_true of shape (batch, max_label_length) with integer labels padded "
            "by 0, and y_pred of shape (batch, steps, num_classes); got "
            f"y_true {tuple(y_true.shape)} and y_pred {tuple(y_pred.shape)}."
        )
    y_true = y_true.long()
    batch, steps, _ = y_pred.shape
    label_length = (y_true != 0).sum(dim=-1)
    input_length = torch.full((batch,), steps, dtype=torch.long, device=y_pred.device)
    log_probs = F.log_softmax(logits, dim=-1).transpose(0, 1)
    return F.ctc_loss(log_probs, y_true, input_length, label_length, blank=0, reduction="none")


def crossentropy(y_true: Any, y_pred: Any) -> torch.Tensor:
    """Binary, sparse or categorical cross-entropy, chosen from the shapes at each call by the
    rule of ``lamina.metrics.get`` (what ``loss="crossentropy"`` / ``"ce"`` means).

    Example:
        >>> crossentropy([1], [[0.5, 0.5]])  # integer labels: sparse categorical
        tensor([0.6931])
    """
    y_pred = _pred(y_pred)
    y_true = torch.as_tensor(y_true, device=y_pred.device)
    kind, _ = _problem_kind(None, y_true, y_pred, "crossentropy")
    fn = {
        "binary": binary_crossentropy,
        "sparse": sparse_categorical_crossentropy,
        "categorical": categorical_crossentropy,
    }[kind]
    return fn(y_true, y_pred)


_register_fn(crossentropy, "ce")
_register_fn(binary_crossentropy, "bce", "BCE")
_register_fn(binary_focal_crossentropy)
_register_fn(categorical_crossentropy)
_register_fn(sparse_categorical_crossentropy)
_register_fn(mean_squared_error, "mse", "MSE")
_register_fn(mean_absolute_error, "mae", "MAE")
_register_fn(mean_absolute_percentage_error, "mape", "MAPE")
_register_fn(mean_squared_logarithmic_error, "msle", "MSLE")
_register_fn(huber)
_register_fn(log_cosh, "logcosh")
_register_fn(kl_divergence, "kld", "KLD", "kullback_leibler_divergence")
_register_fn(hinge)
_register_fn(squared_hinge)
_register_fn(categorical_hinge)
_register_fn(cosine_similarity)
_register_fn(poisson)
_register_fn(ctc)

mse = MSE = mean_squared_error
mae = MAE = mean_absolute_error
mape = MAPE = mean_absolute_percentage_error
msle = MSLE = mean_squared_logarithmic_error
kld = KLD = kullback_leibler_divergence = kl_divergence
logcosh = log_cosh


# ----------------------------------------------------------------------------- classes
def _reduce(values: torch.Tensor, sample_weight: Any, mask: Any, reduction: str | None):
    """Weight per-sample losses by ``sample_weight`` and ``mask``, then reduce (Keras 3 rules)."""
    w = None
    if sample_weight is not None:
        w = torch.as_tensor(sample_weight, dtype=values.dtype, device=values.device)
        if w.dim() > values.dim() and w.shape[-1] == 1:
            w = w.squeeze(-1)
        w = w.reshape(w.shape + (1,) * (values.dim() - w.dim())) if w.dim() < values.dim() else w
        try:
            ok = torch.broadcast_shapes(values.shape, w.shape) == values.shape
        except RuntimeError:
            ok = False
        if not ok:
            raise ValueError(
                f"sample_weight of shape {tuple(torch.as_tensor(sample_weight).shape)} does not "
                f"fit the per-sample losses of shape {tuple(values.shape)}: give one weight per "
                "sample (shape (batch,)) or per loss entry."
            )
    if mask is not None:
        m = mask.to(values.dtype)
        if reduction in (_SOBS, "mean"):  # mean over the valid entries only
            valid = m.sum()
            m = m * torch.where(valid > 0, values.numel() / valid.clamp_min(1.0), 0.0)
        w = m if w is None else w * m
    if w is not None:
        values = values * w
    if reduction in (None, "none") or values.dim() == 0:
        return values
    total = values.sum()
    if reduction == "sum" or values.numel() == 0:
        return total
    if reduction == "mean_with_sample_weight" and w is not None:
        w_sum = w.expand_as(values).sum()
        return torch.where(w_sum != 0, total / torch.where(w_sum != 0, w_sum, 1.0), 0.0)
    return total / values.numel()


def _fused_mean(fn: Callable, kwargs: dict, y_true: Any, y_pred: Any, dtype: Any) -> Any:
    """The mean loss over a batch in one torch call, for the common losses in the common case
    (tensors of matching shape and dtype, no weights, no masks, default arguments); ``None``
    when that case does not apply. The value equals the general route's: the mean of
    per-sample means over equal-sized rows is the mean over all entries."""
    if (
        type(y_true) is not torch.Tensor
        or type(y_pred) is not torch.Tensor
        or (dtype is not None and _torch_dtype(dtype) != y_pred.dtype)
        or y_pred.dim() < 2
        or getattr(y_pred, "_keras_mask", None) is not None
        or y_true.device != y_pred.device
    ):
        return None
    if fn is sparse_categorical_crossentropy:
        if kwargs.get("from_logits") or kwargs.get("ignore_class") is not None:
            return None
        if kwargs.get("axis", -1) not in (-1, y_pred.dim() - 1) or y_pred.dim() != 2:
            return None
        z = getattr(y_pred, "_keras_logits", None)
        if (
            z is None
            or y_true.is_floating_point()
            or y_true.shape not in (y_pred.shape[:1], (y_pred.shape[0], 1))
        ):
            return None
        return F.cross_entropy(z, y_true.reshape(-1).long())
    if y_true.shape != y_pred.shape or y_true.dtype != y_pred.dtype:
        return None
    if fn is mean_squared_error:
        return F.mse_loss(y_pred, y_true)
    if fn is mean_absolute_error:
        return F.l1_loss(y_pred, y_true)
    if kwargs.get("from_logits") or kwargs.get("label_smoothing") or kwargs.get("axis", -1) != -1:
        return None
    z = getattr(y_pred, "_keras_logits", None)
    if z is None or z.shape != y_pred.shape:
        return None
    if fn is binary_crossentropy:
        return F.binary_cross_entropy_with_logits(z, y_true)
    if fn is categorical_crossentropy and y_pred.dim() == 2 and y_pred.shape[-1] > 1:
        return F.cross_entropy(z, y_true)  # probability targets: -sum(y * log_softmax(z))
    return None


class Loss:
    """Base class of losses. Subclasses implement ``call(y_true, y_pred)`` returning per-sample
    losses; ``__call__`` weights and reduces them (see the module docstring for ``reduction``).

    Args:
        name: name of the loss (default: the class name in snake case).
        reduction: ``"sum_over_batch_size"``, ``"mean"``, ``"mean_with_sample_weight"``,
            ``"sum"``, ``"none"`` or ``None``.
        dtype: dtype the loss is computed in (default ``lamina.config.floatx()``).

    Example:
        >>> class Squared(Loss):
        ...     def call(self, y_true, y_pred):
        ...         return (y_true - y_pred).square().mean(-1)
        >>> Squared()(torch.tensor([[0.0]]), torch.tensor([[2.0]]))
        tensor(4.)
    """

    def __init__(self, name: str | None = None, reduction: str | None = _SOBS, dtype=None):
        if reduction not in _REDUCTIONS:
            raise ValueError(
                f"Unknown reduction {reduction!r}: use one of "
                f"{', '.join(repr(r) for r in _REDUCTIONS)}."
            )
        self.name = name or snake_case(type(self).__name__)
        self.reduction = reduction
        self.dtype = str(dtype).replace("torch.", "") if dtype is not None else None

    def call(self, y_true: torch.Tensor, y_pred: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError(f"{type(self).__name__} must implement call(y_true, y_pred).")

    def __call__(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> torch.Tensor:
        y_pred = _cast(_pred(y_pred), _torch_dtype(self.dtype))
        values = self.call(y_true, y_pred)
        mask = None
        for m in (getattr(values, "_keras_mask", None), getattr(y_pred, "_keras_mask", None)):
            if m is not None and tuple(m.shape) == tuple(values.shape):
                mask = m if mask is None else mask & m
        return _reduce(values, sample_weight, mask, self.reduction)

    def get_config(self) -> dict:
        return _init_config(self)

    @classmethod
    def from_config(cls, config: dict) -> Loss:
        return cls(**config)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} name={self.name!r} reduction={self.reduction!r}>"


@_REGISTRY.register()
class LossFunctionWrapper(Loss):
    """A ``Loss`` around a function ``fn(y_true, y_pred, **fn_kwargs)`` of per-sample losses.

    Example:
        >>> loss = LossFunctionWrapper(huber, name="h", delta=2.0)
        >>> loss(torch.tensor([[0.0]]), torch.tensor([[3.0]]))
        tensor(4.)
    """

    def __init__(self, fn: Callable, reduction=_SOBS, name: str | None = None, dtype=None, **kw):
        super().__init__(
            name=name or getattr(fn, "__name__", None), reduction=reduction, dtype=dtype
        )
        self.fn = fn
        self._fn_kwargs = kw
        self.__dict__.update(kw)

    def __call__(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> torch.Tensor:
        if sample_weight is None and self.reduction in (_SOBS, "mean"):
            fused = _fused_mean(self.fn, self._fn_kwargs, y_true, y_pred, self.dtype)
            if fused is not None:
                return fused
        return super().__call__(y_true, y_pred, sample_weight)

    def call(self, y_true: Any, y_pred: torch.Tensor) -> torch.Tensor:
        y_true = torch.as_tensor(y_true, device=y_pred.device)
        y_true, new_pred = _same_rank(y_true, y_pred)
        if new_pred.shape != y_pred.shape:
            logits = getattr(y_pred, "_keras_logits", None)
            if logits is not None:
                new_pred._keras_logits = logits.reshape(new_pred.shape)
        return self.fn(y_true, new_pred, **self._fn_kwargs)

    def get_config(self) -> dict:
        if type(self).__init__ is not LossFunctionWrapper.__init__:
            return _init_config(self)
        fn = _REGISTRY.canonical_name(self.fn)
        if fn is None:
            raise ValueError(
                f"Cannot serialize loss {self.name!r}: its function {self.fn!r} is not registered. "
                "Register it with lamina.saving.register_serializable()."
            )
        return {
            "fn": fn,
            "reduction": self.reduction,
            "name": self.name,
            "dtype": self.dtype,
            **self._fn_kwargs,
        }

    @classmethod
    def from_config(cls, config: dict) -> Loss:
        if cls is LossFunctionWrapper:
            config = dict(config)
            fn = _REGISTRY.lookup(config.pop("fn"))
            if isinstance(fn, type):
                raise ValueError(f"LossFunctionWrapper needs a loss function, got class {fn}.")
            return cls(fn, **config)
        return cls(**config)


# One row per Keras loss class: Keras argument names, defaults and default names. The ``reduction``
# / ``name`` / ``dtype`` arguments are those of ``Loss``.
_register = _REGISTRY.register()


@_register
class BinaryCrossentropy(LossFunctionWrapper):
    """Binary cross-entropy (labels 0/1, one sigmoid output per label).

    Example:
        >>> BinaryCrossentropy()(torch.tensor([[0.0, 1.0]]), torch.tensor([[0.5, 0.5]]))
        tensor(0.6931)
    """

    def __init__(
        self,
        from_logits=False,
        label_smoothing=0.0,
        axis=-1,
        reduction=_SOBS,
        name="binary_crossentropy",
        dtype=None,
    ):
        super().__init__(
            binary_crossentropy,
            reduction,
            name,
            dtype,
            from_logits=from_logits,
            label_smoothing=label_smoothing,
            axis=axis,
        )


@_register
class BinaryFocalCrossentropy(LossFunctionWrapper):
    """Focal binary cross-entropy that down-weights easy examples.

    Example:
        >>> BinaryFocalCrossentropy(gamma=0.0)(torch.tensor([[1.0]]), torch.tensor([[0.5]]))
        tensor(0.6931)
    """

    def __init__(
        self,
        apply_class_balancing=False,
        alpha=0.25,
        gamma=2.0,
        from_logits=False,
        label_smoothing=0.0,
        axis=-1,
        reduction=_SOBS,
        name="binary_focal_crossentropy",
        dtype=None,
    ):
        super().__init__(
            binary_focal_crossentropy,
            reduction,
            name,
            dtype,
            apply_class_balancing=apply_class_balancing,
            alpha=alpha,
            gamma=gamma,
            from_logits=from_logits,
            label_smoothing=label_smoothing,
            axis=axis,
        )


@_register
class CategoricalCrossentropy(LossFunctionWrapper):
    """Cross-entropy against one-hot labels.

    Example:
        >>> CategoricalCrossentropy()(torch.tensor([[0.0, 1.0]]), torch.tensor([[0.5, 0.5]]))
        tensor(0.6931)
    """

    def __init__(
        self,
        from_logits=False,
        label_smoothing=0.0,
        axis=-1,
        reduction=_SOBS,
        name="categorical_crossentropy",
        dtype=None,
    ):
        super().__init__(
            categorical_crossentropy,
            reduction,
            name,
            dtype,
            from_logits=from_logits,
            label_smoothing=label_smoothing,
            axis=axis,
        )


@_register
class SparseCategoricalCrossentropy(LossFunctionWrapper):
    """Cross-entropy against integer labels.

    Example:
        >>> SparseCategoricalCrossentropy()(torch.tensor([1]), torch.tensor([[0.5, 0.5]]))
        tensor(0.6931)
    """

    def __init__(
        self,
        from_logits=False,
        ignore_class=None,
        reduction=_SOBS,
        name="sparse_categorical_crossentropy",
        dtype=None,
    ):
        super().__init__(
            sparse_categorical_crossentropy,
            reduction,
            name,
            dtype,
            from_logits=from_logits,
            ignore_class=ignore_class,
        )


@_register
class MeanSquaredError(LossFunctionWrapper):
    """Mean of ``(y_true - y_pred) ** 2``.

    Example:
        >>> MeanSquaredError()([[0.0, 1.0]], [[1.0, 1.0]])
        tensor(0.5000)
    """

    def __init__(self, reduction=_SOBS, name="mean_squared_error", dtype=None):
        super().__init__(mean_squared_error, reduction, name, dtype)


@_register
class MeanAbsoluteError(LossFunctionWrapper):
    """Mean of ``abs(y_true - y_pred)``.

    Example:
        >>> MeanAbsoluteError()([[0.0, 1.0]], [[1.0, 1.0]])
        tensor(0.5000)
    """

    def __init__(self, reduction=_SOBS, name="mean_absolute_error", dtype=None):
        super().__init__(mean_absolute_error, reduction, name, dtype)


@_register
class MeanAbsolutePercentageError(LossFunctionWrapper):
    """``100 * mean(abs((y_true - y_pred) / y_true))``.

    Example:
        >>> MeanAbsolutePercentageError()([[2.0, 4.0]], [[1.0, 4.0]])
        tensor(25.)
    """

    def __init__(self, reduction=_SOBS, name="mean_absolute_percentage_error", dtype=None):
        super().__init__(mean_absolute_percentage_error, reduction, name, dtype)


@_register
class MeanSquaredLogarithmicError(LossFunctionWrapper):
    """Mean of ``(log(y_pred + 1) - log(y_true + 1)) ** 2``.

    Example:
        >>> MeanSquaredLogarithmicError()([[0.0]], [[0.0]])
        tensor(0.)
    """

    def __init__(self, reduction=_SOBS, name="mean_squared_logarithmic_error", dtype=None):
        super().__init__(mean_squared_logarithmic_error, reduction, name, dtype)


@_register
class Huber(LossFunctionWrapper):
    """Huber loss: quadratic below ``delta``, linear above.

    Example:
        >>> Huber(delta=1.0)([[0.0, 0.0]], [[0.5, 3.0]])
        tensor(1.3125)
    """

    def __init__(self, delta=1.0, reduction=_SOBS, name="huber_loss", dtype=None):
        super().__init__(huber, reduction, name, dtype, delta=delta)


@_register
class LogCosh(LossFunctionWrapper):
    """Mean of ``log(cosh(y_pred - y_true))``.

    Example:
        >>> LogCosh()([[0.0]], [[0.0]])
        tensor(0.)
    """

    def __init__(self, reduction=_SOBS, name="log_cosh", dtype=None):
        super().__init__(log_cosh, reduction, name, dtype)


@_register
class KLDivergence(LossFunctionWrapper):
    """Kullback-Leibler divergence ``sum(y_true * log(y_true / y_pred))``.

    Example:
        >>> KLDivergence()([[0.5, 0.5]], [[0.5, 0.5]])
        tensor(0.)
    """

    def __init__(self, reduction=_SOBS, name="kl_divergence", dtype=None):
        super().__init__(kl_divergence, reduction, name, dtype)


@_register
class Hinge(LossFunctionWrapper):
    """Hinge loss ``max(1 - y_true * y_pred, 0)`` for labels -1/1 (or 0/1).

    Example:
        >>> Hinge()([[0.0, 1.0]], [[-1.0, 0.5]])
        tensor(0.2500)
    """

    def __init__(self, reduction=_SOBS, name="hinge", dtype=None):
        super().__init__(hinge, reduction, name, dtype)


@_register
class SquaredHinge(LossFunctionWrapper):
    """Squared hinge loss ``max(1 - y_true * y_pred, 0) ** 2``.

    Example:
        >>> SquaredHinge()([[0.0, 1.0]], [[-1.0, 0.5]])
        tensor(0.1250)
    """

    def __init__(self, reduction=_SOBS, name="squared_hinge", dtype=None):
        super().__init__(squared_hinge, reduction, name, dtype)


@_register
class CategoricalHinge(LossFunctionWrapper):
    """Categorical hinge loss for one-hot labels.

    Example:
        >>> CategoricalHinge()([[0.0, 1.0]], [[0.3, 0.8]])
        tensor(0.5000)
    """

    def __init__(self, reduction=_SOBS, name="categorical_hinge", dtype=None):
        super().__init__(categorical_hinge, reduction, name, dtype)


@_register
class CosineSimilarity(LossFunctionWrapper):
    """Negative cosine similarity along ``axis`` (-1 means same direction).

    Example:
        >>> CosineSimilarity()([[1.0, 0.0]], [[2.0, 0.0]])
        tensor(-1.)
    """

    def __init__(self, axis=-1, reduction=_SOBS, name="cosine_similarity", dtype=None):
        super().__init__(cosine_similarity, reduction, name, dtype, axis=axis)


@_register
class Poisson(LossFunctionWrapper):
    """Poisson loss ``y_pred - y_true * log(y_pred)``.

    Example:
        >>> Poisson()([[0.0]], [[1.0]])
        tensor(1.)
    """

    def __init__(self, reduction=_SOBS, name="poisson", dtype=None):
        super().__init__(poisson, reduction, name, dtype)


@_register
class CTC(LossFunctionWrapper):
    """CTC loss over logits ``(batch, steps, classes)``; labels padded with 0 (the blank).

    Example:
        >>> CTC()(torch.tensor([[1]]), torch.zeros(1, 1, 2))
        tensor(0.6931)
    """

    def __init__(self, reduction=_SOBS, name="ctc", dtype=None):
        super().__init__(ctc, reduction, name, dtype)


# ----------------------------------------------------------------------------- lookup
def get(identifier: Any, *, y_true: Any = None, y_pred: Any = None) -> Loss | None:
    """Resolve a loss identifier to a ``Loss`` object.

    A string names a registered function (the loss keeps that string as its name, as in Keras
    3's ``compile``) or class; ``"crossentropy"`` / ``"ce"`` pick binary, sparse or categorical
    cross-entropy from the shapes of ``y_true`` / ``y_pred`` (see ``lamina.metrics.get``), or
    at each call when the shapes are not given. A
    ``Loss`` is returned as is, a dict is deserialized, a callable ``fn(y_true, y_pred)`` is
    wrapped under its ``__name__``. Unknown names raise ``ValueError`` with a suggestion.

    Example:
        >>> get("mse").name, get("CategoricalCrossentropy").name
        ('mse', 'categorical_crossentropy')
    """
    if identifier is None or isinstance(identifier, Loss):
        return identifier
    if isinstance(identifier, dict):
        identifier = deserialize(identifier)
    if isinstance(identifier, str):
        name = identifier
        if name.lower() in ("crossentropy", "ce") and y_true is not None and y_pred is not None:
            kind, _ = _problem_kind(None, y_true, y_pred, name)
            obj = {
                "binary": binary_crossentropy,
                "sparse": sparse_categorical_crossentropy,
                "categorical": categorical_crossentropy,
            }[kind]
        else:
            obj = _REGISTRY.lookup(name)
        return obj() if isinstance(obj, type) else LossFunctionWrapper(obj, name=name)
    if isinstance(identifier, type) and issubclass(identifier, Loss):
        return identifier()
    if isinstance(identifier, Loss):  # a deserialized dict
        return identifier
    if callable(identifier):
        name = getattr(identifier, "__name__", None) or snake_case(type(identifier).__name__)
        return LossFunctionWrapper(identifier, name=name)
    raise TypeError(
        f"Could not interpret loss identifier {identifier!r}: give a loss name such as "
        "'mse', a Loss object or a function fn(y_true, y_pred)."
    )


def _shape(x: Any) -> tuple | None:
    if x is None:
        return None
    return tuple(x.shape) if hasattr(x, "shape") else tuple(x)


def _problem_kind(loss: Any, y_true: Any, y_pred: Any, what: str) -> tuple[str, bool]:
    """``("binary" | "sparse" | "categorical", from_logits)`` for ``'accuracy'`` and
    ``'crossentropy'``: the loss decides first, else the shapes (Keras rule; a rank-1 ``y_pred``
    counts as binary)."""
    fn, from_logits = loss, False
    if isinstance(loss, str) and loss.lower() not in ("crossentropy", "ce"):
        fn = _REGISTRY.lookup(loss) if loss in _REGISTRY else None
    if isinstance(fn, type) and issubclass(fn, Loss):
        fn = fn()
    if isinstance(fn, Loss):
        from_logits = bool(getattr(fn, "from_logits", False))
        fn = getattr(fn, "fn", None)
    kinds = {
        binary_crossentropy: "binary",
        binary_focal_crossentropy: "binary",
        sparse_categorical_crossentropy: "sparse",
        categorical_crossentropy: "categorical",
    }
    if fn in kinds:
        return kinds[fn], from_logits
    t, p = _shape(y_true), _shape(y_pred)
    if p is None or t is None:
        raise ValueError(
            f"{what!r} is ambiguous without the loss or the shapes of y_true and y_pred: name "
            "the exact one ('binary_...', 'categorical_...' or 'sparse_categorical_...')."
        )
    if len(p) <= 1 or p[-1] == 1:
        return "binary", from_logits
    if len(t) < len(p) or (t[-1] == 1 and p[-1] > 1):
        return "sparse", from_logits
    return "categorical", from_logits


def serialize(loss: Any) -> Any:
    """JSON-ready form of a loss object or registered function.

    Example:
        >>> serialize(Huber(delta=2.0))["config"]["delta"]
        2.0
    """
    return _registry.serialize(loss, _REGISTRY)


def deserialize(data: Any, custom_objects: dict | None = None) -> Any:
    """Inverse of ``serialize``; only registered names (or ``custom_objects``) are built.

    Example:
        >>> deserialize(serialize(Huber(delta=2.0))).delta
        2.0
    """
    return _registry.deserialize(data, _REGISTRY, custom_objects)
