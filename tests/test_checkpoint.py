"""Checkpoints: resume gives the uninterrupted result; signals save; bad files are refused."""

import signal
import subprocess
import sys
import tempfile

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import assert_trees_close

import jaxnet

# Resuming runs the same compiled programs on the same inputs (XLA on the CPU
# is deterministic), so the parameters must be bit for bit the same.
RESUME_RTOL = 0.0


def _setup(sample, dtype=jnp.float64, sizes=(784, 20, 10)):
    params = jaxnet.init_params(jax.random.PRNGKey(0), list(sizes), dtype=dtype)
    kw = dict(eta=0.5, batch_size=10, x_scale=1 / 256, lmbda=1.0,
              model=jaxnet.Model.dense(jaxnet.layer_sizes(params), cost="cross_entropy"),
              momentum=0.3, eval_data=(sample.test.images[:200], sample.test.labels[:200]),
              schedule=1)
    return params, sample.train.images[:300], sample.train.labels[:300], kw


def test_resume_equals_the_uninterrupted_run(sample, tmp_path):
    params, x, labels, kw = _setup(sample)
    key = jax.random.PRNGKey(7)
    full = jaxnet.fit(key, params, x, labels, epochs=4, **kw)
    ck = tmp_path / "ck.npz"
    first = jaxnet.fit(key, params, x, labels, epochs=2, checkpoint=ck, **kw)
    assert len(first.history) == 2 and ck.exists()
    rest = jaxnet.fit(key, params, x, labels, epochs=4, checkpoint=ck, resume=True, **kw)
    assert_trees_close(rest.params, full.params, RESUME_RTOL, "params")
    assert_trees_close(rest.velocity, full.velocity, RESUME_RTOL, "velocity")
    assert [r.correct for r in rest.history] == [r.correct for r in full.history]
    assert [r.eta for r in rest.history] == [r.eta for r in full.history]  # schedule state kept


@pytest.mark.parametrize("change, match", [
    (dict(sizes=(784, 21, 10)), r"sizes: checkpoint \[784, 20, 10\], this run \[784, 21, 10\]"),
    (dict(dtype=jnp.float32), "dtype: checkpoint 'float64', this run 'float32'"),
    (dict(eta=0.4), "eta: checkpoint 0.5, this run 0.4"),
])
def test_a_checkpoint_of_another_run_is_refused(sample, tmp_path, change, match):
    params, x, labels, kw = _setup(sample)
    ck = tmp_path / "ck.npz"
    jaxnet.fit(jax.random.PRNGKey(7), params, x, labels, epochs=1, checkpoint=ck, **kw)
    params2, _, _, kw2 = _setup(sample, dtype=change.get("dtype", jnp.float64),
                                sizes=change.get("sizes", (784, 20, 10)))
    kw = dict(kw, eta=change.get("eta", kw["eta"]), model=kw2["model"])
    with pytest.raises(jaxnet.CheckpointError, match=match):
        jaxnet.fit(jax.random.PRNGKey(7), params2, x, labels, epochs=2, checkpoint=ck,
                   resume=True, **kw)


def test_a_corrupt_checkpoint_is_refused_and_a_failed_save_keeps_the_old_one(sample, tmp_path,
                                                                             monkeypatch):
    params, x, labels, kw = _setup(sample)
    ck = tmp_path / "ck.npz"
    jaxnet.fit(jax.random.PRNGKey(7), params, x, labels, epochs=1, checkpoint=ck, **kw)
    good = ck.read_bytes()

    def dies(*a, **k):
        raise OSError("disk full")
    monkeypatch.setattr(np, "savez", dies)
    with pytest.raises(OSError, match="disk full"):
        jaxnet.fit(jax.random.PRNGKey(7), params, x, labels, epochs=2, checkpoint=ck,
                   resume=True, **kw)
    monkeypatch.undo()
    assert ck.read_bytes() == good and [p.name for p in tmp_path.iterdir()] == ["ck.npz"]
    ck.write_bytes(good[: len(good) // 2])
    with pytest.raises(jaxnet.CheckpointError, match="not a readable jaxnet checkpoint"):
        jaxnet.fit(jax.random.PRNGKey(7), params, x, labels, epochs=2, checkpoint=ck,
                   resume=True, **kw)


def _cli(*args):
    return [sys.executable, "-m", "jaxnet", "train", "--data", "sample", "--sizes", "784,20,10",
            "--epochs", "40", "--eta", "0.5", "--cost", "cross-entropy", "--momentum", "0.2",
            "--progress", "never", *map(str, args)]


@pytest.mark.parametrize("sig, code", [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_a_signal_saves_and_resume_finishes_identically(tmp_path, sig, code):
    ck, a, b = tmp_path / "ck.npz", tmp_path / "resumed.npz", tmp_path / "straight.npz"
    p = subprocess.Popen(_cli("--checkpoint", ck, "--save", a), stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, cwd=tempfile.gettempdir())
    for line in p.stdout:
        if line.startswith("Epoch 1:"):
            p.send_signal(sig)
            break
    out, err = p.communicate(timeout=600)
    assert p.returncode == code, err
    assert f"interrupted by {sig.name}" in err and "Traceback" not in err
    assert ck.exists() and not a.exists()
    r = subprocess.run(_cli("--checkpoint", ck, "--resume", "--save", a), capture_output=True,
                       text=True, timeout=600, cwd=tempfile.gettempdir())
    assert r.returncode == 0, r.stderr
    assert "Epoch 0:" not in r.stdout and "Epoch 39:" in r.stdout  # continued, not restarted
    r = subprocess.run(_cli("--save", b), capture_output=True, text=True, timeout=600,
                       cwd=tempfile.gettempdir())
    assert r.returncode == 0, r.stderr
    assert_trees_close(jaxnet.load_params(a), jaxnet.load_params(b), RESUME_RTOL, "resumed")
