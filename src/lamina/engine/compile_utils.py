"""What ``compile`` sets up: the losses per output with their weights, the metrics per output,
and the running means of the losses — all accumulated on the device.

Example:
    >>> import torch
    >>> from lamina.engine.compile_utils import CompiledLoss
    >>> cl = CompiledLoss("mse", None, ["out"])
    >>> total, parts = cl([torch.zeros(2, 1)], [torch.ones(2, 1)], None)
    >>> float(total)
    1.0
"""

from __future__ import annotations

import copy
from typing import Any

import torch

from lamina.engine import tree

__all__ = ["CompiledLoss", "CompiledMetrics", "MeanTracker", "align_targets"]


class MeanTracker:
    """Running mean of per-batch values weighted by batch size.

    The sum stays on the device (a tensor) or, when the caller already has the value on the
    host (the CPU loop reads the loss to check it), is a Python float; the count is always a
    Python number, since batch sizes are known on the host.
    """

    def __init__(self, name: str):
        self.name = name
        self.total: torch.Tensor | float | None = None
        self.count = 0.0

    def update(self, value: torch.Tensor | float, n: int) -> None:
        if isinstance(value, float):
            self.total = value * n if self.total is None else self.total + value * n
        elif self.total is None:
            self.total = value.detach() * n
        else:
            self.total.add_(value.detach(), alpha=n)
        self.count += n

    def result(self) -> torch.Tensor:
        if self.total is None:
            return torch.tensor(0.0)
        return torch.as_tensor(self.total / self.count)

    def reset(self) -> None:
        self.total = None
        self.count = 0.0


def align_targets(y: Any, output_names: list[str], what: str = "y") -> list[Any]:
    """Targets as a list in the order of the model's (flattened) outputs."""
    n = len(output_names)
    if isinstance(y, dict):
        missing = [k for k in output_names if k not in y]
        unknown = [k for k in y if k not in output_names]
        if unknown:
            raise ValueError(
                f"{what} has entries {unknown} that match no model output; the outputs are "
                f"named {output_names}."
            )
        return [y.get(k) for k in output_names] if not missing or len(missing) < n else [None] * n
    if n == 1:
        if isinstance(y, (list, tuple)) and len(y) == 1:
            return [y[0]]
        return [y]
    if not isinstance(y, (list, tuple)) or len(y) != n:
        got = len(y) if isinstance(y, (list, tuple)) else 1
        raise ValueError(
            f"The model has {n} outputs ({output_names}) but {what} holds {got} array(s). Pass a "
            f"list of {n} target arrays, or a dict keyed by output name."
        )
    return list(y)


def _per_output(spec: Any, output_names: list[str], what: str) -> list[Any]:
    """Spread a compile argument over the outputs: one value for all, a list, or a dict."""
    n = len(output_names)
    if isinstance(spec, dict):
        unknown = [k for k in spec if k not in output_names]
        if unknown:
            raise ValueError(
                f"compile({what}=...) names outputs {unknown} that the model does not have; its "
                f"outputs are {output_names}."
            )
        return [spec.get(k) for k in output_names]
    if isinstance(spec, (list, tuple)) and what in ("loss", "loss_weights"):
        if len(spec) != n:
            raise ValueError(
                f"compile({what}=...) got a list of {len(spec)} but the model has {n} outputs "
                f"({output_names}). Give one entry per output, or a dict keyed by output name."
            )
        return list(spec)
    return [spec] * n


class CompiledLoss:
    """The weighted sum of one loss per output (outputs without a loss are not trained)."""

    def __init__(self, loss: Any, loss_weights: Any, output_names: list[str]):
        from lamina import losses as losses_mod

        self.output_names = list(output_names)
        specs = _per_output(loss, self.output_names, "loss")
        weights = _per_output(loss_weights, self.output_names, "loss_weights")
        self.losses = [None if s is None else losses_mod.get(s) for s in specs]
        self.weights = [1.0 if w is None else float(w) for w in weights]
        if all(fn is None for fn in self.losses):
            raise ValueError("compile() needs a loss, e.g. loss='categorical_crossentropy'.")
        self.trackers = (
            [MeanTracker(f"{name}_loss") for name in self.output_names]
            if len(self.output_names) > 1
            else []
        )

    def __call__(
        self, y_true: list[Any], y_pred: list[Any], sample_weight: Any
    ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        sws = (
            align_targets(sample_weight, self.output_names, "sample_weight")
            if isinstance(sample_weight, (list, dict))
            else [sample_weight] * len(self.losses)
        )
        total = None
        parts = []
        for fn, w, yt, yp, sw in zip(self.losses, self.weights, y_true, y_pred, sws):
            if fn is None or yt is None:
                parts.append(None)
                continue
            value = fn(yt, yp, sample_weight=sw)
            parts.append(value)
            term = value if w == 1.0 else value * w
            total = term if total is None else total + term
        if total is None:
            raise ValueError("No targets were given for any output that has a loss.")
        return total, parts

    def update_trackers(self, parts: list[torch.Tensor | None], n: int) -> None:
        for tracker, part in zip(self.trackers, parts):
            if part is not None:
                tracker.update(part, n)

    def loss_names(self) -> list[str]:
        return [t.name for t in self.trackers]


class CompiledMetrics:
    """Metrics per output, resolved at the first batch (when shapes are known)."""

    def __init__(self, metrics: Any, weighted_metrics: Any, output_names: list[str]):
        self.output_names = list(output_names)
        self._specs = metrics
        self._weighted_specs = weighted_metrics
        self.entries: list[tuple[int, Any, bool]] = []
        self.built = False

    def _specs_for(self, spec: Any) -> list[list[Any]]:
        n = len(self.output_names)
        if spec is None:
            return [[] for _ in range(n)]
        if isinstance(spec, dict):
            per = _per_output(spec, self.output_names, "metrics")
            return [
                [] if p is None else (list(p) if isinstance(p, (list, tuple)) else [p]) for p in per
            ]
        if isinstance(spec, (list, tuple)):
            if (
                n > 1
                and len(spec) == n
                and all(isinstance(s, (list, tuple)) or s is None for s in spec)
            ):
                return [list(s or []) for s in spec]
            return [list(spec) for _ in range(n)]
        return [[spec] for _ in range(n)]

    def build(self, y_true: list[Any], y_pred: list[Any], losses: list[Any]) -> None:
        from lamina import metrics as metrics_mod

        multi = len(self.output_names) > 1
        for weighted, spec in ((False, self._specs), (True, self._weighted_specs)):
            for i, items in enumerate(self._specs_for(spec)):
                for item in items:
                    if y_true[i] is None:
                        continue
                    if not isinstance(item, str) and hasattr(item, "update_state") and multi:
                        item = copy.deepcopy(item)
                    metric = metrics_mod.get(
                        item, loss=losses[i], y_true=y_true[i], y_pred=y_pred[i]
                    )
                    if multi:
                        metric._log_name = f"{self.output_names[i]}_{metric.name}"
                    else:
                        metric._log_name = metric.name
                    if weighted:
                        metric._log_name = (
                            f"weighted_{metric._log_name}" if not multi else metric._log_name
                        )
                    self.entries.append((i, metric, weighted))
        names = [m._log_name for _, m, _ in self.entries]
        dupes = {n for n in names if names.count(n) > 1}
        if dupes:
            raise ValueError(f"Two metrics would be logged under the same name: {sorted(dupes)}.")
        self.built = True

    def update_state(self, y_true: list[Any], y_pred: list[Any], sample_weight: Any) -> None:
        for i, metric, weighted in self.entries:
            if y_true[i] is None:
                continue
            sw = None
            if weighted and sample_weight is not None:
                sw = (
                    align_targets(sample_weight, self.output_names, "sample_weight")[i]
                    if isinstance(sample_weight, (list, dict))
                    else sample_weight
                )
            metric.update_state(y_true[i], y_pred[i], sample_weight=sw)

    def results(self) -> dict[str, torch.Tensor]:
        return {m._log_name: m.result() for _, m, _ in self.entries}

    def names(self) -> list[str]:
        return [m._log_name for _, m, _ in self.entries]

    def reset_state(self) -> None:
        for _, metric, _ in self.entries:
            metric.reset_state()

    @property
    def metrics(self) -> list[Any]:
        return [m for _, m, _ in self.entries]


def flat_outputs(y_pred: Any) -> list[Any]:
    return tree.flatten(y_pred) if tree.is_nested(y_pred) else [y_pred]
