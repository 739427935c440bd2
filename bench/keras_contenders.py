"""The Keras contenders: Keras 3 on JAX, Keras 3 on torch, tf.keras 2.

Each runs in its own subprocess, started by ``bench/run.py`` with the environment that picks the
flavour before Keras is imported: ``KERAS_BACKEND=jax`` or ``torch`` for Keras 3;
``LAMINA_BENCH_KERAS=tf_keras`` with ``TF_USE_LEGACY_KERAS=1`` (and the interpreter named by
``LAMINA_BENCH_TF_PYTHON``, a separate environment with ``tensorflow`` and ``tf_keras``) for
tf.keras 2. The models are those of ``bench/workloads/keras_api.py``, shared with lamina, and run
with Keras's defaults (Keras 3 on JAX compiles the step with XLA; on torch it runs eagerly).
"""

from __future__ import annotations

import os
from typing import Any

from bench.harness import Skip
from bench.workloads import keras_api


def _import_keras() -> Any:
    flavour = os.environ.get("LAMINA_BENCH_KERAS", "keras")
    try:
        if flavour == "tf_keras":
            import tf_keras as keras  # noqa: I001 - with TF_USE_LEGACY_KERAS=1 set by the runner
        else:
            import keras
    except ImportError as e:
        raise Skip(f"{flavour} is not installed here ({e})") from e
    return keras


def run_keras(args: dict) -> dict:
    """Train or predict ``args['workload']`` with the Keras flavour this process was started for."""
    keras = _import_keras()
    keras.utils.set_random_seed(0)
    out = keras_api.run(keras, args)
    backend = keras.backend.backend() if hasattr(keras.backend, "backend") else "tensorflow"
    out["info_keras"] = f"{keras.__name__} {keras.__version__} ({backend})"
    return out
