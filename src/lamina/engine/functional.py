"""The graph behind a functional model: the nodes between some inputs and some outputs, in an
order that computes every value before it is used, and how to save and rebuild it.

Example:
    >>> from lamina import layers
    >>> from lamina.engine.functional import Graph
    >>> x = layers.Input((4,))
    >>> g = Graph(x, layers.Dense(2)(layers.Dense(3)(x)))
    >>> [type(layer).__name__ for layer in g.layers]
    ['InputLayer', 'Dense', 'Dense']
"""

from __future__ import annotations

from typing import Any

from lamina.engine import tree
from lamina.engine.node import KerasTensor, Node

__all__ = ["Graph"]


class Graph:
    """Nodes from ``inputs`` to ``outputs`` (structures of KerasTensors), topologically sorted."""

    def __init__(self, inputs: Any, outputs: Any):
        self.inputs = inputs
        self.outputs = outputs
        self.flat_inputs: list[KerasTensor] = tree.flatten(inputs)
        self.flat_outputs: list[KerasTensor] = tree.flatten(outputs)
        for t in self.flat_inputs + self.flat_outputs:
            if not isinstance(t, KerasTensor) or t._history is None:
                raise TypeError(
                    "Model(inputs, outputs) needs symbolic tensors: inputs from "
                    f"lamina.Input(...) and outputs from layers called on them; got {t!r}."
                )
        for t in self.flat_inputs:
            layer = t._history[0]
            if type(layer).__name__ != "InputLayer":
                raise ValueError(
                    f"Model inputs must come straight from Input(...); {t!r} is the output of "
                    f"layer '{layer.name}'."
                )
        self.nodes = self._sort_nodes()
        self.layers = []
        for node in self.nodes:
            if node.layer not in self.layers:
                self.layers.append(node.layer)
        # Per-layer position of each node inside this graph (used when saving).
        self.node_index = {}
        in_graph = set(self.nodes)
        for layer in self.layers:
            mine = [n for n in layer._inbound_nodes if n in in_graph]
            for i, n in enumerate(mine):
                self.node_index[id(n)] = i
        self._input_ids = [id(t) for t in self.flat_inputs]
        self._output_ids = [id(t) for t in self.flat_outputs]

    def _sort_nodes(self) -> list[Node]:
        input_ids = {id(t) for t in self.flat_inputs}
        order: list[Node] = []
        done: set[int] = set()
        visiting: set[int] = set()

        def visit(t: KerasTensor, path: list[str]) -> None:
            layer, node_index, _ = t._history
            node = layer._inbound_nodes[node_index]
            if id(node) in done:
                return
            if id(node) in visiting:
                raise ValueError(f"The graph has a cycle through layer '{layer.name}'.")
            if not node.input_tensors and id(t) not in input_ids:
                raise ValueError(
                    f"Graph disconnected: the value of input '{layer.name}' is needed to compute "
                    f"{' -> '.join(reversed(path)) or 'the outputs'}, but it is not among the "
                    "model's inputs. Pass it in Model(inputs=[...])."
                )
            visiting.add(id(node))
            if id(t) not in input_ids:
                for parent in node.input_tensors:
                    visit(parent, [*path, layer.name])
            visiting.discard(id(node))
            done.add(id(node))
            order.append(node)

        for t in self.flat_inputs:
            visit(t, [])
        for t in self.flat_outputs:
            visit(t, [])
        return order

    # ------------------------------------------------------------------ running
    def flatten_inputs(self, data: Any) -> list[Any]:
        """Match user data (one tensor, a list, or a dict by input name) to the graph inputs."""
        n = len(self.flat_inputs)
        if isinstance(self.inputs, dict):
            if not isinstance(data, dict):
                raise ValueError(
                    f"This model takes a dict of inputs with keys {sorted(self.inputs)}; got "
                    f"{type(data).__name__}."
                )
            missing = sorted(set(self.inputs) - set(data))
            if missing:
                raise ValueError(
                    f"Missing model inputs: {missing}. Expected {sorted(self.inputs)}."
                )
            return tree.flatten({k: data[k] for k in self.inputs})
        if isinstance(data, dict):
            names = [t._history[0].name for t in self.flat_inputs]
            missing = [k for k in names if k not in data]
            if missing:
                raise ValueError(
                    f"Input data is a dict but has no entry for input(s) {missing}; its keys are "
                    f"{sorted(data)}. The model's inputs are named {names}."
                )
            return [data[k] for k in names]
        if n == 1:
            if isinstance(data, (list, tuple)) and len(data) == 1:
                return list(data)
            return [data]
        if not isinstance(data, (list, tuple)) or len(data) != n:
            got = len(data) if isinstance(data, (list, tuple)) else 1
            raise ValueError(
                f"This model has {n} inputs ({[t._history[0].name for t in self.flat_inputs]}) "
                f"but received {got} input array(s). Pass a list of {n} arrays or a dict."
            )
        return list(data)

    def run(self, data: Any, training: bool | None = None) -> Any:
        values: dict[int, Any] = dict(zip(self._input_ids, self.flatten_inputs(data)))

        def fetch(a: Any) -> Any:
            return values[id(a)] if isinstance(a, KerasTensor) else a

        for node in self.nodes:
            if not node.input_tensors:
                continue
            args = tree.map_structure(fetch, node.args)
            kwargs = tree.map_structure(fetch, node.kwargs)
            out = node.layer(*args, training=training, **kwargs)
            flat = tree.flatten(out) if len(node.output_tensors) > 1 else [out]
            for t, v in zip(node.output_tensors, flat):
                values[id(t)] = v
        return tree.pack_sequence_as(self.outputs, [values[i] for i in self._output_ids])

    # ------------------------------------------------------------------ saving
    def _ref(self, t: KerasTensor) -> list:
        layer, node_index, tensor_index = t._history
        node = layer._inbound_nodes[node_index]
        return [layer.name, self.node_index[id(node)], tensor_index]

    def get_config(self) -> dict[str, Any]:
        from lamina.engine.layer import serialize_value

        def encode(a: Any) -> Any:
            if isinstance(a, KerasTensor):
                return {"__tensor__": self._ref(a)}
            return serialize_value(a, "node argument")

        layer_configs = []
        for layer in self.layers:
            nodes = [n for n in self.nodes if n.layer is layer and n.input_tensors]
            layer_configs.append(
                {
                    "class_name": _class_name(layer),
                    "name": layer.name,
                    "config": layer.get_config(),
                    "inbound_nodes": [
                        {
                            "args": tree.map_structure(encode, list(n.args)),
                            "kwargs": tree.map_structure(encode, n.kwargs),
                        }
                        for n in nodes
                    ],
                }
            )
        return {
            "layers": layer_configs,
            "input_layers": tree.map_structure(self._ref, _as_json_structure(self.inputs)),
            "output_layers": tree.map_structure(self._ref, _as_json_structure(self.outputs)),
        }

    @staticmethod
    def from_config(config: dict[str, Any], deserialize_layer: Any) -> tuple[Any, Any]:
        """Rebuild the layers and replay their calls; returns ``(inputs, outputs)``."""
        layers = {}
        for entry in config["layers"]:
            layers[entry["name"]] = deserialize_layer(entry)
        produced: dict[tuple[str, int], Any] = {}
        for name, layer in layers.items():
            if type(layer).__name__ == "InputLayer":
                produced[(name, 0)] = layer.output
        pending = [
            (entry["name"], i, node)
            for entry in config["layers"]
            for i, node in enumerate(entry["inbound_nodes"])
        ]

        def decode(a: Any) -> Any:
            if isinstance(a, dict) and "__tensor__" in a:
                lname, node_i, tensor_i = a["__tensor__"]
                out = produced[(lname, node_i)]
                return tree.flatten(out)[tensor_i] if tensor_i or tree.is_nested(out) else out
            return a

        def ready(node: dict) -> bool:
            refs = [
                leaf for leaf in _leaves(node) if isinstance(leaf, dict) and "__tensor__" in leaf
            ]
            return all((r["__tensor__"][0], r["__tensor__"][1]) in produced for r in refs)

        node_counts: dict[str, int] = {}
        while pending:
            progressed = False
            for item in list(pending):
                name, _, node = item
                if not ready(node):
                    continue
                args = _decode_structure(node["args"], decode)
                kwargs = _decode_structure(node["kwargs"], decode)
                out = layers[name](*args, **kwargs)
                index = node_counts.get(
                    name, 1 if type(layers[name]).__name__ == "InputLayer" else 0
                )
                produced[(name, index)] = out
                node_counts[name] = index + 1
                pending.remove(item)
                progressed = True
            if not progressed:
                raise ValueError(
                    "The saved graph cannot be rebuilt: some layer inputs are missing."
                )

        def resolve(ref: Any) -> Any:
            return decode({"__tensor__": ref})

        inputs = _map_refs(config["input_layers"], resolve)
        outputs = _map_refs(config["output_layers"], resolve)
        return inputs, outputs


def _class_name(layer: Any) -> str:
    from lamina.engine.layer import LAYERS

    name = LAYERS.canonical_name(type(layer))
    if name is None:
        raise ValueError(
            f"Layer '{layer.name}' of class {type(layer).__name__} is not registered, so the "
            "model cannot be saved by name. Decorate the class with "
            "@lamina.saving.register_serializable()."
        )
    return name


def _as_json_structure(x: Any) -> Any:
    if isinstance(x, tuple):
        return [_as_json_structure(v) for v in x]
    return x


def _is_ref(x: Any) -> bool:
    return (
        isinstance(x, list)
        and len(x) == 3
        and isinstance(x[0], str)
        and isinstance(x[1], int)
        and isinstance(x[2], int)
    )


def _map_refs(structure: Any, fn: Any) -> Any:
    if _is_ref(structure):
        return fn(structure)
    if isinstance(structure, dict):
        return {k: _map_refs(v, fn) for k, v in structure.items()}
    return [_map_refs(v, fn) for v in structure]


def _leaves(x: Any) -> list:
    if isinstance(x, dict) and "__tensor__" not in x:
        return [leaf for v in x.values() for leaf in _leaves(v)]
    if isinstance(x, list):
        return [leaf for v in x for leaf in _leaves(v)]
    return [x]


def _decode_structure(x: Any, decode: Any) -> Any:
    if isinstance(x, dict) and "__tensor__" not in x:
        return {k: _decode_structure(v, decode) for k, v in x.items()}
    if isinstance(x, list):
        return [_decode_structure(v, decode) for v in x]
    return decode(x)
