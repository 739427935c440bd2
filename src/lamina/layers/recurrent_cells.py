"""Reference recurrent cells: one step of SimpleRNN, LSTM and GRU, written as the textbook
equations, with Keras's argument names and defaults.

A cell holds the weights of its layer. They are stored in the layout PyTorch's fused kernels
use (``kernel`` is ``(gates * units, input_dim)``, GRU gates in torch's order r, z, n) and are
converted to Keras's layouts (``kernel`` ``(input_dim, gates * units)``, LSTM gates i, f, c, o,
GRU gates z, r, h) by ``get_weights`` / ``set_weights``, regularizers and constraints.

A step is split in two so that the time loop of :class:`lamina.layers.recurrent.RNN` is cheap:
``project`` computes ``x·W + b`` for every timestep in one matrix product, and ``step`` adds
the recurrent part ``h·U`` and applies the gates, one timestep at a time. Calling a cell as a
layer, ``cell(x_t, states)``, runs one whole step (Keras's cell API).

Example:
    >>> import torch
    >>> cell = LSTMCell(3)
    >>> h, (h2, c) = cell(torch.ones(2, 5), [torch.zeros(2, 3), torch.zeros(2, 3)])
    >>> h.shape, [w.shape for w in cell.get_weights()]
    (torch.Size([2, 3]), [(5, 12), (3, 12), (12,)])
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F

from lamina import activations, constraints, initializers, regularizers
from lamina.engine.layer import Layer, register_layer
from lamina.layers._dropout import dropout_mask as _dropout_mask

__all__ = ["SimpleRNNCell", "LSTMCell", "GRUCell"]


# ---------------------------------------------------------------------- layout conversions
# Module-level functions (not lambdas) so that they are differentiable torch code that
# regularizers and constraints can run through, and so that layers stay picklable.
def _transpose(w: torch.Tensor) -> torch.Tensor:
    """Stored ``(gates * units, n)`` <-> Keras ``(n, gates * units)``."""
    return w.t()


def _swap_first_two_gates(w: torch.Tensor, axis: int) -> torch.Tensor:
    """GRU gate blocks: torch's order r, z, n <-> Keras's order z, r, h (its own inverse)."""
    a, b, c = w.chunk(3, dim=axis)
    return torch.cat([b, a, c], dim=axis)


def _gru_kernel_to_keras(w: torch.Tensor) -> torch.Tensor:
    return _swap_first_two_gates(w, 0).t()


def _gru_kernel_from_keras(w: torch.Tensor) -> torch.Tensor:
    return _swap_first_two_gates(w.t(), 0)


def _gru_bias_swap(w: torch.Tensor) -> torch.Tensor:
    return _swap_first_two_gates(w, -1)


class _KerasLayoutInit:
    """Draws a weight in Keras's layout (so that e.g. the orthogonal recurrent kernel has the
    same distribution as in Keras) and converts it to the stored layout."""

    def __init__(self, init: Callable, keras_shape: tuple, from_keras: Callable | None):
        self.init, self.keras_shape, self.from_keras = init, keras_shape, from_keras

    def __call__(self, shape: tuple, dtype: torch.dtype | None = None) -> torch.Tensor:
        value = self.init(self.keras_shape, dtype=dtype)
        return (self.from_keras(value) if self.from_keras else value).contiguous()


class _UnitForgetBias:
    """LSTM bias initializer: ``bias_initializer`` everywhere but 1.0 for the forget gate."""

    def __init__(self, init: Callable, units: int):
        self.init, self.units = init, units

    def __call__(self, shape: tuple, dtype: torch.dtype | None = None) -> torch.Tensor:
        u = self.units
        parts = [self.init((u,), dtype=dtype), torch.ones(u, dtype=dtype)]
        return torch.cat([*parts, self.init((2 * u,), dtype=dtype)])


def _plain(fn: Callable) -> Callable:
    """lamina's ``sigmoid`` records logits on its output for the losses; inside a time loop
    that is wasted work, so the plain torch function is used for the same formula."""
    if fn is activations.sigmoid:
        return torch.sigmoid
    if fn is activations.tanh:
        return torch.tanh
    return fn


def dropout_mask(shape: tuple, rate: float, like: torch.Tensor, generator: Any = None):
    """Inverted-dropout mask: 0 with probability ``rate``, else ``1 / (1 - rate)``."""
    return _dropout_mask(shape, rate, like.dtype, like.device, generator)


# ---------------------------------------------------------------------- the shared base
class _Cell(Layer):
    """What the three cells share: arguments, weights in the fused layout, dropout masks."""

    gates = 1

    def __init__(
        self,
        units: int,
        activation: Any = "tanh",
        use_bias: bool = True,
        kernel_initializer: Any = "glorot_uniform",
        recurrent_initializer: Any = "orthogonal",
        bias_initializer: Any = "zeros",
        kernel_regularizer: Any = None,
        recurrent_regularizer: Any = None,
        bias_regularizer: Any = None,
        kernel_constraint: Any = None,
        recurrent_constraint: Any = None,
        bias_constraint: Any = None,
        dropout: float = 0.0,
        recurrent_dropout: float = 0.0,
        seed: int | None = None,
        **kwargs: Any,
    ):
        super().__init__(**kwargs)
        if not isinstance(units, int) or units <= 0:
            raise ValueError(
                f"{type(self).__name__} units must be a positive integer, got {units!r}."
            )
        for name, rate in (("dropout", dropout), ("recurrent_dropout", recurrent_dropout)):
            if not 0.0 <= rate < 1.0:
                raise ValueError(f"{type(self).__name__} {name} must be in [0, 1), got {rate!r}.")
        self.units = units
        self.activation = activations.get(activation)
        self.use_bias = use_bias
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.recurrent_initializer = initializers.get(recurrent_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.recurrent_regularizer = regularizers.get(recurrent_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)
        self.kernel_constraint = constraints.get(kernel_constraint)
        self.recurrent_constraint = constraints.get(recurrent_constraint)
        self.bias_constraint = constraints.get(bias_constraint)
        self.dropout = float(dropout)
        self.recurrent_dropout = float(recurrent_dropout)
        self.seed = seed
        self._generator: torch.Generator | None = None

    # Keras describes a cell by the sizes of its states and of its output.
    @property
    def state_size(self) -> int | list[int]:
        return self.units

    @property
    def output_size(self) -> int:
        return self.units

    def _state_sizes(self) -> list[int]:
        size = self.state_size
        return list(size) if isinstance(size, (list, tuple)) else [size]

    def _keras_weight(
        self,
        name: str,
        keras_shape: tuple,
        init: Any,
        reg: Any,
        con: Any,
        to_keras: Callable | None,
        from_keras: Callable | None,
    ) -> torch.Tensor:
        return self.add_weight(
            name,
            keras_shape,
            _KerasLayoutInit(init, keras_shape, from_keras),
            regularizer=reg,
            constraint=con,
            to_keras=to_keras,
            from_keras=from_keras,
        )

    _kernel_to_keras = staticmethod(_transpose)
    _kernel_from_keras = staticmethod(_transpose)

    def build(self, input_shape: tuple) -> None:
        in_dim, width = input_shape[-1], self.gates * self.units
        if in_dim is None:
            raise ValueError(
                f"Layer '{self.name}' ({type(self).__name__}) needs the feature axis of its "
                f"input to be known, got input shape {tuple(input_shape)}."
            )
        to_k, from_k = self._kernel_to_keras, self._kernel_from_keras
        self.kernel = self._keras_weight(
            "kernel",
            (in_dim, width),
            self.kernel_initializer,
            self.kernel_regularizer,
            self.kernel_constraint,
            to_k,
            from_k,
        )
        self.recurrent_kernel = self._keras_weight(
            "recurrent_kernel",
            (self.units, width),
            self.recurrent_initializer,
            self.recurrent_regularizer,
            self.recurrent_constraint,
            to_k,
            from_k,
        )
        self.bias = self._build_bias() if self.use_bias else None

    def _build_bias(self) -> torch.Tensor:
        return self.add_weight(
            "bias",
            (self.gates * self.units,),
            self.bias_initializer,
            regularizer=self.bias_regularizer,
            constraint=self.bias_constraint,
        )

    def _input_bias(self) -> torch.Tensor | None:
        return self.bias

    # ------------------------------------------------------------------ computing
    def project(self, x: torch.Tensor, input_mask: torch.Tensor | None = None) -> torch.Tensor:
        """``x·W + b`` for all timesteps at once; ``input_mask`` is the dropout mask."""
        if input_mask is not None:
            x = x * input_mask
        return F.linear(x, self.kernel, self._input_bias())

    def step(
        self, xw: torch.Tensor, states: list[torch.Tensor], recurrent_mask: Any = None
    ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """One timestep from the projected input ``xw``: ``(output, new_states)``."""
        raise NotImplementedError

    def dropout_masks(self, x: torch.Tensor, training: bool) -> tuple[Any, Any]:
        """One input mask and one recurrent-state mask per sequence (the same at every
        timestep), or ``None`` where there is no dropout."""
        if not training:
            return None, None
        if self.seed is not None and self._generator is None:
            self._generator = torch.Generator(device=x.device).manual_seed(int(self.seed))
        batch, features = x.shape[0], x.shape[-1]
        shape_in = (batch, 1, features) if x.dim() == 3 else (batch, features)
        in_mask = rec_mask = None
        if self.dropout > 0:
            in_mask = dropout_mask(shape_in, self.dropout, x, self._generator)
        if self.recurrent_dropout > 0:
            rec_mask = dropout_mask((batch, self.units), self.recurrent_dropout, x, self._generator)
        return in_mask, rec_mask

    def get_initial_state(
        self, batch_size: int, dtype: Any = None, device: Any = None
    ) -> list[torch.Tensor]:
        """Zero states for a batch."""
        dtype = dtype or self.kernel.dtype
        return [torch.zeros(batch_size, n, dtype=dtype, device=device) for n in self._state_sizes()]

    def call(
        self, inputs: torch.Tensor, states: Any, training: bool | None = None
    ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        if training is None:
            training = self.training
        states = list(states) if isinstance(states, (list, tuple)) else [states]
        in_mask, rec_mask = self.dropout_masks(inputs, training)
        return self.step(self.project(inputs, in_mask), states, rec_mask)

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        return (input_shape[0], self.units)


# ---------------------------------------------------------------------- the three cells
@register_layer()
class SimpleRNNCell(_Cell):
    """One step of a fully connected RNN: ``h_t = activation(x_t·W + b + h_{t-1}·U)``.

    Args:
        units: size of the output and of the state.
        activation: default ``tanh``.
        use_bias, kernel_initializer, recurrent_initializer, bias_initializer,
        *_regularizer, *_constraint: as in Keras.
        dropout / recurrent_dropout: fractions of the inputs / of the state dropped (one mask
            per sequence when run by an RNN layer).
        seed: seed of the dropout masks.

    Example:
        >>> out, [h] = SimpleRNNCell(4)(torch.ones(2, 3), [torch.zeros(2, 4)])
        >>> out.shape, torch.equal(out, h)
        (torch.Size([2, 4]), True)
    """

    def __init__(self, units: int, activation: Any = "tanh", use_bias: bool = True, **kwargs: Any):
        super().__init__(units, activation, use_bias, **kwargs)

    def step(self, xw, states, recurrent_mask=None):
        h = states[0]
        h_in = h if recurrent_mask is None else h * recurrent_mask
        out = _plain(self.activation)(torch.addmm(xw, h_in, self.recurrent_kernel.t()))
        return out, [out]


@register_layer()
class LSTMCell(_Cell):
    """One step of a long short-term memory (Hochreiter & Schmidhuber, 1997)::

        i, f, g, o = split(x_t·W + b + h_{t-1}·U)        # gates in Keras's order i, f, c, o
        c_t = sigmoid(f) * c_{t-1} + sigmoid(i) * tanh(g)
        h_t = sigmoid(o) * tanh(c_t)

    (``recurrent_activation`` replaces sigmoid, ``activation`` tanh.)

    Args:
        units: size of the output and of the two states ``h`` and ``c``.
        unit_forget_bias: start the forget-gate bias at 1 (Jozefowicz et al., 2015).
        Other arguments as :class:`SimpleRNNCell`, plus ``recurrent_activation``.

    Example:
        >>> cell = LSTMCell(4)
        >>> out, (h, c) = cell(torch.ones(2, 3), [torch.zeros(2, 4), torch.zeros(2, 4)])
        >>> cell.get_weights()[2][4:8]   # forget-gate bias
        array([1., 1., 1., 1.], dtype=float32)
    """

    gates = 4

    def __init__(
        self,
        units: int,
        activation: Any = "tanh",
        recurrent_activation: Any = "sigmoid",
        use_bias: bool = True,
        unit_forget_bias: bool = True,
        **kwargs: Any,
    ):
        super().__init__(units, activation, use_bias, **kwargs)
        self.recurrent_activation = activations.get(recurrent_activation)
        self.unit_forget_bias = unit_forget_bias

    @property
    def state_size(self) -> list[int]:
        return [self.units, self.units]

    def _build_bias(self) -> torch.Tensor:
        init = self.bias_initializer
        if self.unit_forget_bias:
            init = _UnitForgetBias(init, self.units)
        return self.add_weight(
            "bias",
            (4 * self.units,),
            init,
            regularizer=self.bias_regularizer,
            constraint=self.bias_constraint,
        )

    def step(self, xw, states, recurrent_mask=None):
        h, c = states
        h_in = h if recurrent_mask is None else h * recurrent_mask
        sigma, act = _plain(self.recurrent_activation), _plain(self.activation)
        i, f, g, o = torch.addmm(xw, h_in, self.recurrent_kernel.t()).chunk(4, dim=-1)
        c = sigma(f) * c + sigma(i) * act(g)
        h = sigma(o) * act(c)
        return h, [h, c]


@register_layer()
class GRUCell(_Cell):
    """One step of a gated recurrent unit (Cho et al., 2014)::

        z = sigmoid(x_t·W_z + h_{t-1}·U_z + b_z)             # update gate
        r = sigmoid(x_t·W_r + h_{t-1}·U_r + b_r)             # reset gate
        reset_after=True:  hh = tanh(x_t·W_h + b_h + r * (h_{t-1}·U_h + b'_h))
        reset_after=False: hh = tanh(x_t·W_h + b_h + (r * h_{t-1})·U_h)
        h_t = z * h_{t-1} + (1 - z) * hh

    ``reset_after=True`` (Keras 3's default, and PyTorch's GRU) has two bias rows, the input
    and the recurrent bias (Keras shape ``(2, 3 * units)``); ``False`` is classic Keras 2.

    Example:
        >>> cell = GRUCell(4)
        >>> out, [h] = cell(torch.ones(2, 3), [torch.zeros(2, 4)])
        >>> [w.shape for w in cell.get_weights()]
        [(3, 12), (4, 12), (2, 12)]
    """

    gates = 3
    _kernel_to_keras = staticmethod(_gru_kernel_to_keras)
    _kernel_from_keras = staticmethod(_gru_kernel_from_keras)

    def __init__(
        self,
        units: int,
        activation: Any = "tanh",
        recurrent_activation: Any = "sigmoid",
        use_bias: bool = True,
        reset_after: bool = True,
        **kwargs: Any,
    ):
        super().__init__(units, activation, use_bias, **kwargs)
        self.recurrent_activation = activations.get(recurrent_activation)
        self.reset_after = reset_after

    def _build_bias(self) -> torch.Tensor:
        shape = (2, 3 * self.units) if self.reset_after else (3 * self.units,)
        return self._keras_weight(
            "bias",
            shape,
            self.bias_initializer,
            self.bias_regularizer,
            self.bias_constraint,
            _gru_bias_swap,
            _gru_bias_swap,
        )

    def _input_bias(self) -> torch.Tensor | None:
        if self.bias is None:
            return None
        return self.bias[0] if self.reset_after else self.bias

    def step(self, xw, states, recurrent_mask=None):
        h = states[0]
        h_in = h if recurrent_mask is None else h * recurrent_mask
        sigma, act, u = _plain(self.recurrent_activation), _plain(self.activation), self.units
        x_r, x_z, x_h = xw.chunk(3, dim=-1)  # stored in torch's gate order r, z, n
        if self.reset_after:
            rec_bias = None if self.bias is None else self.bias[1]
            h_r, h_z, h_h = F.linear(h_in, self.recurrent_kernel, rec_bias).chunk(3, dim=-1)
            r, z = sigma(x_r + h_r), sigma(x_z + h_z)
            hh = act(x_h + r * h_h)
        else:
            h_r, h_z = F.linear(h_in, self.recurrent_kernel[: 2 * u]).chunk(2, dim=-1)
            r, z = sigma(x_r + h_r), sigma(x_z + h_z)
            hh = act(x_h + F.linear(r * h_in, self.recurrent_kernel[2 * u :]))
        h = z * h + (1.0 - z) * hh
        return h, [h]
