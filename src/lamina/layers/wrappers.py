"""Layer wrappers: ``Bidirectional`` (a recurrent layer run both ways) and ``TimeDistributed``
(one layer applied to every timestep).

Example:
    >>> import torch
    >>> from lamina.layers.recurrent import LSTM
    >>> Bidirectional(LSTM(4))(torch.zeros(2, 5, 3)).shape
    torch.Size([2, 8])
"""

from __future__ import annotations

import copy
from typing import Any

import torch

from lamina.engine.layer import InputSpec, Layer, register_layer, serialize_value

__all__ = ["Bidirectional", "TimeDistributed"]

_MERGE_MODES = ("concat", "sum", "mul", "ave", None)


def _deserialize(data: Any, custom_objects: dict | None = None) -> Any:
    from lamina.layers import deserialize

    return deserialize(data, custom_objects=custom_objects) if isinstance(data, dict) else data


def _renamed_copy(layer: Layer, prefix: str, **changes: Any) -> Layer:
    """A fresh layer from ``layer``'s config (no shared weights or state), renamed."""
    data = copy.deepcopy(serialize_value(layer))
    name = data["config"].get("name") or layer.name
    data["config"]["name"] = prefix + name.removeprefix(prefix)
    data["config"].update(changes)
    return _deserialize(data)


@register_layer()
class Bidirectional(Layer):
    """Runs a recurrent layer forwards and a copy of it backwards, and merges the outputs.

    Args:
        layer: a recurrent layer (``LSTM``, ``GRU``, ``SimpleRNN``, ``RNN``); it is copied from
            its config, so the wrapper owns fresh weights.
        merge_mode: ``'concat'`` (default), ``'sum'``, ``'mul'``, ``'ave'``, or ``None`` for the
            list ``[forward, backward]``.
        backward_layer: the layer to run backwards (default: a copy of ``layer`` with
            ``go_backwards=True``).

    With ``return_sequences=True`` the backward outputs are flipped back to line up with the
    forward ones, and masked steps output zeros (as Keras). With ``return_state=True`` the
    forward states follow the output(s), then the backward states.

    Example:
        >>> from lamina.layers.recurrent import LSTM
        >>> out = Bidirectional(LSTM(4, return_sequences=True), merge_mode="sum")
        >>> out(torch.zeros(2, 5, 3)).shape
        torch.Size([2, 5, 4])
    """

    supports_masking = True

    def __init__(
        self,
        layer: Layer,
        merge_mode: str | None = "concat",
        backward_layer: Layer | None = None,
        **kwargs: Any,
    ):
        if merge_mode not in _MERGE_MODES:
            raise ValueError(
                f"Unknown merge_mode {merge_mode!r} for Bidirectional: use one of 'concat', "
                "'sum', 'mul', 'ave', or None (to get [forward, backward] as a list)."
            )
        if not isinstance(layer, Layer) or not hasattr(layer, "go_backwards"):
            raise ValueError(
                f"Bidirectional wraps a recurrent layer (LSTM, GRU, SimpleRNN, RNN), got {layer!r}."
            )
        super().__init__(**kwargs)
        self.forward_layer = _renamed_copy(layer, "forward_")
        if backward_layer is None:
            backward_layer = _renamed_copy(layer, "backward_", go_backwards=not layer.go_backwards)
        self.backward_layer = backward_layer
        for attr in ("return_sequences", "return_state", "stateful"):
            if getattr(self.forward_layer, attr) != getattr(backward_layer, attr):
                raise ValueError(
                    f"Bidirectional: the forward and backward layers must have the same {attr}, "
                    f"got {getattr(self.forward_layer, attr)} and {getattr(backward_layer, attr)}."
                )
        if self.forward_layer.go_backwards == backward_layer.go_backwards:
            raise ValueError(
                "Bidirectional: the backward layer must have the opposite go_backwards of the "
                "forward layer."
            )
        self.merge_mode = merge_mode
        self.return_sequences = self.forward_layer.return_sequences
        self.return_state = self.forward_layer.return_state
        self.stateful = self.forward_layer.stateful
        # Masked steps give zeros, so that both directions agree on what padding looks like.
        for sub in (self.forward_layer, self.backward_layer):
            if hasattr(sub, "zero_output_for_mask"):
                sub.zero_output_for_mask = self.return_sequences

    @property
    def layer(self) -> Layer:
        """The forward layer (Keras's ``layer`` argument)."""
        return self.forward_layer

    def build(self, input_shape: tuple) -> None:
        self.forward_layer._maybe_build(input_shape, self._build_device)
        self.backward_layer._maybe_build(input_shape, self._build_device)
        if not self._trainable:
            self.trainable = False

    def compute_output_shape(self, input_shape: tuple) -> Any:
        shape = self.forward_layer.compute_output_shape(input_shape)
        states: list = []
        if self.return_state:
            shape, states = shape[0], list(shape[1:])
        if self.merge_mode == "concat":
            shape = (*shape[:-1], 2 * shape[-1])
        outputs = [shape, shape] if self.merge_mode is None else [shape]
        if not self.return_state and self.merge_mode is not None:
            return shape
        return outputs + states + states

    def compute_output_spec(self, inputs: Any) -> Any:
        from lamina.layers.recurrent import _specs

        return _specs(self.compute_output_shape(inputs.shape), self.compute_dtype)

    def call(
        self,
        inputs: torch.Tensor,
        mask: torch.Tensor | None = None,
        training: bool | None = None,
        initial_state: Any = None,
    ) -> Any:
        forward_state = backward_state = None
        if initial_state is not None:
            half = len(initial_state) // 2
            forward_state, backward_state = initial_state[:half], initial_state[half:]
        kwargs = {"mask": mask, "training": training}
        y = self.forward_layer(inputs, initial_state=forward_state, **kwargs)
        y_rev = self.backward_layer(inputs, initial_state=backward_state, **kwargs)
        states: list = []
        if self.return_state:
            states = [*y[1:], *y_rev[1:]]
            y, y_rev = y[0], y_rev[0]
        if self.return_sequences:
            y_rev = y_rev.flip(1)
        if self.merge_mode == "concat":
            outputs = [torch.cat([y, y_rev], dim=-1)]
        elif self.merge_mode == "sum":
            outputs = [y + y_rev]
        elif self.merge_mode == "mul":
            outputs = [y * y_rev]
        elif self.merge_mode == "ave":
            outputs = [(y + y_rev) / 2]
        else:
            outputs = [y, y_rev]
        if mask is not None and self.return_sequences:
            for out in outputs:
                out._keras_mask = mask
        if len(outputs) == 1 and not states:
            return outputs[0]
        return outputs + states

    def compute_mask(self, inputs: Any, mask: Any = None) -> Any:
        return mask if self.return_sequences else None

    def reset_states(self, states: Any = None) -> None:
        """Reset both directions' kept states (stateful layers only)."""
        if states is None:
            self.forward_layer.reset_states()
            self.backward_layer.reset_states()
            return
        half = len(states) // 2
        self.forward_layer.reset_states(states[:half])
        self.backward_layer.reset_states(states[half:])

    reset_state = reset_states

    @classmethod
    def from_config(cls, config: dict[str, Any], custom_objects: dict | None = None) -> Layer:
        config = dict(config)
        config["layer"] = _deserialize(config["layer"], custom_objects)
        config["backward_layer"] = _deserialize(config.get("backward_layer"), custom_objects)
        return cls(**config)


@register_layer()
class TimeDistributed(Layer):
    """Applies ``layer`` to every timestep of a ``(batch, timesteps, ...)`` input.

    The timesteps are folded into the batch, so the layer runs once on ``(batch * timesteps,
    ...)``; its weights are shared by all timesteps. The input mask passes through.

    Example:
        >>> from lamina.layers.core import Dense
        >>> layer = TimeDistributed(Dense(8))
        >>> layer(torch.zeros(32, 10, 16)).shape, layer.count_params()
        (torch.Size([32, 10, 8]), 136)
    """

    supports_masking = True

    def __init__(self, layer: Layer, **kwargs: Any):
        if not isinstance(layer, Layer):
            raise ValueError(f"TimeDistributed wraps a lamina layer, got {layer!r}.")
        super().__init__(**kwargs)
        self.layer = layer

    def _step_shape(self, input_shape: tuple) -> tuple:
        if len(input_shape) < 3:
            raise ValueError(
                f"Layer '{self.name}' (TimeDistributed) takes inputs of shape (batch, "
                f"timesteps, ...) with at least 3 axes, but received shape {tuple(input_shape)}."
            )
        batch = input_shape[0]
        folded = None if batch is None or input_shape[1] is None else batch * input_shape[1]
        return (folded, *input_shape[2:])

    def build(self, input_shape: tuple) -> None:
        self.layer._maybe_build(self._step_shape(input_shape), self._build_device)
        self.input_spec = InputSpec(min_ndim=3)
        if not self._trainable:
            self.trainable = False

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        inner = self.layer.compute_output_shape(self._step_shape(input_shape))
        return (input_shape[0], input_shape[1], *inner[1:])

    def call(self, inputs: torch.Tensor, training: bool | None = None) -> torch.Tensor:
        batch, steps = inputs.shape[:2]
        folded = self.layer(inputs.reshape(batch * steps, *inputs.shape[2:]), training=training)
        return folded.reshape(batch, steps, *folded.shape[1:])

    @classmethod
    def from_config(cls, config: dict[str, Any], custom_objects: dict | None = None) -> Layer:
        config = dict(config)
        config["layer"] = _deserialize(config["layer"], custom_objects)
        return cls(**config)
