"""Recurrent layers: the generic time loop ``RNN(cell)`` and ``SimpleRNN``, ``LSTM``, ``GRU``.

Every layer runs one of two paths that give the same numbers:

* the **fused path**: PyTorch's own RNN kernels (``torch._VF.lstm`` / ``gru`` / ``rnn_tanh``
  / ``rnn_relu``, the ops behind ``torch.nn.LSTM``), used whenever they compute Keras's
  formula: the cell is a built-in one with default activations (tanh, and sigmoid for the
  gates; SimpleRNN may also use relu), no recurrent dropout while training, and GRU with
  ``reset_after=True``. Input dropout is applied before the kernel (one mask per sequence).
  With a mask, the steps the mask hides are moved out of the way (each sequence's visible
  steps first, in order), the kernel runs on packed sequences, and the outputs are put back
  where Keras puts them; so left padding, right padding and holes all run fused.
* the **reference path**: the time loop below over the cell's textbook equations
  (:mod:`lamina.layers.recurrent_cells`), used for recurrent dropout, other activations,
  GRU ``reset_after=False``, custom cells, or ``use_cudnn=False``. The input projections of
  all timesteps are one matrix product before the loop; each step does only ``h·U``.

Masking follows Keras: a masked step leaves the states unchanged and its output repeats the
previous output (zeros before the first visible step; zeros everywhere masked with
``zero_output_for_mask=True``, which ``Bidirectional`` sets when returning sequences).

Example:
    >>> import torch
    >>> lstm = LSTM(8, return_sequences=True)
    >>> lstm(torch.zeros(2, 5, 3)).shape, [w.shape for w in lstm.get_weights()]
    (torch.Size([2, 5, 8]), [(3, 32), (8, 32), (32,)])
"""

from __future__ import annotations

import contextlib
import inspect
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch

from lamina import mixed_precision, regularizers
from lamina.engine.layer import InputSpec, Layer, register_layer
from lamina.engine.node import KerasTensor
from lamina.layers.recurrent_cells import GRUCell, LSTMCell, SimpleRNNCell, _Cell
from lamina.layers.recurrent_fused import choose_path, kernel_dtype, run_masked, run_sequence

__all__ = ["RNN", "SimpleRNN", "LSTM", "GRU", "keep_rnn_states"]


def _specs(shapes: Any, dtype: str) -> Any:
    """KerasTensors for one output shape or a list of them (outputs and states)."""
    if isinstance(shapes, list):
        return [KerasTensor(s, dtype) for s in shapes]
    return KerasTensor(shapes, dtype)


# ---------------------------------------------------------------------- the generic layer
@register_layer()
class RNN(Layer):
    """Runs a cell over the timesteps of a ``(batch, timesteps, features)`` input.

    Args:
        cell: a cell layer with ``state_size`` and ``call(x_t, states) -> (out, new_states)``
            (the built-in :class:`~lamina.layers.recurrent_cells.LSTMCell` & co run faster).
        return_sequences: return the output of every timestep, not just the last.
        return_state: also return the final states (``[output, *states]``).
        go_backwards: process the sequence backwards (the returned sequence is reversed too).
        stateful: keep each sample's final state as the initial state of the same sample in
            the next batch (fixed batch size); ``reset_states()`` clears it.
        unroll: accepted for compatibility and ignored.
        zero_output_for_mask: output zeros (instead of the previous output) at masked steps.
        use_cudnn: ``"auto"`` uses the fused kernel when it gives Keras's result; ``False``
            always runs the reference loop; ``True`` requires the fused kernel.

    Call arguments: ``inputs``, ``mask`` (``(batch, timesteps)`` booleans, usually from an
    ``Embedding(mask_zero=True)`` or ``Masking`` layer), ``training``, ``initial_state``.

    Example:
        >>> from lamina.layers.recurrent_cells import GRUCell
        >>> RNN(GRUCell(4), return_state=True)(torch.ones(2, 6, 3))[1].shape
        torch.Size([2, 4])
    """

    supports_masking = True

    def __init__(
        self,
        cell: Any,
        return_sequences: bool = False,
        return_state: bool = False,
        go_backwards: bool = False,
        stateful: bool = False,
        unroll: bool = False,
        zero_output_for_mask: bool = False,
        use_cudnn: bool | str = "auto",
        **kwargs: Any,
    ):
        # Classic Keras: input_dim / input_length describe one sample (timesteps, features).
        if "input_dim" in kwargs or "input_length" in kwargs:
            dim, length = kwargs.pop("input_dim", None), kwargs.pop("input_length", None)
            kwargs.setdefault("input_shape", (length, dim))
        super().__init__(**kwargs)
        if isinstance(cell, (list, tuple)):
            raise ValueError(
                "RNN takes one cell; to stack recurrent layers, use several layers with "
                "return_sequences=True on all but the last."
            )
        if not isinstance(cell, Layer) or not hasattr(cell, "state_size"):
            raise TypeError(f"RNN needs a cell layer with a `state_size`, got {cell!r}.")
        if use_cudnn not in ("auto", True, False):
            raise ValueError(f"use_cudnn must be 'auto', True or False, got {use_cudnn!r}.")
        self.cell = cell
        self.return_sequences = return_sequences
        self.return_state = return_state
        self.go_backwards = go_backwards
        self.stateful = stateful
        self.unroll = unroll
        self.zero_output_for_mask = zero_output_for_mask
        self.use_cudnn = use_cudnn
        self._states: list[torch.Tensor] | None = None

    # ------------------------------------------------------------------ shapes
    def _state_sizes(self) -> list[int]:
        size = self.cell.state_size
        return list(size) if isinstance(size, (list, tuple)) else [size]

    def build(self, input_shape: tuple) -> None:
        if len(input_shape) != 3:
            raise ValueError(
                f"Layer '{self.name}' ({type(self).__name__}) received an input of shape "
                f"{tuple(input_shape)} (rank {len(input_shape)}), but recurrent layers take "
                "(batch, timesteps, features). For token ids add an Embedding layer first; "
                "for one value per timestep reshape to (batch, timesteps, 1)."
            )
        self.cell._maybe_build((input_shape[0], input_shape[-1]), self._build_device)
        self.input_spec = InputSpec(ndim=3, axes={-1: input_shape[-1]})
        if not self._trainable:
            self.trainable = False

    def compute_output_shape(self, input_shape: tuple) -> Any:
        units = getattr(self.cell, "output_size", self._state_sizes()[0])
        if self.return_sequences:
            out = (input_shape[0], input_shape[1], units)
        else:
            out = (input_shape[0], units)
        if self.return_state:
            return [out] + [(input_shape[0], n) for n in self._state_sizes()]
        return out

    def compute_output_spec(self, inputs: Any) -> Any:
        return _specs(self.compute_output_shape(inputs.shape), self.compute_dtype)

    def compute_mask(self, inputs: Any, mask: Any = None) -> Any:
        return mask if self.return_sequences else None

    # ------------------------------------------------------------------ states
    @property
    def states(self) -> list[torch.Tensor] | None:
        """The kept states of a stateful layer (``None`` before its first batch)."""
        return self._states

    def reset_states(self, states: Any = None) -> None:
        """Forget the kept states (zeros next batch), or set them to ``states``."""
        if not self.stateful:
            raise AttributeError(f"Layer '{self.name}' is not stateful: it keeps no states.")
        if states is None:
            self._states = None
            return
        states = states if isinstance(states, (list, tuple)) else [states]
        dtype = self.cell.kernel.dtype if hasattr(self.cell, "kernel") else None
        self._states = [torch.as_tensor(np.asarray(s), dtype=dtype) for s in states]

    reset_state = reset_states

    def _initial_states(self, x: torch.Tensor, initial_state: Any) -> list[torch.Tensor]:
        batch, sizes = x.shape[0], self._state_sizes()
        if initial_state is not None:
            states = (
                list(initial_state) if isinstance(initial_state, (list, tuple)) else [initial_state]
            )
            what = "initial_state"
        elif self.stateful and self._states is not None:
            states, what = self._states, "the kept state"
            if states[0].shape[0] != batch:
                raise ValueError(
                    f"Layer '{self.name}' is stateful and keeps states for batches of "
                    f"{states[0].shape[0]} samples, but received a batch of {batch}. Use the "
                    "same batch size for every batch (drop the last partial batch) or call "
                    "reset_states() first."
                )
        else:
            return [torch.zeros(batch, n, dtype=x.dtype, device=x.device) for n in sizes]
        expected = [(batch, n) for n in sizes]
        got = [tuple(s.shape) for s in states]
        if got != expected:
            raise ValueError(
                f"Layer '{self.name}' ({type(self).__name__}) expects {what} as "
                f"{len(expected)} tensor(s) of shape {expected}, but received {got}."
            )
        return [torch.as_tensor(s).to(dtype=x.dtype, device=x.device) for s in states]

    # ------------------------------------------------------------------ calling
    def call(
        self,
        inputs: torch.Tensor,
        mask: torch.Tensor | None = None,
        training: bool | None = None,
        initial_state: Any = None,
    ) -> Any:
        if training is None:
            training = self.training
        x = inputs
        if x.dim() != 3:
            self.build(tuple(x.shape))  # raises the error that explains the expected shape
        weight = getattr(self.cell, "kernel", None)
        if weight is not None and x.dtype != weight.dtype:
            x = x.to(weight.dtype)
        if mask is not None:
            mask = self._check_mask(mask, x)
        states = self._initial_states(x, initial_state)
        if self.go_backwards:
            x = x.flip(1)
            mask = None if mask is None else mask.flip(1)
        if isinstance(self.cell, _Cell):
            in_mask, rec_mask = self.cell.dropout_masks(x, training)
        else:
            in_mask = rec_mask = None
        path = choose_path(self, x, rec_mask)
        if path == "loop":
            sequence, last, states = self._loop(x, mask, states, in_mask, rec_mask, training)
        else:
            autocast = mixed_precision.autocast_dtype(x.device.type)
            dtype = kernel_dtype(path, x, autocast)
            if dtype != x.dtype:
                x, states = x.to(dtype), [s.to(dtype) for s in states]
                in_mask, rec_mask = (
                    None if m is None else m.to(dtype) for m in (in_mask, rec_mask)
                )
            if in_mask is not None:
                x = x * in_mask
            # Autocast off: it does not reach lamina's kernels, and on CUDA it would send
            # cuDNN's to float16 whatever the policy.
            off = (
                contextlib.nullcontext()
                if autocast is None
                else torch.autocast(x.device.type, enabled=False)
            )
            with off:
                if mask is None:
                    sequence, states, _ = run_sequence(self.cell, path, x, states, rec_mask)
                    last = states[0]
                else:
                    sequence, last, states = run_masked(self, path, x, mask, states, rec_mask)
        if self.stateful:
            self._states = [s.detach() for s in states]
        output = sequence if self.return_sequences else last
        if not self.return_state:
            return output
        if mask is not None and self.return_sequences:
            output._keras_mask = mask.flip(1) if self.go_backwards else mask
        return [output, *states]

    def _check_mask(self, mask: Any, x: torch.Tensor) -> torch.Tensor:
        mask = torch.as_tensor(mask, device=x.device)
        if mask.dim() == 3:  # a per-feature mask: a step counts if any feature is kept
            mask = mask.any(-1)
        if tuple(mask.shape) != tuple(x.shape[:2]):
            raise ValueError(
                f"Layer '{self.name}' received a mask of shape {tuple(mask.shape)} for inputs of "
                f"shape {tuple(x.shape)}; the mask must be (batch, timesteps) = "
                f"{tuple(x.shape[:2])}."
            )
        return mask.bool()

    def _loop(self, x, mask, states, in_mask, rec_mask, training) -> tuple:
        """The reference path: one cell step per timestep."""
        cell = self.cell
        if isinstance(cell, _Cell):
            inputs = cell.project(x, in_mask).unbind(1)

            def step(x_t: torch.Tensor, s: list) -> tuple:
                return cell.step(x_t, s, rec_mask)
        else:
            inputs = x.unbind(1)

            def step(x_t: torch.Tensor, s: list) -> tuple:
                out, new = cell(x_t, s if len(s) > 1 else s[0], training=training)
                return out, list(new) if isinstance(new, (list, tuple)) else [new]

        masks = [None] * len(inputs) if mask is None else mask.unsqueeze(-1).unbind(1)
        outputs: list[torch.Tensor] = []
        out = previous = None
        for x_t, m in zip(inputs, masks):
            out, new_states = step(x_t, states)
            if m is not None:
                # A masked step keeps the states and repeats the previous output.
                new_states = [torch.where(m, n, s) for n, s in zip(new_states, states)]
                if previous is None or self.zero_output_for_mask:
                    previous = torch.zeros_like(out)
                out = previous = torch.where(m, out, previous)
            states = new_states
            if self.return_sequences:
                outputs.append(out)
        sequence = torch.stack(outputs, 1) if self.return_sequences else None
        return sequence, out, states

    # ------------------------------------------------------------------ config
    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        if type(self).__init__ is not RNN.__init__:
            config.pop("cell", None)  # SimpleRNN / LSTM / GRU build their own cell
        return config

    @classmethod
    def from_config(cls, config: dict[str, Any], custom_objects: dict | None = None) -> RNN:
        config = dict(config)
        if isinstance(config.get("cell"), dict):
            from lamina.layers import deserialize

            config["cell"] = deserialize(config["cell"], custom_objects=custom_objects)
        return cls(**config)


@contextlib.contextmanager
def keep_rnn_states(model: Layer) -> Iterator[None]:
    """Restore the kept states of stateful recurrent layers after the block (for forward
    passes that only probe shapes, such as building a model from its first batch).

    Example:
        >>> layer = LSTM(2, stateful=True)
        >>> with keep_rnn_states(layer):
        ...     _ = layer(torch.ones(1, 3, 1))
        >>> layer.states is None
        True
    """
    layers = [m for m in model.modules() if isinstance(m, RNN) and m.stateful]
    saved = [layer._states for layer in layers]
    try:
        yield
    finally:
        for layer, states in zip(layers, saved):
            layer._states = states


# ---------------------------------------------------------------------- the Keras layers
_COMMON_CELL_ARGS = (
    "units",
    "activation",
    "use_bias",
    "kernel_initializer",
    "recurrent_initializer",
    "bias_initializer",
    "kernel_regularizer",
    "recurrent_regularizer",
    "bias_regularizer",
    "kernel_constraint",
    "recurrent_constraint",
    "bias_constraint",
    "dropout",
    "recurrent_dropout",
    "seed",
)


def _cell_property(name: str) -> property:
    """The layer's argument ``name`` lives on its cell (one copy of each setting)."""

    def get(self: RNN) -> Any:
        return getattr(self.cell, name)

    def set_(self: RNN, value: Any) -> None:
        setattr(self.cell, name, value)

    return property(get, set_, doc=f"The cell's ``{name}``.")


def _with_cell_args(*names: str) -> Any:
    def decorate(cls: type) -> type:
        for name in (*_COMMON_CELL_ARGS, *names):
            setattr(cls, name, _cell_property(name))
        return cls

    return decorate


def _make_cell(cell_class: type, args: dict[str, Any]) -> _Cell:
    """The layer's cell, built from the layer's arguments of the same names (``locals()`` of
    the layer's ``__init__``)."""
    kwargs = args["kwargs"]
    kwargs.pop("implementation", None)  # Keras 2's choice of kernel; one path here
    accepted = {
        name
        for cls in cell_class.__mro__
        if "__init__" in cls.__dict__ and cls not in (Layer, torch.nn.Module, object)
        for name in inspect.signature(cls.__init__).parameters
    }
    own = {k: v for k, v in args.items() if k in accepted and k not in ("self", "kwargs")}
    return cell_class(**own, dtype=kwargs.get("dtype"))


@register_layer()
@_with_cell_args()
class SimpleRNN(RNN):
    """Fully connected RNN whose output is fed back: ``h_t = tanh(x_t·W + h_{t-1}·U + b)``.

    Arguments as Keras (``units``, ``activation='tanh'``, ``use_bias``, initializers,
    regularizers, constraints, ``dropout``, ``recurrent_dropout``, ``seed``) plus those of
    :class:`RNN`. Weights: ``kernel (features, units)``, ``recurrent_kernel (units, units)``,
    ``bias (units,)``. Fused path: ``tanh`` or ``relu`` without recurrent dropout.

    Example:
        >>> SimpleRNN(4)(torch.ones(2, 7, 3)).shape
        torch.Size([2, 4])
    """

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
        activity_regularizer: Any = None,
        kernel_constraint: Any = None,
        recurrent_constraint: Any = None,
        bias_constraint: Any = None,
        dropout: float = 0.0,
        recurrent_dropout: float = 0.0,
        seed: int | None = None,
        return_sequences: bool = False,
        return_state: bool = False,
        go_backwards: bool = False,
        stateful: bool = False,
        unroll: bool = False,
        **kwargs: Any,
    ):
        cell = _make_cell(SimpleRNNCell, locals())
        super().__init__(
            cell, return_sequences, return_state, go_backwards, stateful, unroll, **kwargs
        )
        self.activity_regularizer = regularizers.get(activity_regularizer)


@register_layer()
@_with_cell_args("recurrent_activation", "unit_forget_bias")
class LSTM(RNN):
    """Long short-term memory layer (Hochreiter & Schmidhuber, 1997), Keras's formula.

    Arguments as Keras: ``units``, ``activation='tanh'``, ``recurrent_activation='sigmoid'``,
    ``use_bias``, ``kernel_initializer='glorot_uniform'``,
    ``recurrent_initializer='orthogonal'``, ``bias_initializer='zeros'``,
    ``unit_forget_bias=True``, regularizers, constraints, ``dropout``,
    ``recurrent_dropout``, ``seed``, and those of :class:`RNN` (``return_sequences``,
    ``return_state``, ``go_backwards``, ``stateful``, ``unroll``, ``use_cudnn``).

    Weights (Keras layouts, gates i, f, c, o): ``kernel (features, 4 * units)``,
    ``recurrent_kernel (units, 4 * units)``, ``bias (4 * units,)``. States: ``[h, c]``.

    Example:
        >>> out, h, c = LSTM(4, return_state=True)(torch.ones(2, 7, 3))
        >>> out.shape, torch.equal(out, h), c.shape
        (torch.Size([2, 4]), True, torch.Size([2, 4]))
    """

    def __init__(
        self,
        units: int,
        activation: Any = "tanh",
        recurrent_activation: Any = "sigmoid",
        use_bias: bool = True,
        kernel_initializer: Any = "glorot_uniform",
        recurrent_initializer: Any = "orthogonal",
        bias_initializer: Any = "zeros",
        unit_forget_bias: bool = True,
        kernel_regularizer: Any = None,
        recurrent_regularizer: Any = None,
        bias_regularizer: Any = None,
        activity_regularizer: Any = None,
        kernel_constraint: Any = None,
        recurrent_constraint: Any = None,
        bias_constraint: Any = None,
        dropout: float = 0.0,
        recurrent_dropout: float = 0.0,
        seed: int | None = None,
        return_sequences: bool = False,
        return_state: bool = False,
        go_backwards: bool = False,
        stateful: bool = False,
        unroll: bool = False,
        **kwargs: Any,
    ):
        cell = _make_cell(LSTMCell, locals())
        super().__init__(
            cell, return_sequences, return_state, go_backwards, stateful, unroll, **kwargs
        )
        self.activity_regularizer = regularizers.get(activity_regularizer)


@register_layer()
@_with_cell_args("recurrent_activation", "reset_after")
class GRU(RNN):
    """Gated recurrent unit (Cho et al., 2014), Keras's formula.

    Arguments as :class:`LSTM` (without ``unit_forget_bias``) plus ``reset_after=True``
    (Keras 3's default and PyTorch's formula; ``False`` reproduces classic Keras 2's GRU and
    runs the reference path). Weights (Keras layouts, gates z, r, h): ``kernel
    (features, 3 * units)``, ``recurrent_kernel (units, 3 * units)``, ``bias (2, 3 * units)``
    (input and recurrent bias) or ``(3 * units,)`` with ``reset_after=False``.

    Example:
        >>> GRU(4, return_sequences=True)(torch.ones(2, 7, 3)).shape
        torch.Size([2, 7, 4])
    """

    def __init__(
        self,
        units: int,
        activation: Any = "tanh",
        recurrent_activation: Any = "sigmoid",
        use_bias: bool = True,
        kernel_initializer: Any = "glorot_uniform",
        recurrent_initializer: Any = "orthogonal",
        bias_initializer: Any = "zeros",
        kernel_regularizer: Any = None,
        recurrent_regularizer: Any = None,
        bias_regularizer: Any = None,
        activity_regularizer: Any = None,
        kernel_constraint: Any = None,
        recurrent_constraint: Any = None,
        bias_constraint: Any = None,
        dropout: float = 0.0,
        recurrent_dropout: float = 0.0,
        seed: int | None = None,
        return_sequences: bool = False,
        return_state: bool = False,
        go_backwards: bool = False,
        stateful: bool = False,
        unroll: bool = False,
        reset_after: bool = True,
        **kwargs: Any,
    ):
        cell = _make_cell(GRUCell, locals())
        super().__init__(
            cell, return_sequences, return_state, go_backwards, stateful, unroll, **kwargs
        )
        self.activity_regularizer = regularizers.get(activity_regularizer)
