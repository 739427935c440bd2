"""Use any ``torch.optim`` optimizer where lamina expects an optimizer.

Example:
    >>> import torch
    >>> from lamina.optimizers import TorchOptimizer
    >>> w = torch.nn.Parameter(torch.tensor([1.0]))
    >>> opt = TorchOptimizer(torch.optim.SGD([w], lr=0.5))
    >>> opt.build([w])
    >>> w.grad = torch.tensor([1.0])
    >>> opt.step()
    >>> w.item(), opt.iterations
    (0.5, 1)
"""

from __future__ import annotations

import inspect
from typing import Any

import torch

from lamina._registry import snake_case
from lamina.optimizers.base import OPTIMIZERS, Optimizer

__all__ = ["TorchOptimizer"]


def _torch_class(name: str) -> type[torch.optim.Optimizer]:
    cls = getattr(torch.optim, name, None)
    if not (isinstance(cls, type) and issubclass(cls, torch.optim.Optimizer)):
        known = sorted(
            n
            for n, c in vars(torch.optim).items()
            if isinstance(c, type) and issubclass(c, torch.optim.Optimizer) and n != "Optimizer"
        )
        raise ValueError(f"Unknown torch.optim optimizer {name!r}. Known: {', '.join(known)}.")
    return cls


@OPTIMIZERS.register("TorchOptimizer")
class TorchOptimizer(Optimizer):
    """Wraps a ``torch.optim.Optimizer`` instance, or a class / ``torch.optim`` class name plus
    its arguments (built over the model's parameters at ``build``).

    The torch optimizer's own formula, weight decay and learning rate are used; lamina adds
    gradient clipping, ``iterations``, the ``learning_rate`` property and state save/load.

    Args:
        optimizer: A ``torch.optim.Optimizer`` instance, a subclass, or a class name in
            ``torch.optim`` (``"AdamW"``); only names are saved in a model's config.
        clipnorm, clipvalue, global_clipnorm, name: As :class:`Optimizer`.
        **kwargs: Arguments for the torch class (``lr=1e-3, betas=(0.9, 0.95)``).

    Example:
        >>> opt = TorchOptimizer("AdamW", lr=3e-4, weight_decay=0.1)
        >>> opt.learning_rate
        0.0003
    """

    def __init__(
        self,
        optimizer: Any,
        clipnorm: float | None = None,
        clipvalue: float | None = None,
        global_clipnorm: float | None = None,
        name: str | None = None,
        **kwargs: Any,
    ):
        if isinstance(optimizer, torch.optim.Optimizer):
            if kwargs:
                raise TypeError(
                    f"Arguments {sorted(kwargs)} apply only when TorchOptimizer builds the torch "
                    "optimizer from a class or name; this one is already built."
                )
            cls = type(optimizer)
            lr = float(optimizer.param_groups[0].get("lr", 0.0))
        else:
            if isinstance(optimizer, str):
                cls = _torch_class(optimizer)
            elif isinstance(optimizer, type) and issubclass(optimizer, torch.optim.Optimizer):
                cls = optimizer
            else:
                raise TypeError(
                    "TorchOptimizer expects a torch.optim.Optimizer instance, a subclass or a "
                    f"torch.optim class name; got {optimizer!r}."
                )
            default = inspect.signature(cls.__init__).parameters.get("lr")
            lr = kwargs.get("lr", default.default if default is not None else 0.0)
            lr = float(lr) if lr is not inspect.Parameter.empty else 0.0
        super().__init__(
            learning_rate=lr,
            clipnorm=clipnorm,
            clipvalue=clipvalue,
            global_clipnorm=global_clipnorm,
            name=name or snake_case(cls.__name__),
        )
        self.optimizer = optimizer
        self.kwargs = kwargs
        self._torch_class = cls
        if isinstance(optimizer, torch.optim.Optimizer):
            self._torch_opt = optimizer

    def build(self, params: Any) -> None:
        if not isinstance(self.optimizer, torch.optim.Optimizer):
            super().build(params)
            return
        if self.built:
            return
        own = [p for group in self.optimizer.param_groups for p in group["params"]]
        given = {id(p) for p in params}
        if given and not given & {id(p) for p in own}:
            raise ValueError(
                "The wrapped torch optimizer shares no parameter with the model: create it "
                "over this model's parameters (after the model is built)."
            )
        self._params = own
        self.built = True
        self._apply_pending()

    def _make_torch_optimizer(self, params, lr):
        kwargs = dict(self.kwargs)
        if "lr" in inspect.signature(self._torch_class.__init__).parameters:
            kwargs["lr"] = lr
        return self._torch_class(params, **kwargs)

    def get_config(self) -> dict[str, Any]:
        cls = self._torch_class
        if getattr(torch.optim, cls.__name__, None) is not cls:
            raise ValueError(
                f"Cannot save {cls.__qualname__}: only torch.optim classes are saved by name. "
                "Save the weights only, or register a lamina Optimizer subclass."
            )
        if isinstance(self.optimizer, torch.optim.Optimizer):
            accepted = inspect.signature(cls.__init__).parameters
            kwargs = {k: v for k, v in self.optimizer.defaults.items() if k in accepted}
        else:
            kwargs = dict(self.kwargs)
        if "lr" in kwargs or self._torch_opt is not None:
            kwargs["lr"] = self.learning_rate
        kwargs = {k: list(v) if isinstance(v, tuple) else v for k, v in kwargs.items()}
        return {
            "optimizer": cls.__name__,
            "clipnorm": self.clipnorm,
            "clipvalue": self.clipvalue,
            "global_clipnorm": self.global_clipnorm,
            "name": self.name,
            **kwargs,
        }

    @classmethod
    def from_config(cls, config: dict[str, Any], custom_objects: dict | None = None):
        config = dict(config)
        return cls(_torch_class(config.pop("optimizer")), **config)

    def __repr__(self) -> str:
        what = "instance" if isinstance(self.optimizer, torch.optim.Optimizer) else "class"
        return f"TorchOptimizer({self._torch_class.__name__} {what}, lr={self.learning_rate!r})"
