"""Data-parallel training under torchrun (2 CPU processes, gloo) matches one process."""

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

SCRIPT = textwrap.dedent(
    """
    import sys
    import numpy as np
    import lamina
    from lamina import layers

    out = sys.argv[1]
    lamina.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(100, 5)).astype("float32")
    y = (x @ rng.normal(size=(5, 1)) + 0.1).astype("float32")
    model = lamina.Sequential([
        layers.Dense(8, activation="tanh", input_shape=(5,)),
        layers.Dense(1),
    ])
    model.compile(optimizer=lamina.optimizers.SGD(0.05, momentum=0.9), loss="mse",
                  metrics=["mae"])
    xv = rng.normal(size=(30, 5)).astype("float32")
    history = model.fit(x, y, batch_size=16, epochs=3, shuffle=True, verbose=2,
                        validation_data=(xv, xv[:, :1]))
    if lamina.distributed.is_main_process():
        np.savez(out + ".npz", *model.get_weights())
        model.save(out + ".lamina")
        with open(out + ".history", "w") as f:
            f.write(repr(history.history))
    """
)


def _run(cmd, tmp_path):
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONHASHSEED="0")
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-4000:]
    return result


@pytest.mark.slow
def test_torchrun_two_processes_match_single_process(tmp_path):
    script = tmp_path / "train.py"
    script.write_text(SCRIPT)
    single = _run([sys.executable, str(script), str(tmp_path / "single")], tmp_path)
    dist = _run(
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            "--nproc_per_node=2",
            str(script),
            str(tmp_path / "dist"),
        ],
        tmp_path,
    )
    a = np.load(tmp_path / "single.npz")
    b = np.load(tmp_path / "dist.npz")
    for key in a.files:
        np.testing.assert_allclose(a[key], b[key], rtol=1e-5, atol=1e-6)
    # The logged values are global (summed over both processes), so the histories agree.
    h_single = eval((tmp_path / "single.history").read_text())
    h_dist = eval((tmp_path / "dist.history").read_text())
    for key in h_single:
        np.testing.assert_allclose(h_single[key], h_dist[key], rtol=1e-4)
    # Only rank 0 prints: three epoch lines, not six.
    assert dist.stdout.count("Epoch ") == 3 and single.stdout.count("Epoch ") == 3
    # The distributed checkpoint loads in a single process and predicts the same.
    import lamina

    model = lamina.models.load_model(str(tmp_path / "dist.lamina"))
    for w, key in zip(model.get_weights(), b.files):
        np.testing.assert_allclose(w, b[key], rtol=1e-6)
