"""fit_population(impl="c"): the members trained by the C kernel's fast path on a pool of
threads follow impl="jax" (the same shuffles, dropout keys, η, λ, μ and evaluation), to
the tolerance fit(impl="c") has against fit; threads do not change a bit; checkpoints,
diverged members, containers and the sweep command work as with impl="jax"."""

import re
import subprocess
import sys
import tempfile

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import assert_trees_close
from test_cref_fast import EPOCH64_RTOL  # the C epoch against JAX's, float64, 2 × 50 steps

import jaxnet
from jaxnet import data as jdata

# The C members are independent of one another and of the thread that trains them,
# and a resume runs the same C epochs on the same host values: bit for bit.
SAME_RTOL = 0.0
P = 3
# Contracting runs (η ≤ 1, cross-entropy): a one-ulp difference stays at rounding
# level, so EPOCH64_RTOL holds (η = 3 amplifies it to ~1e-4: tests/test_population.py).
HYPER = dict(eta=[0.5, 1.0, 0.2], lmbda=[0.0, 2.0, 1.0], momentum=[0.0, 0.5, 0.2])


def _setup(sample, model, dtype=jnp.float64, n=500):
    keys = jax.random.split(jax.random.PRNGKey(5), P)
    pop = jaxnet.init_population(jax.random.split(jax.random.PRNGKey(4), P), model, dtype=dtype)
    kw = dict(model=model, batch_size=10, x_scale=1 / 256, **HYPER,
              eval_data=(sample.test.images[:300], sample.test.labels[:300]))
    return keys, pop, sample.train.images[:n], sample.train.labels[:n], kw


def _worst(a, b) -> list:
    """Per member, the worst relative difference over every stacked leaf."""
    return [max(float(np.max(np.abs(np.asarray(u)[i] - np.asarray(v)[i]))
                      / np.max(np.abs(np.asarray(v)[i])))
                for u, v in zip(jax.tree.leaves(a), jax.tree.leaves(b))) for i in range(P)]


@pytest.mark.parametrize("dropout", [0.0, 0.5])
def test_impl_c_follows_impl_jax_member_by_member(sample, dropout):
    model = jaxnet.Model((784,), (jaxnet.Dense(20, dropout=dropout), jaxnet.Dense(10)),
                         cost="cross_entropy")
    keys, pop, x, labels, kw = _setup(sample, model)
    seen = []
    j = jaxnet.fit_population(keys, pop, x, labels, epochs=2, **kw)
    c = jaxnet.fit_population(keys, pop, x, labels, epochs=2, impl="c", threads=2,
                              on_epoch=lambda e, k: seen.append((e, k.tolist())), **kw)
    worst = _worst((c.params, c.velocity), (j.params, j.velocity))
    assert max(worst) <= EPOCH64_RTOL, f"impl c vs jax, per member: {worst}"
    np.testing.assert_array_equal(c.correct, j.correct)
    assert seen == [(e, j.correct[e].tolist()) for e in range(2)]
    assert c.total == 300 and c.diverged.tolist() == [-1] * P
    np.testing.assert_array_equal(c.best, j.best)
    # the members really trained and differ (different η, λ, μ and shuffles)
    assert float(jnp.max(jnp.abs(c.params[0].w - pop[0].w))) > 1e-2
    assert len({round(float(c.params[0].w[i, 0, 300]), 12) for i in range(P)}) == P


def test_threads_and_containers_do_not_change_a_bit(sample):
    model = jaxnet.Model.dense([784, 12, 10], cost="cross_entropy")
    keys, pop, x, labels, kw = _setup(sample, model, dtype=jnp.float32, n=200)
    one = jaxnet.fit_population(keys, pop, x, labels, epochs=1, impl="c", threads=1, **kw)
    given = [[np.asarray(layer.w), np.asarray(layer.b)] for layer in pop]
    many = jaxnet.fit_population(keys, given, x, labels, epochs=1, impl="c", threads=5, **kw)
    assert type(many.params) is list and type(many.params[0]) is list
    assert many.params[0][0].dtype == np.float32
    assert_trees_close([list(layer) for layer in one.params], many.params, SAME_RTOL, "threads")
    np.testing.assert_array_equal(one.correct, many.correct)


def test_a_resumed_c_sweep_equals_the_uninterrupted_one(sample, tmp_path):
    model = jaxnet.Model.dense([784, 8, 10], cost="cross_entropy")
    keys, pop, x, labels, kw = _setup(sample, model, n=200)
    full = jaxnet.fit_population(keys, pop, x, labels, epochs=3, impl="c", **kw)
    ck = tmp_path / "sweep.npz"
    jaxnet.fit_population(keys, pop, x, labels, epochs=1, impl="c", checkpoint=ck, **kw)
    rest = jaxnet.fit_population(keys, pop, x, labels, epochs=3, impl="c", checkpoint=ck,
                                 resume=True, **kw)
    assert len(rest.epoch_seconds) == 2            # continued, not restarted
    assert_trees_close((rest.params, rest.velocity), (full.params, full.velocity), SAME_RTOL,
                       "resumed")
    np.testing.assert_array_equal(rest.correct, full.correct)
    with pytest.raises(jaxnet.CheckpointError, match="impl"):   # another impl's sweep
        jaxnet.fit_population(keys, pop, x, labels, epochs=3, checkpoint=ck, resume=True, **kw)


def test_a_diverged_c_member_stops_alone(sample):
    model = jaxnet.Model.dense([784, 10, 10], activation="relu", cost="cross_entropy")
    keys = jax.random.split(jax.random.PRNGKey(0), 4)
    pop = jaxnet.init_population(keys, model)
    kw = dict(model=model, x_scale=jdata.PIXEL_SCALE, epochs=2, impl="c",
              eval_data=(sample.test.images, sample.test.labels))
    x, labels = sample.train.images, sample.train.labels
    res = jaxnet.fit_population(keys, pop, x, labels, eta=[0.1, 0.1, 1e30, 1e30], **kw)
    assert res.diverged.tolist() == [-1, -1, 0, 0]
    assert res.best.tolist() == [int(np.argmax(res.correct[-1][:2])), -1]
    for got, want in zip(jax.tree.leaves(res.params), jax.tree.leaves(pop)):
        assert np.isfinite(np.asarray(got)).all(), "a diverged member's NaN reached the result"
        assert np.array_equal(np.asarray(got)[2:], np.asarray(want)[2:])   # its start, kept
    alone = jaxnet.fit_population(keys[:2], jax.tree.map(lambda a: a[:2], pop), x, labels,
                                  eta=0.1, **kw)
    np.testing.assert_array_equal(res.correct[:, :2], alone.correct)
    assert_trees_close(jax.tree.map(lambda a: a[:2], res.params), alone.params, SAME_RTOL,
                       "the ok members")
    with pytest.raises(FloatingPointError, match=r"every member became NaN or Inf.*"
                       r"member 0 \(eta 1e\+30, lambda 0, mu 0\) at epoch 0"):
        jaxnet.fit_population(keys[:2], jax.tree.map(lambda a: a[:2], pop), x, labels,
                              eta=1e30, **kw)


@pytest.mark.parametrize("n", [1, 2, 500, 5000, 50000])   # 0, 1, 1, 2 and 2 sorts
def test_the_host_draws_the_orders_fit_draws(n):
    """impl="c" sorts permutation's keys in NumPy (XLA:CPU's sorts are slow): the same
    orders and next keys as jaxnet.shuffle_order, member by member."""
    from jaxnet.train._population.cref import _draw, _order
    keys = jax.random.split(jax.random.PRNGKey(n), 4)
    nxt, drawn, _ = _draw(keys, n, True, False)
    for i in range(4):
        want_key, want = jaxnet.shuffle_order(keys[i], n)
        np.testing.assert_array_equal(_order(np.asarray(drawn[i])), np.asarray(want))
        np.testing.assert_array_equal(np.asarray(nxt[i]), np.asarray(want_key))


def test_a_jax_whose_permutation_changed_falls_back_to_its_own_orders(sample, monkeypatch):
    """If the host's sort no longer reproduces jax.random.permutation (a future JAX),
    impl="c" draws the orders with shuffle_order itself: the same run, not a refusal
    and not other orders. Here the host's sort of the keys is broken on purpose."""
    from jaxnet.train._population import cref
    model = jaxnet.Model.dense((784, 20, 10))
    keys, pop, x, labels, kw = _setup(sample, model, n=200)
    want = jaxnet.fit_population(keys, pop, x, labels, epochs=2, impl="c", **kw)
    right = cref._order
    monkeypatch.setattr(cref, "_order", lambda drawn: (   # sort keys: a wrong permutation
        right(drawn) if np.ndim(drawn) == 1 else np.arange(np.shape(drawn)[1])))
    assert not cref.host_sort_reproduces(keys, 200)
    got = jaxnet.fit_population(keys, pop, x, labels, epochs=2, impl="c", **kw)
    assert max(_worst(got.params, want.params)) <= SAME_RTOL
    np.testing.assert_array_equal(got.correct, want.correct)


@pytest.mark.parametrize("kw, match", [
    (dict(impl="c", threads=0), r"threads: expected a positive int .*got 0"),
    (dict(impl="c", threads=True), r"threads: expected a positive int .*got True"),
    (dict(impl="c", threads=2.0), r"threads: expected a positive int .*got 2.0"),
    (dict(threads=2), r"threads: the C epoch's thread count \(impl='c' only\)"),
    (dict(impl="c", mesh="MESH"), r"mesh: impl='c' trains the members on this host"),
    (dict(impl="cuda"), r"impl: expected one of \('jax', 'pallas', 'c'\)"),
])
def test_bad_c_population_arguments_are_named(kw, match):
    keys = jax.random.split(jax.random.PRNGKey(0), P)
    pop = jaxnet.init_population(keys, [5, 4, 3], dtype=jnp.float64)
    rng = np.random.default_rng(0)
    x, labels = rng.uniform(size=(20, 5)), rng.integers(0, 3, 20)
    if kw.get("mesh") == "MESH":
        kw = dict(kw, mesh=jax.sharding.Mesh(np.array(jax.devices()[:1]), ("members",)))
    with pytest.raises(ValueError, match=match):
        jaxnet.fit_population(keys, pop, x, labels, epochs=1, batch_size=5, **kw)


def _sweep(*extra):
    return subprocess.run([sys.executable, "-m", "jaxnet", "sweep", "--data", "sample",
                           "--epochs", "1", "--seeds", "2", "--eta", "0.5,3", "--sizes",
                           "784,10,10", *extra], capture_output=True, text=True, timeout=600,
                          cwd=tempfile.gettempdir())


def test_sweep_command_with_the_c_kernel():
    rows = r"^\| ([\d.]+) \| 0 \| 0 \| ([\d.]+) \+- ([\d.]+) % \| ([\d.]+) % \| 2 \| ok \|$"
    c, j = _sweep("--impl", "c", "--threads", "2"), _sweep()
    assert c.returncode == 0 and j.returncode == 0, c.stderr + j.stderr
    # float32 at η 0.5 and 3: one epoch differs by rounding only; 1 % of the digits
    got, want = re.findall(rows, c.stdout, re.M), re.findall(rows, j.stdout, re.M)
    assert [r[0] for r in got] == ["0.5", "3"], c.stdout
    assert all(abs(float(a[3]) - float(b[3])) <= 1 for a, b in zip(got, want)), (got, want)


def test_sweep_threads_without_the_c_kernel_is_refused(capsys):
    from jaxnet.cli import main
    code = main(["sweep", "--data", "sample", "--seeds", "2", "--sizes", "784,10,10",
                 "--threads", "2"])                  # refused before any data is loaded
    assert code == 2
    assert "--threads 2 applies to --impl c only" in capsys.readouterr().err


def test_train_ensemble_with_the_c_kernel_votes_as_with_jax(capsys):
    """``jaxnet train --ensemble 3 --impl c``: a conv net with dropout, float64, so C
    follows JAX to EPOCH64_RTOL and every member's count and the vote are the same
    integers; the header says how many members train at once."""
    from jaxnet.cli import main
    argv = ["train", "--data", "sample", "--layers", "conv:2:5,pool:2,fc:10,softmax:10",
            "--dropout", "0.2", "--dtype", "float64", "--eta", "0.5", "--epochs", "1",
            "--ensemble", "3", "--eval", "validation", "--progress", "never",
            "--compile-cache", "none"]
    outs = []
    for impl in (["--impl", "c", "--threads", "2"], ["--impl", "jax"]):
        assert main(argv + impl) == 0
        outs.append(capsys.readouterr().out.splitlines())
    (c_head, *c_rest), (j_head, *j_rest) = outs
    assert "C kernel" in c_head and "2 members at once" in c_head, c_head
    counts = [ln for ln in c_rest if ln.startswith(("Epoch 0:", "ensemble of 3"))]
    assert len(counts) == 3, c_rest              # the epoch, the votes on validation and test
    assert counts == [ln for ln in j_rest if ln.startswith(("Epoch 0:", "ensemble of 3"))]
    members = [int(v) for v in counts[0].split("members ")[1].split(" /")[0].split()]
    assert len(set(members)) > 1 and min(members) > 200, members   # three nets that learnt
