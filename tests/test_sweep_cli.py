"""``jaxnet sweep``: killed (SIGKILL) or stopped (SIGTERM) mid-run and resumed, it ends
exactly where an uninterrupted sweep does; --save-best, --json, --csv; one-line errors."""

import csv
import json
import os
import signal
import subprocess
import sys
import tempfile

import numpy as np
import pytest
from conftest import assert_trees_close

import jaxnet
from jaxnet import cli

# Resuming runs the same compiled programs on the same inputs (XLA on the CPU is
# deterministic, and the resumed run splits the members over the same devices).
RESUME_RTOL = 0.0
FOUR = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=4", JAX_PLATFORMS="cpu")
SWEEP = ["sweep", "--data", "sample", "--sizes", "784,10,10", "--seeds", "2", "--eta", "0.5,3",
         "--momentum", "0,0.3", "--dtype", "float64"]


def _cmd(*args):
    return [sys.executable, "-m", "jaxnet", *SWEEP, *map(str, args)]


def _start(*args):
    return subprocess.Popen(_cmd(*args), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, cwd=tempfile.gettempdir(), env=FOUR)


def _stop_after(p, line_start, sig):
    for line in p.stdout:
        if line.startswith(line_start):
            p.send_signal(sig)
            break
    return p.communicate(timeout=600)


def _arrays(path):
    with np.load(path) as z:     # our own file: no pickle
        return {k: z[k] for k in z.files if k != "meta"}


def test_a_sweep_killed_then_resumed_ends_as_the_uninterrupted_one(tmp_path):
    """8 members on 4 forced devices: stopped by SIGTERM after epoch 0, resumed, killed
    by SIGKILL after epoch 2, resumed to the end; then the same sweep uninterrupted."""
    ck, straight = tmp_path / "sweep.npz", tmp_path / "straight.npz"
    out = {k: tmp_path / f"{k}.{e}" for k, e in (("a", "json"), ("b", "json"),
                                                   ("best_a", "npz"), ("best_b", "npz"))}
    run = ["--epochs", 5, "--devices", 4, "--checkpoint", ck]
    p = _start(*run)                                   # SIGTERM: finish the epoch, save, 143
    _, err = _stop_after(p, "Epoch 0:", signal.SIGTERM)
    assert p.returncode == 143 and "interrupted by SIGTERM" in err and "--resume" in err, err
    assert "Traceback" not in err and ck.exists()
    p = _start(*run, "--resume")                       # SIGKILL: no chance to save anything
    _, err = _stop_after(p, "Epoch 2:", signal.SIGKILL)
    assert p.returncode == -signal.SIGKILL, err
    r = subprocess.run(_cmd(*run, "--resume", "--json", out["a"], "--save-best", out["best_a"]),
                       capture_output=True, text=True, timeout=600, cwd=tempfile.gettempdir(),
                       env=FOUR)
    assert r.returncode == 0, r.stderr
    assert "Epoch 0:" not in r.stdout and "Epoch 4:" in r.stdout   # continued, not restarted
    assert [f.name for f in tmp_path.iterdir() if f.name.endswith(".tmp")] == []
    r = subprocess.run(_cmd("--epochs", 5, "--devices", 4, "--checkpoint", straight, "--json",
                            out["b"], "--save-best", out["best_b"]), capture_output=True,
                       text=True, timeout=600, cwd=tempfile.gettempdir(), env=FOUR)
    assert r.returncode == 0, r.stderr
    a, b = _arrays(ck), _arrays(straight)
    assert sorted(a) == sorted(b) and a["w0"].shape == (8, 10, 784) and "vw0" in a
    assert_trees_close(a, b, RESUME_RTOL, "every member's state")
    assert json.loads(out["a"].read_text()) == json.loads(out["b"].read_text())
    assert_trees_close(jaxnet.load_params(out["best_a"]), jaxnet.load_params(out["best_b"]),
                       RESUME_RTOL, "best member")
    before = ck.read_bytes()      # another split of the members is another sweep
    r = subprocess.run(_cmd("--epochs", 6, "--devices", 2, "--checkpoint", ck, "--resume"),
                       capture_output=True, text=True, timeout=600, cwd=tempfile.gettempdir(),
                       env=FOUR)
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 1 and len(lines) == 1, r.stderr
    assert "members_per_device: checkpoint 2, this run 4" in lines[0] and "Epoch" not in r.stdout
    assert ck.read_bytes() == before


def test_save_best_json_and_csv_describe_every_member(tmp_path, capsys):
    best, js, cs = tmp_path / "best.npz", tmp_path / "s.json", tmp_path / "s.csv"
    code = cli.main([*SWEEP, "--epochs", "2", "--save-best", str(best), "--json", str(js),
                     "--csv", str(cs)])
    assert code == 0, capsys.readouterr().err
    doc = json.loads(js.read_text())
    with cs.open() as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 8 * 2 and {int(r["member"]) for r in rows} == set(range(8))
    final = {int(r["member"]): int(r["correct"]) for r in rows if r["epoch"] == "1"}
    top = max(final.values())
    want = min(i for i, c in final.items() if c == top)  # the best, the first of equals
    params, meta = jaxnet.load_params(best, with_metadata=True)
    assert meta["member"] == want == doc["best"]["member"] and meta["eval_correct"] == top
    member = [r for r in rows if int(r["member"]) == want][0]
    assert (meta["seed"], meta["eta"], meta["momentum"]) == (
        int(member["seed"]), float(member["eta"]), float(member["momentum"]))
    # the saved member's parameters do score what the curve says
    split = jaxnet.data.load_sample().test
    model = jaxnet.io.model_from_description(meta["model"])
    got = jaxnet.evaluate(params, split.images, split.labels, model=model, x_scale=1 / 256)
    assert int(got) == top
    for conf in doc["configurations"]:      # each configuration's best seed, by final accuracy
        finals = [acc[-1] for acc in conf["accuracy"]]
        assert conf["best_seed"] == int(np.argmax(finals))


@pytest.mark.parametrize("argv, message", [
    (["--resume"], "--resume needs --checkpoint FILE"),
    (["--devices", "64"], "--devices 64: only"),
    (["--coordinator", "127.0.0.1:1"], "--coordinator, --num-processes and --process-id go "
                                       "together"),
    (["--coordinator", "127.0.0.1:1", "--num-processes", "2", "--process-id", "2"],
     "--process-id 2: expected 0 .. 1"),
    (["--devices", "two"], "expected a positive int or 'all'"),
])
def test_bad_sweep_flags_are_one_line_errors(argv, message, capsys):
    try:
        code = cli.main([*SWEEP, "--epochs", "1", *argv])
    except SystemExit as e:      # argparse's own errors
        code = e.code
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and message in err[0], err
