"""Fixtures for the callback tests.

``keras_trainer`` runs a test against the trainer with the changes the callbacks ask of it
(proposed for ``engine/trainer.py``; see ``TRAINER_PATCH`` below) until they land there:
``BackupAndRestore`` can move the starting epoch / batch and runs after the other callbacks,
and ``fit`` / ``evaluate`` / ``predict`` call every Keras hook (test hooks during validation,
``on_test_batch_begin``, ``on_predict_batch_begin``). Once ``trainer.py`` has them the
fixture changes nothing.
"""

from __future__ import annotations

import inspect
from typing import Any

import numpy as np
import pytest

from lamina.engine import trainer as trainer_module

# (old text, new text): each old text must occur exactly once in engine/trainer.py.
TRAINER_PATCH = [
    (
        '            cbs.call("on_train_begin", None)\n',
        "            self._fit_callbacks = cbs.callbacks  # BackupAndRestore backs up their state\n"
        "            self._initial_epoch_override = self._initial_step_override = None\n"
        '            cbs.call("on_train_begin", None)\n'
        "            if self._initial_epoch_override is not None:  # BackupAndRestore resumes\n"
        "                initial_epoch = self._initial_epoch_override\n",
    ),
    (
        '        want_end = cbs.wants("on_train_batch_end")\n',
        '        want_end = cbs.wants("on_train_batch_end")\n'
        "        # batches applied before a restart (BackupAndRestore)\n"
        '        skip = getattr(self, "_initial_step_override", None) or 0\n'
        "        self._initial_step_override = None\n",
    ),
    (
        "            if want_begin:\n"
        '                cbs.call("on_train_batch_begin", step, None)\n',
        "            if step < skip:\n"
        "                step += 1\n"
        "                continue\n"
        "            if want_begin:\n"
        '                cbs.call("on_train_batch_begin", step, None)\n',
    ),
    (
        "    return CallbackList(cbs, model=model, params=params)\n",
        "    # Callbacks that snapshot the others (BackupAndRestore) run after them in each hook.\n"
        '    cbs.sort(key=lambda cb: bool(getattr(cb, "_runs_last", False)))\n'
        "    return CallbackList(cbs, model=model, params=params)\n",
    ),
    (
        "self._run_evaluation(val_adapter, cbs=None",
        "self._run_evaluation(val_adapter, cbs=cbs",
    ),
    (
        "                    self.test_step(x, y, sw)\n",
        '                    if cbs is not None and cbs.wants("on_test_batch_begin"):\n'
        '                        cbs.call("on_test_batch_begin", step, None)\n'
        "                    self.test_step(x, y, sw)\n",
    ),
    (
        "                for step, (bx, _, _) in enumerate(adapter):\n",
        "                for step, (bx, _, _) in enumerate(adapter):\n"
        '                    if cbs.wants("on_predict_batch_begin"):\n'
        '                        cbs.call("on_predict_batch_begin", step, None)\n',
    ),
]


def patched_source() -> str:
    """engine/trainer.py with TRAINER_PATCH applied (the text the report proposes)."""
    source = inspect.getsource(trainer_module)
    for old, new in TRAINER_PATCH:
        count = source.count(old)
        if count != 1:
            raise AssertionError(
                f"engine/trainer.py changed: {old.strip()!r} occurs {count} times; update "
                "TRAINER_PATCH in tests/callbacks/conftest.py."
            )
        source = source.replace(old, new)
    return source


@pytest.fixture
def keras_trainer(monkeypatch):
    if "_initial_epoch_override" in inspect.getsource(trainer_module):
        yield  # the patch has landed
        return
    namespace = {"__name__": "lamina.engine._trainer_patched", "__file__": trainer_module.__file__}
    exec(compile(patched_source(), trainer_module.__file__, "exec"), namespace)  # noqa: S102
    patched = namespace["Trainer"]
    for name in ("fit", "_fit_epoch", "_run_evaluation", "predict"):
        monkeypatch.setattr(trainer_module.Trainer, name, patched.__dict__[name])
    yield


# ---------------------------------------------------------------------- small models and data
@pytest.fixture
def data():
    """40 training samples (5 batches of 8) and 12 validation samples, 4 features."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 4)).astype("float32")
    y = (x @ np.array([[1.0], [-2.0], [0.5], [0.0]], dtype="float32") + 0.1).astype("float32")
    xv = rng.normal(size=(12, 4)).astype("float32")
    yv = (xv @ np.array([[1.0], [-2.0], [0.5], [0.0]], dtype="float32") + 0.1).astype("float32")
    return x, y, xv, yv


def make_model(seed: int = 0, dropout: float = 0.0, optimizer: Any = "sgd") -> Any:
    """A small regression MLP, seeded so that the same seed gives the same weights."""
    from lamina import Sequential, layers
    from lamina.utils import set_random_seed

    set_random_seed(seed)
    stack = [layers.Dense(8, activation="relu", input_shape=(4,))]
    if dropout:
        stack.append(layers.Dropout(dropout))
    stack.append(layers.Dense(1))
    model = Sequential(stack)
    model.compile(optimizer=optimizer, loss="mse", metrics=["mae"])
    return model


@pytest.fixture
def model_factory():
    return make_model
