"""Hyper-parameter search on Optuna (optional: ``pip install optuna`` or ``lamina[tune]``), with
bad trials pruned on their validation curve, a results table, and the best model rebuilt.

Example:
    >>> import numpy as np
    >>> from lamina import Sequential, layers
    >>> from lamina.workflow import tune
    >>> def build_model(lr):
    ...     model = Sequential([layers.Dense(1, input_shape=(2,))])
    ...     model.compile(optimizer=__import__("lamina").optimizers.SGD(lr), loss="mse")
    ...     return model
    >>> x = np.random.default_rng(0).normal(size=(64, 2)); y = x @ np.array([1.0, -2.0])
    >>> result = tune(build_model, {"lr": [1e-4, 0.1]}, x, y, trials=2, epochs=2,
    ...               verbose=0, seed=0)
    >>> sorted(result.best_params), len(result.trials)
    (['lr'], 2)
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from lamina.callbacks.base import Callback
from lamina.workflow._data import n_samples, take
from lamina.workflow.cross_validation import higher_is_better
from lamina.workflow.splits import holdout_split

__all__ = ["tune", "TuneResult", "PruningCallback"]


def _optuna() -> Any:
    try:
        import optuna
    except ImportError as e:
        raise ImportError(
            "lamina.workflow.tune needs Optuna, an optional dependency: pip install optuna "
            "(or pip install 'lamina[tune]')."
        ) from e
    return optuna


class PruningCallback(Callback):
    """Reports ``monitor`` to an Optuna trial after each epoch and stops training when the
    trial's pruner says the curve is worse than that of earlier trials (``.pruned`` is then
    True; :func:`tune` turns it into ``optuna.TrialPruned``).

    Example:
        >>> class Trial:  # stands in for optuna.Trial
        ...     def report(self, value, step): self.last = (value, step)
        ...     def should_prune(self): return self.last[0] > 1.0
        >>> cb = PruningCallback(Trial(), "val_loss")
        >>> cb.on_epoch_end(0, {"val_loss": 2.0}); cb.pruned
        True
    """

    def __init__(self, trial: Any, monitor: str = "val_loss"):
        super().__init__()
        self.trial = trial
        self.monitor = monitor
        self.pruned = False
        self.pruned_at: int | None = None

    def on_epoch_end(self, epoch: int, logs: Mapping | None = None) -> None:
        value = (logs or {}).get(self.monitor)
        if value is None or not np.isfinite(value):
            return
        self.trial.report(float(value), epoch)
        if self.trial.should_prune():
            self.pruned, self.pruned_at = True, epoch + 1
            if self.model is not None:
                self.model.stop_training = True


@dataclasses.dataclass
class TuneResult:
    """What :func:`tune` returns.

    Attributes:
        best_params: the best trial's hyper-parameters.
        best_value: its best ``metric`` value over the epochs.
        best_epoch: the epoch (1-based) of that value.
        best_model: the best configuration rebuilt and trained (see ``refit``).
        trials: one dict per trial: ``number``, ``state`` (``COMPLETE`` / ``PRUNED`` / ``FAIL``),
            ``value``, ``best_epoch``, ``epochs`` run, and the parameters.
        study: the ``optuna.Study``, for Optuna's own analysis and plots.

    Example:
        >>> row = {"number": 0, "state": "COMPLETE", "value": 0.5, "best_epoch": 3,
        ...        "epochs": 4, "lr": 0.1}
        >>> print(TuneResult({"lr": 0.1}, 0.5, 3, None, [row], "val_loss", "minimize"))
        trial  state     val_loss  best epoch  epochs  lr
        -----  --------  --------  ----------  ------  ---
        0      COMPLETE  0.5       3           4       0.1
        Best: {'lr': 0.1} -> val_loss 0.5 (epoch 3)
    """

    best_params: dict[str, Any]
    best_value: float
    best_epoch: int
    best_model: Any
    trials: list[dict[str, Any]]
    metric: str
    direction: str
    study: Any = dataclasses.field(repr=False, default=None)

    def table(self) -> Any:
        """The trials as a pandas DataFrame, completed trials best first, then pruned / failed
        ones (a list of dicts without pandas)."""
        rows = sorted(self.trials, key=self._key)
        try:
            import pandas as pd
        except ImportError:
            return rows
        return pd.DataFrame(rows).set_index("number")

    def _key(self, row: dict[str, Any]) -> tuple:
        value = row["value"]
        missing = value is None or not np.isfinite(value)
        sign = -1.0 if self.direction == "maximize" else 1.0
        return (row["state"] != "COMPLETE", missing, 0.0 if missing else sign * value)

    def __str__(self) -> str:
        names = (
            [
                k
                for k in self.trials[0]
                if k not in ("number", "state", "value", "best_epoch", "epochs")
            ]
            if self.trials
            else []
        )
        header = ["trial", "state", self.metric, "best epoch", "epochs", *names]
        rows = [
            [
                str(r["number"]),
                r["state"],
                "-" if r["value"] is None else f"{r['value']:.4g}",
                str(r["best_epoch"] or "-"),
                str(r["epochs"]),
                *(_fmt(r.get(k)) for k in names),
            ]
            for r in sorted(self.trials, key=self._key)
        ]
        widths = [max(len(c) for c in col) for col in zip(header, *rows)]
        lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths)) for row in [header, *rows]]
        lines.insert(1, "  ".join("-" * w for w in widths))
        best = (
            f"Best: {self.best_params} -> {self.metric} {self.best_value:.4g} "
            f"(epoch {self.best_epoch})"
        )
        return "\n".join([*lines, best])


def _fmt(v: Any) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)


def _sampler(space: Any) -> Callable[[Any], dict[str, Any]]:
    if callable(space):
        return space
    if not isinstance(space, Mapping) or not space:
        raise TypeError(
            "space must be a dict such as {'units': [16, 32, 64], 'lr': (1e-4, 1e-2, 'log'), "
            "'dropout': (0.0, 0.5)} or a function trial -> dict of parameters."
        )

    def sample(trial: Any) -> dict[str, Any]:
        params = {}
        for name, spec in space.items():
            if isinstance(spec, list):
                if not spec:
                    raise ValueError(f"space[{name!r}] is an empty list of choices.")
                params[name] = trial.suggest_categorical(name, spec)
            elif isinstance(spec, tuple) and len(spec) in (2, 3):
                low, high = spec[0], spec[1]
                log = len(spec) == 3 and spec[2] == "log"
                if len(spec) == 3 and not log:
                    raise ValueError(f"space[{name!r}]: the third entry may only be 'log'.")
                if isinstance(low, int) and isinstance(high, int):
                    params[name] = trial.suggest_int(name, low, high, log=log)
                else:
                    params[name] = trial.suggest_float(name, float(low), float(high), log=log)
            elif isinstance(spec, tuple):
                raise ValueError(f"space[{name!r}] must be (low, high) or (low, high, 'log').")
            else:
                params[name] = spec
        return params

    return sample


def _pruner(optuna: Any, pruner: Any, trials: int) -> Any:
    if pruner in (None, False):
        return optuna.pruners.NopPruner()
    if pruner == "median":
        return optuna.pruners.MedianPruner(
            n_startup_trials=max(1, min(5, trials // 4)), n_warmup_steps=1
        )
    return pruner


def tune(
    build_model: Callable[..., Any],
    space: Any,
    x: Any,
    y: Any,
    validation: Any = 0.2,
    trials: int = 20,
    direction: str | None = None,
    epochs: int = 10,
    metric: str = "val_loss",
    batch_size: int | None = None,
    seed: int | None = None,
    pruner: Any = "median",
    timeout: float | None = None,
    refit: bool = True,
    time_ordered: bool = False,
    verbose: Any = "auto",
    **fit_kwargs: Any,
) -> TuneResult:
    """Search hyper-parameters with Optuna, each trial a fresh model trained and validated.

    Args:
        build_model: ``build_model(**params)`` returns a compiled model.
        space: per parameter, a list of choices, ``(low, high)`` (ints or floats),
            ``(low, high, "log")`` for a log scale, or a fixed value; or a function
            ``trial -> params`` using Optuna's ``trial.suggest_*`` directly.
        x, y: training data.
        validation: a fraction held out of ``x, y`` (the same split for every trial; the last
            samples when ``time_ordered``) or ``(x_val, y_val)``.
        trials: number of trials.
        direction: ``"minimize"`` or ``"maximize"`` (default: from ``metric``).
        epochs, batch_size: passed to ``fit``.
        metric: History key each trial is judged by (its best epoch counts).
        seed: seeds the split, Optuna's sampler and each trial's model.
        pruner: ``"median"`` (Optuna's MedianPruner), None, or an Optuna pruner.
        timeout: stop starting new trials after this many seconds.
        refit: rebuild the best parameters and train on ``x, y`` for the best epoch count;
            with False, ``best_model`` is the model the best trial trained.
        time_ordered: the samples are in time order (no shuffling of the hold-out split).
        verbose: Optuna's progress bar (0: silent).
        **fit_kwargs: other ``fit`` arguments (``callbacks``, ``class_weight``...).

    Returns:
        A :class:`TuneResult`; ``print(result)`` shows the trials table.

    Example:
        >>> from lamina import Sequential, layers
        >>> def build(units):
        ...     model = Sequential([layers.Dense(units, input_shape=(1,)), layers.Dense(1)])
        ...     model.compile("sgd", "mse")
        ...     return model
        >>> x = np.linspace(-1, 1, 32)[:, None]
        >>> r = tune(build, {"units": [2, 4]}, x, 2 * x, trials=1, epochs=1, verbose=0, seed=0)
        >>> r.best_params["units"] in (2, 4)
        True
    """
    optuna = _optuna()
    from lamina.utils import set_random_seed

    if trials < 1:
        raise ValueError(f"trials must be at least 1, got {trials}.")
    if not callable(build_model) or hasattr(build_model, "fit"):
        raise TypeError(
            "build_model must be a function build_model(**params) returning a new compiled "
            f"model, got {type(build_model).__name__}."
        )
    direction = direction or ("maximize" if higher_is_better(metric) else "minimize")
    if direction not in ("minimize", "maximize"):
        raise ValueError(f"direction must be 'minimize' or 'maximize', got {direction!r}.")
    if isinstance(validation, (tuple, list)) and len(validation) == 2:
        xt, yt, (xv, yv) = x, y, validation
    else:
        tr, va = holdout_split(n_samples(x, "x"), validation, seed=seed, time_ordered=time_ordered)
        xt, yt, xv, yv = take(x, tr), take(y, tr), take(x, va), take(y, va)
    sample = _sampler(space)
    user_callbacks = list(fit_kwargs.pop("callbacks", None) or [])
    kept: dict[str, Any] = {}

    def objective(trial: Any) -> float:
        params = sample(trial)
        if seed is not None:
            set_random_seed(seed + trial.number)
        model = _build(build_model, params)
        cb = PruningCallback(trial, metric)
        history = model.fit(
            xt,
            yt,
            validation_data=(xv, yv),
            epochs=epochs,
            batch_size=batch_size,
            verbose=0,
            callbacks=[cb, *user_callbacks],
            **fit_kwargs,
        )
        values = history.history.get(metric)
        if values is None:
            raise KeyError(
                f"metric={metric!r} is not in the History; it holds {sorted(history.history)}."
            )
        trial.set_user_attr("epochs", len(values))
        if cb.pruned:
            raise optuna.TrialPruned(f"pruned at epoch {cb.pruned_at}")
        arr = np.asarray(values, dtype=float)
        best = int(np.nanargmax(arr) if direction == "maximize" else np.nanargmin(arr))
        trial.set_user_attr("best_epoch", best + 1)
        value = float(arr[best])
        if not refit and _improves(kept.get("value"), value, direction):
            kept.update(value=value, model=model)
        return value

    show = verbose not in (0, False, "silent")
    old_level = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # no log line per trial
    try:
        study = optuna.create_study(
            direction=direction,
            sampler=optuna.samplers.TPESampler(seed=seed),
            pruner=_pruner(optuna, pruner, trials),
        )
        study.optimize(objective, n_trials=trials, timeout=timeout, show_progress_bar=show)
    finally:
        optuna.logging.set_verbosity(old_level)
    complete = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    if not complete:
        raise RuntimeError("No trial completed (all were pruned or failed); see result.study.")
    best_trial = study.best_trial
    best_epoch = int(best_trial.user_attrs["best_epoch"])
    best_params = sample(optuna.trial.FixedTrial(best_trial.params))
    if refit:
        if seed is not None:
            set_random_seed(seed)
        best_model = _build(build_model, best_params)
        best_model.fit(x, y, epochs=best_epoch, batch_size=batch_size, verbose=0, **fit_kwargs)
    else:
        best_model = kept.get("model")
    rows = [
        {
            "number": t.number,
            "state": t.state.name,
            "value": t.value,
            "best_epoch": t.user_attrs.get("best_epoch"),
            "epochs": t.user_attrs.get("epochs", 0),
            **t.params,
        }
        for t in study.trials
    ]
    return TuneResult(
        best_params, float(best_trial.value), best_epoch, best_model, rows, metric, direction, study
    )


def _build(build_model: Callable[..., Any], params: dict[str, Any]) -> Any:
    model = build_model(**params)
    if not getattr(model, "compiled", False):
        raise ValueError(
            "build_model(**params) returned a model that is not compiled; call "
            "model.compile(...) inside it."
        )
    return model


def _improves(old: float | None, new: float, direction: str) -> bool:
    if old is None:
        return True
    return new > old if direction == "maximize" else new < old
