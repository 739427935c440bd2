"""``Model``: the functional API (``Model(inputs, outputs)``) and subclassed models.

Both are one class: given ``inputs`` and ``outputs`` the model runs the graph between them;
a subclass defines its own ``call``. Training comes from :class:`lamina.engine.trainer.Trainer`.

Example:
    >>> from lamina import layers, Model, Input
    >>> inputs = Input((784,))
    >>> hidden = layers.Dense(64, activation="relu")(inputs)
    >>> model = Model(inputs, layers.Dense(10, activation="softmax")(hidden))
    >>> model.output_shape, model.count_params()
    ((None, 10), 50890)
"""

from __future__ import annotations

import inspect
from typing import Any

import torch
from torch import nn

from lamina.engine.functional import Graph
from lamina.engine.layer import Layer, register_layer
from lamina.engine.trainer import Trainer

__all__ = ["Model"]


@register_layer("Functional")
class Model(Trainer, Layer):
    """A trainable model: a graph of layers (functional API) or a subclass with ``call``.

    Args:
        inputs: ``Input(...)`` tensor(s): one, a list, or a dict by name.
        outputs: tensor(s) computed from ``inputs`` by calling layers.
        name: the model's name.

    Example (subclassing):
        >>> import torch
        >>> from lamina import layers, Model
        >>> class TwoLayer(Model):
        ...     def __init__(self, hidden=8):
        ...         super().__init__()
        ...         self.hidden = hidden
        ...         self.dense1 = layers.Dense(hidden, activation="relu")
        ...         self.dense2 = layers.Dense(1)
        ...     def call(self, x):
        ...         return self.dense2(self.dense1(x))
        >>> TwoLayer()(torch.zeros(3, 5)).shape
        torch.Size([3, 1])
    """

    def __init__(
        self,
        inputs: Any = None,
        outputs: Any = None,
        name: str | None = None,
        trainable: bool = True,
        **kwargs: Any,
    ):
        if name is None and type(self) is Model:
            from lamina.engine.layer import unique_name

            name = unique_name("functional")
        Layer.__init__(self, name=name, trainable=trainable, **kwargs)
        Trainer.__init__(self)
        self._graph: Graph | None = None
        if inputs is not None or outputs is not None:
            if inputs is None or outputs is None:
                raise ValueError("A functional Model needs both `inputs` and `outputs`.")
            self._set_graph(Graph(inputs, outputs))

    def _set_graph(self, graph: Graph) -> None:
        self._graph = graph
        container = nn.ModuleDict()
        for layer in graph.layers:
            if "." in layer.name or not layer.name:
                raise ValueError(f"Layer name {layer.name!r} may not be empty or contain '.'.")
            if layer.name in container and container[layer.name] is not layer:
                raise ValueError(
                    f"Two different layers in this model are both named '{layer.name}': layer "
                    "names must be unique within a model."
                )
            container[layer.name] = layer
        self._layers = container
        self.built = True

    # ------------------------------------------------------------------ structure
    @property
    def layers(self) -> list[Layer]:
        """The model's layers, in the order they compute."""
        if self._graph is not None:
            return list(self._graph.layers)
        return self._sublayers()

    def _sublayers(self) -> list[Layer]:
        if self._graph is not None:
            return [layer for layer in self._graph.layers if type(layer).__name__ != "InputLayer"]
        return Layer._sublayers(self)

    def get_layer(self, name: str | None = None, index: int | None = None) -> Layer:
        """A layer by name or by position in :attr:`layers`."""
        if index is not None:
            return self.layers[index]
        for layer in self.layers:
            if layer.name == name:
                return layer
        names = [layer.name for layer in self.layers]
        raise ValueError(f"No layer named {name!r} in model '{self.name}'. Layers: {names}.")

    @property
    def inputs(self) -> list[Any] | None:
        return None if self._graph is None else self._graph.flat_inputs

    @property
    def outputs(self) -> list[Any] | None:
        return None if self._graph is None else self._graph.flat_outputs

    @property
    def input(self) -> Any:
        if self._graph is None:
            raise AttributeError(f"Model '{self.name}' has no symbolic input (not built yet).")
        return self._graph.inputs

    @property
    def output(self) -> Any:
        if self._graph is None:
            raise AttributeError(f"Model '{self.name}' has no symbolic output (not built yet).")
        return self._graph.outputs

    @property
    def input_names(self) -> list[str]:
        return [t._history[0].name for t in self.inputs or []]

    @property
    def output_names(self) -> list[str]:
        """Names of the outputs: dict keys, or the names of the layers that produce them."""
        if self._graph is not None and isinstance(self._graph.outputs, dict):
            return sorted(self._graph.outputs)  # the order tree.flatten gives dict values
        names = []
        for t in self.outputs or []:
            base = t._history[0].name
            names.append(base if base not in names else f"{base}_{len(names)}")
        return names or ["output"]

    @property
    def input_shape(self) -> Any:
        if self._graph is None:
            return self._build_input_shape
        shapes = [t.shape for t in self._graph.flat_inputs]
        return shapes[0] if len(shapes) == 1 else shapes

    @property
    def output_shape(self) -> Any:
        if self._graph is None:
            raise AttributeError(f"Model '{self.name}' has no symbolic output (not built yet).")
        shapes = [t.shape for t in self._graph.flat_outputs]
        return shapes[0] if len(shapes) == 1 else shapes

    # ------------------------------------------------------------------ calling
    def call(self, inputs: Any, training: bool | None = None) -> Any:
        if self._graph is not None:
            return self._graph.run(inputs, training)
        raise NotImplementedError(
            f"Model '{self.name}' has no graph and no call(): build it with Model(inputs, "
            "outputs), use Sequential, or subclass Model and define call()."
        )

    def compute_output_spec(self, inputs: Any) -> Any:
        if self._graph is not None:
            # Calling a functional model on new symbolic inputs: replay its graph on them.
            return self._graph.run(inputs)
        return super().compute_output_spec(inputs)

    def build(self, input_shape: Any) -> None:
        """Build a subclassed model's weights by running it once on zeros of ``input_shape``."""
        if self._graph is not None or input_shape is None:
            return
        shapes = input_shape
        if isinstance(shapes, tuple) and all(d is None or isinstance(d, int) for d in shapes):
            shapes = [shapes]
            single = True
        else:
            single = False
        device = self._build_device
        zeros = [torch.zeros([2 if d is None else d for d in s], device=device) for s in shapes]
        was_training = self.training
        self.eval()
        try:
            with torch.no_grad():
                self.call(zeros[0] if single else zeros)
        finally:
            self.train(was_training)

    def summary(
        self,
        line_length: int | None = None,
        positions: Any = None,
        print_fn: Any = None,
        expand_nested: bool = False,
        show_trainable: bool = False,
    ) -> None:
        """Print the layers, their output shapes and parameter counts, and the totals."""
        from lamina.engine.summary import print_summary

        print_summary(self, line_length, positions, print_fn, expand_nested, show_trainable)

    # ------------------------------------------------------------------ config
    def get_config(self) -> dict[str, Any]:
        if self._graph is not None:
            return {"name": self.name, "trainable": self.trainable, **self._graph.get_config()}
        cfg: dict[str, Any] = {"name": self.name, "trainable": self.trainable}
        for cls in type(self).__mro__:
            if cls in (Model, Trainer, Layer, nn.Module, object) or "__init__" not in cls.__dict__:
                continue
            for pname, p in inspect.signature(cls.__init__).parameters.items():
                if pname == "self" or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) or pname in cfg:
                    continue
                if not hasattr(self, pname):
                    raise NotImplementedError(
                        f"Model class {type(self).__name__} takes the argument '{pname}' but does "
                        f"not store it as self.{pname}, so it cannot be saved as a config. Store "
                        "it, override get_config(), or use save_weights()."
                    )
                from lamina.engine.layer import serialize_value

                cfg[pname] = serialize_value(getattr(self, pname), f"{self.name}.{pname}")
        return cfg

    @classmethod
    def from_config(
        cls, config: dict[str, Any], custom_objects: dict | None = None, safe_mode: bool = True
    ) -> Model:
        if "layers" in config and "output_layers" in config:
            from lamina.layers import deserialize as deserialize_layer

            def build_layer(entry: dict) -> Layer:
                return deserialize_layer(
                    {"class_name": entry["class_name"], "config": entry["config"]},
                    custom_objects=custom_objects,
                    safe_mode=safe_mode,
                )

            inputs, outputs = Graph.from_config(config, build_layer)
            return cls(
                inputs, outputs, name=config.get("name"), trainable=config.get("trainable", True)
            )
        # A subclass's __init__ may not take name / trainable: set them afterwards.
        params = inspect.signature(cls.__init__).parameters
        takes_kwargs = any(p.kind == p.VAR_KEYWORD for p in params.values())
        args = {k: v for k, v in config.items() if takes_kwargs or k in params}
        model = cls(**args)
        if "name" in config and "name" not in args:
            model.name = config["name"]
        if "trainable" in config and "trainable" not in args:
            model.trainable = config["trainable"]
        return model

    def __repr__(self) -> str:
        return f"<{type(self).__name__} name={self.name}, built={self.built}>"
