"""The ``Layer`` base class: a ``torch.nn.Module`` with Keras's lifecycle.

A layer stores its constructor arguments, creates its weights in ``build(input_shape)`` the
first time it sees an input (or at once when given ``input_shape=``), and computes in
``call(inputs, training=None, mask=None)``. Its configuration is read from its ``__init__``
signature, so a layer whose constructor stores its arguments under their own names serializes
with no extra code.

Example:
    >>> import torch
    >>> from lamina.engine.layer import Layer
    >>> class Scale(Layer):
    ...     def __init__(self, factor=2.0, **kwargs):
    ...         super().__init__(**kwargs)
    ...         self.factor = factor
    ...     def build(self, input_shape):
    ...         self.gain = self.add_weight("gain", (input_shape[-1],), initializer="ones")
    ...     def call(self, x):
    ...         return self.factor * self.gain * x
    >>> layer = Scale(3.0)
    >>> layer(torch.ones(2, 4)).shape, layer.count_params(), layer.get_config()["factor"]
    (torch.Size([2, 4]), 4, 3.0)
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn.modules import module as _module_impl

from lamina import config, constraints, initializers, regularizers
from lamina._registry import Registry, all_registries, snake_case
from lamina.engine import tree
from lamina.engine.node import KerasTensor, Node, dtype_name, is_symbolic, torch_dtype

__all__ = ["Layer", "InputSpec", "LAYERS", "register_layer", "clear_session", "unique_name"]

LAYERS = Registry("layer")
_NAME_COUNTS: dict[str, int] = {}


def register_layer(*names: str) -> Callable[[type], type]:
    """Class decorator: make a layer known by name (for saving and ``layers.get``)."""
    return LAYERS.register(*names)


def unique_name(base: str) -> str:
    """``dense``, ``dense_1``, ``dense_2`` ... as Keras names layers."""
    count = _NAME_COUNTS.get(base, 0)
    _NAME_COUNTS[base] = count + 1
    return base if count == 0 else f"{base}_{count}"


def clear_session() -> None:
    """Reset automatic layer names (``dense``, ``dense_1`` ...) as Keras's ``clear_session``."""
    _NAME_COUNTS.clear()


@dataclass
class InputSpec:
    """What a layer accepts: rank bounds and fixed sizes of some axes (negative = from the end)."""

    ndim: int | None = None
    min_ndim: int | None = None
    axes: dict[int, int] | None = None


@dataclass
class _WeightSpec:
    trainable: bool
    regularizer: Any = None
    constraint: Any = None
    to_keras: Callable[[torch.Tensor], torch.Tensor] | None = None
    from_keras: Callable[[torch.Tensor], torch.Tensor] | None = None


def _shape_of(x: Any) -> Any:
    return tree.map_structure(lambda t: tuple(t.shape) if hasattr(t, "shape") else None, x)


def _mask_of(x: Any) -> Any:
    if type(x) is torch.Tensor:
        return getattr(x, "_keras_mask", None)
    if isinstance(x, (list, tuple)):
        masks = [getattr(t, "_keras_mask", None) for t in x]
        return None if all(m is None for m in masks) else masks
    return getattr(x, "_keras_mask", None)


def _to_tensor(x: Any, device: torch.device | None = None) -> Any:
    """NumPy / Python numbers passed straight to a layer become tensors (floats as floatx) on
    ``device`` (the layer's weights' device: a model trained on a GPU takes NumPy input as
    Keras's does); string arrays stay NumPy arrays for the text layers."""
    if isinstance(x, np.ndarray) and x.dtype.kind in "OUS":
        return x
    if isinstance(x, np.ndarray):
        t = torch.from_numpy(np.ascontiguousarray(x))
        t = t.to(config.floatx_dtype()) if t.is_floating_point() else t
        return t if device is None else t.to(device)
    return x


class Layer(nn.Module):
    """Base class of every lamina layer and model (a ``torch.nn.Module``).

    Args:
        trainable: whether the layer's weights are updated by training.
        name: unique name; Keras-style automatic names (``dense_1``) otherwise.
        dtype: dtype of the weights (default ``lamina.config.floatx()``).
        input_shape: shape of one sample; builds the layer at once (first layer of a model).
        batch_input_shape / batch_size / input_dim: classic Keras variants of ``input_shape``.
    """

    supports_masking: bool = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # `layer.build(shape)` called directly marks the layer built, as in Keras, so the next
        # call does not create the weights again.
        if "build" in cls.__dict__ and not getattr(cls.__dict__["build"], "_marks_built", False):
            original = cls.__dict__["build"]

            @functools.wraps(original)
            def build(self: Layer, input_shape: Any) -> None:
                # Weights created while predict runs under inference_mode would be inference
                # tensors, which a later fit cannot train: create them as normal tensors.
                with torch.inference_mode(False):
                    original(self, input_shape)
                self.built = True
                if self._build_input_shape is None:
                    self._build_input_shape = input_shape

            build._marks_built = True  # type: ignore[attr-defined]
            cls.build = build

    def __init__(
        self,
        trainable: bool = True,
        name: str | None = None,
        dtype: Any = None,
        input_shape: tuple | None = None,
        batch_input_shape: tuple | None = None,
        batch_size: int | None = None,
        input_dim: int | None = None,
        **kwargs: Any,
    ):
        super().__init__()
        if kwargs:
            bad = ", ".join(sorted(kwargs))
            raise TypeError(f"{type(self).__name__} got unexpected keyword argument(s): {bad}.")
        self.name = name or unique_name(snake_case(type(self).__name__))
        self._trainable = bool(trainable)
        self._dtype_arg = None if dtype is None else dtype_name(dtype)
        if input_dim is not None and input_shape is None:
            input_shape = (input_dim,)
        if input_shape is not None and batch_input_shape is None:
            batch_input_shape = (batch_size, *tuple(input_shape))
        self._batch_input_shape = None if batch_input_shape is None else tuple(batch_input_shape)
        self.built = False
        self.input_spec: InputSpec | None = None
        self._build_input_shape: Any = None
        self._build_device: torch.device | None = None
        self._weight_specs: dict[str, _WeightSpec] = {}
        self._call_losses: list[torch.Tensor] = []
        self._inbound_nodes: list[Node] = []
        self.activity_regularizer = None
        # Keras semantics: a layer called outside fit() runs in inference mode.
        self.training = False

    # ------------------------------------------------------------------ properties
    @property
    def dtype(self) -> str:
        return self._dtype_arg or config.floatx()

    @property
    def trainable(self) -> bool:
        return self._trainable

    @trainable.setter
    def trainable(self, value: bool) -> None:
        for layer in self._flatten_layers():
            layer._trainable = bool(value)
            for name, spec in layer._weight_specs.items():
                if spec.trainable:
                    getattr(layer, name).requires_grad_(bool(value))

    def _flatten_layers(self, include_self: bool = True) -> list[Layer]:
        found = [self] if include_self else []
        for m in self.modules():
            if m is not self and isinstance(m, Layer):
                found.append(m)
        return found

    def _sublayers(self) -> list[Layer]:
        """Direct child layers (looking through plain containers such as nn.ModuleList)."""
        out: list[Layer] = []

        def visit(module: nn.Module) -> None:
            for child in module.children():
                if isinstance(child, Layer):
                    out.append(child)
                else:
                    visit(child)

        visit(self)
        return out

    # ------------------------------------------------------------------ weights
    def add_weight(
        self,
        name: str,
        shape: tuple[int, ...],
        initializer: Any = "glorot_uniform",
        dtype: Any = None,
        trainable: bool = True,
        regularizer: Any = None,
        constraint: Any = None,
        to_keras: Callable[[torch.Tensor], torch.Tensor] | None = None,
        from_keras: Callable[[torch.Tensor], torch.Tensor] | None = None,
        transposed: bool = False,
    ) -> torch.Tensor:
        """Create a weight. Trainable weights are ``nn.Parameter``s; non-trainable ones (moving
        statistics) are buffers. ``to_keras`` / ``from_keras`` convert between the stored layout
        and Keras's layout for ``get_weights`` / ``set_weights`` and regularizers.
        ``transposed`` keeps a 2-D weight's shape but stores it column by column in memory (its
        ``.T`` is contiguous), with the same values as the default layout."""
        init = initializers.get(initializer) or initializers.Zeros()
        value = init(tuple(shape), dtype=torch_dtype(dtype or self.dtype))
        if transposed:
            if value.dim() != 2:
                raise ValueError(f"Only a 2-D weight can be stored transposed, not {name!r}.")
            value = value.T.contiguous().T
        if self._build_device is not None:
            value = value.to(self._build_device)
        if trainable:
            weight = nn.Parameter(value, requires_grad=self._trainable)
            self.register_parameter(name, weight)
        else:
            self.register_buffer(name, value)
            weight = value
        self._weight_specs[name] = _WeightSpec(
            trainable,
            regularizers.get(regularizer),
            constraints.get(constraint),
            to_keras,
            from_keras,
        )
        return weight

    def _own_weight_names(self) -> list[str]:
        specs = self._weight_specs
        names = [n for n in specs if specs[n].trainable] + [
            n for n in specs if not specs[n].trainable
        ]
        extra = [n for n, _ in self.named_parameters(recurse=False) if n not in specs]
        extra += [
            n
            for n, _ in self.named_buffers(recurse=False)
            if n not in specs and n not in self._non_persistent_buffers_set
        ]
        return names + extra

    @property
    def weights(self) -> list[torch.Tensor]:
        """All weights: this layer's (trainable ones first) then its sublayers', Keras order."""
        own = [getattr(self, n) for n in self._own_weight_names()]
        return own + [w for layer in self._sublayers() for w in layer.weights]

    @property
    def trainable_weights(self) -> list[torch.Tensor]:
        return [w for w in self.weights if isinstance(w, nn.Parameter) and w.requires_grad]

    @property
    def non_trainable_weights(self) -> list[torch.Tensor]:
        return [w for w in self.weights if not (isinstance(w, nn.Parameter) and w.requires_grad)]

    @property
    def variables(self) -> list[torch.Tensor]:
        return self.weights

    def count_params(self) -> int:
        """Number of scalars in all weights (trainable and not)."""
        if not self.built and not any(True for _ in self.parameters()):
            raise ValueError(
                f"Layer '{self.name}' has not been built yet, so its parameters are unknown: "
                "call it on data or give it an input_shape first."
            )
        return int(sum(w.numel() for w in self.weights))

    def _derived(
        self, name: str, weights: tuple, make: Callable[[], Any], build: bool = True
    ) -> Any:
        """``make()``, a tensor computed from ``weights``, kept on the layer under ``name`` (not
        a buffer: never saved) and remade whenever one of them changes: a weight's version
        counter moves with every in-place update, ``set_weights`` and load. With ``build``
        False, None instead of making one that is missing or stale."""
        key = [(w._version, w.data_ptr(), w.dtype, w.shape) for w in weights]
        cached = self.__dict__.get(name)
        if cached is None or cached[0] != key:
            if not build:
                return None
            with torch.inference_mode(False), torch.no_grad():
                cached = (key, make())
            self.__dict__[name] = cached
        return cached[1]

    def _keras_view(self, name: str) -> torch.Tensor:
        w = getattr(self, name)
        spec = self._weight_specs.get(name)
        return spec.to_keras(w) if spec is not None and spec.to_keras else w

    def get_weights(self) -> list[np.ndarray]:
        """Weights as NumPy arrays in Keras layouts (Dense kernel ``(in, out)`` ...)."""
        own = [self._keras_view(n).detach().cpu().numpy().copy() for n in self._own_weight_names()]
        return own + [a for layer in self._sublayers() for a in layer.get_weights()]

    def set_weights(self, weights: list[Any]) -> None:
        """Load weights given in Keras layouts, in the order of :meth:`get_weights`."""
        weights = list(weights)
        expected = self.get_weights()
        if len(weights) != len(expected):
            shapes = ", ".join(str(tuple(w.shape)) for w in expected)
            raise ValueError(
                f"Layer '{self.name}' expects {len(expected)} weight arrays ({shapes or 'none'}), "
                f"but set_weights received {len(weights)}."
            )
        own = self._own_weight_names()
        with torch.no_grad():
            for n, value, current in zip(own, weights, expected):
                value = torch.as_tensor(np.asarray(value) if not torch.is_tensor(value) else value)
                if tuple(value.shape) != tuple(current.shape):
                    raise ValueError(
                        f"Weight '{n}' of layer '{self.name}' has shape {tuple(current.shape)}, "
                        f"but the array given to set_weights has shape {tuple(value.shape)}."
                    )
                spec = self._weight_specs.get(n)
                if spec is not None and spec.from_keras:
                    value = spec.from_keras(value)
                target = getattr(self, n)
                target.copy_(value.to(dtype=target.dtype, device=target.device))
        start = len(own)
        for layer in self._sublayers():
            count = len(layer.weights)
            layer.set_weights(weights[start : start + count])
            start += count

    def _apply_constraints(self) -> None:
        with torch.no_grad():
            for layer in self._flatten_layers():
                for name, spec in layer._weight_specs.items():
                    if spec.constraint is not None:
                        w = getattr(layer, name)
                        if spec.to_keras or spec.from_keras:
                            projected = spec.from_keras(spec.constraint(spec.to_keras(w)))
                        else:
                            projected = spec.constraint(w)
                        w.copy_(projected)

    def _has_constraints(self) -> bool:
        return any(
            s.constraint is not None
            for layer in self._flatten_layers()
            for s in layer._weight_specs.values()
        )

    # ------------------------------------------------------------------ losses
    def add_loss(self, loss: torch.Tensor) -> None:
        """Add a loss term computed during ``call`` (it is added to the training loss).

        Losses added during one top-level call replace those of the previous call."""
        self._call_losses.append(loss)
        _CALL_STATE.loss_layers.append(self)

    def _regularized_weights(self) -> list[tuple[Layer, str, Any]]:
        return [
            (layer, name, spec.regularizer)
            for layer in self._flatten_layers()
            for name, spec in layer._weight_specs.items()
            if spec.regularizer is not None
        ]

    @property
    def losses(self) -> list[torch.Tensor]:
        """Regularization penalties of all weights plus losses added during the last call."""
        out: list[torch.Tensor] = []
        for layer in self._flatten_layers():
            for name, spec in layer._weight_specs.items():
                if spec.regularizer is not None:
                    out.append(spec.regularizer(layer._keras_view(name)))
            out.extend(layer._call_losses)
        return out

    # ------------------------------------------------------------------ building
    def build(self, input_shape: Any) -> None:
        """Create the weights for inputs of ``input_shape`` (override in layers with weights)."""

    def _maybe_build(self, input_shape: Any, device: torch.device | None = None) -> None:
        if self.built:
            return
        if device is not None:  # else keep the one a container set (Sequential's deferred build)
            self._build_device = device
        self._build_input_shape = input_shape
        self.build(input_shape)  # (outside inference_mode: see __init_subclass__)
        self.built = True

    def compute_output_shape(self, input_shape: Any) -> Any:
        """Output shape for an input shape (``None`` for unknown sizes). The base class finds it
        by running the layer on zeros; layers override it when the rule is simple."""
        raise NotImplementedError

    def compute_output_spec(self, inputs: Any) -> Any:
        """KerasTensors describing the output for symbolic ``inputs``."""
        shapes = tree.map_structure(lambda t: t.shape, inputs)
        try:
            out_shape = self.compute_output_shape(shapes)
        except NotImplementedError:
            return self._probe_output_spec(inputs)
        return _shape_to_spec(out_shape, self.compute_dtype)

    @property
    def compute_dtype(self) -> str:
        return self.dtype

    def _probe_output_spec(self, inputs: Any) -> Any:
        """Run the layer on zeros to learn output shapes; axes that change with the size of a
        ``None`` input axis are reported as ``None``."""

        def run(size: int) -> Any:
            def zeros(t: KerasTensor) -> Any:
                shape = [2 if i == 0 else (size if d is None else d) for i, d in enumerate(t.shape)]
                dt = torch_dtype(t.dtype)
                if dt is None:
                    return np.full(shape, "", dtype=object)
                return torch.zeros(shape, dtype=dt, device=self._build_device)

            args = tree.map_structure(
                lambda t: zeros(t) if isinstance(t, KerasTensor) else t, inputs
            )
            was_training = self.training
            self.eval()
            try:
                with torch.no_grad():
                    return self.call(args)
            finally:
                self.train(was_training)

        first = run(5)
        has_free_axis = any(
            d is None
            for t in tree.flatten(inputs)
            if isinstance(t, KerasTensor)
            for d in t.shape[1:]
        )
        second = run(7) if has_free_axis else first

        def spec(a: torch.Tensor, b: torch.Tensor) -> KerasTensor:
            shape = [None] + [da if da == db else None for da, db in zip(a.shape[1:], b.shape[1:])]
            return KerasTensor(tuple(shape), a.dtype)

        return tree.pack_sequence_as(
            first, [spec(a, b) for a, b in zip(tree.flatten(first), tree.flatten(second))]
        )

    def compute_mask(self, inputs: Any, mask: Any = None) -> Any:
        """Mask of the output: the input mask if the layer supports masking, else ``None``."""
        return mask if self.supports_masking else None

    # ------------------------------------------------------------------ calling
    def call(self, inputs: Any, *args: Any, **kwargs: Any) -> Any:
        """The computation; override it. ``training`` and ``mask`` are passed when accepted."""
        return inputs

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        if kwargs:
            # Filtered here, where `call` is reached, not in __call__: torch.compile can re-enter
            # forward with the caller's own keywords.
            takes_training, takes_mask, _ = _call_plan(type(self))
            if not takes_training and "training" in kwargs:
                kwargs = {k: v for k, v in kwargs.items() if k != "training"}
            if not takes_mask and "mask" in kwargs:
                kwargs = {k: v for k, v in kwargs.items() if k != "mask"}
        return self.call(*args, **kwargs)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        inputs = args[0] if args else kwargs.get("inputs")
        # 1. Symbolic inputs: build from shapes and record a graph node, compute nothing.
        if type(inputs) is not torch.Tensor:
            if is_symbolic(args) or is_symbolic(kwargs):
                return self._symbolic_call(args, kwargs)
            if isinstance(inputs, np.ndarray) or (
                isinstance(inputs, (list, tuple)) and any(isinstance(a, np.ndarray) for a in inputs)
            ):
                weight = next(self.parameters(), None)
                if weight is None:  # layers with statistics only (Normalization)
                    weight = next(self.buffers(), None)
                device = None if weight is None else weight.device
                args = (tree.map_structure(lambda a: _to_tensor(a, device), inputs), *args[1:])
                inputs = args[0]
        # 2. First real call: build for these shapes, on these inputs' device.
        first_call = not self.built
        if first_call:
            leaves = [t for t in tree.flatten(inputs) if torch.is_tensor(t)]
            self._maybe_build(_shape_of(inputs), leaves[0].device if leaves else None)
        # 3. Check the input against what the layer was built for, naming the layer.
        spec = self.input_spec
        if spec is not None:
            if type(inputs) is torch.Tensor:
                rank = inputs.dim()
                fits = (spec.ndim is None or rank == spec.ndim) and (
                    spec.min_ndim is None or rank >= spec.min_ndim
                )
                if fits and spec.axes:
                    shape = inputs.shape
                    for axis, size in spec.axes.items():
                        if not -rank <= axis < rank or shape[axis] != size:
                            fits = False
                            break
                if not fits:
                    self._check_input_spec(tuple(inputs.shape))
            else:
                self._check_input_spec(_shape_of(inputs))
        # 4. Hand the input's mask to a `call` that takes one; `forward` drops the `training`
        # and `mask` keywords a `call` does not accept.
        _, takes_mask, computes_mask = _call_plan(type(self))
        mask = kwargs.get("mask") if "mask" in kwargs else _mask_of(inputs)
        if takes_mask:
            kwargs["mask"] = mask
        state = _CALL_STATE
        if state.depth == 0 and state.loss_layers:
            _drop_call_losses()
        state.depth += 1
        try:
            if torch.compiler.is_compiling() or _has_hooks(self):
                outputs = super().__call__(*args, **kwargs)
            else:
                # nn.Module.__call__ only looks for hooks before calling forward; without any,
                # calling forward directly is the same and cheaper.
                outputs = self.forward(*args, **kwargs)
        finally:
            state.depth -= 1
        if first_call:
            self._first_output_shape = _shape_of(outputs)
        # 5. Attach the output mask and any activity penalty.
        if mask is not None or computes_mask:
            out_mask = self.compute_mask(inputs, mask)
            if out_mask is not None and torch.is_tensor(outputs):
                outputs._keras_mask = out_mask
        if self.activity_regularizer is not None:
            for out in tree.flatten(outputs):
                self.add_loss(self.activity_regularizer(out) / out.shape[0])
        return outputs

    def _symbolic_call(self, args: tuple, kwargs: dict) -> Any:
        inputs = args[0] if args else kwargs.get("inputs")
        shapes = tree.map_structure(lambda t: t.shape if isinstance(t, KerasTensor) else t, inputs)
        if not self.built:
            self._maybe_build(shapes)
        if self.input_spec is not None:
            self._check_input_spec(shapes)
        try:
            outputs = self.compute_output_spec(inputs)
        except (RuntimeError, ValueError, IndexError, TypeError) as e:
            if isinstance(e, ValueError) and self.name in str(e):
                raise
            raise ValueError(
                f"Layer '{self.name}' ({type(self).__name__}) cannot be applied to inputs of "
                f"shape {_describe_shapes(shapes)}: {e}"
            ) from e
        Node(self, args, {k: v for k, v in kwargs.items() if k != "training"}, outputs)
        return outputs

    def _check_input_spec(self, shapes: Any) -> None:
        spec = self.input_spec
        for shape in tree.flatten(shapes) if isinstance(shapes, list) else [shapes]:
            if shape is None:
                continue
            rank = len(shape)
            if spec.ndim is not None and rank != spec.ndim:
                raise ValueError(
                    f"Layer '{self.name}' ({type(self).__name__}) expects inputs of rank "
                    f"{spec.ndim}, but received shape {_fmt(shape)} (rank {rank})."
                    + _rank_hint(type(self).__name__, spec.ndim, rank)
                )
            if spec.min_ndim is not None and rank < spec.min_ndim:
                raise ValueError(
                    f"Layer '{self.name}' ({type(self).__name__}) expects inputs of rank >= "
                    f"{spec.min_ndim}, but received shape {_fmt(shape)}."
                )
            for axis, size in (spec.axes or {}).items():
                got = shape[axis] if -rank <= axis < rank else None
                if got is not None and got != size:
                    expected = list(shape)
                    expected[axis] = size
                    raise ValueError(
                        f"Layer '{self.name}' ({type(self).__name__}) expects inputs of shape "
                        f"{_fmt(tuple(None if i == 0 else d for i, d in enumerate(expected)))}, "
                        f"but received shape {_fmt(shape)} (axis {axis} is {got}, not {size})."
                    )

    # ------------------------------------------------------------------ config
    def get_config(self) -> dict[str, Any]:
        """Constructor arguments as JSON-compatible data, read from the ``__init__`` signature."""
        cfg: dict[str, Any] = {"name": self.name, "trainable": self.trainable}
        if self._dtype_arg is not None:
            cfg["dtype"] = self._dtype_arg
        if self._batch_input_shape is not None:
            cfg["batch_input_shape"] = list(self._batch_input_shape)
        for cls in type(self).__mro__:
            if cls in (Layer, nn.Module, object) or "__init__" not in cls.__dict__:
                continue
            for pname, p in inspect.signature(cls.__init__).parameters.items():
                if pname == "self" or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) or pname in cfg:
                    continue
                if pname in ("input_shape", "batch_input_shape", "batch_size", "input_dim"):
                    continue
                if not hasattr(self, pname):
                    raise NotImplementedError(
                        f"{cls.__name__}.get_config cannot find attribute '{pname}': store each "
                        f"constructor argument under its own name or override get_config()."
                    )
                cfg[pname] = serialize_value(getattr(self, pname), f"{self.name}.{pname}")
        return cfg

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Layer:
        return cls(**config)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} name={self.name}, built={self.built}>"

    def extra_repr(self) -> str:
        return f"name={self.name}"


# ---------------------------------------------------------------------- helpers
_CALL_ARGS: dict[type, frozenset[str]] = {}


class _CallState:
    """Nesting depth of layer calls, and layers holding losses from ``add_loss``: a top-level
    call clears the losses of the previous one."""

    depth = 0
    loss_layers: list[Layer] = []


_CALL_STATE = _CallState()


def _drop_call_losses() -> None:
    """Forget the losses layers added (``add_loss``) during the previous top-level call: a new
    top-level call is starting and adds its own."""
    for layer in _CALL_STATE.loss_layers:
        layer._call_losses = []
    _CALL_STATE.loss_layers = []


def direct_inference_call(layer: Any) -> Callable[[Any], Any] | None:
    """``layer.call`` as a function of its input alone, for inference (``training=False``, no
    mask), or None where calling it directly would skip more of ``Layer.__call__`` than its
    per-call input checks: the layer is not built yet, has hooks or an activity penalty,
    computes an output mask, or its class has a ``__call__`` / ``forward`` of its own.

    ``predict`` chains these (``Sequential._inference_plan``) once a first batch has gone through
    ``__call__``, which builds the layers and checks the input shape."""
    cls = type(layer)
    if (
        not isinstance(layer, Layer)
        or not layer.built
        or cls.__call__ is not Layer.__call__
        or cls.forward is not Layer.forward
        or layer.activity_regularizer is not None
        or _has_hooks(layer)
    ):
        return None
    takes_training, takes_mask, computes_mask = _call_plan(cls)
    if computes_mask:
        return None
    kwargs: dict[str, Any] = {}
    if takes_training:
        kwargs["training"] = False
    if takes_mask:
        kwargs["mask"] = None
    return functools.partial(layer.call, **kwargs) if kwargs else layer.call


def _has_hooks(module: nn.Module) -> bool:
    """Whether ``module.__call__`` must go through ``nn.Module.__call__``: hooks on the module
    or global module hooks, or a ``torch.jit`` trace in progress."""
    d = module.__dict__
    return bool(
        d["_forward_pre_hooks"]
        or d["_forward_hooks"]
        or d["_backward_pre_hooks"]
        or d["_backward_hooks"]
        or _module_impl._global_forward_pre_hooks
        or _module_impl._global_forward_hooks
        or _module_impl._global_backward_pre_hooks
        or _module_impl._global_backward_hooks
        or torch._C._get_tracing_state()
    )


_CALL_PLANS: dict[type, tuple[bool, bool, bool]] = {}


def _call_plan(cls: type) -> tuple[bool, bool, bool]:
    """Per class, once: does ``call`` take ``training``, take ``mask``, and does the class
    compute its own output mask."""
    plan = _CALL_PLANS.get(cls)
    if plan is None:
        accepts = _call_arguments(cls)
        plan = (
            "training" in accepts,
            "mask" in accepts,
            cls.compute_mask is not Layer.compute_mask,
        )
        _CALL_PLANS[cls] = plan
    return plan


def _call_arguments(cls: type) -> frozenset[str]:
    found = _CALL_ARGS.get(cls)
    if found is None:
        params = inspect.signature(cls.call).parameters
        if any(p.kind == p.VAR_KEYWORD for p in params.values()):
            found = frozenset(list(params) + ["training", "mask"])
        else:
            found = frozenset(params)
        _CALL_ARGS[cls] = found
    return found


def _is_shape(x: Any) -> bool:
    return isinstance(x, (tuple, list, torch.Size)) and all(
        d is None or isinstance(d, int) for d in x
    )


def _shape_to_spec(shape: Any, dtype: str) -> Any:
    """A shape, or a structure (list / tuple / dict) of shapes, as KerasTensors."""
    if _is_shape(shape):
        return KerasTensor(tuple(shape), dtype)
    if isinstance(shape, dict):
        return {k: _shape_to_spec(v, dtype) for k, v in shape.items()}
    if isinstance(shape, (list, tuple)):
        return type(shape)(_shape_to_spec(s, dtype) for s in shape)
    raise TypeError(f"compute_output_shape returned {shape!r}, which is not a shape.")


def _fmt(shape: Any) -> str:
    return str(tuple(None if i == 0 else d for i, d in enumerate(shape))).replace(",)", ")")


def _describe_shapes(shapes: Any) -> str:
    if isinstance(shapes, tuple) and all(d is None or isinstance(d, int) for d in shapes):
        return _fmt(shapes)
    return str(tree.map_structure(lambda s: s, shapes))


def _rank_hint(layer: str, expected: int, got: int) -> str:
    if expected == 3 and got == 2 and layer in ("SimpleRNN", "LSTM", "GRU", "Conv1D"):
        return (
            " Recurrent and 1D convolution layers take (batch, timesteps, features): add an "
            "Embedding layer for token ids, or reshape to (batch, timesteps, 1)."
        )
    if expected == 4 and got == 3:
        return " 2D convolutions take (batch, height, width, channels): add a channels axis."
    return ""


def serialize_value(value: Any, where: str = "") -> Any:
    """JSON-compatible form of a constructor argument (layers and registered objects nest as
    ``{"class_name": ..., "config": ...}``; registered functions become their name)."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (np.integer, np.floating)):
        return value.item()
    if isinstance(value, (list, tuple)):
        return [serialize_value(v, where) for v in value]
    if isinstance(value, dict):
        return {str(k): serialize_value(v, where) for k, v in value.items()}
    if isinstance(value, torch.dtype):
        return dtype_name(value)
    if isinstance(value, Layer):
        return {"class_name": _class_name(value, LAYERS), "config": value.get_config()}
    for registry in all_registries().values():
        if hasattr(value, "get_config") and not isinstance(value, type):
            name = registry.canonical_name(type(value))
            if name is not None:
                return {"class_name": name, "config": value.get_config()}
        else:
            name = registry.canonical_name(value)
            if name is not None:
                return name
    raise ValueError(
        f"Cannot save argument {where}={value!r}: it is not a plain value or a registered "
        "lamina object. Register it with lamina.saving.register_serializable() or override "
        "get_config()."
    )


def _class_name(obj: Any, registry: Registry) -> str:
    name = registry.canonical_name(type(obj))
    if name is None:
        raise ValueError(
            f"Layer class {type(obj).__name__} is not registered, so it cannot be saved by name. "
            "Decorate it with @lamina.saving.register_serializable()."
        )
    return name
