"""The training engine: ``compile``, ``fit``, ``evaluate``, ``predict`` and the ``*_on_batch``
variants, for every kind of model.

One step function does forward, loss, backward and update; one loop serves ``fit``,
``evaluate`` and ``predict``. Losses and metrics accumulate on the device and are read back
only when something logs them (the progress bar at most twice a second, the epoch end), so
the loop does not wait for the device at every step.

Example:
    >>> import numpy as np
    >>> from lamina import Sequential, layers
    >>> model = Sequential([layers.Dense(1, input_shape=(3,))])
    >>> model.compile(optimizer="sgd", loss="mse")
    >>> history = model.fit(np.ones((8, 3)), np.zeros((8, 1)), epochs=2, verbose=0)
    >>> list(history.history), len(history.history["loss"])
    (['loss'], 2)
"""

from __future__ import annotations

import contextlib
import math
import os
import warnings
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch

from lamina import config, distributed, mixed_precision
from lamina.callbacks.base import Callback, CallbackList, History, LazyLogs
from lamina.engine import tree
from lamina.engine.checks import advise, check_inputs, check_targets, warn_duplicates
from lamina.engine.compile_utils import (
    CompiledLoss,
    CompiledMetrics,
    MeanTracker,
    align_targets,
    flat_outputs,
)
from lamina.engine.data_adapter import (
    ArrayAdapter,
    DataAdapter,
    is_array_data,
    make_adapter,
    split_arrays,
)
from lamina.engine.layer import _CALL_STATE
from lamina.errors import LaminaWarning
from lamina.optimizers.kernels import _ForeachOptimizer

__all__ = ["Trainer"]


class Trainer:
    """Training methods mixed into :class:`lamina.Model`."""

    def __init__(self) -> None:
        self.optimizer: Any = None
        self.compiled = False
        self.stop_training = False
        self.history: History | None = None
        self._compiled_loss: CompiledLoss | None = None
        self._compiled_metrics: CompiledMetrics | None = None
        self._loss_tracker = MeanTracker("loss")
        # The part of the loss due to weight penalties and layer losses (add_loss), logged as
        # ``regularization_loss`` when there is one (it stays included in ``loss``).
        self._reg_tracker = MeanTracker("regularization_loss")
        self._jit_compile = False
        self._step_fn: Any = None
        self._reg_slots: list | None = None
        self._constrained = False
        self._loss_scaler: mixed_precision.LossScaler | None = None
        self._position = (0, 0)

    # ------------------------------------------------------------------ compile
    def compile(
        self,
        optimizer: Any = "rmsprop",
        loss: Any = None,
        metrics: Any = None,
        loss_weights: Any = None,
        weighted_metrics: Any = None,
        run_eagerly: bool = False,
        steps_per_execution: int = 1,
        jit_compile: bool | str = False,
    ) -> None:
        """Configure training: the optimizer, the loss(es) and the metrics.

        Args:
            optimizer: name (``"rmsprop"``) or optimizer object (lamina or ``torch.optim``).
            loss: name, function or ``Loss``; for several outputs a list or a dict by output name.
            metrics: list of names / metric objects; for several outputs a flat list (applied
                to every output), a list of lists, or a dict by output name.
            loss_weights: scalars weighting each output's loss in the total.
            weighted_metrics: metrics that take ``sample_weight`` / ``class_weight`` into account.
            jit_compile: ``True``: the optimizer update through ``torch.compile``, and on a
                GPU the forward pass and loss too; ``"all"``: the forward pass on CPU as well;
                ``False`` / ``"auto"``: eager. Each part compiles as one whole graph or falls
                back to eager with a warning.
        """
        from lamina import optimizers

        self.optimizer = optimizers.get(optimizer)
        self._compile_args = {
            "loss": loss,
            "metrics": metrics,
            "loss_weights": loss_weights,
            "weighted_metrics": weighted_metrics,
        }
        if loss is None:
            raise ValueError(
                "compile() needs a loss, e.g. loss='categorical_crossentropy'. See the table of "
                "problem types in the README for the usual choice."
            )
        self._compiled_loss = None
        self._compiled_metrics = None
        self._output_names_cache = None
        # Resolve names now so that a misspelled loss fails at compile, not at fit.
        if self.built:
            self._build_compiled()
        else:
            from lamina import losses as losses_mod

            for spec in tree.flatten(loss) if tree.is_nested(loss) else [loss]:
                if spec is not None:
                    losses_mod.get(spec)
        if jit_compile not in (True, False, "all", "auto"):
            raise ValueError(f"jit_compile must be True, False or 'all', got {jit_compile!r}.")
        self._jit_compile = "all" if jit_compile == "all" else jit_compile is True
        self._step_fn = None
        self.compiled = True
        self.stop_training = False

    def _build_compiled(self) -> None:
        if self._compiled_loss is not None:
            return
        args = self._compile_args
        names = self.output_names
        self._compiled_loss = CompiledLoss(args["loss"], args["loss_weights"], names)
        self._compiled_metrics = CompiledMetrics(args["metrics"], args["weighted_metrics"], names)

    @property
    def metrics_names(self) -> list[str]:
        """Names of the values ``evaluate`` returns, in order (``loss`` first)."""
        names = ["loss"]
        if self._compiled_loss is not None:
            names += self._compiled_loss.loss_names()
        if self._compiled_metrics is not None:
            names += self._compiled_metrics.names()
        return names

    @property
    def metrics(self) -> list[Any]:
        return [] if self._compiled_metrics is None else self._compiled_metrics.metrics

    # ------------------------------------------------------------------ preparation
    def _assert_compiled(self, what: str) -> None:
        if not self.compiled:
            raise RuntimeError(
                f"You must compile the model before calling {what}(): "
                "model.compile(optimizer='rmsprop', loss='...', metrics=[...])."
            )

    def _device(self) -> torch.device:
        for p in self.parameters():
            return p.device
        return config.get_device()

    def _prepare(self, adapter: DataAdapter, training: bool) -> None:
        """Move the model to its device, build it from the first batch, check the data."""
        device = self._target_device()
        if any(p.device != device for p in self.parameters()):
            self.to(device)
        mixed_precision.warn_if_emulated(device)
        first = adapter.peek()
        if first is None:
            raise ValueError("The data is empty: there is nothing to train on.")
        x, y, _ = first
        if not self.built:
            self._build_from_batch(x)
        check_inputs(self, x)
        self._build_compiled()
        self._reg_slots = self._regularized_weights()
        if training:
            params = [p for p in self.parameters() if p.requires_grad]
            if not params:
                raise ValueError(
                    f"Model '{self.name}' has no trainable weights (all layers frozen?): fit() "
                    "would change nothing."
                )
            self.optimizer.build(params)
            self._constrained = self._has_constraints()
            policy = mixed_precision.global_policy()
            if policy.compute_dtype != "float16":
                self._loss_scaler = None
            elif self._loss_scaler is None:
                self._loss_scaler = mixed_precision.LossScaler()
        if y is not None and (
            not self._compiled_metrics.built or isinstance(adapter, ArrayAdapter)
        ):
            y_pred = flat_outputs(self._probe(x))
            yt = align_targets(y, self._compiled_loss.output_names)
            check_targets(self, adapter, yt, y_pred)
            if not self._compiled_metrics.built:
                advise(self, yt, y_pred)
                self._compiled_metrics.build(yt, y_pred, self._compiled_loss.losses)

    def _probe(self, x: Any) -> Any:
        """A forward pass that only looks (shapes, the first predictions): inference mode, no
        gradients, and the states of stateful layers put back afterwards."""
        stateful = [m for m in self.modules() if getattr(m, "stateful", False)]
        saved = [getattr(m, "_states", None) for m in stateful]
        was_training = self.training
        self.eval()
        try:
            with torch.no_grad():
                return self(x, training=False)
        finally:
            self.train(was_training)
            for m, states in zip(stateful, saved):
                m._states = states

    def _build_from_batch(self, x: Any) -> None:
        shapes = tree.map_structure(lambda t: tuple(t.shape), x)
        device = next((t.device for t in tree.flatten(x) if torch.is_tensor(t)), None)
        self._maybe_build(shapes, device)
        if device is not None:
            self.to(device)  # before the probe, which runs on the data's device (layers the
            # probe builds on their first call are built on their input's device)
        self._probe(x)

    # ------------------------------------------------------------------ steps
    def _forward_loss(
        self, x: Any, y: Any, sw: Any, scale: float = 1.0
    ) -> tuple[torch.Tensor, torch.Tensor, list, list, list, torch.Tensor | None]:
        """Forward pass and loss. Returns the loss to differentiate (the data loss times
        ``scale``, which distributed training uses so that averaging the processes' gradients
        gives the global batch's gradient), the loss to log, the per-output parts, and the
        regularization term (None without one)."""
        module = self.__dict__.get("_ddp") or self
        yt = align_targets(y, self._compiled_loss.output_names)
        if mixed_precision.global_policy().is_mixed:
            with mixed_precision.autocast(self._device()):
                y_pred = flat_outputs(module(x, training=True))
                loss, parts = self._compiled_loss(yt, y_pred, sw)
            loss = loss.float()
        else:
            y_pred = flat_outputs(module(x, training=True))
            loss, parts = self._compiled_loss(yt, y_pred, sw)
        logged = loss
        if scale != 1.0:
            loss = loss * scale
        extra = self._extra_losses()
        if extra is not None:
            loss = loss + extra
            extra = extra.detach()
            logged = logged + extra
        return loss, logged, parts, yt, y_pred, extra

    def _extra_losses(self) -> torch.Tensor | None:
        """Weight penalties and losses added by layers during the forward pass."""
        total = None
        if self._reg_slots:
            for layer, name, reg in self._reg_slots:
                term = reg(layer._keras_view(name))
                total = term if total is None else total + term
        if _CALL_STATE.loss_layers:
            call_losses = [t for layer in _CALL_STATE.loss_layers for t in layer._call_losses]
            if call_losses:
                total = sum(call_losses) if total is None else total + sum(call_losses)
        return total

    def train_step(
        self, x: Any, y: Any, sw: Any, check_finite: bool = False, scale: float = 1.0
    ) -> Any:
        """One optimization step on a batch; returns the (device) loss.

        With ``check_finite`` a non-finite loss stops training before the update (returns
        ``None``), so the weights stay the last good ones. The trainer checks every step on CPU,
        where reading the loss costs no device synchronisation.
        """
        fn = self._step_fn or self._forward_loss
        loss, logged, parts, yt, y_pred, extra = fn(x, y, sw, scale)
        if check_finite:
            # On CPU reading the loss costs nothing; it also feeds the running mean.
            logged = logged.item()
            if not math.isfinite(logged):
                self._stop_for_nan(logged, *self._position)
                return None
        self.optimizer.zero_grad()
        scaler = self._loss_scaler
        if scaler is None:
            _backward(loss)
            self.optimizer.step()
        else:
            _backward(loss * scaler.scale)
            if scaler.unscale_and_check(self.optimizer._params):
                self.optimizer.step()
        if self._constrained:
            self._apply_constraints()
        n = _batch_size(x)
        self._loss_tracker.update(logged, n)
        if extra is not None:
            self._reg_tracker.update(extra, n)
        self._compiled_loss.update_trackers(parts, n)
        if self._compiled_metrics.entries:
            with torch.no_grad():
                self._compiled_metrics.update_state(yt, [p.detach() for p in y_pred], sw)
        return loss

    def test_step(self, x: Any, y: Any, sw: Any) -> None:
        yt = align_targets(y, self._compiled_loss.output_names)
        with mixed_precision.autocast(self._device()):
            y_pred = flat_outputs(self(x, training=False))
            loss, parts = self._compiled_loss(yt, y_pred, sw)
        if self._reg_slots:
            for layer, name, reg in self._reg_slots:
                loss = loss + reg(layer._keras_view(name))
        n = _batch_size(x)
        self._loss_tracker.update(loss, n)
        self._compiled_loss.update_trackers(parts, n)
        self._compiled_metrics.update_state(yt, y_pred, sw)

    def _maybe_compile_step(self) -> None:
        """``jit_compile``: compile the optimizer update (one fused pass over each weight
        instead of five; measured on CPU: W1 5.6 -> 4.9 ms/step), and the forward pass and
        loss too on CUDA or with ``jit_compile="all"`` (on CPU it measured slower than eager).
        A failure to compile falls back to eager execution with a warning."""
        if not self._jit_compile or self._step_fn is not None:
            return
        if self._jit_compile == "all" or self._device().type == "cuda":
            forward_loss = _own_code(self._forward_loss)
            self._step_fn = _CompiledOrEager(forward_loss, "the forward pass and loss")
        opt = getattr(self.optimizer, "torch_optimizer", None)
        if opt is None:
            return
        if isinstance(opt, _ForeachOptimizer):
            # lamina's kernels take the learning rate as a tensor: a new rate is no new graph.
            if opt._jit_update is None:
                update = _own_code(opt._update_all)
                opt._jit_update = _CompiledOrEager(update, "the optimizer update")
            return
        # torch.optim's own step holds the rate as a constant: a schedule changing it every
        # step would recompile every step, so that update stays eager.
        per_step_rate = callable(getattr(self.optimizer, "_learning_rate", None))
        if not per_step_rate and not isinstance(opt.step, _CompiledOrEager):
            opt.step = _CompiledOrEager(_own_code(opt.step), "the optimizer update")

    def _reset_metrics(self) -> None:
        self._loss_tracker.reset()
        self._reg_tracker.reset()
        for t in self._compiled_loss.trackers:
            t.reset()
        self._compiled_metrics.reset_state()

    def _results(self) -> dict[str, torch.Tensor]:
        out = {"loss": self._loss_tracker.result()}
        if self._reg_tracker.total is not None:
            out["regularization_loss"] = self._reg_tracker.result()
        for t in self._compiled_loss.trackers:
            out[t.name] = t.result()
        out.update(self._compiled_metrics.results())
        return out

    def _float_results(self) -> dict[str, float]:
        return {k: float(v) for k, v in self._results().items()}

    # ------------------------------------------------------------------ fit
    def fit(
        self,
        x: Any = None,
        y: Any = None,
        batch_size: int | None = None,
        epochs: int = 1,
        verbose: Any = "auto",
        callbacks: list[Callback] | None = None,
        validation_split: float = 0.0,
        validation_data: Any = None,
        shuffle: bool | str = True,
        class_weight: dict | None = None,
        sample_weight: Any = None,
        initial_epoch: int = 0,
        steps_per_epoch: int | None = None,
        validation_steps: int | None = None,
        validation_batch_size: int | None = None,
        validation_freq: int = 1,
        resume: bool | str | os.PathLike = False,
    ) -> History:
        """Train for ``epochs`` passes over the data; returns a :class:`History`.

        ``x`` may be arrays (then give ``y``), a dataset or a generator yielding ``(x, y)``
        batches. ``validation_split`` holds out the last fraction of array data (before
        shuffling); ``validation_data`` is ``(x_val, y_val)`` or a dataset.

        ``resume``: a folder: back the training state up there and, if a killed run left a
        backup, continue from it (the same as adding ``BackupAndRestore(folder)`` to
        ``callbacks``); ``True``: continue from the ``BackupAndRestore`` in ``callbacks``
        (an error if there is none).
        """
        self._assert_compiled("fit")
        callbacks = _with_resume(callbacks, resume)
        if not 0 <= validation_split < 1:
            raise ValueError(f"validation_split must be in [0, 1), got {validation_split}.")
        if validation_split and validation_data is None:
            if not is_array_data(x):
                raise ValueError(
                    "validation_split only works with array data; for a dataset or generator "
                    "pass validation_data=... instead."
                )
            (x, y, sample_weight), (vx, vy, vsw) = split_arrays(
                (x, y, sample_weight), validation_split
            )
            validation_data = (vx, vy, vsw)
        shard = _shard()
        if shard is not None and not distributed.is_main_process():
            verbose = 0
        adapter = make_adapter(
            x,
            y,
            sample_weight,
            batch_size=batch_size,
            steps=steps_per_epoch,
            shuffle=shuffle,
            class_weight=class_weight,
            device=self._target_device(),
            shard=shard,
        )
        val_adapter = None
        if validation_data is not None:
            val_adapter = _validation_adapter(
                validation_data,
                validation_batch_size or batch_size,
                validation_steps,
                shard,
                self._target_device(),
            )
            warn_duplicates(adapter, val_adapter)
        with _compute_context(every_thread=True), self._data_parallel(shard):
            self._prepare(adapter, training=True)
            if val_adapter is not None and not self._compiled_metrics.built:
                self._prepare(val_adapter, training=False)
            self._wrap_data_parallel(shard)
            self._maybe_compile_step()
            history = History()
            self.history = history
            cbs = _callback_list(
                callbacks,
                history,
                verbose,
                self,
                {
                    "epochs": epochs,
                    "steps": adapter.num_batches,
                    "verbose": verbose,
                    "mode": "fit",
                },
            )
            self.stop_training = False
            self._fit_callbacks = cbs.callbacks  # BackupAndRestore backs up their state
            self._initial_epoch_override = self._initial_step_override = None
            cbs.call("on_train_begin", None)
            if self._initial_epoch_override is not None:  # BackupAndRestore resumes
                initial_epoch = self._initial_epoch_override
            epoch_logs: dict[str, float] = {}
            check_every = 1 if self._device().type == "cpu" else 0
            for epoch in range(initial_epoch, epochs):
                try:
                    steps_done = self._fit_epoch(adapter, cbs, epoch, check_every)
                except KeyboardInterrupt:
                    self.eval()
                    history.stopped_reason = f"interrupted by the user in epoch {epoch + 1}"
                    warnings.warn(
                        f"Training interrupted by the user in epoch {epoch + 1}: the weights "
                        "are kept as they are and fit() returns the History so far.",
                        LaminaWarning,
                        stacklevel=2,
                    )
                    break
                adapter.on_epoch_end()
                cbs.params["steps_done"] = steps_done
                self._sync_metrics(shard)
                epoch_logs = self._float_results()
                if not check_every:
                    self._check_finite_logs(epoch_logs, epoch)
                if (
                    val_adapter is not None
                    and not self.stop_training
                    and (epoch + 1) % validation_freq == 0
                ):
                    val_logs = self._run_evaluation(val_adapter, cbs=cbs, shard=shard)
                    epoch_logs.update({f"val_{k}": v for k, v in val_logs.items()})
                lr = _current_lr(self.optimizer)
                if lr is not None and _lr_changes(self.optimizer):
                    epoch_logs["learning_rate"] = lr
                cbs.call("on_epoch_end", epoch, epoch_logs)
                if self.stop_training:
                    break
            self.eval()
            cbs.call("on_train_end", epoch_logs)
        return history

    def _fit_epoch(
        self, adapter: DataAdapter, cbs: CallbackList, epoch: int, check_every: int
    ) -> int:
        """One pass over the training data; returns the number of steps taken."""
        self._reset_metrics()
        cbs.call("on_epoch_begin", epoch, None)
        self.train()
        steps_done = 0
        want_begin = cbs.wants("on_train_batch_begin")
        want_end = cbs.wants("on_train_batch_end")
        # batches applied before a restart (BackupAndRestore)
        skip = getattr(self, "_initial_step_override", None) or 0
        self._initial_step_override = None
        batches = iter(adapter)
        step = 0
        while True:
            try:
                bx, by, bsw = next(batches)
            except StopIteration:
                break
            except Exception as e:
                _note(
                    e,
                    f"lamina: raised by the training data in epoch {epoch + 1}, batch "
                    f"{step + 1}; the model keeps the weights from the batch before.",
                )
                raise
            if step < skip:
                step += 1
                continue
            if want_begin:
                cbs.call("on_train_batch_begin", step, None)
            self.__dict__["_position"] = (epoch, step)  # (not a module attribute: cheap)
            loss = self.train_step(
                bx, by, bsw, check_finite=bool(check_every), scale=adapter.batch_scale
            )
            steps_done += 1
            if loss is None:
                break
            if want_end:
                cbs.call("on_train_batch_end", step, self._lazy_logs())
            if self.stop_training:
                break
            step += 1
        return steps_done

    # ------------------------------------------------------------------ distributed
    def _target_device(self) -> torch.device:
        return distributed.device() if distributed.is_distributed() else config.get_device()

    @contextlib.contextmanager
    def _data_parallel(self, shard: tuple[int, int] | None) -> Iterator[None]:
        """Remove the DistributedDataParallel wrapper and return to inference mode when fit
        ends, however it ends."""
        try:
            yield
        finally:
            self.__dict__.pop("_ddp", None)
            self.eval()

    def _wrap_data_parallel(self, shard: tuple[int, int] | None) -> None:
        if shard is None:
            return
        from torch.nn.parallel import DistributedDataParallel

        device = self._target_device()
        ids = [device.index] if device.type == "cuda" else None
        # Stored outside nn.Module's registry: the wrapper holds the model, not the reverse.
        self.__dict__["_ddp"] = DistributedDataParallel(self, device_ids=ids)

    def _sync_metrics(self, shard: tuple[int, int] | None) -> None:
        """Sum loss trackers and additive metric states over all processes."""
        if shard is None:
            return
        trackers = [self._loss_tracker, self._reg_tracker, *self._compiled_loss.trackers]
        trackers = [tr for tr in trackers if tr.total is not None]
        for tr in trackers:
            tr.total = torch.as_tensor(tr.total, dtype=torch.float64)
        counts = torch.tensor([tr.count for tr in trackers], dtype=torch.float64)
        tensors = [tr.total for tr in trackers] + [counts]
        for metric in self._compiled_metrics.metrics:
            if getattr(metric, "additive", True):
                tensors.extend(v for v in metric.variables if torch.is_tensor(v))
        distributed.all_reduce_sum(tensors)
        for tr, count in zip(trackers, counts.tolist()):
            tr.count = count

    def _stop_for_nan(self, value: float, epoch: int, step: int) -> None:
        msg = (
            f"The loss became {value} at epoch {epoch + 1}, batch {step + 1}: training stopped "
            "before applying that batch, so the weights are the last good ones. Usual causes: "
            "a learning rate that is too high, unnormalized inputs, or log(0) in a custom loss."
        )
        self.stop_training = True
        if self.history is not None:
            self.history.stopped_reason = msg
        warnings.warn(msg, LaminaWarning, stacklevel=3)

    def _check_finite_logs(self, logs: dict[str, float], epoch: int) -> None:
        if not math.isfinite(logs.get("loss", 0.0)):
            self._stop_for_nan(logs["loss"], epoch, -1)

    def _lazy_logs(self) -> LazyLogs:
        reg = ["regularization_loss"] if self._reg_tracker.total is not None else []
        names = ["loss", *reg, *self._compiled_loss.loss_names(), *self._compiled_metrics.names()]
        return LazyLogs(self._results, names)

    # ------------------------------------------------------------------ evaluate
    def _run_evaluation(
        self, adapter: DataAdapter, cbs: CallbackList | None, shard: tuple[int, int] | None = None
    ) -> dict[str, float]:
        was_training = self.training
        self.eval()
        # Metric state of the training epoch is kept aside while validating.
        saved = self._swap_trackers()
        try:
            self._reset_metrics()
            if cbs is not None:
                cbs.call("on_test_begin", None)
            want = cbs is not None and cbs.wants("on_test_batch_end")
            with torch.inference_mode():
                for step, (x, y, sw) in enumerate(adapter):
                    if y is None:
                        raise ValueError("evaluate() needs targets: pass y or (x, y) batches.")
                    if cbs is not None and cbs.wants("on_test_batch_begin"):
                        cbs.call("on_test_batch_begin", step, None)
                    self.test_step(x, y, sw)
                    if want:
                        cbs.call("on_test_batch_end", step, self._lazy_logs())
                self._sync_metrics(shard)
            logs = self._float_results()
            if cbs is not None:
                cbs.call("on_test_end", logs)
            return logs
        finally:
            self._restore_trackers(saved)
            self.train(was_training)

    def _swap_trackers(self) -> Any:
        import copy

        return (
            copy.copy(self._loss_tracker.__dict__),
            [copy.copy(t.__dict__) for t in (self._reg_tracker, *self._compiled_loss.trackers)],
            [_metric_state(m) for m in self._compiled_metrics.metrics],
        )

    def _restore_trackers(self, saved: Any) -> None:
        loss_state, part_states, metric_states = saved
        self._loss_tracker.__dict__.update(loss_state)
        for t, s in zip((self._reg_tracker, *self._compiled_loss.trackers), part_states):
            t.__dict__.update(s)
        for m, s in zip(self._compiled_metrics.metrics, metric_states):
            _restore_metric_state(m, s)

    def evaluate(
        self,
        x: Any = None,
        y: Any = None,
        batch_size: int | None = None,
        verbose: Any = "auto",
        sample_weight: Any = None,
        steps: int | None = None,
        callbacks: list[Callback] | None = None,
        return_dict: bool = False,
    ) -> Any:
        """Loss and metrics on the data: a scalar (loss only), a list in
        :attr:`metrics_names` order, or a dict with ``return_dict=True``."""
        self._assert_compiled("evaluate")
        adapter = make_adapter(x, y, sample_weight, batch_size=batch_size, steps=steps)
        with _compute_context():
            self._prepare(adapter, training=False)
            cbs = _callback_list(
                callbacks,
                None,
                verbose,
                self,
                {
                    "steps": adapter.num_batches,
                    "verbose": verbose,
                    "mode": "evaluate",
                },
            )
            logs = self._run_evaluation(adapter, cbs)
        if return_dict:
            return logs
        values = [logs[k] for k in self.metrics_names if k in logs]
        return values[0] if len(values) == 1 else values

    # ------------------------------------------------------------------ predict
    def predict(
        self,
        x: Any,
        batch_size: int | None = None,
        verbose: Any = "auto",
        steps: int | None = None,
        callbacks: list[Callback] | None = None,
    ) -> Any:
        """Outputs for the inputs ``x``, batched, without gradients, as NumPy arrays."""
        adapter = make_adapter(x, None, None, batch_size=batch_size, steps=steps, check=False)
        device = config.get_device()
        if any(p.device != device for p in self.parameters()):
            self.to(device)
        mixed_precision.warn_if_emulated(device)
        was_training = self.training
        self.eval()
        cbs = _callback_list(
            callbacks,
            None,
            0 if verbose == "auto" else verbose,
            self,
            {
                "steps": adapter.num_batches,
                "verbose": verbose,
                "mode": "predict",
            },
        )
        outputs = _Outputs(adapter.num_samples)
        plan = None  # the model's fast path for later batches, once the first has run
        want_begin = cbs.wants("on_predict_batch_begin")
        want_end = cbs.wants("on_predict_batch_end")
        autocast = mixed_precision.autocast(device)
        try:
            with _compute_context(), torch.inference_mode():
                cbs.call("on_predict_begin", None)
                for step, (bx, _, _) in enumerate(adapter):
                    if want_begin:
                        cbs.call("on_predict_batch_begin", step, None)
                    if not self.built:
                        self._build_from_batch(bx)
                    with autocast:
                        if plan is not None:
                            out = plan(bx)
                        else:
                            out = self(bx, training=False)
                            if step == 0 and adapter.num_batches != 1:
                                plan = self._inference_plan(bx)
                    outputs.add(out)
                    if want_end:
                        cbs.call("on_predict_batch_end", step, {"outputs": out})
                cbs.call("on_predict_end", None)
        finally:
            self.train(was_training)
        return outputs.result()

    def _inference_plan(self, batch: Any) -> Any:
        """A faster function for ``predict``'s later batches, or None: see
        ``Sequential._inference_plan``."""
        return None

    # ------------------------------------------------------------------ on_batch
    def train_on_batch(
        self,
        x: Any,
        y: Any = None,
        sample_weight: Any = None,
        class_weight: dict | None = None,
        return_dict: bool = False,
    ) -> Any:
        """One gradient update on one batch; returns the loss (and metrics) of that batch."""
        self._assert_compiled("train_on_batch")
        adapter = make_adapter(
            x, y, sample_weight, batch_size=_n_samples(x), class_weight=class_weight
        )
        with _compute_context():
            self._prepare(adapter, training=True)
            self._reset_metrics()
            self.train()
            for bx, by, bsw in adapter:
                self.train_step(bx, by, bsw)
            self.eval()
            logs = self._float_results()
        return _format_logs(logs, self.metrics_names, return_dict)

    def test_on_batch(
        self, x: Any, y: Any = None, sample_weight: Any = None, return_dict: bool = False
    ) -> Any:
        """Loss (and metrics) of the model on one batch, without updating it."""
        self._assert_compiled("test_on_batch")
        adapter = make_adapter(x, y, sample_weight, batch_size=_n_samples(x))
        with _compute_context():
            self._prepare(adapter, training=False)
            logs = self._run_evaluation(adapter, None)
        return _format_logs(logs, self.metrics_names, return_dict)

    def predict_on_batch(self, x: Any) -> Any:
        """Outputs for one batch, as NumPy arrays."""
        return self.predict(x, batch_size=_n_samples(x), verbose=0)

    # ------------------------------------------------------------------ saving shortcuts
    def save(self, filepath: str, overwrite: bool = True, include_optimizer: bool = True) -> None:
        """Save architecture, weights and optimizer state to a ``.lamina`` zip (no pickle)."""
        from lamina.saving import save_model

        save_model(self, filepath, overwrite=overwrite, include_optimizer=include_optimizer)

    def save_weights(self, filepath: str, overwrite: bool = True) -> None:
        """Save the weights only (safetensors; the architecture must be rebuilt in code)."""
        from lamina.saving import save_weights

        save_weights(self, filepath, overwrite=overwrite)

    def load_weights(self, filepath: str, skip_mismatch: bool = False) -> None:
        """Load weights saved by :meth:`save_weights` or :meth:`save`."""
        from lamina.saving import load_weights

        load_weights(self, filepath, skip_mismatch=skip_mismatch)


# ---------------------------------------------------------------------- helpers
# autograd's engine, as torch.autograd.backward reaches it after its Python checks.
_ENGINE = getattr(torch.autograd.Variable, "_execution_engine", None)


def _backward(loss: torch.Tensor) -> None:
    """``loss.backward()`` for the scalar loss of a training step. ``torch.autograd.backward``
    spends ~40 us of Python per call on checks that hold by construction here (one plain
    0-dim tensor with a graph) and on making its seed gradient (a trivial graph: 77-117 us
    through ``loss.backward()``, 37-56 us straight to the engine); anything else, such as a
    tensor subclass, goes through ``loss.backward()``."""
    if _ENGINE is None or type(loss) is not torch.Tensor or loss.grad_fn is None or loss.dim():
        loss.backward()
        return
    seed = torch.ones((), dtype=loss.dtype, device=loss.device)
    _ENGINE.run_backward(
        tensors=(loss,),
        grad_tensors=(seed,),
        keep_graph=False,
        create_graph=False,
        inputs=(),
        allow_unreachable=True,
        accumulate_grad=True,
    )


def _batch_size(x: Any) -> int:
    leaf = x if torch.is_tensor(x) else tree.flatten(x)[0]
    return int(leaf.shape[0])


def _n_samples(x: Any) -> int:
    leaf = x if hasattr(x, "shape") else tree.flatten(x)[0]
    return int(len(leaf))


def _validation_adapter(
    data: Any,
    batch_size: int | None,
    steps: int | None,
    shard: tuple[int, int] | None = None,
    device: torch.device | None = None,
) -> DataAdapter:
    if isinstance(data, (tuple, list)) and len(data) in (2, 3) and is_array_data(data[0]):
        vx, vy = data[0], data[1]
        vsw = data[2] if len(data) == 3 else None
        return make_adapter(
            vx, vy, vsw, batch_size=batch_size, steps=steps, shard=shard, device=device
        )
    return make_adapter(data, batch_size=batch_size, steps=steps, shard=shard, device=device)


def _shard() -> tuple[int, int] | None:
    """(rank, world size) when running under torchrun with several processes."""
    if distributed.initialize():
        return distributed.rank(), distributed.world_size()
    return None


def _callback_list(
    callbacks: list[Callback] | None,
    history: History | None,
    verbose: Any,
    model: Any,
    params: dict[str, Any],
) -> CallbackList:
    from lamina.callbacks.progbar import LineLogger, ProgbarLogger, progress_mode

    cbs = list(callbacks or [])
    if not distributed.is_main_process():
        # Callbacks that write files (checkpoints, logs) run on rank 0 only.
        cbs = [cb for cb in cbs if not getattr(cb, "main_process_only", False)]
    if history is not None:
        cbs.append(history)
    mode = progress_mode(verbose)
    if not any(isinstance(cb, LineLogger) for cb in cbs):
        if mode in ("bar", "notebook") and params.get("mode") == "fit":
            cbs.append(ProgbarLogger(notebook=mode == "notebook"))
        elif mode != "silent":
            cbs.append(LineLogger())
    # Callbacks that snapshot the others (BackupAndRestore) run after them in each hook.
    cbs.sort(key=lambda cb: bool(getattr(cb, "_runs_last", False)))
    return CallbackList(cbs, model=model, params=params)


def _current_lr(optimizer: Any) -> float | None:
    try:
        return float(optimizer.learning_rate)
    except (AttributeError, TypeError, ValueError):
        return None


def _lr_changes(optimizer: Any) -> bool:
    """Log the learning rate only when a schedule or a callback changes it (as Keras does)."""
    return bool(getattr(optimizer, "_lr_is_scheduled", False))


def _metric_state(metric: Any) -> dict[str, Any]:
    import copy

    return {
        k: (v.clone() if torch.is_tensor(v) else copy.copy(v)) for k, v in metric.__dict__.items()
    }


def _restore_metric_state(metric: Any, state: dict[str, Any]) -> None:
    metric.__dict__.update(state)


class _Outputs:
    """predict's outputs, written batch by batch into one buffer per output when the number of
    samples is known (in-memory data), else kept as a list and concatenated at the end.

    A list of small per-batch tensors fragments the heap: each is allocated while the batch's
    large temporaries are being freed, lands inside the hole one of them leaves and stays there
    until predict returns, so the next batch's buffers no longer fit the hole and the heap grows
    (W4b, an LSTM over 10,000 x 500 tokens: 8 MB more per batch, 125-700 MiB peak across runs
    against 81-119 for a hand-written loop). Copied into a buffer, each batch's output is freed at
    once; the final concatenation's copy is saved too."""

    def __init__(self, capacity: int | None):
        self.capacity = capacity or 0
        self.buffers: list[torch.Tensor] | None = None
        self.structure: Any = None
        self.filled = 0
        self.batches: list[Any] = []

    def add(self, out: Any) -> None:
        # (one tensor, as most models give: no tree walk)
        leaves = [out] if type(out) is torch.Tensor else tree.flatten(out)
        if self.buffers is None and not self.batches and self.capacity:
            if leaves and all(torch.is_tensor(t) and t.dim() > 0 for t in leaves):
                self.buffers = [
                    torch.empty((self.capacity, *t.shape[1:]), dtype=t.dtype, device=t.device)
                    for t in leaves
                ]
                self.structure = tree.map_structure(lambda _: 0, out)  # not the tensors
        if self.buffers is not None:
            n = leaves[0].shape[0] if leaves and torch.is_tensor(leaves[0]) else -1
            fits = (
                len(leaves) == len(self.buffers)
                and 0 <= n <= self.capacity - self.filled
                and all(
                    torch.is_tensor(t)
                    and t.shape[0] == n
                    and t.shape[1:] == b.shape[1:]
                    and t.dtype == b.dtype
                    for t, b in zip(leaves, self.buffers)
                )
            )
            if fits:
                for t, b in zip(leaves, self.buffers):
                    b[self.filled : self.filled + n].copy_(t)
                self.filled += n
                return
            # an output that does not fit the buffers (a model whose output shape changes with
            # the batch, more samples than announced): what was written becomes a list entry
            done = [b[: self.filled] for b in self.buffers]
            self.batches.append(tree.pack_sequence_as(self.structure, done))
            self.buffers = None
        self.batches.append(out)

    def result(self) -> Any:
        if self.buffers is not None:
            done = [b[: self.filled] for b in self.buffers]
            return _concat_outputs([tree.pack_sequence_as(self.structure, done)], owned=True)
        if not self.batches:
            raise ValueError("predict() received no data.")
        return _concat_outputs(self.batches)


def _concat_outputs(outputs: list[Any], owned: bool = False) -> Any:
    """Batches of outputs as NumPy arrays (16-bit floats from mixed precision as float32);
    ``owned``: ``outputs`` is one batch of buffers no one else holds, returned without a copy."""
    outputs = tree.map_structure(
        lambda t: (
            t.float() if torch.is_tensor(t) and t.dtype in (torch.float16, torch.bfloat16) else t
        ),
        outputs,
    )

    def cat(parts: list[torch.Tensor]) -> Any:
        # predict's own buffer is returned as it is; anything else is copied (a model output
        # can be the caller's array itself: an identity model given NumPy input)
        return (parts[0] if owned else torch.cat(parts)).cpu().numpy()

    first = outputs[0]
    if torch.is_tensor(first):
        return cat(outputs)
    if isinstance(first, dict):
        return {k: cat([o[k] for o in outputs]) for k in first}
    if isinstance(first, (list, tuple)):
        return [cat([o[i] for o in outputs]) for i in range(len(first))]
    return np.concatenate(outputs)


def _with_resume(callbacks: Any, resume: Any) -> Any:
    """``fit(resume=...)`` as a ``BackupAndRestore`` callback."""
    from lamina.callbacks import BackupAndRestore

    if resume is False or resume is None:
        return callbacks
    given = list(callbacks or [])
    backups = [cb for cb in given if isinstance(cb, BackupAndRestore)]
    if resume is True:
        if not backups:
            raise ValueError(
                "fit(resume=True) continues from a BackupAndRestore backup, but callbacks has "
                "none. Pass the folder instead, fit(..., resume='backups/run1'), or add "
                "callbacks=[lamina.callbacks.BackupAndRestore('backups/run1')]."
            )
        return callbacks
    if not isinstance(resume, (str, os.PathLike)):
        raise TypeError(
            f"resume must be True, False or a folder path, got {type(resume).__name__}."
        )
    if backups:
        raise ValueError(
            "fit(resume=<folder>) adds a BackupAndRestore callback, but callbacks already has "
            "one; keep one of the two."
        )
    return [*given, BackupAndRestore(resume)]


def _own_code(method: Any) -> Any:
    """``method`` bound to a copy of its function's code object. torch.compile keeps compiled
    graphs per code object, up to ``torch._dynamo.config.recompile_limit`` (8), and guards each
    on the identity of ``self``: without a copy, every model's update shares one cache, and
    the fifth model compiled in a process (a K-fold loop) found it full and ran eagerly."""
    import types

    fn = getattr(method, "__func__", None)
    if fn is None or not isinstance(fn, types.FunctionType):
        return method
    clone = types.FunctionType(
        fn.__code__.replace(), fn.__globals__, fn.__name__, fn.__defaults__, fn.__closure__
    )
    clone.__kwdefaults__ = fn.__kwdefaults__
    clone.__wrapped__ = fn  # type: ignore[attr-defined]
    return types.MethodType(clone, method.__self__)


class _CompiledOrEager:
    """``torch.compile(fn)``, falling back to ``fn`` (with a warning) if compiling fails; the
    first call's time, which includes compiling, is kept in ``compile_seconds``."""

    def __init__(self, fn: Any, what: str):
        self.eager = fn
        self.what = what
        # fullgraph: a graph break inside a layer's __call__ makes torch.compile (2.x) resume
        # the layer's forward with the caller's original keywords, losing the mask lamina
        # adds, so the result would be silently wrong. Whole graphs or eager, nothing between.
        self.compiled: Any = torch.compile(fn, fullgraph=True)
        self.compile_seconds: float | None = None

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if self.compiled is None:
            return self.eager(*args, **kwargs)
        if self.compile_seconds is not None:
            return self.compiled(*args, **kwargs)
        import time

        start = time.perf_counter()
        try:
            out = self.compiled(*args, **kwargs)
        except Exception as e:  # noqa: BLE001 - any compiler failure: run eagerly instead
            self.compiled = None
            warnings.warn(
                f"jit_compile: torch.compile could not compile {self.what} "
                f"({type(e).__name__}: {str(e).splitlines()[0][:200]}); running it eagerly.",
                LaminaWarning,
                stacklevel=3,
            )
            return self.eager(*args, **kwargs)
        self.compile_seconds = time.perf_counter() - start
        return out


def _handles_missing_values(model: Any) -> bool:
    """A model that starts with an Imputer takes NaN inputs on purpose."""
    return any(getattr(m, "handles_missing_values", False) for m in model.modules())


def _note(error: BaseException, text: str) -> None:
    """Add context to an exception that passes through the loop (Python 3.11+)."""
    if hasattr(error, "add_note"):
        error.add_note(text)


def _format_logs(logs: dict[str, float], names: list[str], return_dict: bool) -> Any:
    if return_dict:
        return logs
    values = [logs[k] for k in names if k in logs]
    return values[0] if len(values) == 1 else values


@contextlib.contextmanager
def _compute_context(every_thread: bool = False) -> Iterator[None]:
    """Settings that hold while lamina computes: denormals flushed (restored afterwards; with
    ``every_thread``, on torch's OpenMP threads too: ``lamina/engine/denormals.py``), and,
    once per process, malloc's thresholds raised (``lamina/engine/allocator.py``)."""
    from lamina.engine.allocator import tune_malloc
    from lamina.engine.denormals import flush_denormals

    tune_malloc()
    with flush_denormals(every_thread=every_thread):
        yield
