"""``Normalization``: feature-wise standardization with statistics learned by ``adapt``.

**Statistics come from training data only.** Call ``adapt(x_train)``; the layer then applies
the *training* mean and variance to validation and test data, so nothing about those sets leaks
into the model.

**Missing values.** ``Normalization.adapt`` refuses data holding NaN (a mean over NaN is NaN
and would silently poison every output). Fill the gaps first with an ``Imputer``
(:mod:`lamina.layers.preprocessing.imputation`) adapted on the same training data: each NaN
becomes the training mean (or median, or a constant) of its feature, and ``add_indicator=True``
appends one 0/1 column per feature saying where a value was missing.

Example:
    >>> import numpy as np
    >>> from lamina.layers.preprocessing import Normalization
    >>> layer = Normalization(axis=-1)
    >>> layer.adapt(np.array([[0., 7., 4.], [2., 9., 6.], [0., 7., 4.], [2., 9., 6.]]))
    >>> layer(np.array([[0., 7., 4.]]))
    tensor([[-1., -1., -1.]])
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from lamina import config
from lamina.engine.layer import register_layer
from lamina.layers.preprocessing._common import AdaptedStateLayer, iter_batches, numeric_batch

__all__ = ["Normalization"]


@register_layer()
class Normalization(AdaptedStateLayer):
    """Shifts and scales inputs to mean 0 and standard deviation 1 per feature:
    ``(x - mean) / max(sqrt(variance), epsilon)`` (Keras 3's formula, ``epsilon`` from
    ``lamina.config.epsilon()``, 1e-7).

    Args:
        axis: Axis (or axes) that keep a separate mean and variance per index; the statistics
            are taken over all other axes. ``-1`` (default): one per feature of the last axis;
            ``None``: one scalar mean and variance.
        mean, variance: Known statistics (broadcast to the kept axes); give both or neither.
            Without them, call ``adapt(training_data)`` before using the layer.
        invert: Apply the inverse, ``mean + x * max(sqrt(variance), epsilon)``, e.g. to turn
            normalized predictions back into original units.

    ``adapt`` stores the mean, the (population) variance and the number of values averaged as
    non-trainable weights ``mean``, ``variance`` and ``count`` (``2 * features + 1``
    parameters, as Keras counts them), so they are saved with the model. Data holding NaN is
    refused: fill it first with :class:`Imputer`.

    Example:
        >>> layer = Normalization(mean=3.0, variance=2.0)
        >>> layer(np.array([[1.0], [2.0], [3.0]]))
        tensor([[-1.4142],
                [-0.7071],
                [ 0.0000]])
    """

    supports_masking = True

    def __init__(
        self,
        axis: int | tuple[int, ...] | None = -1,
        mean: Any = None,
        variance: Any = None,
        invert: bool = False,
        **kwargs: Any,
    ):
        super().__init__(**kwargs)
        if (mean is None) != (variance is None):
            raise ValueError(
                "Normalization: give both mean and variance, or neither (and call adapt). Got "
                f"mean={mean!r}, variance={variance!r}."
            )
        axes = () if axis is None else (axis,) if isinstance(axis, int) else tuple(axis)
        if not all(isinstance(a, int) and not isinstance(a, bool) for a in axes):
            raise ValueError(
                f"Normalization: axis must be an int, a tuple of ints or None, got {axis!r}."
            )
        if mean is not None:
            mean, variance = _plain(mean), _plain(variance)
            if np.shape(mean) != np.shape(variance):
                raise ValueError(
                    f"Normalization: mean and variance must have the same shape, got "
                    f"{np.shape(mean)} and {np.shape(variance)}."
                )
            if np.ndim(mean) > len(axes):
                raise ValueError(
                    f"Normalization: mean has rank {np.ndim(mean)}, more than the number of kept "
                    f"axes ({len(axes)}, axis={axis!r})."
                )
        self.axis = list(axis) if isinstance(axis, tuple) else axis
        self.mean = mean
        self.variance = variance
        self.invert = invert
        self._axes = axes

    def build(self, input_shape: tuple) -> None:
        ndim = len(input_shape)
        if any(a < -ndim or a >= ndim for a in self._axes):
            raise ValueError(
                f"Layer '{self.name}' (Normalization): axis {self.axis!r} is out of range for "
                f"inputs of rank {ndim} (shape {tuple(input_shape)})."
            )
        self._keep = tuple(sorted(a % ndim for a in self._axes))
        for d in self._keep:
            if input_shape[d] is None:
                raise ValueError(
                    f"Layer '{self.name}' (Normalization): axis {d} keeps one statistic per "
                    f"index, so its size must be known; got input shape {tuple(input_shape)}."
                )
        self._reduce = tuple(d for d in range(ndim) if d not in self._keep)
        self._broadcast = [input_shape[d] if d in self._keep else 1 for d in range(ndim)]
        stat_shape = tuple(input_shape[d] for d in self._keep)
        if self.mean is None:
            self.adapt_mean = self.add_weight("adapt_mean", stat_shape, "zeros", trainable=False)
            self.adapt_variance = self.add_weight(
                "adapt_variance", stat_shape, "ones", trainable=False
            )
            self.count = self.add_weight("count", (), "zeros", dtype="int64", trainable=False)
        else:
            mean, var = (self._broadcast_given(v) for v in (self.mean, self.variance))
            device = self._build_device
            self.register_buffer("_given_mean", mean.to(device), persistent=False)
            self.register_buffer("_given_variance", var.to(device), persistent=False)

    def _broadcast_given(self, value: Any) -> torch.Tensor:
        t = torch.as_tensor(value, dtype=config.floatx_dtype())
        shape = [1] * len(self._broadcast)
        for i in range(1, t.ndim + 1):  # align the given dims with the kept axes, from the right
            shape[self._keep[-i]] = t.shape[-i]
        try:
            return t.reshape(shape).expand(self._broadcast).clone()
        except RuntimeError:
            raise ValueError(
                f"Layer '{self.name}' (Normalization): mean/variance of shape {tuple(t.shape)} "
                f"cannot be broadcast to the kept axes' shape "
                f"{tuple(self._broadcast[d] for d in self._keep)}."
            ) from None

    def _statistics(self) -> tuple[torch.Tensor, torch.Tensor]:
        if self.mean is not None:
            return self._given_mean, self._given_variance
        if not self._adapted:
            if int(self.count) == 0:
                raise ValueError(
                    f"Layer '{self.name}' (Normalization) has no statistics yet: call "
                    "layer.adapt(x_train) on the training data (then use the layer on training, "
                    "validation and test data alike), or pass mean= and variance=."
                )
            self._adapted = True
        return (
            self.adapt_mean.reshape(self._broadcast),
            self.adapt_variance.reshape(self._broadcast),
        )

    def call(self, inputs: torch.Tensor) -> torch.Tensor:
        if not inputs.is_floating_point():
            inputs = inputs.to(config.floatx_dtype())
        mean, var = self._statistics()
        scale = torch.sqrt(var).clamp(min=config.epsilon())
        if self.invert:
            return mean + inputs * scale
        return (inputs - mean) / scale

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        return tuple(input_shape)

    def output_dtype(self) -> str:
        return config.floatx()

    def adapt(self, data: Any, batch_size: int | None = None, steps: int | None = None) -> None:
        """Learn the mean and (population) variance of ``data`` over all axes but ``axis``.

        ``data``: a NumPy array, tensor or DataFrame (whole, or in ``batch_size`` chunks), or a
        dataset / DataLoader / iterable of batches (``(x, y)`` batches use ``x``). Pass the
        training data only.

        Example:
            >>> layer = Normalization(axis=None)
            >>> layer.adapt(np.array([1.0, 2.0, 3.0, 4.0, 5.0]))
            >>> layer(np.array([1.0, 2.0, 3.0]))
            tensor([-1.4142, -0.7071,  0.0000])
        """
        if self.mean is not None:
            raise ValueError(
                f"Layer '{self.name}' (Normalization) was given mean and variance; there is "
                "nothing to adapt. Create it without them to learn the statistics from data."
            )
        total = 0
        mean = m2 = None
        for batch in iter_batches(data, batch_size, steps):
            x = numeric_batch(batch, f"Layer '{self.name}' (Normalization).adapt")
            if not self.built:
                batch_kept = any(a % max(x.ndim, 1) == 0 for a in self._axes)
                self._maybe_build(tuple(x.shape) if batch_kept else (None, *x.shape[1:]))
            self._check_batch(x)
            n = math.prod(x.shape[d] for d in self._reduce) if self._reduce else 1
            if n == 0:
                continue
            b_mean = x.mean(dim=self._reduce) if self._reduce else x
            b_m2 = (
                ((x - b_mean.reshape(self._broadcast)) ** 2).sum(dim=self._reduce)
                if self._reduce
                else torch.zeros_like(x)
            )
            if mean is None:
                total, mean, m2 = n, b_mean, b_m2
            else:  # Chan et al.'s pairwise update: exact, and stable in float64
                delta = b_mean - mean
                new_total = total + n
                mean = mean + delta * (n / new_total)
                m2 = m2 + b_m2 + delta**2 * (total * n / new_total)
                total = new_total
        if mean is None:
            raise ValueError(f"Layer '{self.name}' (Normalization).adapt received no data.")
        with torch.no_grad():
            self.adapt_mean.copy_(mean.reshape(self.adapt_mean.shape))
            self.adapt_variance.copy_((m2 / total).reshape(self.adapt_variance.shape))
            self.count.fill_(total)
        self._adapted = True

    def _check_batch(self, x: torch.Tensor) -> None:
        ndim = len(self._broadcast)
        if x.ndim != ndim or any(x.shape[d] != self._broadcast[d] for d in self._keep):
            built = tuple(s if d in self._keep else None for d, s in enumerate(self._broadcast))
            raise ValueError(
                f"Layer '{self.name}' (Normalization) was built for inputs of shape {built} but "
                f"adapt() received a batch of shape {tuple(x.shape)}."
            )
        finite = torch.isfinite(x)
        if not bool(finite.all()):
            bad = ~finite
            nan = int(torch.isnan(x).sum())
            cols = sorted({int(i) for i in bad.nonzero()[:, -1].tolist()})[:10]
            raise ValueError(
                f"Layer '{self.name}' (Normalization).adapt: the data holds {nan} NaN and "
                f"{int(bad.sum()) - nan} infinite values (last-axis indices {cols}). Statistics "
                "over missing values are meaningless. Fill NaN first with lamina.layers.Imputer "
                "(adapt it on the same training data; add_indicator=True keeps a 0/1 column "
                "saying where values were missing) or lamina.layers.preprocessing.impute("
                "x_train, x_test); remove or clip infinite values."
            )


def _plain(value: Any) -> Any:
    if torch.is_tensor(value):
        value = value.detach().cpu().numpy()
    return np.asarray(value, dtype=np.float64).tolist()
