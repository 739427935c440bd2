"""Metrics: stateful objects that accumulate over batches, Keras style.

``update_state(y_true, y_pred, sample_weight=None)`` adds a batch, ``result()`` reads the value
(a 0-d tensor; a vector for several thresholds or per-class scores), ``reset_state()`` starts
over, and calling a metric does update-then-result.

Performance: the state lives in torch tensors on the device of the first batch and is updated
with tensor operations only. ``update_state`` never calls ``.item()``, ``float()``, ``.cpu()`` or
anything else that waits for the device, so the training loop can call it every step and read
``result()`` only when it logs. ``variables`` lists the state tensors; where ``additive`` is
true (every metric here except ``MeanAveragePrecision``) they can be summed across processes
and assigned back (``metric.variables = summed``) to merge distributed results.

Weighted means follow Keras: ``sum(value * w) / sum(w)``. Binary accuracy, precision, recall and
AUC read ``y_pred`` as probabilities (they never look at ``_keras_logits``).

Example:
    >>> import torch
    >>> from lamina import metrics
    >>> m = metrics.get("accuracy", loss="binary_crossentropy")
    >>> m.update_state(torch.tensor([1.0, 0.0]), torch.tensor([0.9, 0.8]))
    >>> m.name, m.result()
    ('accuracy', tensor(0.5000))
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

import torch

from lamina import _registry, config, losses
from lamina._registry import Registry, snake_case
from lamina.losses import _init_config, _problem_kind, _same_rank, _torch_dtype

# fmt: off
__all__ = [
    "Metric", "Mean", "Sum", "MeanMetricWrapper", "Accuracy", "BinaryAccuracy",
    "CategoricalAccuracy", "SparseCategoricalAccuracy", "TopKCategoricalAccuracy",
    "SparseTopKCategoricalAccuracy", "Precision", "Recall", "AUC", "F1Score",
    "MeanAveragePrecision", "MeanSquaredError", "RootMeanSquaredError", "MeanAbsoluteError",
    "MeanAbsolutePercentageError", "MeanSquaredLogarithmicError", "CosineSimilarity",
    "LogCoshError", "BinaryCrossentropy", "CategoricalCrossentropy",
    "SparseCategoricalCrossentropy", "KLDivergence", "Poisson", "Hinge", "SquaredHinge",
    "CategoricalHinge", "accuracy", "binary_accuracy", "categorical_accuracy",
    "sparse_categorical_accuracy", "top_k_categorical_accuracy",
    "sparse_top_k_categorical_accuracy", "get", "serialize", "deserialize",
]
# fmt: on

_REGISTRY = Registry("metric")
_FUNCTIONS: dict[str, Callable] = {}  # metric functions, by name, for MeanMetricWrapper configs
_NEG_INF = -1e10


def _register(*aliases: str) -> Callable[[type], type]:
    """Register a class under its name, its snake_case name and ``aliases`` (Keras 3 keys)."""

    def deco(cls: type) -> type:
        _REGISTRY.register()(cls)
        for alias in (snake_case(cls.__name__), *aliases):
            _REGISTRY.add(alias, cls)
        return cls

    return deco


def _div(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``a / b``, 0 where ``b == 0`` (Keras ``divide_no_nan``)."""
    return torch.where(b != 0, a / torch.where(b != 0, b, torch.ones_like(b)), torch.zeros_like(a))


def _float(x: Any, dtype: torch.dtype, device: Any = None) -> torch.Tensor:
    return torch.as_tensor(x, device=device).detach().to(dtype)


# ----------------------------------------------------------------------------- base classes
class Metric:
    """Base class: subclasses define ``_new_state(like)``, ``update_state`` and ``result``.

    Args:
        name: name of the metric (default: the class name in snake case).
        dtype: dtype of the state and result (default ``lamina.config.floatx()``).

    Example:
        >>> class Count(Metric):
        ...     def _new_state(self, like):
        ...         return {"n": torch.zeros((), device=like.device)}
        ...     def update_state(self, y_true, y_pred, sample_weight=None):
        ...         self._add(y_pred, n=y_pred.shape[0])
        ...     def result(self):
        ...         return self._get("n")
        >>> Count()([1, 2], torch.zeros(2))
        tensor(2.)
    """

    additive: ClassVar[bool] = True

    def __init__(self, name: str | None = None, dtype: Any = None):
        self.name = name or snake_case(type(self).__name__)
        self.dtype = str(dtype).replace("torch.", "") if dtype is not None else None
        self._state: dict[str, torch.Tensor] = {}

    @property
    def _compute_dtype(self) -> torch.dtype:
        return _torch_dtype(self.dtype)

    def _new_state(self, like: torch.Tensor) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    def _add(self, like: torch.Tensor, **increments: Any) -> None:
        """Add to the state, creating it on ``like``'s device at the first batch. Updates are
        out of place so that state made under ``torch.inference_mode`` keeps working."""
        if not self._state:
            self._state = self._new_state(like)
        elif next(iter(self._state.values())).device != like.device:  # inputs moved device
            self._state = {k: v.to(like.device) for k, v in self._state.items()}
        for key, value in increments.items():
            self._state[key] = self._state[key] + value

    def _get(self, key: str) -> torch.Tensor:
        """A state tensor; zeros (not kept) before the first batch."""
        state = self._state or self._new_state(torch.zeros(1, dtype=self._compute_dtype))
        return state[key]

    def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> None:
        raise NotImplementedError

    def result(self) -> torch.Tensor:
        raise NotImplementedError

    def reset_state(self) -> None:
        self._state = {k: torch.zeros_like(v) for k, v in self._state.items()}

    @property
    def variables(self) -> list[torch.Tensor]:
        """The state tensors (empty before the first batch)."""
        return list(self._state.values())

    @variables.setter
    def variables(self, values: list[torch.Tensor]) -> None:
        if len(values) != len(self._state):
            raise ValueError(
                f"{self.name}: expected {len(self._state)} tensors, got {len(values)}."
            )
        self._state = dict(zip(self._state, values))

    def __call__(self, *args: Any, **kwargs: Any) -> torch.Tensor:
        self.update_state(*args, **kwargs)
        return self.result()

    def get_config(self) -> dict:
        return _init_config(self)

    @classmethod
    def from_config(cls, config: dict) -> Metric:
        return cls(**config)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} name={self.name!r}>"


def _samplewise(values: Any, sample_weight: Any, dtype: torch.dtype, reduce: Callable) -> tuple:
    """Per-sample values and weights, as Keras's ``reduce_to_samplewise_values``."""
    values = _float(values, dtype)
    if values.dim() == 0:
        values = values.reshape(1)
    w = None
    if sample_weight is not None:
        w = _float(sample_weight, dtype, values.device)
        values, w = _same_rank(values, w)
        if values.dim() > w.dim():
            values = reduce(values, dim=list(range(w.dim(), values.dim())))
        w = w.expand(values.shape)
        values = values * w
        if w.dim() > 1:
            w = reduce(w, dim=list(range(1, w.dim())))
    if values.dim() > 1:
        values = reduce(values, dim=list(range(1, values.dim())))
    return values, w


@_register()
class Sum(Metric):
    """The (weighted) sum of the values.

    Example:
        >>> Sum()(torch.tensor([1.0, 3.0, 5.0, 7.0]), sample_weight=[1, 1, 0, 0])
        tensor(4.)
    """

    def __init__(self, name: str = "sum", dtype: Any = None):
        super().__init__(name=name, dtype=dtype)

    def _new_state(self, like):
        return {"total": torch.zeros((), dtype=self._compute_dtype, device=like.device)}

    def update_state(self, values: Any, sample_weight: Any = None) -> None:
        values, _ = _samplewise(values, sample_weight, self._compute_dtype, torch.sum)
        self._add(values, total=values.sum())

    def result(self) -> torch.Tensor:
        return self._get("total").clone()


@_register()
class Mean(Metric):
    """The (weighted) mean of the values: ``sum(v * w) / sum(w)``.

    Example:
        >>> Mean()(torch.tensor([1.0, 3.0, 5.0, 7.0]), sample_weight=[1, 1, 0, 0])
        tensor(2.)
    """

    def __init__(self, name: str = "mean", dtype: Any = None):
        super().__init__(name=name, dtype=dtype)

    def _new_state(self, like):
        zero = torch.zeros((), dtype=self._compute_dtype, device=like.device)
        return {"total": zero, "count": zero.clone()}

    def update_state(self, values: Any, sample_weight: Any = None) -> None:
        values, w = _samplewise(values, sample_weight, self._compute_dtype, torch.mean)
        self._add(values, total=values.sum(), count=values.shape[0] if w is None else w.sum())

    def result(self) -> torch.Tensor:
        return _div(self._get("total"), self._get("count"))


def _fn_name(fn: Callable) -> str:
    for name, f in _FUNCTIONS.items():
        if f is fn:
            return name
    name = losses._REGISTRY.canonical_name(fn)
    if name is None:
        raise ValueError(
            f"Cannot serialize a metric wrapping {fn!r}: the function is not registered. "
            "Register it with lamina.saving.register_serializable()."
        )
    return name


def _fn_lookup(name: str) -> Callable:
    fn = _FUNCTIONS.get(name) or losses._REGISTRY.lookup(name)
    if isinstance(fn, type):
        raise ValueError(f"MeanMetricWrapper needs a function, got class {fn.__name__}.")
    return fn


@_register()
class MeanMetricWrapper(Mean):
    """The mean of a per-sample function ``fn(y_true, y_pred, **kwargs)`` over all samples seen.

    A boolean ``_keras_mask`` on ``y_pred`` (or on the values) leaves masked entries out.

    Example:
        >>> m = MeanMetricWrapper(losses.mean_absolute_error, name="mae")
        >>> m(torch.tensor([[0.0], [1.0]]), torch.tensor([[1.0], [1.0]]))
        tensor(0.5000)
    """

    def __init__(self, fn: Callable, name: str | None = None, dtype: Any = None, **kwargs: Any):
        super().__init__(name=name or getattr(fn, "__name__", None), dtype=dtype)
        self.fn = fn
        self._fn_kwargs = kwargs
        self.__dict__.update(kwargs)

    def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> None:
        with torch.no_grad():
            if torch.is_tensor(y_pred) and y_pred.is_floating_point():
                y_pred = losses._cast(y_pred, self._compute_dtype)  # e.g. float16 under autocast
            values = self.fn(y_true, y_pred, **self._fn_kwargs)
            values = torch.as_tensor(values)
            for m in (getattr(values, "_keras_mask", None), getattr(y_pred, "_keras_mask", None)):
                if m is not None and tuple(m.shape) == tuple(values.shape):
                    m = m.to(self._compute_dtype)
                    if sample_weight is None:
                        sample_weight = m
                    else:
                        w = _float(sample_weight, self._compute_dtype, m.device)
                        m, w = _same_rank(m, w)
                        sample_weight = m * w.reshape(w.shape + (1,) * (m.dim() - w.dim()))
            super().update_state(values, sample_weight)

    def get_config(self) -> dict:
        if type(self).__init__ is not MeanMetricWrapper.__init__:
            return _init_config(self)
        return {"fn": _fn_name(self.fn), "name": self.name, "dtype": self.dtype, **self._fn_kwargs}

    @classmethod
    def from_config(cls, config: dict) -> Metric:
        if cls is MeanMetricWrapper:
            config = dict(config)
            return cls(_fn_lookup(config.pop("fn")), **config)
        return cls(**config)


# ----------------------------------------------------------------------------- accuracy
def _metric_fn(fn: Callable) -> Callable:
    _FUNCTIONS[fn.__name__] = fn
    return fn


@_metric_fn
def accuracy(y_true: Any, y_pred: Any) -> torch.Tensor:
    """How often ``y_pred`` equals ``y_true`` exactly, per sample (mean over the last axis).

    Example:
        >>> accuracy([[1], [2]], [[1], [3]])
        tensor([1., 0.])
    """
    y_pred = torch.as_tensor(y_pred)
    y_true = torch.as_tensor(y_true, device=y_pred.device)
    y_true, y_pred = _same_rank(y_true, y_pred)
    return (y_true == y_pred).to(config.floatx_dtype()).mean(dim=-1)


@_metric_fn
def binary_accuracy(y_true: Any, y_pred: Any, threshold: float = 0.5) -> torch.Tensor:
    """Per sample: how often ``(y_pred > threshold) == y_true`` (mean over the last axis).

    Example:
        >>> binary_accuracy([[1.0], [0.0]], [[0.7], [0.6]])
        tensor([1., 0.])
    """
    y_pred = torch.as_tensor(y_pred)
    y_true = torch.as_tensor(y_true, device=y_pred.device)
    y_true, y_pred = _same_rank(y_true, y_pred)
    hit = (y_pred > threshold).to(y_true.dtype) == y_true
    return hit.to(config.floatx_dtype()).mean(dim=-1)


def _sparse_labels(y_true: Any, y_pred: torch.Tensor) -> torch.Tensor:
    y_true = torch.as_tensor(y_true, device=y_pred.device)
    if y_true.dim() == y_pred.dim() and y_true.shape[-1] == 1:
        y_true = y_true.squeeze(-1)
    return y_true


@_metric_fn
def categorical_accuracy(y_true: Any, y_pred: Any) -> torch.Tensor:
    """Per sample: 1.0 where ``argmax(y_pred) == argmax(y_true)`` (one-hot labels).

    Example:
        >>> categorical_accuracy([[0, 1], [1, 0]], [[0.2, 0.8], [0.3, 0.7]])
        tensor([1., 0.])
    """
    y_pred = torch.as_tensor(y_pred)
    y_true = torch.as_tensor(y_true, device=y_pred.device)
    return (y_true.argmax(dim=-1) == y_pred.argmax(dim=-1)).to(config.floatx_dtype())


@_metric_fn
def sparse_categorical_accuracy(y_true: Any, y_pred: Any) -> torch.Tensor:
    """Per sample: 1.0 where ``argmax(y_pred)`` equals the integer label.

    Example:
        >>> sparse_categorical_accuracy([[1], [1]], [[0.2, 0.8], [0.3, 0.1]])
        tensor([1., 0.])
    """
    y_pred = torch.as_tensor(y_pred)
    y_true = _sparse_labels(y_true, y_pred)
    return (y_true == y_pred.argmax(dim=-1).to(y_true.dtype)).to(config.floatx_dtype())


def _in_top_k(target: torch.Tensor, y_pred: torch.Tensor, k: int) -> torch.Tensor:
    # Like tf.math.in_top_k: ties at the k-th score count as inside.
    score = y_pred.gather(-1, target.long().unsqueeze(-1))
    return ((y_pred > score).sum(dim=-1) < k).to(config.floatx_dtype())


@_metric_fn
def top_k_categorical_accuracy(y_true: Any, y_pred: Any, k: int = 5) -> torch.Tensor:
    """Per sample: 1.0 where the one-hot target is among the ``k`` highest predictions.

    Example:
        >>> top_k_categorical_accuracy([[0, 0, 1]], [[0.5, 0.3, 0.2]], k=2)
        tensor([0.])
    """
    y_pred = torch.as_tensor(y_pred)
    return _in_top_k(torch.as_tensor(y_true, device=y_pred.device).argmax(dim=-1), y_pred, k)


@_metric_fn
def sparse_top_k_categorical_accuracy(y_true: Any, y_pred: Any, k: int = 5) -> torch.Tensor:
    """Per sample: 1.0 where the integer label is among the ``k`` highest predictions.

    Example:
        >>> sparse_top_k_categorical_accuracy([2], [[0.5, 0.3, 0.2]], k=3)
        tensor([1.])
    """
    y_pred = torch.as_tensor(y_pred)
    return _in_top_k(_sparse_labels(y_true, y_pred), y_pred, k)


@_register()
class Accuracy(MeanMetricWrapper):
    """How often predictions equal labels exactly.

    Example:
        >>> Accuracy()([[1], [2], [3], [4]], [[0], [2], [3], [4]])
        tensor(0.7500)
    """

    def __init__(self, name: str = "accuracy", dtype: Any = None):
        super().__init__(accuracy, name=name, dtype=dtype)


@_register()
class BinaryAccuracy(MeanMetricWrapper):
    """How often ``y_pred > threshold`` matches binary labels. Unlike Keras, any threshold is
    accepted, e.g. ``0.0`` for logits.

    Example:
        >>> BinaryAccuracy()([[1], [1], [0], [0]], [[0.98], [1], [0], [0.6]])
        tensor(0.7500)
    """

    def __init__(self, name: str = "binary_accuracy", dtype: Any = None, threshold: float = 0.5):
        super().__init__(binary_accuracy, name=name, dtype=dtype, threshold=threshold)


@_register()
class CategoricalAccuracy(MeanMetricWrapper):
    """How often the argmax of ``y_pred`` matches one-hot labels.

    Example:
        >>> CategoricalAccuracy()([[0, 0, 1], [0, 1, 0]], [[0.1, 0.9, 0.8], [0.05, 0.95, 0]])
        tensor(0.5000)
    """

    def __init__(self, name: str = "categorical_accuracy", dtype: Any = None):
        super().__init__(categorical_accuracy, name=name, dtype=dtype)


@_register()
class SparseCategoricalAccuracy(MeanMetricWrapper):
    """How often the argmax of ``y_pred`` matches integer labels.

    Example:
        >>> SparseCategoricalAccuracy()([[2], [1]], [[0.1, 0.6, 0.3], [0.05, 0.95, 0]])
        tensor(0.5000)
    """

    def __init__(self, name: str = "sparse_categorical_accuracy", dtype: Any = None):
        super().__init__(sparse_categorical_accuracy, name=name, dtype=dtype)


@_register()
class TopKCategoricalAccuracy(MeanMetricWrapper):
    """How often the one-hot target is in the top ``k`` predictions.

    Example:
        >>> TopKCategoricalAccuracy(k=1)([[0, 0, 1], [0, 1, 0]], [[0.1, 0.9, 0.8], [0.05, 0.95, 0]])
        tensor(0.5000)
    """

    def __init__(self, k: int = 5, name: str = "top_k_categorical_accuracy", dtype: Any = None):
        super().__init__(top_k_categorical_accuracy, name=name, dtype=dtype, k=k)


@_register()
class SparseTopKCategoricalAccuracy(MeanMetricWrapper):
    """How often the integer target is in the top ``k`` predictions.

    Example:
        >>> SparseTopKCategoricalAccuracy(k=1)([2, 1], [[0.1, 0.9, 0.8], [0.05, 0.95, 0]])
        tensor(0.5000)
    """

    def __init__(
        self, k: int = 5, name: str = "sparse_top_k_categorical_accuracy", dtype: Any = None
    ):
        super().__init__(sparse_top_k_categorical_accuracy, name=name, dtype=dtype, k=k)


# ----------------------------------------------------------------------------- confusion counts
def _confusion_inputs(y_true, y_pred, sample_weight, dtype, top_k=None, class_id=None) -> tuple:
    """Labels (0/1), predictions and weights of one shape (Keras's confusion-matrix rules)."""
    y_pred = _float(y_pred, dtype)
    y_true = (torch.as_tensor(y_true, device=y_pred.device) != 0).to(dtype)
    y_pred, y_true = _same_rank(y_pred, y_true)
    if y_true.shape != y_pred.shape:
        raise ValueError(
            f"y_true of shape {tuple(y_true.shape)} does not match y_pred of shape "
            f"{tuple(y_pred.shape)}; these metrics need labels shaped like the predictions."
        )
    w = None
    if sample_weight is not None:
        w = _float(sample_weight, dtype, y_pred.device)
        if w.dim() > y_pred.dim() and w.shape[-1] == 1:
            w = w.squeeze(-1)
        w = w.reshape(w.shape + (1,) * (y_pred.dim() - w.dim())).expand(y_pred.shape)
    if top_k is not None:
        keep = torch.zeros_like(y_pred, dtype=torch.bool)
        keep.scatter_(-1, y_pred.topk(top_k, dim=-1).indices, True)
        y_pred = torch.where(keep, y_pred, torch.full_like(y_pred, _NEG_INF))
    if class_id is not None:
        if y_pred.dim() < 2:
            raise ValueError(
                f"class_id needs y_pred of shape (batch, classes), got {y_pred.shape}."
            )
        y_true, y_pred = y_true[..., class_id], y_pred[..., class_id]
        w = None if w is None else w[..., class_id]
    return y_true, y_pred, w


def _counts(y_true, y_pred, w, thresholds: torch.Tensor, per_label: bool = False) -> tuple:
    """Weighted true/false positive counts at each (sorted) threshold, a prediction counting as
    positive when ``y_pred > threshold``; also the totals of positive and negative labels. One
    ``bucketize`` and a scatter-add: O(N log T), no host sync."""
    pos = y_true if w is None else y_true * w
    neg = (1.0 - y_true) if w is None else (1.0 - y_true) * w
    if not per_label:
        y_pred, pos, neg = y_pred.reshape(-1), pos.reshape(-1), neg.reshape(-1)
    n_thr = thresholds.numel()
    bucket = torch.bucketize(y_pred.contiguous(), thresholds)  # how many thresholds are < y_pred
    width = 1 if not per_label else y_pred.shape[-1]
    if per_label:
        bucket = bucket * width + torch.arange(width, device=bucket.device)

    def above(values: torch.Tensor) -> torch.Tensor:
        bins = torch.zeros((n_thr + 1) * width, dtype=values.dtype, device=values.device)
        bins = bins.scatter_add(0, bucket.reshape(-1), values.reshape(-1)).reshape(n_thr + 1, -1)
        above_t = bins.flip(0).cumsum(0).flip(0)[1:]  # sum of buckets strictly above threshold
        return above_t if per_label else above_t.reshape(-1)

    return above(pos), above(neg), pos.sum(0), neg.sum(0)


def _threshold_list(thresholds: Any, default: float) -> list[float]:
    values = [default] if thresholds is None else list(torch.as_tensor(thresholds).reshape(-1))
    values = [float(t) for t in values]
    if thresholds is not None and any(not 0.0 <= t <= 1.0 for t in values):
        raise ValueError(f"Threshold values must be in [0, 1]; got {values}.")
    return values


class _ThresholdMetric(Metric):
    """Precision / Recall: true positives plus one other count, per threshold."""

    _other: ClassVar[str]

    def __init__(self, thresholds=None, top_k=None, class_id=None, name=None, dtype=None):
        super().__init__(name=name, dtype=dtype)
        self.thresholds, self.top_k, self.class_id = thresholds, top_k, class_id
        self._thr = _threshold_list(thresholds, 0.5 if top_k is None else _NEG_INF)
        self._order = sorted(range(len(self._thr)), key=self._thr.__getitem__)
        self._cache: dict = {}

    def _consts(self, device) -> tuple:
        if device not in self._cache:  # made once per device: a host-to-device copy can sync
            thr = torch.tensor([self._thr[i] for i in self._order], dtype=self._compute_dtype)
            inverse = torch.tensor(self._order).argsort()
            self._cache[device] = (thr.to(device), inverse.to(device))
        return self._cache[device]

    def _new_state(self, like):
        zero = torch.zeros(len(self._thr), dtype=self._compute_dtype, device=like.device)
        return {"true_positives": zero, self._other: zero.clone()}

    def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> None:
        y_true, y_pred, w = _confusion_inputs(
            y_true, y_pred, sample_weight, self._compute_dtype, self.top_k, self.class_id
        )
        thr, inverse = self._consts(y_pred.device)
        tp, fp, n_pos, _ = _counts(y_true, y_pred, w, thr)
        tp, fp = tp[inverse], fp[inverse]
        other = fp if self._other == "false_positives" else n_pos - tp
        self._add(y_pred, true_positives=tp, **{self._other: other})

    def result(self) -> torch.Tensor:
        tp = self._get("true_positives")
        value = _div(tp, tp + self._get(self._other))
        return value[0] if len(self._thr) == 1 else value


@_register()
class Precision(_ThresholdMetric):
    """Precision ``tp / (tp + fp)``, with ``y_pred > threshold`` as positive (default 0.5; with
    ``top_k``, the top-k predictions); ``class_id`` restricts it to one class.

    Example:
        >>> Precision()([0, 1, 1, 1], [1, 0, 1, 1])
        tensor(0.6667)
    """

    _other = "false_positives"

    def __init__(self, thresholds=None, top_k=None, class_id=None, name=None, dtype=None):
        super().__init__(thresholds, top_k, class_id, name, dtype)


@_register()
class Recall(_ThresholdMetric):
    """Recall ``tp / (tp + fn)``, with ``y_pred > threshold`` as positive (see ``Precision``).

    Example:
        >>> Recall()([0, 1, 1, 1], [1, 0, 1, 1])
        tensor(0.6667)
    """

    _other = "false_negatives"

    def __init__(self, thresholds=None, top_k=None, class_id=None, name=None, dtype=None):
        super().__init__(thresholds, top_k, class_id, name, dtype)


@_register()
class AUC(Metric):
    """Area under the ROC or precision-recall curve, approximated as Keras does: predictions
    are counted against ``num_thresholds`` thresholds (``0 - eps``, ``i / (n - 1)``, ...,
    ``1 + eps``) and the curve is summed by ``summation_method`` (``"interpolation"``: the
    trapezoid rule for ROC, Davis & Goadrich interpolation for PR; ``"minoring"`` /
    ``"majoring"``: lower / upper Riemann sums). ``multi_label=True`` computes one AUC per
    column of ``y_pred`` and averages them (weighted by ``label_weights`` if given).

    Example:
        >>> AUC(num_thresholds=3)([0, 0, 1, 1], [0, 0.5, 0.3, 0.9])
        tensor(0.7500)
    """

    def __init__(
        self,
        num_thresholds: int = 200,
        curve: str = "ROC",
        summation_method: str = "interpolation",
        name: str | None = None,
        dtype: Any = None,
        thresholds: list[float] | None = None,
        multi_label: bool = False,
        num_labels: int | None = None,
        label_weights: Any = None,
        from_logits: bool = False,
    ):
        super().__init__(name=name, dtype=dtype)
        if str(curve).upper() not in ("ROC", "PR"):
            raise ValueError(f"Invalid AUC curve {curve!r}: use 'ROC' or 'PR'.")
        if summation_method not in ("interpolation", "minoring", "majoring"):
            raise ValueError(
                f"Invalid summation_method {summation_method!r}: use 'interpolation', "
                "'minoring' or 'majoring'."
            )
        if thresholds is not None:
            inner = sorted(_threshold_list(thresholds, 0.5))
            num_thresholds = len(inner) + 2
        elif num_thresholds <= 1:
            raise ValueError(f"num_thresholds must be an integer > 1, got {num_thresholds}.")
        else:
            inner = [(i + 1) / (num_thresholds - 1) for i in range(num_thresholds - 2)]
        if num_labels and not multi_label:
            raise ValueError("num_labels is only used with multi_label=True.")
        self.num_thresholds, self.curve, self.summation_method = (
            num_thresholds,
            curve,
            summation_method,
        )
        self.thresholds, self.multi_label, self.num_labels = thresholds, multi_label, num_labels
        if label_weights is not None:
            label_weights = [float(x) for x in torch.as_tensor(label_weights).reshape(-1)]
        self.label_weights, self.from_logits = label_weights, from_logits
        eps = config.epsilon()
        self._thr = [0.0 - eps, *inner, 1.0 + eps]
        self._cache: dict = {}

    def _consts(self, device) -> tuple:
        if device not in self._cache:
            thr = torch.tensor(self._thr, dtype=self._compute_dtype).to(device)
            lw = self.label_weights
            lw = None if lw is None else torch.tensor(lw, dtype=self._compute_dtype).to(device)
            self._cache[device] = (thr, lw)
        return self._cache[device]

    def _new_state(self, like):
        shape = (
            (self.num_thresholds, like.shape[-1]) if self.multi_label else (self.num_thresholds,)
        )
        zero = torch.zeros(shape, dtype=self._compute_dtype, device=like.device)
        keys = ("true_positives", "false_positives", "true_negatives", "false_negatives")
        return {k: zero.clone() for k in keys}

    def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> None:
        y_true, y_pred, w = _confusion_inputs(y_true, y_pred, sample_weight, self._compute_dtype)
        if self.multi_label and y_pred.dim() != 2:
            raise ValueError(f"AUC(multi_label=True) needs y_pred of rank 2, got {y_pred.shape}.")
        if self.from_logits:
            y_pred = torch.sigmoid(y_pred)
        thr, label_weights = self._consts(y_pred.device)
        if label_weights is not None and not self.multi_label:
            w = label_weights if w is None else w * label_weights
            w = w.expand(y_pred.shape)
        tp, fp, n_pos, n_neg = _counts(y_true, y_pred.clamp(0.0, 1.0), w, thr, self.multi_label)
        self._add(
            y_pred,
            true_positives=tp,
            false_positives=fp,
            true_negatives=n_neg - fp,
            false_negatives=n_pos - tp,
        )

    def _interpolate_pr(self, tp, fp, fn) -> torch.Tensor:
        # Davis & Goadrich (2006): TP and FP vary linearly between thresholds, precision does not.
        p = tp + fp
        dtp, dp = tp[:-1] - tp[1:], p[:-1] - p[1:]
        slope = _div(dtp, dp.clamp_min(0.0))
        intercept = tp[1:] - slope * p[1:]
        both = (p[:-1] > 0) & (p[1:] > 0)
        ratio = torch.where(both, _div(p[:-1], p[1:].clamp_min(0.0)), torch.ones_like(p[1:]))
        return _div(slope * (dtp + intercept * ratio.log()), (tp[1:] + fn[1:]).clamp_min(0.0))

    def result(self) -> torch.Tensor:
        tp, fp = self._get("true_positives"), self._get("false_positives")
        tn, fn = self._get("true_negatives"), self._get("false_negatives")
        if self.curve.upper() == "PR" and self.summation_method == "interpolation":
            terms = self._interpolate_pr(tp, fp, fn)
        else:
            recall = _div(tp, tp + fn)
            if self.curve.upper() == "ROC":
                x, y = _div(fp, fp + tn), recall
            else:
                x, y = recall, _div(tp, tp + fp)
            if self.summation_method == "interpolation":
                heights = (y[:-1] + y[1:]) / 2.0
            elif self.summation_method == "minoring":
                heights = torch.minimum(y[:-1], y[1:])
            else:
                heights = torch.maximum(y[:-1], y[1:])
            terms = (x[:-1] - x[1:]) * heights
        if not self.multi_label:
            return terms.sum()
        by_label = terms.sum(dim=0)
        _, label_weights = self._consts(by_label.device)
        if label_weights is None:
            return by_label.mean()
        return _div((by_label * label_weights).sum(), label_weights.sum())


@_register()
class F1Score(Metric):
    """F1 score ``2 * precision * recall / (precision + recall)`` per class, for one-hot or
    multi-label ``(batch, classes)`` inputs. ``threshold=None`` marks each row's argmax as the
    prediction, else ``y_pred > threshold``; ``average`` is ``None`` (per class), ``"micro"``,
    ``"macro"`` or ``"weighted"``.

    Example:
        >>> F1Score(threshold=0.5)([[1, 1, 1], [1, 0, 0], [1, 1, 0]],
        ...                        [[0.2, 0.6, 0.7], [0.2, 0.6, 0.6], [0.6, 0.8, 0.0]])
        tensor([0.5000, 0.8000, 0.6667])
    """

    def __init__(self, average=None, threshold=None, name="f1_score", dtype=None):
        if average not in (None, "micro", "macro", "weighted"):
            raise ValueError(
                f"Invalid average {average!r}: use None, 'micro', 'macro' or 'weighted'."
            )
        super().__init__(name=name, dtype=dtype)
        self.average, self.threshold = average, threshold

    def _new_state(self, like):
        shape = () if self.average == "micro" else (like.shape[-1],)
        zero = torch.zeros(shape, dtype=self._compute_dtype, device=like.device)
        keys = ("true_positives", "false_positives", "false_negatives", "intermediate_weights")
        return {k: zero.clone() for k in keys}

    def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> None:
        dtype = self._compute_dtype
        y_pred = _float(y_pred, dtype)
        y_true = _float(y_true, dtype, y_pred.device)
        if y_pred.dim() != 2 or y_true.shape != y_pred.shape:
            raise ValueError(
                "F1Score expects y_true and y_pred of the same shape (batch, classes); got "
                f"{tuple(y_true.shape)} and {tuple(y_pred.shape)}."
            )
        if self.threshold is None:
            hit = (y_pred >= y_pred.amax(dim=-1, keepdim=True)) & (y_pred.abs() > 1e-9)
        else:
            hit = y_pred > self.threshold
        y_pred = hit.to(dtype)
        w = 1.0 if sample_weight is None else _float(sample_weight, dtype, y_pred.device)
        w = w.reshape(-1, 1) if torch.is_tensor(w) else w
        dims = None if self.average == "micro" else 0  # micro: one count over all classes

        def total(x):
            return (x * w).sum(dim=dims)

        self._add(
            y_pred,
            true_positives=total(y_pred * y_true),
            false_positives=total(y_pred * (1 - y_true)),
            false_negatives=total((1 - y_pred) * y_true),
            intermediate_weights=total(y_true),
        )

    def result(self) -> torch.Tensor:
        eps = config.epsilon()
        tp = self._get("true_positives")
        precision = tp / (tp + self._get("false_positives") + eps)
        recall = tp / (tp + self._get("false_negatives") + eps)
        f1 = 2.0 * precision * recall / (precision + recall + eps)
        if self.average == "weighted":
            support = self._get("intermediate_weights")
            return (f1 * support / (support.sum() + eps)).sum()
        return f1 if self.average is None else f1.mean()


@_register("map")
class MeanAveragePrecision(Metric):
    """Mean average precision for multi-label classification and ranking: the exact average
    precision of each label (column of ``y_pred``; ties grouped as in scikit-learn), averaged
    over the labels that have at least one positive. Integer labels against ``(batch, classes)``
    scores are one-hot encoded. Predictions are kept on the device until ``result()``, so the
    state is not additive (gather it across processes instead of summing).

    Example:
        >>> MeanAveragePrecision()([[1, 0], [0, 1], [1, 1]], [[0.9, 0.2], [0.8, 0.7], [0.1, 0.6]])
        tensor(0.9167)
    """

    additive = False

    def __init__(self, name: str = "mean_average_precision", dtype: Any = None):
        super().__init__(name=name, dtype=dtype)
        self._batches: list[tuple[torch.Tensor, ...]] = []

    def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> None:
        dtype = self._compute_dtype
        y_pred = _float(y_pred, dtype)
        y_true = torch.as_tensor(y_true, device=y_pred.device).detach()
        if y_pred.dim() > 1 and (
            y_true.dim() < y_pred.dim() or y_true.shape[-1] == 1 < y_pred.shape[-1]
        ):
            y_true = _sparse_labels(y_true, y_pred)
            y_true = torch.nn.functional.one_hot(y_true.long(), y_pred.shape[-1])
        y_true = (y_true != 0).to(dtype).reshape(y_pred.shape[0], -1)
        y_pred = y_pred.reshape(y_pred.shape[0], -1)
        w = torch.ones(y_pred.shape[0], dtype=dtype, device=y_pred.device)
        if sample_weight is not None:
            w = w * _float(sample_weight, dtype, y_pred.device).reshape(-1)
        self._batches.append((y_true, y_pred, w))

    def result(self) -> torch.Tensor:
        if not self._batches:
            return torch.zeros((), dtype=self._compute_dtype)
        y_true, y_pred, w = (torch.cat(parts) for parts in zip(*self._batches))
        scores, order = y_pred.sort(dim=0, descending=True, stable=True)
        pos = y_true.gather(0, order) * w[order]
        weight = w[order]
        tp = pos.cumsum(0)
        seen = weight.cumsum(0)
        precision = _div(tp, seen)
        n = scores.shape[0]
        idx = torch.arange(n, device=scores.device).unsqueeze(1).expand_as(scores)
        last = torch.ones_like(scores, dtype=torch.bool)
        last[:-1] = scores[:-1] != scores[1:]  # last row of each group of tied scores
        end = torch.where(last, idx, torch.full_like(idx, n)).flip(0).cummin(0).values.flip(0)
        n_pos = pos.sum(0)
        ap = _div((pos * precision.gather(0, end)).sum(0), n_pos)
        has_pos = (n_pos > 0).to(ap.dtype)
        return _div((ap * has_pos).sum(), has_pos.sum())

    def reset_state(self) -> None:
        self._batches = []

    @property
    def variables(self) -> list[torch.Tensor]:
        return [torch.cat(parts) for parts in zip(*self._batches)] if self._batches else []

    @variables.setter
    def variables(self, values: list[torch.Tensor]) -> None:
        self._batches = [tuple(values)] if values else []


# ----------------------------------------------------------------------------- regression & co
@_register("mse", "MSE")
class MeanSquaredError(MeanMetricWrapper):
    """Mean of ``(y_true - y_pred) ** 2``.

    Example:
        >>> MeanSquaredError()([[0.0, 1.0]], [[1.0, 1.0]])
        tensor(0.5000)
    """

    def __init__(self, name: str = "mean_squared_error", dtype: Any = None):
        super().__init__(losses.mean_squared_error, name=name, dtype=dtype)


@_register()
class RootMeanSquaredError(Mean):
    """``sqrt(mean((y_true - y_pred) ** 2))`` over all values seen.

    Example:
        >>> RootMeanSquaredError()([[0.0, 1.0]], [[2.0, 1.0]])
        tensor(1.4142)
    """

    def __init__(self, name: str = "root_mean_squared_error", dtype: Any = None):
        super().__init__(name=name, dtype=dtype)

    def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> None:
        y_pred = _float(y_pred, self._compute_dtype)
        y_true, y_pred = _same_rank(_float(y_true, y_pred.dtype, y_pred.device), y_pred)
        super().update_state((y_pred - y_true).square(), sample_weight)

    def result(self) -> torch.Tensor:
        return super().result().sqrt()


@_register("mae", "MAE")
class MeanAbsoluteError(MeanMetricWrapper):
    """Mean of ``abs(y_true - y_pred)``.

    Example:
        >>> MeanAbsoluteError()([[0.0, 1.0]], [[1.0, 1.0]])
        tensor(0.5000)
    """

    def __init__(self, name: str = "mean_absolute_error", dtype: Any = None):
        super().__init__(losses.mean_absolute_error, name=name, dtype=dtype)


@_register("mape", "MAPE")
class MeanAbsolutePercentageError(MeanMetricWrapper):
    """``100 * mean(abs((y_true - y_pred) / y_true))``.

    Example:
        >>> MeanAbsolutePercentageError()([[2.0, 4.0]], [[1.0, 4.0]])
        tensor(25.)
    """

    def __init__(self, name: str = "mean_absolute_percentage_error", dtype: Any = None):
        super().__init__(losses.mean_absolute_percentage_error, name=name, dtype=dtype)


@_register("msle", "MSLE")
class MeanSquaredLogarithmicError(MeanMetricWrapper):
    """Mean of ``(log(y_pred + 1) - log(y_true + 1)) ** 2``.

    Example:
        >>> MeanSquaredLogarithmicError()([[0.0]], [[0.0]])
        tensor(0.)
    """

    def __init__(self, name: str = "mean_squared_logarithmic_error", dtype: Any = None):
        super().__init__(losses.mean_squared_logarithmic_error, name=name, dtype=dtype)


def _cosine(y_true: Any, y_pred: Any, axis: int = -1) -> torch.Tensor:
    return -losses.cosine_similarity(y_true, y_pred, axis=axis)


_FUNCTIONS["cosine_similarity"] = _cosine


@_register()
class CosineSimilarity(MeanMetricWrapper):
    """Mean cosine similarity (positive: 1 means same direction, unlike the loss).

    Example:
        >>> CosineSimilarity()([[1.0, 0.0]], [[2.0, 0.0]])
        tensor(1.)
    """

    def __init__(self, name: str = "cosine_similarity", dtype: Any = None, axis: int = -1):
        super().__init__(_cosine, name=name, dtype=dtype, axis=axis)


@_register()
class LogCoshError(MeanMetricWrapper):
    """Mean of ``log(cosh(y_pred - y_true))``.

    Example:
        >>> LogCoshError()([[0.0]], [[0.0]])
        tensor(0.)
    """

    def __init__(self, name: str = "logcosh", dtype: Any = None):
        super().__init__(losses.log_cosh, name=name, dtype=dtype)


@_register("bce", "BCE")
class BinaryCrossentropy(MeanMetricWrapper):
    """Mean binary cross-entropy (see ``lamina.losses.binary_crossentropy``).

    Example:
        >>> BinaryCrossentropy()([[0.0, 1.0]], [[0.5, 0.5]])
        tensor(0.6931)
    """

    def __init__(
        self, name="binary_crossentropy", dtype=None, from_logits=False, label_smoothing=0
    ):
        super().__init__(
            losses.binary_crossentropy,
            name=name,
            dtype=dtype,
            from_logits=from_logits,
            label_smoothing=label_smoothing,
        )


@_register()
class CategoricalCrossentropy(MeanMetricWrapper):
    """Mean categorical cross-entropy (see ``lamina.losses.categorical_crossentropy``).

    Example:
        >>> CategoricalCrossentropy()([[0.0, 1.0]], [[0.5, 0.5]])
        tensor(0.6931)
    """

    def __init__(
        self,
        name="categorical_crossentropy",
        dtype=None,
        from_logits=False,
        label_smoothing=0,
        axis=-1,
    ):
        super().__init__(
            losses.categorical_crossentropy,
            name=name,
            dtype=dtype,
            from_logits=from_logits,
            label_smoothing=label_smoothing,
            axis=axis,
        )


@_register()
class SparseCategoricalCrossentropy(MeanMetricWrapper):
    """Mean sparse categorical cross-entropy (integer labels).

    Example:
        >>> SparseCategoricalCrossentropy()([1], [[0.5, 0.5]])
        tensor(0.6931)
    """

    def __init__(
        self, name="sparse_categorical_crossentropy", dtype=None, from_logits=False, axis=-1
    ):
        super().__init__(
            losses.sparse_categorical_crossentropy,
            name=name,
            dtype=dtype,
            from_logits=from_logits,
            axis=axis,
        )


@_register()
class KLDivergence(MeanMetricWrapper):
    """Mean Kullback-Leibler divergence.

    Example:
        >>> KLDivergence()([[0.5, 0.5]], [[0.5, 0.5]])
        tensor(0.)
    """

    def __init__(self, name: str = "kl_divergence", dtype: Any = None):
        super().__init__(losses.kl_divergence, name=name, dtype=dtype)


@_register()
class Poisson(MeanMetricWrapper):
    """Mean Poisson loss ``y_pred - y_true * log(y_pred)``.

    Example:
        >>> Poisson()([[0.0]], [[1.0]])
        tensor(1.)
    """

    def __init__(self, name: str = "poisson", dtype: Any = None):
        super().__init__(losses.poisson, name=name, dtype=dtype)


@_register()
class Hinge(MeanMetricWrapper):
    """Mean hinge loss.

    Example:
        >>> Hinge()([[0.0, 1.0]], [[-1.0, 0.5]])
        tensor(0.2500)
    """

    def __init__(self, name: str = "hinge", dtype: Any = None):
        super().__init__(losses.hinge, name=name, dtype=dtype)


@_register()
class SquaredHinge(MeanMetricWrapper):
    """Mean squared hinge loss.

    Example:
        >>> SquaredHinge()([[0.0, 1.0]], [[-1.0, 0.5]])
        tensor(0.1250)
    """

    def __init__(self, name: str = "squared_hinge", dtype: Any = None):
        super().__init__(losses.squared_hinge, name=name, dtype=dtype)


@_register()
class CategoricalHinge(MeanMetricWrapper):
    """Mean categorical hinge loss.

    Example:
        >>> CategoricalHinge()([[0.0, 1.0]], [[0.3, 0.8]])
        tensor(0.5000)
    """

    def __init__(self, name: str = "categorical_hinge", dtype: Any = None):
        super().__init__(losses.categorical_hinge, name=name, dtype=dtype)


# ----------------------------------------------------------------------------- lookup
_BY_KIND = {
    "accuracy": {
        "binary": BinaryAccuracy,
        "sparse": SparseCategoricalAccuracy,
        "categorical": CategoricalAccuracy,
    },
    "crossentropy": {
        "binary": BinaryCrossentropy,
        "sparse": SparseCategoricalCrossentropy,
        "categorical": CategoricalCrossentropy,
    },
}


def get(identifier: Any, *, loss: Any = None, y_true: Any = None, y_pred: Any = None):
    """Resolve a metric identifier to a ``Metric`` that keeps the user's name.

    ``'accuracy'`` / ``'acc'`` (and ``'crossentropy'`` / ``'ce'``) become the binary, sparse
    categorical or categorical variant: the loss decides (a ``Loss`` or its name:
    binary / sparse / categorical cross-entropy), else the shapes of ``y_true`` and ``y_pred``
    (arrays or shape tuples): ``y_pred`` of rank 1 or with last dimension 1 is binary; ``y_true``
    with one dimension less, or last dimension 1 against more classes, is sparse; anything else
    is categorical. Binary accuracy after a ``from_logits=True`` loss uses threshold 0. Other
    strings resolve through the registry (unknown ones raise ``ValueError`` with a suggestion);
    a ``Metric`` is returned as is; a callable becomes ``MeanMetricWrapper`` named after it.

    Example:
        >>> get("acc", y_true=(32,), y_pred=(32, 10)).name
        'acc'
        >>> type(get("acc", y_true=(32,), y_pred=(32, 10))).__name__
        'SparseCategoricalAccuracy'
    """
    if identifier is None or isinstance(identifier, Metric):
        return identifier
    if isinstance(identifier, dict):
        return deserialize(identifier)
    if isinstance(identifier, str):
        family = {
            "accuracy": "accuracy",
            "acc": "accuracy",
            "crossentropy": "crossentropy",
            "ce": "crossentropy",
        }.get(identifier.lower())
        if family is not None:
            kind, from_logits = _problem_kind(loss, y_true, y_pred, identifier)
            cls = _BY_KIND[family][kind]
            if family == "crossentropy":
                return cls(name=identifier, from_logits=from_logits)
            if kind == "binary" and from_logits:
                return cls(name=identifier, threshold=0.0)
            return cls(name=identifier)
        obj = _REGISTRY.lookup(identifier)
        metric = obj()
        metric.name = identifier
        return metric
    if isinstance(identifier, type) and issubclass(identifier, Metric):
        return identifier()
    if isinstance(identifier, losses.LossFunctionWrapper):  # averaged per sample, not per batch
        return MeanMetricWrapper(identifier.fn, name=identifier.name, **identifier._fn_kwargs)
    if isinstance(identifier, losses.Loss):
        return MeanMetricWrapper(identifier.call, name=identifier.name)
    if callable(identifier):
        name = getattr(identifier, "__name__", None) or snake_case(type(identifier).__name__)
        return MeanMetricWrapper(identifier, name=name)
    raise TypeError(
        f"Could not interpret metric identifier {identifier!r}: give a metric name such as "
        "'accuracy', a Metric object or a function fn(y_true, y_pred)."
    )


def serialize(metric: Any) -> Any:
    """JSON-ready form of a metric.

    Example:
        >>> serialize(BinaryAccuracy(threshold=0.7))["config"]["threshold"]
        0.7
    """
    return _registry.serialize(metric, _REGISTRY)


def deserialize(data: Any, custom_objects: dict | None = None) -> Any:
    """Inverse of ``serialize``; only registered names (or ``custom_objects``) are built.

    Example:
        >>> deserialize(serialize(BinaryAccuracy(threshold=0.7))).threshold
        0.7
    """
    return _registry.deserialize(data, _REGISTRY, custom_objects)
