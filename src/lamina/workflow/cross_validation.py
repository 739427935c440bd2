"""K-fold and iterated K-fold cross-validation of a model-building function.

Each fold trains a fresh model (``build_model()``) on the other folds and validates on its own;
the result keeps every History, the per-epoch mean curves (the "average validation MAE per
epoch" plot of the book), the mean and standard deviation of each final score, and the
baseline on the same folds.

Example:
    >>> import numpy as np
    >>> from lamina import Sequential, layers
    >>> from lamina.workflow import cross_validate
    >>> def build_model():
    ...     model = Sequential([layers.Dense(1, input_shape=(3,))])
    ...     model.compile(optimizer="sgd", loss="mse", metrics=["mae"])
    ...     return model
    >>> x = np.random.default_rng(0).normal(size=(40, 3)); y = x.sum(1)
    >>> cv = cross_validate(build_model, x, y, k=4, epochs=3, verbose=0, seed=0)
    >>> len(cv.histories), cv.curves("val_mae").shape
    (4, (4, 3))
"""

from __future__ import annotations

import dataclasses
import os
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

from lamina.callbacks.base import History
from lamina.errors import LaminaWarning
from lamina.workflow._data import content_ids, n_samples, sample_rows, take
from lamina.workflow.baselines import Baseline, baseline as make_baseline
from lamina.workflow.splits import iterated_k_fold, k_fold, time_series_split

__all__ = ["cross_validate", "CrossValidationResult", "higher_is_better"]

_HIGHER = ("acc", "auc", "precision", "recall", "f1", "r2", "iou", "average_precision")


def higher_is_better(key: str) -> bool:
    """Whether a larger value of this History key is better (accuracy, AUC...) or worse (losses
    and errors).

    Example:
        >>> higher_is_better("val_accuracy"), higher_is_better("val_mae")
        (True, False)
    """
    name = key[4:] if key.startswith("val_") else key
    return any(h in name for h in _HIGHER) and "loss" not in name and "error" not in name


@dataclasses.dataclass
class CrossValidationResult:
    """What :func:`cross_validate` returns.

    Attributes:
        histories: one ``History`` per fold, in fold order.
        scores: per fold, ``evaluate()`` of the trained model on its validation fold.
        splits: per fold, ``(train_index, val_index)``.
        baseline: the baseline scored on the same validation folds (their mean), or None.
        k, repeats: the protocol.

    Example:
        >>> from lamina.callbacks import History
        >>> h = History(); h.on_train_begin(); h.on_epoch_end(0, {"val_mae": 2.0})
        >>> r = CrossValidationResult([h, h], [{"mae": 2.0}, {"mae": 4.0}], [], None, 2, 1)
        >>> r.mean, r.std
        ({'mae': 3.0}, {'mae': 1.0})
    """

    histories: list[History]
    scores: list[dict[str, float]]
    splits: list[tuple[np.ndarray, np.ndarray]]
    baseline: Baseline | None
    k: int
    repeats: int

    def curves(self, key: str) -> np.ndarray:
        """``(folds, epochs)`` array of one History key (NaN after a fold stopped early)."""
        rows = [h.history.get(key) for h in self.histories]
        if all(r is None for r in rows):
            known = sorted({k for h in self.histories for k in h.history})
            raise KeyError(f"No fold logged {key!r}; the histories hold {known}.")
        width = max(len(r or []) for r in rows)
        out = np.full((len(rows), width), np.nan)
        for i, r in enumerate(rows):
            out[i, : len(r or [])] = r or []
        return out

    @property
    def mean_curves(self) -> dict[str, np.ndarray]:
        """Per-epoch mean over the folds of every History key."""
        keys = dict.fromkeys(k for h in self.histories for k in h.history)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN epochs stay NaN
            return {k: np.nanmean(self.curves(k), axis=0) for k in keys}

    @property
    def mean(self) -> dict[str, float]:
        """Mean over the folds of each final score (``np.mean``)."""
        return {k: float(np.mean([s[k] for s in self.scores])) for k in self.scores[0]}

    @property
    def std(self) -> dict[str, float]:
        """Standard deviation over the folds of each final score (``np.std``, ddof=0)."""
        return {k: float(np.std([s[k] for s in self.scores])) for k in self.scores[0]}

    def best_epoch(self, key: str = "val_loss") -> int:
        """The epoch (1-based) where the mean curve of ``key`` is best: train the final model
        for that many epochs."""
        curve = self.mean_curves[key] if key in self.mean_curves else self.curves(key)[0]
        pick = np.nanargmax if higher_is_better(key) else np.nanargmin
        return int(pick(curve)) + 1

    def plot(
        self,
        key: str = "val_loss",
        path: str | None = None,
        skip: int = 0,
        smooth: float | None = None,
    ) -> Any:
        """Plot the per-epoch mean of ``key`` over the folds, with a band of one standard
        deviation; ``skip`` leaves out the first epochs and ``smooth`` (e.g. 0.9) applies an
        exponential moving average. Saves a PNG to ``path`` when given; returns the figure."""
        import matplotlib

        matplotlib.use("Agg", force=False)
        import matplotlib.pyplot as plt

        curves = self.curves(key)[:, skip:]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            mean, std = np.nanmean(curves, 0), np.nanstd(curves, 0)
        if smooth:
            mean = _ema(mean, smooth)
        epochs = np.arange(skip + 1, skip + 1 + len(mean))
        fig, ax = plt.subplots(figsize=(6, 4))
        ax.plot(epochs, mean, label=f"mean {key} over {len(curves)} folds")
        ax.fill_between(epochs, mean - std, mean + std, alpha=0.2, label="± 1 std")
        base = self.baseline.get(key) if self.baseline is not None else None
        if base is not None:
            ax.axhline(base, color="grey", linestyle="--", label=f"baseline {base:.4g}")
        ax.set_xlabel("epoch")
        ax.set_ylabel(key)
        ax.legend()
        ax.grid(alpha=0.3)
        fig.tight_layout()
        if path is not None:
            _save(fig, path)
        plt.close(fig)
        return fig

    def __str__(self) -> str:
        protocol = f"{self.k}-fold" + (f" x {self.repeats}" if self.repeats > 1 else "")
        lines = [f"Cross-validation ({protocol}, {len(self.scores)} runs):"]
        for name in self.scores[0]:
            base = self.baseline.get(name) if self.baseline is not None else None
            extra = f"   baseline {base:.4g}" if base is not None else ""
            lines.append(f"  val_{name}: {self.mean[name]:.4g} ± {self.std[name]:.2g}{extra}")
        return "\n".join(lines)


def _ema(values: np.ndarray, factor: float) -> np.ndarray:
    out = np.array(values, dtype=float)
    for i in range(1, len(out)):
        out[i] = out[i - 1] * factor + out[i] * (1 - factor)
    return out


def _save(fig: Any, path: str) -> None:
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    tmp = os.path.join(directory, f".{os.path.basename(path)}.tmp")
    fig.savefig(tmp, format="png", dpi=100)
    os.replace(tmp, path)


def _splits(
    n: int,
    k: int,
    repeats: int,
    shuffle: bool | None,
    time_ordered: bool,
    seed: int | None,
    labels: Any,
) -> list[tuple[np.ndarray, np.ndarray]]:
    if time_ordered:
        if shuffle:
            raise ValueError(
                "cross_validate: shuffle=True with time_ordered=True would train on the future. "
                "Leave shuffle unset for data ordered in time (folds become time_series_split)."
            )
        if repeats != 1:
            raise ValueError("repeats > 1 reshuffles the data; it cannot be time-ordered.")
        return list(time_series_split(n, n_splits=k))
    if repeats > 1:
        if shuffle is False:
            raise ValueError("repeats > 1 needs shuffling: unshuffled repeats are identical.")
        return list(iterated_k_fold(n, k=k, repeats=repeats, seed=seed, stratify=labels))
    return list(
        k_fold(n, k=k, shuffle=True if shuffle is None else shuffle, seed=seed, stratify=labels)
    )


def cross_validate(
    build_model: Callable[[], Any],
    x: Any,
    y: Any,
    k: int = 4,
    repeats: int = 1,
    shuffle: bool | None = None,
    epochs: int = 1,
    batch_size: int | None = None,
    time_ordered: bool = False,
    verbose: Any = "auto",
    seed: int | None = None,
    stratify: bool = False,
    baseline: Any = "auto",
    **fit_kwargs: Any,
) -> CrossValidationResult:
    """K-fold (``repeats=1``) or iterated K-fold with shuffling (``repeats > 1``) validation.

    Args:
        build_model: a function with no arguments returning a fresh *compiled* model.
        x, y: all the training data (arrays, tensors, frames or lists / dicts of them).
        k: number of folds.
        repeats: rounds of K-fold, reshuffled each time (``k * repeats`` models).
        shuffle: shuffle before cutting the folds (default: yes, unless ``time_ordered``).
        epochs, batch_size: passed to ``fit``.
        time_ordered: the samples are in time order: folds are ``time_series_split`` (each
            validates on the block after its training data); shuffling is refused.
        verbose: a progress bar over the folds (0: silent). The fits themselves are silent.
        seed: seeds the folds and each fold's model (``set_random_seed(seed + fold)``).
        stratify: keep the class shares of ``y`` in every fold (classification).
        baseline: ``"auto"`` scores :func:`baseline` on the same folds; a :class:`Baseline`
            is shown as given; None skips it.
        **fit_kwargs: other ``fit`` arguments (``callbacks``, ``class_weight``...).

    Returns:
        A :class:`CrossValidationResult`.

    Example:
        >>> from lamina import Sequential, layers
        >>> def build():
        ...     model = Sequential([layers.Dense(1, input_shape=(2,))])
        ...     model.compile("sgd", "mse")
        ...     return model
        >>> x = np.random.default_rng(1).normal(size=(30, 2)); y = x[:, 0]
        >>> cv = cross_validate(build, x, y, k=3, epochs=2, verbose=0, seed=0)
        >>> len(cv.scores), cv.curves("val_loss").shape
        (3, (3, 2))
    """
    from tqdm.auto import tqdm

    from lamina.utils import set_random_seed

    for bad in ("validation_data", "validation_split"):
        if bad in fit_kwargs:
            raise ValueError(f"cross_validate makes the validation folds itself; drop {bad}=.")
    if not callable(build_model) or hasattr(build_model, "fit"):
        raise TypeError(
            "build_model must be a function that returns a new compiled model (each fold "
            f"trains a fresh one), got {type(build_model).__name__}."
        )
    n = n_samples(x, "x")
    if n_samples(y, "y") != n:
        raise ValueError(f"x has {n} samples but y has {n_samples(y, 'y')}.")
    single_y = not isinstance(y, (list, tuple, dict))
    labels = y if stratify and single_y else None
    splits = _splits(n, k, repeats, shuffle, time_ordered, seed, labels)
    _warn_repeated_samples(x)
    sample_weight = fit_kwargs.pop("sample_weight", None)
    histories, scores, base_scores = [], [], []
    show = verbose not in (0, False, "silent")
    bar = tqdm(total=len(splits), desc="cross-validation", unit="fold", disable=not show)
    try:
        for fold, (tr, va) in enumerate(splits):
            if seed is not None:
                set_random_seed(seed + fold)
            model = build_model()
            if not getattr(model, "compiled", False):
                raise ValueError(
                    "build_model() returned a model that is not compiled; call "
                    "model.compile(optimizer=..., loss=..., metrics=[...]) inside it."
                )
            xt, yt, xv, yv = take(x, tr), take(y, tr), take(x, va), take(y, va)
            with warnings.catch_warnings():
                # Repeated samples were reported once above, not once per fold.
                warnings.filterwarnings(
                    "ignore", message=r".*also appear in the training data", category=LaminaWarning
                )
                history = model.fit(
                    xt,
                    yt,
                    epochs=epochs,
                    batch_size=batch_size,
                    verbose=0,
                    validation_data=(xv, yv),
                    sample_weight=take(sample_weight, tr),
                    **fit_kwargs,
                )
                scores.append(
                    model.evaluate(xv, yv, batch_size=batch_size, verbose=0, return_dict=True)
                )
            histories.append(history)
            if baseline == "auto" and single_y:
                base_scores.append(make_baseline(yt, yv))
            bar.set_postfix({k_: f"{v:.4g}" for k_, v in list(scores[-1].items())[:2]})
            bar.update(1)
    finally:
        bar.close()
    base = baseline if isinstance(baseline, Baseline) else _mean_baseline(base_scores)
    return CrossValidationResult(histories, scores, splits, base, k, repeats)


def _mean_baseline(per_fold: list[Baseline]) -> Baseline | None:
    if not per_fold:
        return None
    keys = per_fold[0].scores
    mean = {key: float(np.mean([b.scores[key] for b in per_fold])) for key in keys}
    return Baseline(per_fold[0].kind, mean, per_fold[0].predictor + ", mean over folds")


def _warn_repeated_samples(x: Any) -> None:
    (ids,) = content_ids(sample_rows(x))
    repeated = len(ids) - len(np.unique(ids))
    if repeated:
        warnings.warn(
            f"{repeated} samples of x repeat other samples, so folds will validate on copies of "
            "training samples and scores will be optimistic. Remove duplicates first "
            "(lamina.workflow.check_splits shows them).",
            LaminaWarning,
            stacklevel=3,
        )
