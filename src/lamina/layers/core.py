"""Core layers: Input, Dense, Activation, Dropout, Flatten, Reshape, Permute, RepeatVector,
Lambda, Identity, ActivityRegularization, and a wrapper for any ``torch.nn.Module``.

Example:
    >>> import torch
    >>> from lamina import layers
    >>> layer = layers.Dense(3, activation="relu")
    >>> layer(torch.ones(2, 4)).shape, [w.shape for w in layer.get_weights()]
    (torch.Size([2, 3]), [(4, 3), (3,)])
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from lamina import activations, constraints, initializers, regularizers
from lamina.engine.layer import InputSpec, Layer, register_layer
from lamina.engine.node import KerasTensor, Node
from lamina.layers._dropout import apply_dropout

__all__ = [
    "InputLayer",
    "Input",
    "Dense",
    "Activation",
    "Dropout",
    "SpatialDropout1D",
    "Flatten",
    "Reshape",
    "Permute",
    "RepeatVector",
    "Lambda",
    "Identity",
    "ActivityRegularization",
    "TorchModuleWrapper",
]


@register_layer()
class InputLayer(Layer):
    """The entry point of a functional model; usually created through :func:`Input`."""

    def __init__(
        self,
        shape: tuple | None = None,
        batch_size: int | None = None,
        dtype: Any = None,
        name: str | None = None,
        batch_shape: tuple | None = None,
        **kwargs: Any,
    ):
        batch_shape = kwargs.pop("batch_input_shape", batch_shape)
        kwargs.pop("trainable", None)
        super().__init__(name=name, dtype=dtype, **kwargs)
        if batch_shape is None:
            if shape is None:
                raise ValueError("Input needs a `shape` (the shape of one sample, e.g. (784,)).")
            if isinstance(shape, int):
                shape = (shape,)
            batch_shape = (batch_size, *tuple(shape))
        self.batch_shape = tuple(batch_shape)
        self.built = True
        Node(self, (), {}, KerasTensor(self.batch_shape, self.dtype, name=self.name))

    @property
    def output(self) -> KerasTensor:
        return self._inbound_nodes[0].outputs

    def get_config(self) -> dict[str, Any]:
        return {"batch_shape": list(self.batch_shape), "dtype": self.dtype, "name": self.name}


def Input(  # noqa: N802 - Keras's public name
    shape: tuple | int | None = None,
    batch_size: int | None = None,
    dtype: Any = None,
    name: str | None = None,
    batch_shape: tuple | None = None,
) -> KerasTensor:
    """A symbolic input of ``shape`` (one sample, without the batch axis).

    Example:
        >>> Input((28, 28, 1))
        <KerasTensor shape=(None, 28, 28, 1), dtype=float32, name=input_layer...>
        >>> Input((None,), dtype="int32").shape
        (None, None)
    """
    layer = InputLayer(shape, batch_size, dtype, name or None, batch_shape)
    return layer.output


@register_layer()
class Dense(Layer):
    """``output = activation(dot(input, kernel) + bias)`` on the last axis.

    Args:
        units: size of the output's last axis.
        activation: name or callable (``None``: linear).
        use_bias: whether to add a bias vector.
        kernel_initializer / bias_initializer: Keras defaults ``glorot_uniform`` / ``zeros``.
        kernel_regularizer / bias_regularizer / activity_regularizer: penalties.
        kernel_constraint / bias_constraint: projections applied after each update.

    Input shape: ``(batch, ..., in)``. Output shape: ``(batch, ..., units)``.

    Example:
        >>> layer = Dense(512)
        >>> _ = layer(torch.zeros(1, 784))
        >>> layer.count_params()
        401920
    """

    supports_masking = True

    def __init__(
        self,
        units: int,
        activation: str | Callable | None = None,
        use_bias: bool = True,
        kernel_initializer: Any = "glorot_uniform",
        bias_initializer: Any = "zeros",
        kernel_regularizer: Any = None,
        bias_regularizer: Any = None,
        activity_regularizer: Any = None,
        kernel_constraint: Any = None,
        bias_constraint: Any = None,
        **kwargs: Any,
    ):
        super().__init__(**kwargs)
        if not isinstance(units, int) or units <= 0:
            raise ValueError(f"Dense units must be a positive integer, got {units!r}.")
        self.units = units
        self.activation = activations.get(activation)
        self.use_bias = use_bias
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)
        self.activity_regularizer = regularizers.get(activity_regularizer)
        self.kernel_constraint = constraints.get(kernel_constraint)
        self.bias_constraint = constraints.get(bias_constraint)

    def build(self, input_shape: tuple) -> None:
        in_dim = input_shape[-1]
        if in_dim is None:
            raise ValueError(
                f"Layer '{self.name}' (Dense) needs the last axis of its input to be known, "
                f"got input shape {tuple(input_shape)}."
            )
        self.kernel = self.add_weight(
            "kernel",
            (in_dim, self.units),
            self.kernel_initializer,
            regularizer=self.kernel_regularizer,
            constraint=self.kernel_constraint,
            transposed=_store_kernel_transposed(in_dim, self.units),
        )
        if self.use_bias:
            self.bias = self.add_weight(
                "bias",
                (self.units,),
                self.bias_initializer,
                regularizer=self.bias_regularizer,
                constraint=self.bias_constraint,
            )
        else:
            self.bias = None
        self.input_spec = InputSpec(min_ndim=2, axes={-1: in_dim})

    def call(self, inputs: torch.Tensor) -> torch.Tensor:
        params = self._parameters  # (one dict lookup; `self.kernel` goes through __getattr__)
        kernel = params["kernel"]
        if not inputs.is_floating_point():
            inputs = inputs.to(kernel.dtype)
        bias = params.get("bias")
        if inputs.dim() != 2:
            # F.linear on the transposed (in, out) kernel: one GEMM, no copy. Its output can be
            # a view of the product, so the activation is not applied in place here (in place
            # on a view, autograd records extra copy-back nodes).
            return self.activation(F.linear(inputs, kernel.T, bias))
        if torch.is_grad_enabled() or inputs.device.type != "cpu":
            # addmm on the kernel as it is: no transposed views, so autograd has two nodes
            # fewer than F.linear(x, kernel.T) (a 128x512 -> 10 Dense, forward + backward,
            # p10 0.293 vs 0.310 ms over 5,000 interleaved calls).
            out = torch.mm(inputs, kernel) if bias is None else torch.addmm(bias, inputs, kernel)
        else:
            # Without gradients on CPU, a cached (out, in) copy of the kernel: MKL's product
            # with it is ~6% faster (W1's MLP, batches of 128: 0.92 vs 0.98 ms, interleaved).
            out = F.linear(inputs, self._inference_weight(kernel), bias)
        if self.activation is activations.relu:
            # The product is a fresh tensor that autograd does not keep: relu in place saves
            # a buffer and a pass over new memory (W1's hidden layer, inference: p10 0.800 vs
            # 0.818 ms; W1 predict 1.152 vs 1.181 ms per batch, interleaved).
            return out.relu_()
        return self.activation(out)

    def _inference_weight(self, kernel: torch.Tensor) -> torch.Tensor:
        """``kernel.T`` as a contiguous tensor, rebuilt whenever the kernel changes."""
        if kernel.stride(0) == 1:  # stored transposed (``_store_kernel_transposed``), or one
            return kernel.T  # column: either way its .T is contiguous
        return self._derived("_inference_cache", (kernel,), lambda: kernel.T.contiguous())

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        return (*input_shape[:-1], self.units)


def _store_kernel_transposed(in_dim: int, units: int) -> bool:
    """Whether a Dense kernel is kept in memory as ``(units, in)`` (its shape stays
    ``(in, units)``). For 2 to 11 output units, MKL's products with the ``(in, units)`` layout
    are several times slower than with the transposed one, forward and for the kernel's
    gradient alike (a layer's three products take 0.38-0.69x the time transposed for 128 x 512
    -> 2..11, 0.24-0.46x for 128 x 4096, across two runs); from 12 units up, and for 1, the
    two are even or the default layout is faster, as it is for inputs narrower than 64, where
    the products cost microseconds.
    ``python -m bench.dense_layout`` measures the grid on the machine at hand."""
    return 2 <= units <= 11 and in_dim >= 64


@register_layer()
class Activation(Layer):
    """Applies an activation function by name or callable.

    Example:
        >>> Activation("relu")(torch.tensor([[-1.0, 1.0]]))
        tensor([[0., 1.]])
    """

    supports_masking = True

    def __init__(self, activation: str | Callable, **kwargs: Any):
        super().__init__(**kwargs)
        self.activation = activations.get(activation)

    def call(self, inputs: torch.Tensor) -> torch.Tensor:
        return self.activation(inputs)

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        return input_shape


@register_layer()
class Dropout(Layer):
    """Sets a fraction ``rate`` of inputs to zero during training and scales the rest by
    ``1 / (1 - rate)``; does nothing at inference.

    Example:
        >>> layer = Dropout(0.5)
        >>> torch.equal(layer(torch.ones(4, 4)), torch.ones(4, 4))   # inference by default
        True
        >>> set(layer(torch.ones(100, 100), training=True).unique().tolist()) <= {0.0, 2.0}
        True
    """

    supports_masking = True

    def __init__(
        self,
        rate: float,
        noise_shape: tuple | None = None,
        seed: int | None = None,
        **kwargs: Any,
    ):
        super().__init__(**kwargs)
        if not 0 <= rate < 1:
            raise ValueError(f"Dropout rate must be in [0, 1), got {rate!r}.")
        self.rate = float(rate)
        self.noise_shape = None if noise_shape is None else tuple(noise_shape)
        self.seed = seed

    def call(self, inputs: torch.Tensor, training: bool | None = None) -> torch.Tensor:
        if training is None:
            training = self.training
        if not training or self.rate == 0:
            return inputs
        shape = None
        if self.noise_shape is not None:
            shape = tuple(
                inputs.shape[i] if d is None else d for i, d in enumerate(self.noise_shape)
            )
        return apply_dropout(inputs, self.rate, shape)

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        return input_shape


@register_layer()
class SpatialDropout1D(Dropout):
    """Dropout of whole feature channels of a ``(batch, steps, channels)`` input."""

    def __init__(self, rate: float, **kwargs: Any):
        super().__init__(rate, **kwargs)

    def call(self, inputs: torch.Tensor, training: bool | None = None) -> torch.Tensor:
        if training is None:
            training = self.training
        if not training or self.rate == 0:
            return inputs
        return apply_dropout(inputs, self.rate, (inputs.shape[0], 1, inputs.shape[2]))


def _known_prod(dims: tuple) -> int | None:
    return None if any(d is None for d in dims) else math.prod(dims)


@register_layer()
class Flatten(Layer):
    """Flattens every axis but the batch axis (channels-last order, as Keras).

    Example:
        >>> Flatten()(torch.zeros(2, 3, 4)).shape
        torch.Size([2, 12])
    """

    def __init__(self, data_format: str | None = None, **kwargs: Any):
        super().__init__(**kwargs)
        self.data_format = data_format

    def call(self, inputs: torch.Tensor) -> torch.Tensor:
        return inputs.reshape(inputs.shape[0], -1)

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        return (input_shape[0], _known_prod(tuple(input_shape[1:])))


@register_layer()
class Reshape(Layer):
    """Reshapes each sample to ``target_shape`` (one entry may be ``-1``).

    Example:
        >>> Reshape((3, -1))(torch.zeros(2, 12)).shape
        torch.Size([2, 3, 4])
    """

    def __init__(self, target_shape: tuple, **kwargs: Any):
        super().__init__(**kwargs)
        self.target_shape = tuple(target_shape)
        if sum(1 for d in self.target_shape if d == -1) > 1:
            raise ValueError(f"Reshape target_shape may hold at most one -1: {target_shape}.")

    def _resolve(self, input_shape: tuple) -> tuple:
        size = _known_prod(tuple(input_shape[1:]))
        known = math.prod(d for d in self.target_shape if d != -1)
        if -1 in self.target_shape:
            if size is None:
                return tuple(None if d == -1 else d for d in self.target_shape)
            if size % known:
                raise ValueError(self._mismatch(input_shape))
            return tuple(size // known if d == -1 else d for d in self.target_shape)
        if size is not None and size != known:
            raise ValueError(self._mismatch(input_shape))
        return self.target_shape

    def _mismatch(self, input_shape: tuple) -> str:
        return (
            f"Layer '{self.name}' (Reshape) cannot reshape inputs of shape "
            f"{tuple(input_shape[1:])} ({_known_prod(tuple(input_shape[1:]))} values per sample) "
            f"to {self.target_shape}."
        )

    def call(self, inputs: torch.Tensor) -> torch.Tensor:
        self._resolve(tuple(inputs.shape))
        return inputs.reshape(inputs.shape[0], *self.target_shape)

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        return (input_shape[0], *self._resolve(input_shape))


@register_layer()
class Permute(Layer):
    """Permutes the non-batch axes; ``dims`` counts from 1 as in Keras.

    Example:
        >>> Permute((2, 1))(torch.zeros(2, 3, 4)).shape
        torch.Size([2, 4, 3])
    """

    def __init__(self, dims: tuple, **kwargs: Any):
        super().__init__(**kwargs)
        self.dims = tuple(dims)
        if sorted(self.dims) != list(range(1, len(self.dims) + 1)):
            raise ValueError(f"Permute dims must be a permutation of 1..n, got {dims}.")
        self.input_spec = InputSpec(ndim=len(self.dims) + 1)

    def call(self, inputs: torch.Tensor) -> torch.Tensor:
        return inputs.permute(0, *self.dims)

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        return (input_shape[0], *(input_shape[d] for d in self.dims))


@register_layer()
class RepeatVector(Layer):
    """Repeats a ``(batch, features)`` input ``n`` times: ``(batch, n, features)``."""

    def __init__(self, n: int, **kwargs: Any):
        super().__init__(**kwargs)
        self.n = int(n)
        self.input_spec = InputSpec(ndim=2)

    def call(self, inputs: torch.Tensor) -> torch.Tensor:
        return inputs.unsqueeze(1).expand(-1, self.n, -1)

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        return (input_shape[0], self.n, input_shape[1])


@register_layer()
class Lambda(Layer):
    """Wraps a function of tensors as a layer.

    Saving stores the function's code; loading such a file runs that code, so ``load_model``
    refuses it unless ``safe_mode=False`` is passed.

    Example:
        >>> Lambda(lambda x: x * 2)(torch.ones(1, 2))
        tensor([[2., 2.]])
    """

    def __init__(
        self,
        function: Callable,
        output_shape: Any = None,
        mask: Any = None,
        arguments: dict | None = None,
        **kwargs: Any,
    ):
        super().__init__(**kwargs)
        self.function = function
        self.output_shape = output_shape
        self.mask = mask
        self.arguments = arguments or {}

    def call(self, inputs: Any) -> Any:
        return self.function(inputs, **self.arguments)

    def compute_output_shape(self, input_shape: Any) -> Any:
        if self.output_shape is None:
            raise NotImplementedError
        if callable(self.output_shape):
            return self.output_shape(input_shape)
        return (input_shape[0], *self.output_shape)

    def get_config(self) -> dict[str, Any]:
        from lamina.engine.saving_utils import serialize_function

        cfg = {"name": self.name, "trainable": self.trainable}
        cfg["function"] = serialize_function(self.function)
        cfg["output_shape"] = (
            serialize_function(self.output_shape)
            if callable(self.output_shape)
            else self.output_shape
        )
        cfg["arguments"] = self.arguments
        return cfg

    @classmethod
    def from_config(cls, config: dict[str, Any], safe_mode: bool = True) -> Lambda:
        from lamina.engine.saving_utils import deserialize_function

        config = dict(config)
        config["function"] = deserialize_function(config["function"], safe_mode=safe_mode)
        if isinstance(config.get("output_shape"), dict):
            config["output_shape"] = deserialize_function(config["output_shape"], safe_mode)
        return cls(**config)


@register_layer()
class Identity(Layer):
    """Returns its input unchanged."""

    supports_masking = True

    def call(self, inputs: Any) -> Any:
        return inputs

    def compute_output_shape(self, input_shape: Any) -> Any:
        return input_shape


@register_layer()
class ActivityRegularization(Layer):
    """Adds ``l1 * sum(|x|) + l2 * sum(x**2)`` of its input (per sample) to the loss."""

    supports_masking = True

    def __init__(self, l1: float = 0.0, l2: float = 0.0, **kwargs: Any):
        super().__init__(**kwargs)
        self.l1, self.l2 = l1, l2
        self.activity_regularizer = regularizers.L1L2(l1, l2)

    def call(self, inputs: torch.Tensor) -> torch.Tensor:
        return inputs

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        return input_shape


@register_layer()
class TorchModuleWrapper(Layer):
    """Any ``torch.nn.Module`` used as a lamina layer (its parameters train with the model).

    Example:
        >>> layer = TorchModuleWrapper(torch.nn.Linear(4, 2))
        >>> layer(torch.zeros(3, 4)).shape, layer.count_params()
        (torch.Size([3, 2]), 10)
    """

    def __init__(self, module: nn.Module, **kwargs: Any):
        super().__init__(**kwargs)
        if not isinstance(module, nn.Module):
            raise TypeError(f"TorchModuleWrapper needs a torch.nn.Module, got {module!r}.")
        self.module = module
        self.built = True

    @property
    def weights(self) -> list[torch.Tensor]:
        return list(self.module.parameters()) + [b for b in self.module.buffers()]

    def get_weights(self) -> list:
        return [w.detach().cpu().numpy().copy() for w in self.weights]

    def set_weights(self, weights: list) -> None:
        with torch.no_grad():
            for w, value in zip(self.weights, weights, strict=True):
                w.copy_(torch.as_tensor(value))

    def call(self, inputs: Any) -> Any:
        return self.module(inputs)

    def get_config(self) -> dict[str, Any]:
        raise NotImplementedError(
            "A wrapped torch module cannot be saved as a config: save the weights with "
            "model.save_weights() and rebuild the architecture in code."
        )
