"""The benchmark suite (bench/) runs end to end in --smoke mode, and its bookkeeping is right:
FLOP count from the shapes, ratios of medians, skipped and failed contenders, machine load,
refusing a full run on a busy machine. It checks that the suite works, never a time."""

import json
import os
import subprocess
import sys
import time

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from bench import run as bench_run  # noqa: E402
from bench.harness import _failure, machine_load, summarize  # noqa: E402
from bench.workloads import REFERENCE, WORKLOADS  # noqa: E402
from bench.workloads.common import mlp_train_flops, num_steps, timing_result  # noqa: E402


def test_w1_flops_counted_from_the_shapes():
    # Forward 784x512 + 512x10 products; backward: both kernel gradients and the gradient
    # into the hidden layer (none into the pixels). Issue 5 quotes 98 GFLOP per epoch.
    per_sample = 2 * (784 * 512 + 512 * 10) + 2 * (784 * 512 + 512 * 10) + 2 * 512 * 10
    assert mlp_train_flops(1) == per_sample == 1_636_352
    assert mlp_train_flops(60000) == 60000 * per_sample
    assert round(mlp_train_flops(60000) / 1e9) == 98


def test_steps_and_timing_result():
    assert num_steps(60000, 128, None) == 469
    assert num_steps(25000, 128, 40) == 40
    assert num_steps(256, 128, 40) == 2
    # First epoch is the warm-up: its excess over the median timed epoch is the warm-up cost.
    res = timing_result([5.0, 1.0, 0.8], steps=10)
    assert res["ms_per_step"] == pytest.approx(80.0)
    assert res["warmup_extra_s"] == pytest.approx(5.0 - 0.9)


def test_summarize_ratios_and_notes():
    results = {
        "torch": [
            {"ms_per_step": 10.0, "peak_mb": 100.0},
            {"ms_per_step": 12.0, "peak_mb": 100.0},
            {"ms_per_step": 11.0, "peak_mb": 100.0},
        ],
        "lamina": [
            {"ms_per_step": 5.0, "peak_mb": 110.0},
            {"ms_per_step": 6.0, "peak_mb": 130.0},
            {"error": "boom"},
        ],
        "keras_jax": [{"skipped": "jax is not installed"}],
        "tf_keras": [{"error": "ImportError: no tf"}],
    }
    rows = {r["contender"]: r for r in summarize(results, "ms_per_step", "torch")}
    assert rows["torch"]["median"] == 11.0 and rows["torch"]["ratio"] == 1.0
    assert (rows["lamina"]["min"], rows["lamina"]["max"]) == (5.0, 6.0)
    assert rows["lamina"]["ratio"] == pytest.approx(5.5 / 11.0)
    assert rows["lamina"]["mem_ratio"] == pytest.approx(1.2)
    assert rows["lamina"]["failed_runs"] == 1
    assert rows["keras_jax"] == {"contender": "keras_jax", "skipped": "jax is not installed"}
    assert rows["tf_keras"]["error"] == "ImportError: no tf"


def test_failure_reports_the_exception_not_the_hint_after_it():
    stderr = (
        'Traceback (most recent call last):\n  File "x.py", line 1\n'
        "torch._dynamo.exc.TorchRuntimeError: RuntimeError when making fake tensor call\n"
        "Set TORCHDYNAMO_VERBOSE=1 for the internal stack trace\n"
    )
    proc = subprocess.CompletedProcess([], 1, "", stderr)
    assert _failure(proc) == {
        "error": "torch._dynamo.exc.TorchRuntimeError: RuntimeError when making fake tensor call"
    }
    assert _failure(subprocess.CompletedProcess([], 3, "", "")) == {"error": "exit status 3"}


def test_machine_load_sees_another_busy_process():
    # An orphaned busy loop is not this process's descendant: it must be reported.
    code = "import time\nt = time.time()\nwhile time.time() - t < 4: pass"
    launcher = subprocess.run(
        ["sh", "-c", f'{sys.executable} -c "{code}" >/dev/null 2>&1 & echo $!'],
        capture_output=True,
        text=True,
        check=True,
    )
    pid = launcher.stdout.strip()
    time.sleep(0.3)
    load = machine_load(1.0)
    assert load["cpus"] == os.cpu_count() and load["loadavg_1min"] >= 0
    assert any(f"[{pid}]" in p for p in load["busy_processes"]), load
    assert load["others_cpu_pct"] >= 5


def test_full_run_refuses_a_busy_machine(capsys):
    # A negative threshold makes any machine busy: the full run must refuse before running.
    assert bench_run.main(["--workloads", "W0", "--max-load", "-1"]) == 2
    assert "refusing to run" in capsys.readouterr().err


def test_unknown_workload_is_named():
    with pytest.raises(SystemExit, match=r"unknown workload\(s\) \['W9'\]"):
        bench_run.parse_args(["--workloads", "W9"])


@pytest.mark.slow
def test_smoke_suite_runs_every_workload(tmp_path):
    out = tmp_path / "smoke.json"
    proc = subprocess.run(
        [sys.executable, "-m", "bench", "--smoke", "--json", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "W1 matrix products: 98.2 GFLOP per 60,000-sample epoch" in proc.stdout
    report = json.loads(out.read_text())
    assert report["mode"] == "smoke" and report["machine"]["versions"]["torch"]
    assert report["matmul"]["gflops"] > 0
    assert set(report["workloads"]) == set(WORKLOADS)
    for key, w in report["workloads"].items():
        rows = {r["contender"]: r for r in w["rows"]}
        assert rows[REFERENCE]["median"] > 0 and rows[REFERENCE]["ratio"] == 1.0, key
        # lamina either ran or says why not (a layer that is not written yet).
        assert rows["lamina"].get("median", 0) > 0 or rows["lamina"].get("skipped"), (key, rows)


@pytest.mark.usefixtures("cpu_only")  # the script pins lamina to the CPU; set back after
def test_overhead_script_runs_and_reports_both_ratios(capsys):
    from bench import overhead

    ratios = overhead.main(["--rounds", "1"])
    assert set(ratios) == {"tiny predict, batch 8", "W1 MLP call loop, batch 128"}
    assert all(r > 0 for r in ratios.values())
    assert "ratio" in capsys.readouterr().out


def test_dense_layout_script_times_both_layouts_and_runs_the_fit_pairs(capsys):
    from bench import dense_layout

    io, oi = dense_layout.layout_times(8, 64, 10, calls=4)
    assert io > 0 and oi > 0
    dense_layout.run_fit(rounds=2, steps=2)
    out = capsys.readouterr().out
    assert "strides (1, 512)" in out  # W1's 512 -> 10 kernel is the transposed one
    assert "of 2 paired rounds" in out


def test_step_backward_script_compares_both_backward_paths(capsys):
    from bench import step_backward
    from lamina.engine import trainer

    engine = trainer._ENGINE
    step_backward.main(["--rounds", "1"])
    out = capsys.readouterr().out
    assert out.count("pairs favour it") == 2 and "W0: engine" in out and "W1: engine" in out
    assert trainer._ENGINE is engine  # restored


def _reference_and_lamina_outputs(workload: str, x):
    """The hand-written W4 reference's and lamina's predict on ``x``, with the same weights."""
    import torch

    import lamina
    from bench.workloads import keras_api, torch_run

    torch.manual_seed(0)
    ours = keras_api.build(lamina, workload)
    ours.predict(x[:1], verbose=0)  # builds the weights
    if workload == "W4a":
        ref = torch_run.MLP().eval()
        first, last = ref[0], ref[3]
        weights = [first.weight.T, first.bias, last.weight.T, last.bias]
    else:  # Keras's LSTM gates (i, f, c, o) are torch's (i, f, g, o); one bias for two
        ref = torch_run.LSTMNet().eval()
        lstm = ref.lstm
        weights = [
            ref.embed.weight,
            lstm.weight_ih_l0.T,
            lstm.weight_hh_l0.T,
            lstm.bias_ih_l0 + lstm.bias_hh_l0,
            ref.out.weight.T,
            ref.out.bias,
        ]
    ours.set_weights([t.detach().numpy() for t in weights])
    with torch.inference_mode():
        expected = torch_run.PREDICT_OUTPUT[workload](ref(torch.from_numpy(x))).numpy()
    return expected, ours.predict(x, verbose=0)


@pytest.mark.usefixtures("cpu_only")  # the reference runs on the CPU
def test_reference_predict_returns_what_keras_predict_returns():
    # W4's hand-written loop must compute the same outputs as the Keras models' predict
    # (probabilities, not the logits its training loss takes), with the same weights.
    import numpy as np

    rng = np.random.default_rng(0)
    expected, got = _reference_and_lamina_outputs("W4a", rng.random((64, 784), dtype=np.float32))
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
    assert np.allclose(expected.sum(axis=1), 1.0, atol=1e-5)
    tokens = rng.integers(0, 10000, (16, 40), dtype=np.int32)
    expected, got = _reference_and_lamina_outputs("W4b", tokens)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
    assert ((expected > 0) & (expected < 1)).all()


@pytest.mark.usefixtures("cpu_only")
@pytest.mark.filterwarnings("ignore:planted")  # the probe's warm-up fit, outside the count
def test_gpu_probe_counts_the_warnings_raised_under_lamina(capsys, monkeypatch):
    # The probe attributes every warning raised during fit / predict to lamina's lines (on
    # CUDA, sync-debug mode turns each host wait into one). Here a planted warning in the
    # loss tracker's update, once per step, must be counted 3 times for 3 steps.
    import warnings

    from bench import gpu_probe
    from lamina.engine import compile_utils

    real = compile_utils.MeanTracker.update

    def noisy(self, *args, **kwargs):
        warnings.warn("planted", UserWarning, stacklevel=1)
        return real(self, *args, **kwargs)

    monkeypatch.setattr(compile_utils.MeanTracker, "update", noisy)
    assert (
        gpu_probe.main(["--device", "cpu", "--steps", "3", "--workloads", "W1", "--times", ""]) == 0
    )
    out = capsys.readouterr().out
    assert "W1: warnings in fit (3 steps) + predict (4 batches): 3" in out
    assert "planted  @ engine/trainer.py:" in out  # the lamina line that called the update


@pytest.mark.usefixtures("cpu_only")  # the script pins lamina to the CPU; set back after
def test_predict_path_script_checks_agreement_and_times_three_contenders(capsys):
    from bench import predict_path

    runs, batches = predict_path.contenders(300)  # outputs compared inside
    assert set(runs) == {"lamina", "lamina, no fast path", "hand-written"} and batches == 3
    predict_path.main(["--rounds", "1", "--n", "300"])
    out = capsys.readouterr().out
    assert "ms per batch" in out and out.count("pairs favour it") == 2


def test_denormal_threads_script_measures_both_settings(capsys):
    from bench import denormal_threads
    from lamina.engine.denormals import _omp_parallel, denormals_flushed

    denormal_threads.main(["--rounds", "2"])
    out = capsys.readouterr().out
    if _omp_parallel() is None:
        assert "only the main thread" in out
        return
    assert "every thread:     1.00" in out and "fused Adam step" in out
    times = denormal_threads.fit_rounds(rounds=1, steps=2)
    assert set(times) == {"every thread", "main thread"}
    assert not denormals_flushed() and denormal_threads.flushed_fraction(1 << 16) == 0.0
