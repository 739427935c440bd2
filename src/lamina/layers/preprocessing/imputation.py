"""Missing values: ``Imputer`` fills NaN with a statistic of the training data (mean, median or
a constant) and appends a 0/1 indicator column per feature; :func:`impute` does the same for
NumPy arrays.

This is lamina's missing-value strategy. ``Normalization.adapt`` (and ``fit``'s input checks)
refuse NaN; impute with *training* statistics, keep the indicator so the model can still use
the fact that a value was missing, then normalize the imputed data:

    imputer = Imputer(); imputer.adapt(x_train)
    norm = Normalization(); norm.adapt(imputer(x_train))
    model = Sequential([Input((features,)), imputer, norm, ...])

Example:
    >>> import numpy as np
    >>> from lamina.layers.preprocessing import impute
    >>> impute(np.array([[1.0, np.nan], [3.0, 4.0]]))
    array([[1., 4., 0., 1.],
           [3., 4., 0., 0.]], dtype=float32)
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from lamina import config
from lamina.engine.layer import register_layer
from lamina.layers.preprocessing._common import (
    AdaptedStateLayer,
    check_choice,
    iter_batches,
    numeric_batch,
)

__all__ = ["Imputer", "impute"]


@register_layer()
class Imputer(AdaptedStateLayer):
    """Fills NaN with a per-feature statistic of the training data, and (by default) appends a
    0/1 indicator column per feature marking where values were missing.

    Args:
        strategy: ``"mean"`` (default) or ``"median"`` of each feature's non-missing training
            values, or ``"constant"`` (``fill_value``; no ``adapt`` needed).
        fill_value: The value used by ``strategy="constant"``.
        add_indicator: Append ``features`` indicator columns (1.0 where the input was NaN),
            so ``(..., features)`` becomes ``(..., 2 * features)``.

    Features are on the last axis; ``adapt(x_train)`` learns one fill value per feature (a
    non-trainable weight, saved with the model). A feature with no observed value in the
    training data is an error (its fill value would be undefined).

    Example:
        >>> imputer = Imputer()
        >>> imputer.adapt(np.array([[1.0, np.nan], [3.0, 4.0]]))
        >>> imputer(np.array([[np.nan, 5.0]]))
        tensor([[2., 5., 1., 0.]])
    """

    #: Tells the trainer that NaN in the inputs of a model starting with this layer are expected.
    handles_missing_values = True

    def __init__(
        self,
        strategy: str = "mean",
        fill_value: float | None = None,
        add_indicator: bool = True,
        **kwargs: Any,
    ):
        super().__init__(**kwargs)
        check_choice("Imputer", "strategy", strategy, ("mean", "median", "constant"))
        if strategy == "constant" and fill_value is None:
            raise ValueError("Imputer: strategy='constant' needs a fill_value.")
        self.strategy = strategy
        self.fill_value = fill_value
        self.add_indicator = add_indicator

    def build(self, input_shape: tuple) -> None:
        features = input_shape[-1] if input_shape else None
        if features is None:
            raise ValueError(
                f"Layer '{self.name}' (Imputer) needs the size of the last (feature) axis, got "
                f"input shape {tuple(input_shape)}."
            )
        self.fill = self.add_weight("fill", (features,), "zeros", trainable=False)
        if self.strategy == "constant":
            with torch.no_grad():
                self.fill.fill_(float(self.fill_value))
            self._adapted = True

    def adapt(self, data: Any, batch_size: int | None = None, steps: int | None = None) -> None:
        """Learn each feature's fill value from the training data (NaN are ignored)."""
        batches = []
        sums = counts = None
        for batch in iter_batches(data, batch_size, steps):
            x = numeric_batch(batch, f"Layer '{self.name}' (Imputer).adapt")
            if not self.built:
                self._maybe_build((None, *x.shape[1:]) if x.ndim > 1 else (None, 1))
            x = x.reshape(-1, x.shape[-1] if x.ndim > 1 else 1)
            if x.shape[-1] != self.fill.shape[0]:
                raise ValueError(
                    f"Layer '{self.name}' (Imputer) has {self.fill.shape[0]} features but adapt "
                    f"received a batch with {x.shape[-1]}."
                )
            seen = ~torch.isnan(x)
            s, c = torch.where(seen, x, 0.0).sum(0), seen.sum(0)
            sums, counts = (s, c) if sums is None else (sums + s, counts + c)
            if self.strategy == "median":
                batches.append(x)
        if self.strategy == "constant":
            return
        if sums is None:
            raise ValueError(f"Layer '{self.name}' (Imputer).adapt received no data.")
        empty = (counts == 0).nonzero().flatten().tolist()
        if empty:
            raise ValueError(
                f"Layer '{self.name}' (Imputer): features {empty} have no observed value in the "
                "training data, so no fill value can be learned. Drop them, or use "
                "strategy='constant' with a fill_value."
            )
        if self.strategy == "mean":
            fill = sums / counts
        else:
            fill = torch.nanmedian(torch.cat(batches), dim=0).values
        with torch.no_grad():
            self.fill.copy_(fill)
        self._adapted = True

    def call(self, inputs: torch.Tensor) -> torch.Tensor:
        if not self._adapted:
            raise ValueError(
                f"Layer '{self.name}' (Imputer) has no fill values yet: call "
                "imputer.adapt(x_train) on the training data first."
            )
        if not inputs.is_floating_point():
            inputs = inputs.to(config.floatx_dtype())
        missing = torch.isnan(inputs)
        filled = torch.where(missing, self.fill.to(inputs.dtype), inputs)
        if not self.add_indicator:
            return filled
        return torch.cat([filled, missing.to(inputs.dtype)], dim=-1)

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        if not self.add_indicator or input_shape[-1] is None:
            return tuple(input_shape)
        return (*input_shape[:-1], 2 * input_shape[-1])

    def output_dtype(self) -> str:
        return config.floatx()


def impute(
    x_train: Any,
    *others: Any,
    strategy: str = "mean",
    fill_value: float | None = None,
    add_indicator: bool = True,
) -> Any:
    """Fill NaN in NumPy data with statistics of ``x_train`` (an :class:`Imputer` adapted on
    ``x_train`` only, applied to every array given).

    Args:
        x_train: Training features ``(samples, features)``; the fill values come from it alone.
        *others: More arrays (validation, test) filled with the *training* statistics.
        strategy, fill_value, add_indicator: As :class:`Imputer`.

    Returns:
        The filled ``x_train`` as a float32 NumPy array, or a tuple of arrays when ``others``
        are given.

    Example:
        >>> train = np.array([[1.0, 10.0], [np.nan, 30.0]])
        >>> test = np.array([[np.nan, np.nan]])
        >>> impute(train, test, add_indicator=False)[1]
        array([[ 1., 20.]], dtype=float32)
    """
    layer = Imputer(strategy=strategy, fill_value=fill_value, add_indicator=add_indicator)
    layer.adapt(x_train)
    out = tuple(layer(np.asarray(x, dtype=np.float64)).cpu().numpy() for x in (x_train, *others))
    return out if others else out[0]
