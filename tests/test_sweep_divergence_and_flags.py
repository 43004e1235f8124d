"""Issue 30, classes 5, 9 and 11.

5. A member of a population that becomes NaN or Inf stops alone, marked by its η, λ,
   μ and seed in every output, the others finish, and the exit status says so (3).
9. Flags and caches that do not apply: ``--threads`` with another ``--impl``,
   ``--compile-cache`` onto a file, a corrupt compilation-cache entry.
11. The distribution's name is not PyPI's unrelated ``jaxnet``, and nothing tells
   users to ``pip install jaxnet``.
"""

import csv
import json
import os
import re
import subprocess
import sys
import zlib
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxnet
from jaxnet import cli, plot
from jaxnet import data as jdata
from jaxnet.train import fit_population, init_population

ROOT = Path(__file__).resolve().parents[1]
# The ok members of a population with diverged ones against the same members trained
# alone (float32: vmap's batch of 2 or 4 members may sum in another order).
ALONE_RTOL = 1e-5
# 784-10-10, ReLU, cross-entropy, float32: eta 1e30 makes every member NaN in epoch 0
# on the sample, eta 0.1 trains.
MODEL = dict(sizes=[784, 10, 10], activation="relu", cost="cross_entropy")
SWEEP = ["sweep", "--data", "sample", "--sizes", "784,10,10", "--activation", "relu",
         "--cost", "cross-entropy", "--eta", "0.1,1e30", "--seeds", "2"]


def _population(sample, etas, dtype=jnp.float32, **kw):
    model = jaxnet.Model.dense(MODEL["sizes"], activation=MODEL["activation"],
                               cost=MODEL["cost"])
    keys = jax.random.split(jax.random.PRNGKey(0), len(etas))
    params = init_population(keys, model, dtype=dtype)
    return fit_population(keys, params, sample.train.images, sample.train.labels, model=model,
                          eta=etas, x_scale=jdata.PIXEL_SCALE,
                          eval_data=(sample.test.images, sample.test.labels), **kw)


def _finite(tree) -> bool:
    return all(bool(np.isfinite(np.asarray(a)).all()) for a in jax.tree.leaves(tree))


# ---------------------------------------------------------------- class 5: library

def test_fit_population_marks_diverged_members_and_finishes_the_others(sample, tmp_path):
    res = _population(sample, [0.1, 0.1, 1e30, 1e30], epochs=2)
    assert res.diverged.tolist() == [-1, -1, 0, 0]
    assert _finite(res.params), "a diverged member's NaN reached the result"
    assert res.best.tolist() == [int(np.argmax(res.correct[-1][:2])), -1]
    alone = _population(sample, [0.1, 0.1], epochs=2)
    assert np.array_equal(res.correct[:, :2], alone.correct)
    for got, want in zip(jax.tree.leaves(res.params), jax.tree.leaves(alone.params)):
        err = float(np.max(np.abs(np.asarray(got)[:2] - np.asarray(want))
                           / (np.abs(np.asarray(want)) + 1e-30)))
        assert err <= ALONE_RTOL, f"ok members differ from their run alone: {err:.3g}"
    # frozen at the last finite state: diverged in epoch 0, so the initial parameters
    init = init_population(jax.random.split(jax.random.PRNGKey(0), 4),
                           jaxnet.Model.dense([784, 10, 10], activation="relu",
                                              cost="cross_entropy"))
    for got, want in zip(jax.tree.leaves(res.params), jax.tree.leaves(init)):
        assert np.array_equal(np.asarray(got)[2:], np.asarray(want)[2:])


def test_fit_population_raises_only_when_every_member_diverged(sample):
    with pytest.raises(FloatingPointError, match=r"every member became NaN or Inf.*"
                       r"member 0 \(eta 1e\+30, lambda 0, mu 0\) at epoch 0; member 1 "):
        _population(sample, [1e30, 1e30], epochs=2)


def test_a_resumed_population_keeps_the_statuses(sample, tmp_path):
    ck = tmp_path / "pop.npz"
    first = _population(sample, [0.1, 1e30], epochs=1, checkpoint=ck)
    with np.load(ck) as z:
        assert z["diverged"].tolist() == [-1, 0]
        assert json.loads(bytes(z["meta"]).decode())["version"] == 3
    resumed = _population(sample, [0.1, 1e30], epochs=2, checkpoint=ck, resume=True)
    straight = _population(sample, [0.1, 1e30], epochs=2)
    assert first.diverged.tolist() == resumed.diverged.tolist() == [-1, 0]
    assert np.array_equal(resumed.correct, straight.correct)
    for a, b in zip(jax.tree.leaves(resumed.params), jax.tree.leaves(straight.params)):
        assert np.array_equal(np.asarray(a), np.asarray(b))


# ---------------------------------------------------------------- class 5: the CLI

def test_sweep_with_diverged_members_writes_every_output_with_statuses(tmp_path, capsys):
    out = {k: tmp_path / f"s.{k}" for k in ("csv", "json", "png")}
    best, ck = tmp_path / "best.npz", tmp_path / "ck.npz"
    argv = [*SWEEP, "--epochs", "2", "--csv", str(out["csv"]), "--json", str(out["json"]),
            "--plot", str(out["png"]), "--save-best", str(best), "--checkpoint", str(ck)]
    code = cli.main(argv)
    text, err = capsys.readouterr()
    assert code == 3, err
    assert "| status |" in text and "| 0.1 | 0 | 0 |" in text
    assert re.search(r"\| 1e\+30 \| 0 \| 0 \| - \| - \| 0 \| seed 0 diverged at epoch 0, "
                     r"seed 1 diverged at epoch 0 \|", text), text
    line = [ln for ln in err.splitlines() if "NaN or Inf" in ln]
    assert len(line) == 1 and "2 of 4 members" in line[0] and "eta 1e+30" in line[0] \
        and "seed 1 at epoch 0" in line[0], err
    for p in out.values():
        assert p.exists(), p
    for p in (out["csv"], out["json"]):
        assert not re.search(r"nan|inf", p.read_text(), re.I), f"NaN or Inf in {p.name}"
    with out["csv"].open() as f:
        rows = list(csv.DictReader(f))
    status = {(int(r["member"]), r["status"]) for r in rows}
    assert status == {(0, "ok"), (1, "ok"), (2, "diverged at epoch 0"),
                      (3, "diverged at epoch 0")}
    doc = json.loads(out["json"].read_text())
    assert [c["status"] for c in doc["configurations"]] == [["ok", "ok"],
                                                           ["diverged at epoch 0"] * 2]
    assert doc["configurations"][1]["best_seed"] is None
    assert [(d["seed"], d["eta"]) for d in doc["diverged"]] == [(0, 1e30), (1, 1e30)]
    params, meta = jaxnet.load_params(best, with_metadata=True)
    assert meta["eta"] == 0.1 and meta["status"] == "ok" and len(meta["diverged"]) == 2
    assert _finite(params)
    with np.load(ck) as z:
        assert z["diverged"].tolist() == [-1, -1, 0, 0]
    # a resumed sweep keeps the statuses
    out2 = tmp_path / "r.csv"
    code = cli.main([*SWEEP, "--epochs", "3", "--checkpoint", str(ck), "--resume",
                     "--csv", str(out2)])
    assert code == 3, capsys.readouterr().err
    with out2.open() as f:
        rows = list(csv.DictReader(f))
    assert {(r["member"], r["status"]) for r in rows if r["epoch"] == "2"} == {
        ("0", "ok"), ("1", "ok"), ("2", "diverged at epoch 0"), ("3", "diverged at epoch 0")}


def test_sweep_with_every_member_diverged_is_exit_1_naming_the_seeds(tmp_path, capsys):
    csv_path = tmp_path / "c.csv"
    code = cli.main([*SWEEP[:-4], "--eta", "1e30", "--seeds", "2", "--epochs", "2",
                     "--csv", str(csv_path)])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1 and len(err) == 1, err
    assert "eta 1e+30, lambda 0, mu 0, seed 0 at epoch 0" in err[0] and "seed 1" in err[0]
    assert not csv_path.exists()


def test_train_ensemble_leaves_a_diverged_member_out_of_the_vote(capsys):
    # eta 4e18 on 784-10-10 (the sweep's programs): seeds 0 and 3 train, seeds 1 and 2
    # become NaN in epoch 0 (float32, CPU).
    code = cli.main(["train", "--data", "sample", "--sizes", "784,10,10", "--activation",
                     "relu", "--cost", "cross-entropy", "--eta", "4e18", "--epochs", "1",
                     "--ensemble", "4", "--compile-cache", "none"])
    text, err = capsys.readouterr()
    assert code == 3, err
    assert "member 1 (seed 1) became NaN or Inf at epoch 0; member 2 (seed 2)" in err \
        and "left out of the vote" in err and "member 3" not in err, err
    assert "ensemble of 2 (of 4), majority vote on test" in text


# ---------------------------------------------------------------- class 9

@pytest.mark.parametrize("impl", ["jax", "pallas"])
def test_threads_with_another_impl_is_refused(impl, capsys, monkeypatch):
    monkeypatch.setattr("jaxnet.cli._common.load_data", _no_data)
    code = cli.main(["train", "--data", "sample", "--epochs", "1", "--threads", "8",
                     "--impl", impl, "--compile-cache", "none"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and err == [f"jaxnet: error: --threads 8 applies to --impl c only, not "
                                 f"--impl {impl}"]


def _no_data(*a, **k):
    raise AssertionError("data loaded before the flags were refused")


def test_compile_cache_onto_a_file_is_refused_before_loading_data(tmp_path, capsys,
                                                                  monkeypatch):
    monkeypatch.setattr("jaxnet.cli._common.load_data", _no_data)
    f = tmp_path / "cache"
    f.write_text("mine")
    code = cli.main(["train", "--data", "sample", "--epochs", "1", "--compile-cache", str(f)])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and f"--compile-cache {f}: is not a folder" in err[0]
    assert f.read_text() == "mine"


def _train(cache):
    # Every program kept: by default only those compiled in 0.5 s or more are, and on a
    # quiet machine this small net's epoch compiles faster than that.
    env = dict(os.environ, JAX_PLATFORMS="cpu", JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS="0")
    return subprocess.run([sys.executable, "-m", "jaxnet", "train", "--data", "sample",
                           "--sizes", "784,10,10", "--epochs", "1", "--compile-cache",
                           str(cache)], capture_output=True, text=True, env=env, timeout=300,
                          cwd=cache.parent)


@pytest.mark.parametrize("env, want", [(None, 0.5), ("0", 0.0), ("2.5", 2.5)])
def test_the_cache_threshold_is_half_a_second_unless_the_user_sets_jaxs(env, want, tmp_path,
                                                                      monkeypatch):
    from types import SimpleNamespace

    from jaxnet.cli import _cache
    from jaxnet.cli._common import setup_jax
    monkeypatch.setattr(_cache, "watch", lambda folder: None)     # no log handler left behind
    names = ("jax_compilation_cache_dir", "jax_persistent_cache_min_compile_time_secs")
    saved = {n: getattr(jax.config, n) for n in names}
    try:
        if env is None:
            monkeypatch.delenv("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", raising=False)
        else:   # what JAX reads from the variable when it starts
            monkeypatch.setenv("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", env)
            jax.config.update("jax_persistent_cache_min_compile_time_secs", float(env))
        setup_jax(SimpleNamespace(dtype="float64", compile_cache=tmp_path / "xla"))
        assert jax.config.jax_compilation_cache_dir == str(tmp_path / "xla")
        assert jax.config.jax_persistent_cache_min_compile_time_secs == want
    finally:
        for n, v in saved.items():
            jax.config.update(n, v)


def test_a_corrupt_compile_cache_entry_is_said_once_and_rewritten(tmp_path):
    cache = tmp_path / "xla"
    first = _train(cache)
    assert first.returncode == 0, first.stderr
    entry = next(cache.glob("jit_shuffled_epoch-*-cache"))
    good = entry.read_bytes()
    flipped = bytearray(good)
    for i in range(100, 140):
        flipped[i] ^= 0xFF
    entry.write_bytes(bytes(flipped))             # bytes flipped: zlib's check fails
    second = _train(cache)
    said = [ln for ln in second.stderr.splitlines() if "compile" in ln.lower()]
    assert second.returncode == 0 and len(said) == 1 and "Warning" not in second.stderr, \
        second.stderr
    assert "corrupt" in said[0] and "jit_shuffled_epoch" in said[0]
    zlib.decompress(entry.read_bytes())           # rewritten whole
    # an entry that decompresses but is no executable: JAX's read warning, observed
    entry.write_bytes(zlib.compress(b"\0\0\0\1" + b"not an executable" * 50))
    third = _train(cache)
    said = [ln for ln in third.stderr.splitlines() if "compile" in ln.lower()]
    assert third.returncode == 0 and len(said) == 1 and "Warning" not in third.stderr, \
        third.stderr
    assert "jit_shuffled_epoch could not be read" in said[0]
    assert b"not an executable" not in zlib.decompress(entry.read_bytes())


# ---------------------------------------------------------------- class 11

def test_the_distribution_is_not_pypis_jaxnet():
    from importlib import metadata
    name = re.search(r'^name = "([^"]+)"', (ROOT / "pyproject.toml").read_text(), re.M)[1]
    assert name == "nielsen-jaxnet"
    assert metadata.metadata(name)["Name"] == name
    assert name in metadata.packages_distributions()["jaxnet"]
    assert re.search(r'^jaxnet = "jaxnet.cli:main"', (ROOT / "pyproject.toml").read_text(),
                     re.M), "the jaxnet command stays"


def test_nothing_tells_users_to_pip_install_jaxnet(monkeypatch):
    files = [*ROOT.glob("jaxnet/**/*.py"), ROOT / "README.md", *ROOT.glob("docs/*.md"),
             ROOT / "benchmarks" / "README.md", ROOT / "csrc" / "README.md",
             ROOT / "jaxnet" / "README.md"]
    bad = re.compile(r"pip install[^\n`\"]*?(?<![\w/.-])['\"]?jaxnet\b")
    found = [f"{p.relative_to(ROOT)}: {m.group(0)}" for p in files
             for m in bad.finditer(p.read_text())]
    assert not found, found
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(ImportError, match=r"pip install matplotlib .*pip install '\.\[plot\]'"):
        plot.pyplot()
