"""``Sequential``: a linear stack of layers.

Example:
    >>> from lamina import models, layers
    >>> network = models.Sequential()
    >>> network.add(layers.Dense(512, activation="relu", input_shape=(28 * 28,)))
    >>> network.add(layers.Dropout(0.5))
    >>> network.add(layers.Dense(10, activation="softmax"))
    >>> network.output_shape, network.count_params()
    ((None, 10), 407050)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from lamina.engine.functional import Graph
from lamina.engine.layer import (
    _CALL_STATE,
    Layer,
    _drop_call_losses,
    direct_inference_call,
    register_layer,
)
from lamina.engine.model import Model
from lamina.engine.node import KerasTensor

__all__ = ["Sequential"]


@register_layer()
class Sequential(Model):
    """A model whose layers each take the previous layer's output.

    Args:
        layers: optional list of layers (the first may be an ``Input(...)``).
        name: the model's name.

    The model is built (weights created, ``summary()`` available) as soon as the input shape is
    known: from ``Input(...)``, from ``input_shape=`` on the first layer, from ``build(shape)``,
    or at the first call on data.
    """

    def __init__(self, layers: list | None = None, name: str | None = None, trainable: bool = True):
        super().__init__(name=name, trainable=trainable)
        self._stack = nn.ModuleDict()
        self._stack_list: list[Layer] = []
        self._input: KerasTensor | None = None
        for layer in layers or []:
            self.add(layer, rebuild=False)
        if self._stack_list and self._input is not None:
            self._rebuild_checked()

    @property
    def layers(self) -> list[Layer]:
        return list(self._stack_list)

    def _sublayers(self) -> list[Layer]:
        return list(self._stack_list)

    def add(self, layer: Any, rebuild: bool = True) -> None:
        """Append a layer (or set the input with ``Input(...)`` / an ``InputLayer``)."""
        if isinstance(layer, KerasTensor):
            if self._stack_list or self._input is not None:
                raise ValueError("An Input can only be the first element of a Sequential model.")
            self._input = layer
            return
        if type(layer).__name__ == "InputLayer":
            return self.add(layer.output)
        if not isinstance(layer, Layer):
            if isinstance(layer, nn.Module):
                from lamina.layers.core import TorchModuleWrapper

                layer = TorchModuleWrapper(layer)
            else:
                raise TypeError(
                    f"Sequential.add() takes a layer; got {layer!r} of type {type(layer).__name__}."
                )
        if layer.name in self._stack:
            raise ValueError(
                f"All layers added to a Sequential model should have unique names; '{layer.name}' "
                "is already in the model. Give the layer a different `name=`."
            )
        if "." in layer.name:
            raise ValueError(f"Layer name {layer.name!r} may not contain '.'.")
        if not self._stack_list and self._input is None and layer._batch_input_shape is not None:
            from lamina.layers.core import Input

            self._input = Input(batch_shape=layer._batch_input_shape, dtype=_input_dtype(layer))
        self._stack[layer.name] = layer
        self._stack_list.append(layer)
        if rebuild and self._input is not None:
            self._rebuild_checked()

    def _rebuild_checked(self) -> None:
        """Rebuild the graph; if the last layer does not fit, remove it and re-raise."""
        try:
            self._rebuild()
        except Exception:
            self.pop(rebuild=False)
            raise

    def pop(self, rebuild: bool = True) -> Layer:
        """Remove and return the last layer."""
        if not self._stack_list:
            raise ValueError("There are no layers in this Sequential model to pop.")
        layer = self._stack_list.pop()
        del self._stack[layer.name]
        if rebuild and self._input is not None and self._stack_list:
            self._rebuild()
        elif not self._stack_list:
            self._graph = None
        return layer

    def _rebuild(self) -> None:
        x = self._input
        for layer in self._stack_list:
            x = layer(x)
        self._graph = Graph(self._input, x)
        self.built = True

    def build(self, input_shape: Any = None) -> None:
        """Build the weights for inputs of ``input_shape`` (with the batch axis)."""
        if input_shape is None and self._input is None:
            raise ValueError(
                "Sequential.build() needs an input_shape, e.g. model.build((None, 784)), or give "
                "the first layer input_shape=."
            )
        if self._input is None:
            from lamina.layers.core import Input

            self._input = Input(batch_shape=tuple(input_shape))
        self._rebuild()

    def _maybe_build(self, input_shape: Any, device: Any = None) -> None:
        if self.built:
            return
        if self._input is None and isinstance(input_shape, tuple):
            from lamina.layers.core import Input

            self._input = Input(batch_shape=(None, *input_shape[1:]))
        if self._input is not None:
            for layer in self._stack_list:
                layer._build_device = device
            self._rebuild()
        self._build_input_shape = input_shape
        self.built = True

    def call(self, inputs: Any, training: bool | None = None) -> Any:
        x = inputs
        for layer in self._stack_list:
            x = layer(x, training=training)
        return x

    def _inference_plan(self, batch: Any) -> Callable[[Any], Any] | None:
        """For ``predict``, after ``batch`` went through ``self(batch, training=False)``: a
        function giving the same output for later batches by calling each layer's ``call``
        directly (``direct_inference_call``), or None where some layer needs ``__call__``.

        ``Layer.__call__``'s per-call work (input checks, masks, hooks) costs ~5-10 us a layer:
        3-8 % of W1's ``predict`` (batches of 128, ~1 ms each; ``bench/predict_path.py``).
        Once the first batch has built the layers and passed the checks, a later batch of the
        same type, trailing shape, dtype and device passes them too; any other batch takes
        ``__call__``. The plan holds for the rest of one ``predict`` call: a hook registered
        meanwhile (by a callback) takes effect at the next call."""
        if type(self).call is not Sequential.call or type(batch) is not torch.Tensor:
            return None
        calls = [direct_inference_call(layer) for layer in (self, *self._stack_list)]
        if any(c is None for c in calls):
            return None
        calls = calls[1:]  # (the model itself only had to qualify)
        shape, dtype, device = batch.shape[1:], batch.dtype, batch.device
        state = _CALL_STATE

        def run(x: Any) -> Any:
            if (
                type(x) is not torch.Tensor
                or x.shape[1:] != shape
                or x.dtype != dtype
                or x.device != device
            ):
                return self(x, training=False)
            if state.depth == 0 and state.loss_layers:
                _drop_call_losses()
            state.depth += 1
            try:
                for call in calls:
                    x = call(x)
            finally:
                state.depth -= 1
            return x

        return run

    def compute_output_spec(self, inputs: Any) -> Any:
        x = inputs
        for layer in self._stack_list:
            x = layer(x)
        return x

    def get_config(self) -> dict[str, Any]:
        from lamina.engine.layer import serialize_value

        cfg: dict[str, Any] = {"name": self.name, "trainable": self.trainable}
        if self._input is not None:
            cfg["input"] = {"batch_shape": list(self._input.shape), "dtype": self._input.dtype}
        cfg["layers"] = [serialize_value(layer) for layer in self._stack_list]
        return cfg

    @classmethod
    def from_config(
        cls, config: dict[str, Any], custom_objects: dict | None = None, safe_mode: bool = True
    ) -> Sequential:
        from lamina.layers import deserialize as deserialize_layer
        from lamina.layers.core import Input

        model = cls(name=config.get("name"), trainable=config.get("trainable", True))
        if config.get("input"):
            model.add(
                Input(
                    batch_shape=tuple(config["input"]["batch_shape"]),
                    dtype=config["input"]["dtype"],
                )
            )
        for entry in config["layers"]:
            layer = deserialize_layer(entry, custom_objects=custom_objects, safe_mode=safe_mode)
            model.add(layer, rebuild=False)
        if model._stack_list and model._input is not None:
            model._rebuild()
        return model


def _input_dtype(layer: Layer) -> str | None:
    # An Embedding (or other layer taking ids) declares the dtype its inputs should have.
    return getattr(layer, "input_dtype", None)
