"""scikit-learn estimators around lamina models, so that ``GridSearchCV``, ``cross_val_score``
and ``Pipeline`` work with them.

``KerasClassifier`` / ``KerasRegressor`` follow sklearn's estimator contract: ``__init__`` only
stores its arguments (``get_params`` / ``set_params`` / ``clone`` derive from it), ``fit``
returns ``self`` and sets attributes ending in ``_`` (``model_``, ``history_``, ``classes_``,
``n_features_in_``), and ``score`` is accuracy / R².

The model comes from ``build_fn(**params)`` (a fresh model per ``fit``: extra keyword
arguments of the estimator are passed to it and can be searched by ``GridSearchCV``), or from
``model=`` (copied at each ``fit``). An uncompiled model is compiled with ``optimizer``,
``loss`` and ``metrics``; without a ``loss`` the problem-type table picks one from ``y``
(``lamina.workflow.suggest``).

Example:
    >>> import numpy as np
    >>> from lamina import Sequential, layers
    >>> from lamina.wrappers import KerasClassifier
    >>> def build_fn(units=8):
    ...     return Sequential([layers.Dense(units, activation="relu"),
    ...                        layers.Dense(2, activation="softmax")])
    >>> x = np.random.default_rng(0).normal(size=(40, 3)); y = (x[:, 0] > 0).astype(int)
    >>> clf = KerasClassifier(build_fn, units=4, epochs=2, random_state=0).fit(x, y)
    >>> clf.get_params()["units"], clf.predict(x[:3]).shape, clf.classes_.tolist()
    (4, (3,), [0, 1])
"""

from __future__ import annotations

import copy
import inspect
from collections.abc import Callable
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_array, check_is_fitted, check_X_y, column_or_1d

__all__ = ["KerasClassifier", "KerasRegressor"]


class _KerasEstimator(BaseEstimator):
    """Shared parameters and ``fit`` logic; see the module docstring."""

    def __init__(
        self,
        build_fn: Callable[..., Any] | None = None,
        *,
        model: Any = None,
        optimizer: Any = "rmsprop",
        loss: Any = None,
        metrics: Any = None,
        epochs: int = 1,
        batch_size: int | None = 32,
        validation_split: float = 0.0,
        shuffle: bool = True,
        callbacks: list[Any] | None = None,
        verbose: int = 0,
        random_state: Any = None,
        **params: Any,
    ):
        self.build_fn = build_fn
        self.model = model
        self.optimizer = optimizer
        self.loss = loss
        self.metrics = metrics
        self.epochs = epochs
        self.batch_size = batch_size
        self.validation_split = validation_split
        self.shuffle = shuffle
        self.callbacks = callbacks
        self.verbose = verbose
        self.random_state = random_state
        for name, value in params.items():
            setattr(self, name, value)

    # -- parameters --------------------------------------------------------------------
    def _extra_names(self) -> list[str]:
        """Parameters given as extra keyword arguments (routed to ``build_fn``)."""
        fixed = set(self._get_param_names())
        return [
            k
            for k in vars(self)
            if k not in fixed and not k.startswith("_") and not k.endswith("_")
        ]

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        params = super().get_params(deep=deep)
        params.update({k: getattr(self, k) for k in self._extra_names()})
        return params

    def set_params(self, **params: Any) -> _KerasEstimator:
        fixed = set(self._get_param_names()) | set(self._extra_names())
        accepted = _accepted_args(self.build_fn)
        for name, value in params.items():
            if name not in fixed and (accepted is not None and name not in accepted):
                raise ValueError(
                    f"Invalid parameter {name!r} for {type(self).__name__}: it is neither an "
                    f"estimator parameter ({sorted(self._get_param_names())}) nor an argument "
                    "of build_fn."
                )
            setattr(self, name, value)
        return self

    # -- fitting -----------------------------------------------------------------------
    def _build(self, meta: dict[str, Any], x: np.ndarray) -> tuple[Any, int]:
        extras = {k: getattr(self, k) for k in self._extra_names()}
        if self.build_fn is not None:
            accepted = _accepted_args(self.build_fn)
            if accepted is not None:
                unknown = [k for k in extras if k not in accepted]
                if unknown:
                    raise ValueError(
                        f"{type(self).__name__} got parameters {unknown} that build_fn does not "
                        f"accept (its arguments: {sorted(accepted)})."
                    )
                if "meta" in accepted:
                    extras["meta"] = meta
            model = self.build_fn(**extras)
        elif self.model is not None:
            if extras:
                raise ValueError(
                    f"Parameters {sorted(extras)} need a build_fn to receive them; with model=... "
                    "only the estimator's own parameters apply."
                )
            model = copy.deepcopy(self.model)
        else:
            raise ValueError(
                f"{type(self).__name__} needs build_fn=... (a function returning a model) or "
                "model=... (a model instance)."
            )
        if model is None or not hasattr(model, "fit"):
            raise TypeError(f"build_fn must return a lamina model, got {model!r}.")
        units = _output_units(model, x)
        if self.loss is not None or not getattr(model, "compiled", False):
            loss = self.loss if self.loss is not None else self._default_loss(meta, units)
            metrics = self.metrics if self.metrics is not None else self._default_metrics()
            model.compile(optimizer=copy.deepcopy(self.optimizer), loss=loss, metrics=metrics)
        return model, units

    def _seed(self) -> None:
        from lamina.utils import set_random_seed

        state = self.random_state
        if state is None:
            return
        if isinstance(state, np.random.RandomState):
            state = int(state.randint(0, 2**31 - 1))
        set_random_seed(int(state))

    def _check_x(self, x: Any, reset: bool) -> np.ndarray:
        x = np.asarray(x) if not hasattr(x, "dtype") else x
        kind = np.dtype(x.dtype).kind if hasattr(x, "dtype") else "f"
        flat = np.asarray(x).reshape(-1)
        # Strings stay strings (for models that start with a text layer); numbers become float32.
        textual = kind in "US" or (kind == "O" and flat.size and isinstance(flat[0], (str, bytes)))
        x = check_array(x, dtype=None if textual else np.float32, allow_nd=True)
        if reset:
            self.n_features_in_ = x.shape[1]
        elif x.shape[1] != self.n_features_in_:
            raise ValueError(
                f"X has {x.shape[1]} features, but {type(self).__name__} is expecting "
                f"{self.n_features_in_} features as input."
            )
        return x

    def _fit(
        self,
        x: Any,
        targets: Callable[[Any, int], Any],
        meta: dict[str, Any],
        sample_weight: Any,
        fit_params: dict[str, Any],
    ) -> Any:
        if sample_weight is not None:
            sample_weight = np.asarray(sample_weight, dtype=np.float32)
            if sample_weight.shape != (len(x),):
                raise ValueError(
                    f"sample_weight has shape {sample_weight.shape}; expected ({len(x)},)."
                )
            if not np.any(sample_weight):
                raise ValueError("All sample weights are zero: there is nothing to learn from.")
        self._seed()
        model, units = self._build(meta, x)
        y_fit = targets(model, units)
        kwargs = {
            "epochs": self.epochs,
            "batch_size": self.batch_size,
            "verbose": self.verbose,
            "shuffle": self.shuffle,
            "callbacks": copy.copy(self.callbacks),
        }
        if self.validation_split:
            kwargs["validation_split"] = self.validation_split
        kwargs.update(fit_params)
        self.history_ = model.fit(x, y_fit, sample_weight=sample_weight, **kwargs)
        self.model_ = model
        return self

    def _predict_raw(self, x: Any) -> np.ndarray:
        check_is_fitted(self, "model_")
        x = self._check_x(x, reset=False)
        out = self.model_.predict(x, batch_size=self.batch_size, verbose=0)
        if isinstance(out, (list, dict)):
            raise ValueError("The wrappers support models with a single output.")
        return np.asarray(out, dtype=np.float64)  # sklearn's convention for predictions

    def __sklearn_is_fitted__(self) -> bool:
        return hasattr(self, "model_")


def _output_units(model: Any, x: np.ndarray) -> int:
    """Size of the model's output for one sample (builds a lazy model on two samples)."""
    import torch

    from lamina.engine.data_adapter import to_tensor

    probe = to_tensor(x[:2])
    device = next((p.device for p in model.parameters()), None)  # a given model may be on GPU
    if device is not None and torch.is_tensor(probe):
        probe = probe.to(device)
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            out = model(probe)
    finally:
        model.train(was_training)
    if not torch.is_tensor(out):
        raise ValueError("The wrappers support models with a single output.")
    return int(out.shape[-1]) if out.dim() > 1 else 1


def _accepted_args(fn: Callable[..., Any] | None) -> set[str] | None:
    """Names ``fn`` accepts, or None when it takes ``**kwargs`` (anything goes)."""
    if fn is None:
        return set()
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return None
    if any(p.kind == p.VAR_KEYWORD for p in sig.parameters.values()):
        return None
    return {n for n, p in sig.parameters.items() if p.kind != p.VAR_POSITIONAL}


def _loss_kind_of(model: Any) -> str | None:
    from lamina import losses
    from lamina.workflow.setup_check import _loss_kind

    spec = getattr(model, "_compile_args", {}).get("loss")
    if isinstance(spec, (list, dict)):
        raise ValueError("The wrappers support models with a single output (and one loss).")
    try:
        return _loss_kind(losses.get(spec))[0]
    except (TypeError, ValueError):
        return None


class KerasClassifier(ClassifierMixin, _KerasEstimator):
    """A lamina model as a scikit-learn classifier.

    Labels may be of any type (``classes_`` keeps them; the model sees 0..K-1, one-hot for
    ``categorical_crossentropy``), or a 0/1 indicator matrix for multi-label problems.
    ``predict_proba`` returns one column per class (two for a single sigmoid unit).

    Args:
        build_fn: function returning a (compiled or not) model; receives the extra keyword
            arguments, and ``meta`` (``n_features_in_``, ``classes_``, ``n_classes_``,
            ``target_type_``: ``"binary"``, ``"multiclass"`` or ``"multilabel"``) if it has
            such a parameter.
        model: a model instance, copied at each ``fit`` (use ``build_fn`` for fresh weights).
        optimizer, loss, metrics: used to compile an uncompiled model (a given ``loss``
            recompiles); the loss defaults to the problem-type table's.
        epochs, batch_size, validation_split, shuffle, callbacks, verbose: ``fit`` arguments.
        random_state: seed for the weights and shuffling (reproducible fits).
        **params: arguments for ``build_fn`` (searchable with ``GridSearchCV``).

    Example:
        >>> from sklearn.model_selection import cross_val_score
        >>> from lamina import Sequential, layers
        >>> x = np.random.default_rng(1).normal(size=(30, 2)); y = np.where(x[:, 1] > 0, "a", "b")
        >>> clf = KerasClassifier(lambda: Sequential([layers.Dense(1, activation="sigmoid")]),
        ...                       epochs=1, random_state=0)
        >>> cross_val_score(clf, x, y, cv=3).shape
        (3,)
    """

    def fit(self, X: Any, y: Any, sample_weight: Any = None, **fit_params: Any) -> KerasClassifier:
        """Train a fresh model on ``X, y``; returns ``self``."""
        x, y = check_X_y(X, y, dtype=None, allow_nd=True, multi_output=True)
        check_classification_targets(y)
        x = self._check_x(x, reset=True)
        y = np.asarray(y)
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        if y.ndim == 2:
            if not np.isin(y, (0, 1)).all():
                raise ValueError("A 2-D y must be a 0/1 indicator matrix (multi-label targets).")
            self.classes_ = np.arange(y.shape[1])
            self.multilabel_ = True
            encoded = y.astype(np.float32)
        else:
            self.classes_, encoded = np.unique(y, return_inverse=True)
            self.multilabel_ = False
            encoded = encoded.reshape(-1)
        self.n_classes_ = len(self.classes_)
        meta = {
            "n_features_in_": self.n_features_in_,
            "classes_": self.classes_,
            "n_classes_": self.n_classes_,
            "target_type_": "multilabel"
            if self.multilabel_
            else ("binary" if self.n_classes_ <= 2 else "multiclass"),
        }

        def targets(model: Any, units: int) -> np.ndarray:
            if self.multilabel_:
                return encoded
            kind = _loss_kind_of(model)
            if units > 1 and self.n_classes_ > units:
                raise ValueError(
                    f"y has {self.n_classes_} classes but the model outputs {units} units; make "
                    f"the last layer Dense({self.n_classes_}, ...)."
                )
            if kind == "scce":
                return encoded.astype(np.int64)
            if units > 1 and kind in ("cce", "bce", "regression", None):
                return np.eye(units, dtype=np.float32)[encoded]
            return encoded.astype(np.float32)

        return self._fit(x, targets, meta, sample_weight, fit_params)

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = True  # 0/1 indicator matrices are supported
        return tags

    def _default_loss(self, meta: dict[str, Any], units: int) -> str:
        if getattr(self, "multilabel_", False) or units == 1:
            return "binary_crossentropy"
        return "sparse_categorical_crossentropy"

    def _default_metrics(self) -> list[str]:
        return ["accuracy"]

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities, ``(n_samples, n_classes)``."""
        p = self._predict_raw(X)
        p = p.reshape(len(p), -1)
        if p.shape[1] == 1 and not self.multilabel_:
            p = np.hstack([1.0 - p, p])
        return p

    def predict(self, X: Any) -> np.ndarray:
        """The most probable class of each sample (0/1 indicators for multi-label targets)."""
        p = self.predict_proba(X)
        if self.multilabel_:
            return (p >= 0.5).astype(np.int64)
        return self.classes_[np.argmax(p[:, : self.n_classes_], axis=1)]


class KerasRegressor(RegressorMixin, _KerasEstimator):
    """A lamina model as a scikit-learn regressor (``score`` is R²).

    Same arguments as :class:`KerasClassifier`; the loss defaults to ``"mse"``.

    Example:
        >>> from lamina import Sequential, layers
        >>> x = np.random.default_rng(0).normal(size=(32, 2)); y = x.sum(1)
        >>> reg = KerasRegressor(lambda: Sequential([layers.Dense(1)]), epochs=2,
        ...                      random_state=0).fit(x, y)
        >>> reg.predict(x).shape
        (32,)
    """

    def fit(self, X: Any, y: Any, sample_weight: Any = None, **fit_params: Any) -> KerasRegressor:
        """Train a fresh model on ``X, y``; returns ``self``."""
        x, y = check_X_y(X, y, dtype=None, allow_nd=True, multi_output=True, y_numeric=True)
        x = self._check_x(x, reset=True)
        y = np.asarray(y, dtype=np.float32)
        self.n_outputs_ = 1 if y.ndim == 1 else y.shape[1]
        self.y_ndim_ = y.ndim
        meta = {"n_features_in_": self.n_features_in_, "n_outputs_": self.n_outputs_}
        return self._fit(x, lambda model, units: y, meta, sample_weight, fit_params)

    def _default_loss(self, meta: dict[str, Any], units: int) -> str:
        return "mse"

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True  # y of shape (n, outputs) is supported
        return tags

    def _default_metrics(self) -> None:
        return None

    def predict(self, X: Any) -> np.ndarray:
        """Predicted values, shaped like the training ``y``."""
        p = self._predict_raw(X)
        if self.y_ndim_ == 1:
            return p.reshape(len(p), -1)[:, 0]
        return p.reshape(len(p), -1)
