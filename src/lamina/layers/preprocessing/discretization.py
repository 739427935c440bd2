"""``Discretization``: bucket continuous values by boundaries, given or learned as quantiles.

Bins are ``(-inf, b0)``, ``[b0, b1)``, ..., ``[b_last, inf)`` (Keras's). ``adapt`` computes
*exact* quantiles (``numpy.quantile``, linear interpolation) at ``1/num_bins, 2/num_bins, ...``;
Keras uses an approximate quantile summary, so learned boundaries can differ slightly on small
data (``epsilon`` is accepted for compatibility and not used).

Example:
    >>> import numpy as np
    >>> from lamina.layers.preprocessing import Discretization
    >>> layer = Discretization(bin_boundaries=[0.0, 1.0, 2.0])
    >>> layer(np.array([[-1.5, 1.0, 3.4, 0.5], [0.0, 3.0, 1.3, 0.0]]))
    tensor([[0, 2, 3, 1],
            [1, 3, 2, 1]])
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from lamina import config
from lamina.engine.layer import register_layer
from lamina.layers.preprocessing._common import PreprocessingLayer, check_choice, iter_batches
from lamina.layers.preprocessing.category_encoding import encode_categorical, encoded_shape

__all__ = ["Discretization"]


@register_layer()
class Discretization(PreprocessingLayer):
    """Maps each value to the index of its bin.

    Args:
        bin_boundaries: Sorted boundaries; ``n`` boundaries make ``n + 1`` bins.
        num_bins: Number of bins to learn with ``adapt`` (equal-frequency bins from quantiles of
            the training data). Give exactly one of ``bin_boundaries`` and ``num_bins``.
        epsilon: Accepted for Keras compatibility; lamina's quantiles are exact.
        output_mode: ``"int"`` (bin ids, same shape as the input), ``"one_hot"``,
            ``"multi_hot"`` or ``"count"`` (see :class:`CategoryEncoding`).
        sparse: Encoded modes only: return sparse COO tensors.

    Example:
        >>> layer = Discretization(num_bins=2)
        >>> layer.adapt(np.array([1.0, 2.0, 3.0, 4.0]))
        >>> layer.bin_boundaries, layer(np.array([0.0, 2.4, 2.5, 9.0])).tolist()
        ([2.5], [0, 0, 1, 1])
    """

    def __init__(
        self,
        bin_boundaries: list[float] | None = None,
        num_bins: int | None = None,
        epsilon: float = 0.01,
        output_mode: str = "int",
        sparse: bool = False,
        **kwargs: Any,
    ):
        super().__init__(**kwargs)
        check_choice(
            "Discretization", "output_mode", output_mode, ("int", "one_hot", "multi_hot", "count")
        )
        if sparse and output_mode == "int":
            raise ValueError("Discretization: sparse=True needs an output_mode other than 'int'.")
        if (bin_boundaries is None) == (num_bins is None):
            raise ValueError(
                "Discretization: give exactly one of bin_boundaries (known boundaries) and "
                f"num_bins (learned by adapt); got bin_boundaries={bin_boundaries!r}, "
                f"num_bins={num_bins!r}."
            )
        if num_bins is not None and (
            isinstance(num_bins, bool) or not isinstance(num_bins, int) or num_bins < 1
        ):
            raise ValueError(
                f"Discretization: num_bins must be a positive integer, got {num_bins!r}."
            )
        if bin_boundaries is not None:
            bin_boundaries = [float(b) for b in np.asarray(bin_boundaries).reshape(-1)]
            if any(b > a for a, b in zip(bin_boundaries[1:], bin_boundaries)):
                raise ValueError(
                    f"Discretization: bin_boundaries must be sorted, got {bin_boundaries}."
                )
        self.bin_boundaries = bin_boundaries
        self.num_bins = num_bins
        self.epsilon = epsilon
        self.output_mode = output_mode
        self.sparse = sparse

    def adapt(self, data: Any, batch_size: int | None = None, steps: int | None = None) -> None:
        """Learn ``num_bins - 1`` boundaries: quantiles of all values in ``data``."""
        if self.num_bins is None:
            raise ValueError(
                f"Layer '{self.name}' (Discretization) was given bin_boundaries; create it with "
                "num_bins instead to learn boundaries with adapt()."
            )
        values = []
        for batch in iter_batches(data, batch_size, steps):
            t = batch.detach().cpu().numpy() if torch.is_tensor(batch) else np.asarray(batch)
            values.append(t.astype(np.float64).reshape(-1))
        flat = np.concatenate(values) if values else np.zeros(0)
        if flat.size == 0 or np.isnan(flat).any():
            raise ValueError(
                f"Layer '{self.name}' (Discretization).adapt needs non-empty data without NaN "
                "(fill missing values first, e.g. with lamina.layers.Imputer)."
            )
        probs = np.arange(1, self.num_bins) / self.num_bins
        self.bin_boundaries = np.quantile(flat, probs).tolist()

    def call(self, inputs: torch.Tensor) -> torch.Tensor:
        if self.bin_boundaries is None:
            raise ValueError(
                f"Layer '{self.name}' (Discretization) has no bin boundaries yet: call "
                "adapt(x_train) first, or pass bin_boundaries=."
            )
        x = inputs if inputs.is_floating_point() else inputs.to(torch.float64)
        bounds = torch.tensor(self.bin_boundaries, dtype=x.dtype, device=x.device)
        ids = torch.bucketize(x, bounds, right=True)  # bounds[i-1] <= x < bounds[i] -> i
        if self.output_mode == "int":
            return ids
        return encode_categorical(
            ids, self.output_mode, len(self.bin_boundaries) + 1, sparse=self.sparse
        )

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        depth = self.num_bins if self.bin_boundaries is None else len(self.bin_boundaries) + 1
        return encoded_shape(input_shape, self.output_mode, depth)

    def output_dtype(self) -> str:
        return "int64" if self.output_mode == "int" else config.floatx()

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Discretization:
        config = dict(config)
        learned = None
        if config.get("bin_boundaries") is not None and config.get("num_bins") is not None:
            learned = config.pop("bin_boundaries")  # learned by adapt: restore after creation
        layer = cls(**config)
        if learned is not None:
            layer.bin_boundaries = [float(b) for b in learned]
        return layer
