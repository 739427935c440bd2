"""The benchmark workloads and contenders of issue 5, as data: sizes for each mode, which
contenders run, the caps that keep very slow contenders to a few steps, and why some pairs are
not run. No framework is imported here."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# Contender -> (module under bench/, function suffix). The first is the reference of every ratio.
CONTENDERS: dict[str, tuple[str, str]] = {
    "torch": ("workloads.torch_run", "torch"),
    "torch_compile": ("workloads.torch_run", "torch_compile"),
    "torch_malloc": ("workloads.torch_run", "torch_malloc"),
    "lamina": ("workloads.lamina_run", "lamina"),
    "lamina_jit": ("workloads.lamina_run", "lamina_jit"),
    "keras_jax": ("keras_contenders", "keras"),
    "keras_torch": ("keras_contenders", "keras"),
    "tf_keras": ("keras_contenders", "keras"),
}
REFERENCE = "torch"
SMOKE_CONTENDERS = ("torch", "lamina")
PEERS = ("keras_jax", "tf_keras")  # the fastest Keras lamina must match (issue 5)

_COMPILE_LOOP = (
    "torch.compile would unroll the 500-step Python loop (minutes of compile time); not measured"
)
_SLOW_RNN = {"steps": 2, "epochs": 1}  # Keras 3 on torch loops over timesteps in Python


@dataclass(frozen=True)
class Workload:
    """One row group of the results table."""

    key: str
    title: str
    batch: int
    sizes: dict[str, dict[str, Any]]  # mode ("smoke", "quick", "full") -> args
    unit: str = "ms/step"
    caps: dict[str, dict[str, Any]] = field(default_factory=dict)  # contender -> overrides
    not_run: dict[str, str] = field(default_factory=dict)  # contender -> why

    def args(self, mode: str, contender: str) -> dict[str, Any]:
        out = {"workload": self.key, "batch": self.batch, **self.sizes[mode]}
        if mode != "smoke":
            out.update(self.caps.get(contender, {}))
        return out


WORKLOADS: dict[str, Workload] = {
    w.key: w
    for w in [
        Workload(
            "W0",
            "W0 per-step overhead: Dense(16, relu) -> Dense(1), 8 features, SGD, MSE",
            32,
            {
                "smoke": {"n": 320, "epochs": 1},
                "quick": {"n": 3200, "epochs": 2},
                "full": {"n": 9600, "epochs": 3},
            },
        ),
        Workload(
            "W1",
            "W1 seed MLP: Dense(512, relu) -> Dropout(0.5) -> Dense(10, softmax), RMSprop, "
            "60,000 x 784",
            128,
            {
                "smoke": {"n": 512, "epochs": 1},
                "quick": {"n": 6400, "epochs": 2},
                "full": {"n": 60000, "epochs": 2},
            },
        ),
        Workload(
            "W2",
            "W2 Embedding(10000, 32) -> LSTM(32) -> Dense(1, sigmoid), 25,000 x 500 tokens",
            128,
            {
                "smoke": {"n": 256, "seq_len": 20, "epochs": 1},
                "quick": {"n": 2560, "steps": 5, "epochs": 1},
                "full": {"n": 25000, "steps": 30, "epochs": 2},
            },
            caps={"keras_torch": _SLOW_RNN},
        ),
        Workload(
            "W3",
            "W3 Embedding(10000, 128) -> Conv1D(32, 7) -> MaxPooling1D(5) -> Conv1D(32, 7) -> "
            "GlobalMaxPooling1D -> Dense(1), 25,000 x 500 tokens",
            128,
            {
                "smoke": {"n": 256, "seq_len": 64, "epochs": 1},
                "quick": {"n": 2560, "steps": 10, "epochs": 1},
                "full": {"n": 25000, "steps": 20, "epochs": 2},
            },
        ),
        Workload(
            "W4a",
            "W4a predict, W1's MLP, 10,000 samples",
            128,
            {
                "smoke": {"n": 512, "epochs": 1},
                "quick": {"n": 2560, "epochs": 2},
                "full": {"n": 10000, "epochs": 6},
            },
            unit="ms/batch",
            not_run={"lamina_jit": "jit_compile compiles the training step only"},
        ),
        Workload(
            "W4b",
            "W4b predict, W2's LSTM, 10,000 x 500 tokens",
            128,
            {
                "smoke": {"n": 256, "seq_len": 20, "epochs": 1},
                "quick": {"n": 1280, "epochs": 1},
                "full": {"n": 10000, "epochs": 4},
            },
            unit="ms/batch",
            caps={"keras_torch": {"n": 256, "epochs": 1}},
            not_run={"lamina_jit": "jit_compile compiles the training step only"},
        ),
        Workload(
            "W5",
            "W5 Embedding(10000, 32) -> GRU(32, recurrent_dropout=0.2) -> Dense(1, sigmoid), "
            "25,000 x 500 tokens (reference path)",
            128,
            {
                "smoke": {"n": 128, "seq_len": 20, "epochs": 1},
                "quick": {"n": 1280, "steps": 3, "epochs": 1},
                "full": {"n": 25000, "steps": 8, "epochs": 2},
            },
            caps={"keras_torch": _SLOW_RNN},
            not_run={
                "torch_compile": _COMPILE_LOOP,
                "lamina_jit": _COMPILE_LOOP,
                "torch_malloc": "small per-timestep buffers: malloc's settings do not apply",
            },
        ),
    ]
}
