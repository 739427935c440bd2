"""Denormals are flushed to zero while fit / evaluate / predict compute (fit: on every thread
of torch's OpenMP team; evaluate / predict: on the calling thread), and each thread's setting
is back afterwards."""

import numpy as np
import pytest
import torch

from lamina import Input, Sequential, callbacks, layers
from lamina.engine.denormals import denormals_flushed, flush_denormals

DENORMAL_BITS = 0x000AE398  # float32 ~1e-39, below the smallest normal number (~1.18e-38)


@pytest.fixture(autouse=True)
def user_setting_off():
    torch.set_flush_denormal(False)
    yield
    torch.set_flush_denormal(False)


def _denormals(n: int) -> torch.Tensor:
    """``n`` float32 denormals made from their bits (converting the number 1e-39 to float32 on
    a thread that flushes would already give 0, and the product would show nothing)."""
    return torch.full((n,), DENORMAL_BITS, dtype=torch.int32).view(torch.float32)


def _single_threaded_product() -> float:
    """A denormal times one, computed on this thread (one element: no worker threads)."""
    return float(_denormals(1) * 1.0)


def test_the_probe_reads_what_an_operation_does():
    assert not denormals_flushed() and _single_threaded_product() > 0
    torch.set_flush_denormal(True)
    assert denormals_flushed() and _single_threaded_product() == 0


def test_the_context_flushes_and_restores_either_setting():
    with flush_denormals():
        assert _single_threaded_product() == 0
    assert not denormals_flushed()
    torch.set_flush_denormal(True)
    with flush_denormals():
        assert denormals_flushed()
    assert denormals_flushed()  # the caller's True stays
    torch.set_flush_denormal(False)
    with flush_denormals(enabled=False):
        assert not denormals_flushed()


class _Probe(callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.seen = {}

    def _note(self, mode):
        self.seen.setdefault(mode, set()).add(
            (denormals_flushed(), _single_threaded_product() == 0)
        )

    def on_train_batch_end(self, batch, logs=None):
        self._note("fit")

    def on_test_batch_end(self, batch, logs=None):
        self._note("evaluate")

    def on_predict_batch_end(self, batch, logs=None):
        self._note("predict")


def test_fit_evaluate_and_predict_flush_while_they_run_then_restore():
    model = Sequential([Input((3,)), layers.Dense(2)])
    model.compile("sgd", "mse")
    x, y = np.random.default_rng(0).normal(size=(8, 3)).astype("float32"), np.zeros((8, 2))
    val = (np.random.default_rng(1).normal(size=(4, 3)).astype("float32"), np.zeros((4, 2)))
    probe = _Probe()
    model.fit(x, y, batch_size=4, epochs=1, validation_data=val, verbose=0, callbacks=[probe])
    assert not denormals_flushed()
    model.evaluate(x, y, batch_size=4, verbose=0, callbacks=[probe])
    assert not denormals_flushed()
    model.predict(x, batch_size=4, verbose=0, callbacks=[probe])
    assert not denormals_flushed() and _single_threaded_product() > 0
    assert probe.seen == {mode: {(True, True)} for mode in ("fit", "evaluate", "predict")}


def test_a_failing_fit_still_restores_the_setting():
    class Fails(callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            raise RuntimeError("stop here")

    model = Sequential([Input((3,)), layers.Dense(2)])
    model.compile("sgd", "mse")
    with pytest.raises(RuntimeError, match="stop here"):
        model.fit(np.ones((4, 3)), np.zeros((4, 2)), verbose=0, callbacks=[Fails()])
    assert not denormals_flushed()


# ------------------------------------------------------------------ torch's other threads
def _flushed_fraction(n: int = 1 << 22) -> float:
    """The fraction of ``n`` denormals times 1.0001 that comes out as zero, computed by torch
    across its threads."""
    return float((_denormals(n) * 1.0001 == 0).float().mean())


def _needs_worker_threads():
    from lamina.engine.denormals import _omp_parallel

    if torch.get_num_threads() < 2 or _omp_parallel() is None:
        pytest.skip("needs torch on libgomp with 2 threads or more")


def test_the_calling_thread_alone_leaves_part_of_a_parallel_product():
    _needs_worker_threads()
    assert _flushed_fraction() == 0.0
    torch.set_flush_denormal(True)
    assert 0.0 < _flushed_fraction() < 1.0  # the other threads' share is not flushed


def test_fit_flushes_every_thread_and_restores_each_threads_setting():
    _needs_worker_threads()
    seen = []

    class Fraction(callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            seen.append(_flushed_fraction())

    model = Sequential([Input((3,)), layers.Dense(2)])
    model.compile("sgd", "mse")
    x = np.random.default_rng(0).normal(size=(8, 3)).astype("float32")
    val = (np.random.default_rng(1).normal(size=(4, 3)).astype("float32"), np.zeros((4, 2)))
    # two epochs with a validation pass between: evaluate inside fit keeps the setting
    model.fit(
        x, np.zeros((8, 2)), batch_size=4, epochs=2, validation_data=val, verbose=0,
        callbacks=[Fraction()],
    )  # fmt: skip
    assert seen == [1.0] * 4
    assert _flushed_fraction() == 0.0  # every thread back to the caller's "off"
    torch.set_flush_denormal(True)  # the caller flushes its own thread only
    partial = _flushed_fraction()
    model.fit(x, np.zeros((8, 2)), batch_size=4, epochs=1, verbose=0)
    assert denormals_flushed() and _flushed_fraction() == partial  # restored thread by thread


def test_nested_every_thread_contexts_keep_the_outer_one():
    _needs_worker_threads()
    with flush_denormals(every_thread=True):
        with flush_denormals(every_thread=True):
            assert _flushed_fraction() == 1.0
        assert _flushed_fraction() == 1.0
    assert _flushed_fraction() == 0.0


def test_without_the_runtime_only_the_calling_thread_is_set(monkeypatch):
    from lamina.engine import denormals

    monkeypatch.setattr(denormals, "_omp_parallel", lambda: None)
    with flush_denormals(every_thread=True):
        assert denormals_flushed()
    assert not denormals_flushed()


def test_the_probe_works_when_lamina_was_imported_while_flushing():
    # The probe's denormal is made from its bits: a float32 made from the number 1e-39 at
    # import, on a thread that flushed then, was 0 and the probe said "flushed" ever after.
    import importlib

    from lamina.engine import denormals

    torch.set_flush_denormal(True)
    importlib.reload(denormals)
    torch.set_flush_denormal(False)
    assert not denormals.denormals_flushed()
    torch.set_flush_denormal(True)
    assert denormals.denormals_flushed()
