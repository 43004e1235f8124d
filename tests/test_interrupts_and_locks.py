"""One writer per checkpoint (a lock naming the other process, none left by kill -9), and
interrupts (Ctrl-C is one line and exit 130, a second one stops at once, and an output
is written whole or not at all): real processes, signalled at controlled points."""

import json
import os
import signal
import subprocess
import sys
import threading
import time

import jax
import numpy as np
import pytest

import jaxnet
from jaxnet.train import CheckpointError

TIMEOUT = 240   # generous: a loaded two-core machine


def _train(*flags):
    return [sys.executable, "-m", "jaxnet", "train", "--data", "sample", "--progress", "never",
            "--compile-cache", "none", *flags]


def _start(*flags, cwd):
    return subprocess.Popen(_train(*flags), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, cwd=cwd)


def _wait_for_line(p, prefix: str) -> str:
    """Reads ``p``'s stdout until a line starting with ``prefix`` (the process's own pace,
    however loaded the machine)."""
    for line in p.stdout:
        if line.startswith(prefix):
            return line
    raise AssertionError(f"the run ended before printing {prefix!r}: {p.stderr.read()}")


def _finish(p, timeout=TIMEOUT):
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        out, err = p.communicate()
        raise AssertionError(f"still running after {timeout} s: {err}") from None
    return p.returncode, out, err


def _meta(path) -> dict:
    with np.load(path) as z:
        return json.loads(bytes(z["meta"]))


# ---- 4. two runs on one checkpoint ------------------------------------------------------

def test_second_run_on_a_checkpoint_is_refused_naming_the_first_and_kill_9_leaves_no_lock(
        tmp_path):
    first = _start("--sizes", "784,10,10", "--epochs", "100000", "--checkpoint", "ck.npz",
                   cwd=tmp_path)
    try:
        _wait_for_line(first, "Epoch 1")                 # saved twice: it holds the lock
        t0 = time.perf_counter()
        rc, out, err = _finish(_start("--sizes", "784,10,10", "--epochs", "100000", "--eta",
                                      "0.5", "--checkpoint", "ck.npz", "--overwrite",
                                      cwd=tmp_path), timeout=120)
        assert rc == 1, (rc, err)
        assert f"in use by process {first.pid}" in err and err.count("\n") == 1, err
        assert "Epoch" not in out                        # refused before any training
        assert time.perf_counter() - t0 < 120
    finally:
        first.kill()                                     # kill -9: no chance to let go
        first.communicate()
    assert (tmp_path / ".ck.npz.lock").read_text().strip() == str(first.pid)  # stale
    epoch = _meta(tmp_path / "ck.npz")["epoch"]
    rc, out, err = _finish(_start("--sizes", "784,10,10", "--epochs", str(epoch + 1),
                                  "--checkpoint", "ck.npz", "--resume", cwd=tmp_path))
    assert rc == 0, err
    assert f"Epoch {epoch}:" in out and _meta(tmp_path / "ck.npz")["epoch"] == epoch + 1
    assert not (tmp_path / ".ck.npz.lock").exists()      # let go at the end


def _held_by_a_thread(path, sample):
    """Runs fit(checkpoint=path) in a thread, stopped inside its loop until the returned
    event is set; returns ``(release, thread, result list)``."""
    x, y = sample.train.images[:200], sample.train.labels[:200]
    params = jaxnet.init_params(jax.random.PRNGKey(0), [784, 10, 10])
    inside, release, out = threading.Event(), threading.Event(), []

    def on_epoch(record):
        inside.set()
        release.wait(TIMEOUT)

    def run():
        out.append(jaxnet.fit(jax.random.PRNGKey(1), params, x, y, epochs=2, eta=1.0,
                              x_scale=1 / 256, checkpoint=path, on_epoch=on_epoch))
    thread = threading.Thread(target=run)
    thread.start()
    assert inside.wait(TIMEOUT)
    return release, thread, out, (params, x, y)


@pytest.mark.parametrize("via", ["file", "symlink"])
def test_fit_and_fit_population_refuse_a_checkpoint_another_fit_holds(tmp_path, sample, via):
    ck = tmp_path / "ck.npz"
    release, thread, out, (params, x, y) = _held_by_a_thread(ck, sample)
    try:
        other = ck
        if via == "symlink":                              # locked at the link's target
            other = tmp_path / "link.npz"
            other.symlink_to(ck)
        with pytest.raises(CheckpointError, match=f"in use by process {os.getpid()}"):
            jaxnet.fit(jax.random.PRNGKey(1), params, x, y, epochs=2, eta=0.5, x_scale=1 / 256,
                       checkpoint=other, overwrite=True)
        keys = jax.random.split(jax.random.PRNGKey(2), 2)
        with pytest.raises(CheckpointError, match=f"in use by process {os.getpid()}"):
            jaxnet.fit_population(keys, jaxnet.init_population(keys, [784, 10, 10]), x, y,
                                  epochs=1, x_scale=1 / 256, checkpoint=other, overwrite=True)
    finally:
        release.set()
        thread.join(TIMEOUT)
    assert out and out[0].stopped is None
    assert not (tmp_path / ".ck.npz.lock").exists()
    # Let go at the end, also when the loop raised: the same checkpoint is free again.
    with pytest.raises(RuntimeError, match="boom"):
        jaxnet.fit(jax.random.PRNGKey(1), params, x, y, epochs=3, eta=1.0, x_scale=1 / 256,
                   checkpoint=ck, resume=True,
                   on_epoch=lambda r: (_ for _ in ()).throw(RuntimeError("boom")))
    res = jaxnet.fit(jax.random.PRNGKey(1), params, x, y, epochs=3, eta=1.0, x_scale=1 / 256,
                     checkpoint=ck, resume=True)
    assert len(res.history) == 3 and not (tmp_path / ".ck.npz.lock").exists()


# ---- 8. interrupts ----------------------------------------------------------------------

def test_ctrl_c_without_a_checkpoint_is_one_line_and_130(tmp_path):
    p = _start("--sizes", "784,30,10", "--epochs", "100000", cwd=tmp_path)
    _wait_for_line(p, "Epoch 1")
    p.send_signal(signal.SIGINT)
    rc, out, err = _finish(p, timeout=120)
    assert rc == 130, (rc, err)
    assert "Traceback" not in err and err.count("\n") == 1, err
    assert err.startswith("jaxnet: interrupted by SIGINT after ") and "nothing saved" in err


def test_a_second_ctrl_c_in_a_checkpointed_epoch_stops_at_once(tmp_path):
    # Epochs of several seconds (about 10 s unloaded): the second Ctrl-C must not wait.
    p = _start("--sizes", "784,1500,1500,10", "--epochs", "50", "--checkpoint", "ck.npz",
               cwd=tmp_path)
    line = _wait_for_line(p, "Epoch 0")
    epoch_seconds = float(line.rsplit("(", 1)[1].split()[0])
    time.sleep(1)                                        # into epoch 1, past the first save
    p.send_signal(signal.SIGINT)                         # finish the epoch, save, stop ...
    time.sleep(0.5)
    t0 = time.perf_counter()
    p.send_signal(signal.SIGINT)                         # ... no: stop now
    rc, out, err = _finish(p, timeout=120)
    elapsed = time.perf_counter() - t0
    assert elapsed < max(3.0, epoch_seconds / 2), (elapsed, epoch_seconds, err)
    assert rc == 130 and "Traceback" not in err and err.count("\n") == 1, (rc, err)
    assert "checkpoint ck.npz kept" in err, err
    assert _meta(tmp_path / "ck.npz")["epoch"] == 1      # the whole file, as saved
    with np.load(tmp_path / "ck.npz") as z:
        assert {"w0", "b0", "w2", "b2", "key", "meta"} <= set(z.files)
        assert z["w1"].shape == (1500, 1500)
    assert sorted(f.name for f in tmp_path.iterdir()) == ["ck.npz"]   # no temporary, no lock


# A Ctrl-C while the outputs are written, in a process of its own: the writer patched to
# signal its own process at a chosen point.
_PATCHED = """
import os, signal, sys, time
import jaxnet.io, jaxnet.cli._report as report
from jaxnet._core.atomic import atomic_write
from jaxnet.cli import main

def ctrl_c():
    os.kill(os.getpid(), signal.SIGINT)
    time.sleep(0.3)              # the handler has certainly run

def slow_save(path, params, **kw):
    with atomic_write(path) as f:
        f.write(b"the first half, ")
        ctrl_c()                 # mid-file
        f.write(b"the second half")

def confusion(*a, **kw):
    ctrl_c()                     # between the report's pictures

if sys.argv[1] == "save":
    jaxnet.io.save_params = slow_save
else:
    report.draw_confusion = confusion
sys.exit(main(sys.argv[2:]))
"""


@pytest.mark.parametrize("when", ["save", "report"])
def test_ctrl_c_while_writing_outputs_leaves_each_whole_or_untouched(tmp_path, when):
    report = tmp_path / "report"
    report.mkdir()                                       # an older report of ours
    (report / ".jaxnet-report").write_text("ours\n")
    (report / "index.html").write_text("the older report's page")
    args = ["train", "--data", "sample", "--sizes", "784,10,10", "--epochs", "1",
            "--progress", "never", "--compile-cache", "none", "--save", "p.npz",
            "--report", "report"]
    r = subprocess.run([sys.executable, "-c", _PATCHED, when, *args], capture_output=True,
                       text=True, cwd=tmp_path, timeout=TIMEOUT)
    assert r.returncode == 130, (r.returncode, r.stderr)
    assert "Traceback" not in r.stderr and r.stderr.count("\n") == 1, r.stderr
    assert "--report report not written" in r.stderr, r.stderr
    assert "wrote --save p.npz" in r.stderr, r.stderr
    if when == "save":                                   # the write in progress completed
        assert (tmp_path / "p.npz").read_bytes() == b"the first half, the second half"
        assert "report/" not in r.stdout                 # the older report is untouched
        assert (report / "index.html").read_text() == "the older report's page"
    else:
        jaxnet.io.load_params(tmp_path / "p.npz")
        assert not (report / "index.html").exists()     # no page over a half report
    assert not [f for f in tmp_path.rglob("*.tmp")], list(tmp_path.rglob("*"))
