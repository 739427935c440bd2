"""The problem-type table: which last-layer activation, loss and metrics fit the targets, and
warnings when a model does not match them.

=================================  ==========  ===============================  ===============
Problem (inferred from ``y``)      activation  loss                             metrics
=================================  ==========  ===============================  ===============
binary classification              sigmoid     binary_crossentropy              accuracy
single-label multi-class (ints)    softmax     sparse_categorical_crossentropy  accuracy
single-label multi-class (one-hot) softmax     categorical_crossentropy         accuracy
multi-label classification         sigmoid     binary_crossentropy (per label)  binary_accuracy
regression to arbitrary values     (none)      mse                              mae
regression to values in [0, 1]     sigmoid     mse (or binary_crossentropy)     mae
=================================  ==========  ===============================  ===============

Example:
    >>> import numpy as np
    >>> from lamina.workflow import suggest
    >>> s = suggest(np.array([0, 2, 1, 2]))
    >>> s.problem, s.activation, s.loss, s.units
    ('multiclass', 'softmax', 'sparse_categorical_crossentropy', 3)
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from lamina.workflow._data import as_numpy
from lamina.workflow.setup_check import check_setup

__all__ = ["Suggestion", "suggest", "check_setup", "PROBLEMS"]

PROBLEMS = ("binary", "multiclass", "multilabel", "regression", "regression_01")

_DESCRIPTIONS = {
    "binary": "binary classification",
    "multiclass": "single-label multi-class classification",
    "multilabel": "multi-label classification",
    "regression": "regression to arbitrary values",
    "regression_01": "regression to values in [0, 1]",
}


@dataclasses.dataclass(frozen=True)
class Suggestion:
    """One row of the problem-type table, for the targets it was inferred from.

    ``label_format`` is ``"integer"``, ``"one-hot"``, ``"multi-hot"``, ``"probabilities"`` or
    ``"continuous"``; ``imbalance`` is the share of the rarest class (classification).

    Example:
        >>> s = suggest(np.array([[0, 1], [1, 0]]))
        >>> s.label_format, s.loss
        ('one-hot', 'categorical_crossentropy')
    """

    problem: str
    units: int
    activation: str | None
    loss: str
    metrics: tuple[str, ...]
    label_format: str
    optimizer: str = "rmsprop"
    alternatives: tuple[str, ...] = ()
    note: str = ""
    imbalance: float | None = None

    def compile_kwargs(self) -> dict[str, Any]:
        """``{"optimizer", "loss", "metrics"}`` for ``model.compile(**s.compile_kwargs())``."""
        return {"optimizer": self.optimizer, "loss": self.loss, "metrics": list(self.metrics)}

    def output_layer(self, **kwargs: Any) -> Any:
        """The last layer of the table: ``Dense(units, activation=...)``.

        Example:
            >>> suggest(np.array([0.5, 2.0])).output_layer().activation.__name__
            'linear'
        """
        from lamina import layers

        return layers.Dense(self.units, activation=self.activation, **kwargs)

    def __str__(self) -> str:
        lines = [
            f"Problem: {_DESCRIPTIONS[self.problem]} ({self.label_format} targets)",
            f"  last layer: Dense({self.units}, activation={self.activation!r})",
            f"  loss:       {self.loss!r}"
            + (
                f" (or {', '.join(repr(a) for a in self.alternatives)})"
                if self.alternatives
                else ""
            ),
            f"  metrics:    {list(self.metrics)}",
            f"  optimizer:  {self.optimizer!r} with its default learning rate",
        ]
        if self.note:
            lines.append(f"  note: {self.note}")
        return "\n".join(lines)


def _is_binary(v: np.ndarray) -> bool:
    return bool(np.isin(v, (0, 1)).all())


def suggest(y: Any, kind: str | None = None) -> Suggestion:
    """Infer the kind of problem from the targets and return the table's row for it.

    Rules: integer (or boolean, or string) labels are classes; float targets are quantities,
    except 0/1 values (binary) and one-/multi-hot rows. A 2-D ``(n, k)`` target of 0/1 values is
    one-hot (single-label) when every row has exactly one 1, else multi-hot (multi-label).
    Float targets all in [0, 1] are regression to [0, 1] (rows that sum to 1 are class
    probabilities). Pass ``kind`` (one of ``PROBLEMS``) to override the inference.

    Args:
        y: the training targets (NumPy, torch, pandas or a list).
        kind: force the problem kind; the rest of the row is still read from ``y``.

    Example:
        >>> suggest(np.array([[0, 1, 1], [1, 0, 0]])).problem
        'multilabel'
        >>> print(suggest(np.array([0.0, 1.0, 1.0, 0.0])))  # doctest: +ELLIPSIS
        Problem: binary classification (integer targets)
          last layer: Dense(1, activation='sigmoid')
        ...
    """
    if kind is not None and kind not in PROBLEMS:
        raise ValueError(f"kind must be one of {PROBLEMS}, got {kind!r}.")
    a = as_numpy(y, "y")
    if a.ndim == 0 or len(a) == 0:
        raise ValueError("suggest() needs an array of targets with one entry per sample.")
    if a.dtype.kind in "fc" and not np.isfinite(a).all():
        raise ValueError(
            "The targets hold NaN or infinite values; fix or drop those samples first."
        )
    if a.ndim > 1 and a.shape[-1] == 1:
        a = a.reshape(a.shape[:-1])
    if a.dtype == object or a.dtype.kind in "USb":
        return _classes(
            np.unique(a.astype(str) if a.dtype == object else a, return_inverse=True)[1],
            kind,
            note="labels are not numbers: encode them as 0..K-1 integers "
            "(e.g. np.unique(y, return_inverse=True)[1]).",
        )
    if a.ndim == 1:
        return _from_vector(a, kind)
    return _from_matrix(a.reshape(-1, a.shape[-1]), kind)


def _classes(labels: np.ndarray, kind: str | None, note: str = "") -> Suggestion:
    if kind not in (None, "binary", "multiclass"):
        raise ValueError(f"kind={kind!r} does not fit class labels; use 'binary' or 'multiclass'.")
    counts = np.bincount(labels.astype(np.int64))
    present = counts[counts > 0]
    share = float(present.min() / present.sum())
    if len(counts) <= 2 and kind != "multiclass":
        metrics: tuple[str, ...] = ("accuracy",)
        if share < 0.2:
            metrics = ("accuracy", "precision", "recall", "auc")
            note = (note + " " if note else "") + (
                f"the rarer class is {share:.0%} of the samples: accuracy alone misleads, watch "
                "precision, recall and AUC."
            )
        if len(present) < 2:
            note = (note + " " if note else "") + "only one class is present in these targets."
        return Suggestion(
            "binary",
            1,
            "sigmoid",
            "binary_crossentropy",
            metrics,
            "integer",
            note=note,
            imbalance=share,
        )
    if kind == "binary":
        raise ValueError(
            f"kind='binary' but the targets hold {len(counts)} classes (0..{len(counts) - 1})."
        )
    return Suggestion(
        "multiclass",
        len(counts),
        "softmax",
        "sparse_categorical_crossentropy",
        ("accuracy",),
        "integer",
        alternatives=("categorical_crossentropy with to_categorical(y)",),
        note=note,
        imbalance=share,
    )


def _from_vector(a: np.ndarray, kind: str | None) -> Suggestion:
    integral = a.dtype.kind in "iub" or bool(np.all(a == np.round(a)))
    if kind in (None, "binary", "multiclass") and integral and a.min() >= 0:
        if _is_binary(a) or a.dtype.kind in "iub" or kind is not None:
            return _classes(a, kind)
    if kind in ("binary", "multiclass"):
        raise ValueError(
            f"kind={kind!r} needs class labels 0..K-1, but the targets hold "
            f"{'negative' if a.min() < 0 else 'fractional'} values."
        )
    return _forced(kind, a, 1)


def _forced(kind: str | None, a: np.ndarray, units: int) -> Suggestion:
    unit_range = bool(a.min() >= 0 and a.max() <= 1)
    if kind == "regression_01" or (kind is None and unit_range):
        if not unit_range:
            raise ValueError("kind='regression_01' needs targets in [0, 1].")
        return Suggestion(
            "regression_01",
            units,
            "sigmoid",
            "mse",
            ("mae",),
            "continuous",
            alternatives=("binary_crossentropy",),
        )
    if kind == "multilabel":
        raise ValueError("kind='multilabel' needs an (n, labels) array of 0/1 values.")
    note = ""
    if a.dtype.kind in "iu" and a.min() < 0:
        note = "negative integers are read as quantities, not classes."
    elif (
        a.dtype.kind == "f" and units == 1 and np.all(a == np.round(a)) and len(np.unique(a)) <= 20
    ):
        note = (
            "float targets with a few whole values are read as quantities; if they are "
            "classes, pass them as integers (y.astype('int64'))."
        )
    return Suggestion(
        "regression",
        units,
        None,
        "mse",
        ("mae",),
        "continuous",
        note=note,
        alternatives=("mae", "huber"),
    )


def _from_matrix(a: np.ndarray, kind: str | None) -> Suggestion:
    k = a.shape[1]
    sums = a.sum(axis=1)
    if _is_binary(a) and kind in (None, "multiclass", "multilabel"):
        if kind != "multilabel" and np.all(sums == 1):
            share = float(a.sum(0).min() / len(a))
            return Suggestion(
                "multiclass",
                k,
                "softmax",
                "categorical_crossentropy",
                ("accuracy",),
                "one-hot",
                alternatives=("sparse_categorical_crossentropy with y.argmax(-1)",),
                imbalance=share,
            )
        if kind == "multiclass":
            raise ValueError("kind='multiclass' with a 2-D target needs exactly one 1 per row.")
        return Suggestion(
            "multilabel",
            k,
            "sigmoid",
            "binary_crossentropy",
            ("binary_accuracy", "mean_average_precision"),
            "multi-hot",
            note="binary cross-entropy is averaged over the labels.",
        )
    in_unit = bool(a.min() >= 0 and a.max() <= 1)
    if in_unit and kind in (None, "multiclass") and np.allclose(sums, 1, atol=1e-4):
        return Suggestion(
            "multiclass",
            k,
            "softmax",
            "categorical_crossentropy",
            ("accuracy",),
            "probabilities",
            alternatives=("kl_divergence",),
        )
    if kind in ("binary", "multiclass", "multilabel"):
        raise ValueError(
            f"kind={kind!r} does not fit targets with values {a.min():g}..{a.max():g}."
        )
    return _forced(kind, a, k)
