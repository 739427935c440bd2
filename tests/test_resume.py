"""A training process killed with SIGKILL mid-epoch, restarted with the same script and the
same BackupAndRestore folder, finishes with the weights of a run that was never killed."""

import os
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pytest

SCRIPT = textwrap.dedent(
    """
    import os, signal, sys
    import numpy as np
    import lamina
    from lamina import layers

    backup_dir, out, kill_at = sys.argv[1], sys.argv[2], sys.argv[3]
    lamina.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(96, 6)).astype("float32")
    y = (x @ rng.normal(size=(6, 1))).astype("float32")
    model = lamina.Sequential([
        layers.Dense(16, activation="relu", input_shape=(6,)),
        layers.Dropout(0.2),
        layers.Dense(1),
    ])
    model.compile(optimizer="adam", loss="mse")

    class Killer(lamina.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.epoch = epoch

        def on_train_batch_end(self, batch, logs=None):
            if kill_at != "none" and (self.epoch, batch) == tuple(map(int, kill_at.split(","))):
                os.kill(os.getpid(), signal.SIGKILL)  # no cleanup, no atexit: a real crash

    callbacks = [lamina.callbacks.BackupAndRestore(backup_dir, save_freq=2), Killer()]
    model.fit(x, y, batch_size=8, epochs=4, shuffle=True, verbose=0, callbacks=callbacks)
    np.savez(out, *model.get_weights())
    """
)


def _run(script, *args):
    env = dict(os.environ, OMP_NUM_THREADS="1")
    return subprocess.run(
        [sys.executable, str(script), *map(str, args)],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )


@pytest.mark.slow
@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")
def test_sigkill_mid_epoch_then_restart_equals_uninterrupted(tmp_path):
    script = tmp_path / "train.py"
    script.write_text(SCRIPT)
    reference = _run(script, tmp_path / "ref_backup", tmp_path / "ref.npz", "none")
    assert reference.returncode == 0, reference.stderr
    killed = _run(script, tmp_path / "backup", tmp_path / "out.npz", "2,6")
    assert killed.returncode == -signal.SIGKILL
    assert not (tmp_path / "out.npz").exists()
    assert (tmp_path / "backup" / "backup.safetensors").exists()
    resumed = _run(script, tmp_path / "backup", tmp_path / "out.npz", "none")
    assert resumed.returncode == 0, resumed.stderr
    a, b = np.load(tmp_path / "ref.npz"), np.load(tmp_path / "out.npz")
    for key in a.files:
        np.testing.assert_allclose(a[key], b[key], rtol=1e-6, atol=1e-7)
    # A completed run deletes its backup.
    assert not (tmp_path / "backup" / "backup.safetensors").exists()
