"""Population checkpoints: a resumed sweep equals the uninterrupted one; SIGTERM
finishes the epoch and saves; a checkpoint of another sweep is refused, naming why."""

import os
import signal

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import assert_trees_close

import jaxnet

# Resuming runs the same compiled programs on the same inputs (XLA on the CPU is
# deterministic), so every member's parameters must be bit for bit the same.
RESUME_RTOL = 0.0
P = 3


def _sweep(sample, sizes=(784, 8, 10), dtype=jnp.float64, precision="highest"):
    model = jaxnet.Model.dense(list(sizes), cost="cross_entropy", precision=precision)
    keys = jax.random.split(jax.random.PRNGKey(3), P)
    pop = jaxnet.init_population(keys, model, dtype=dtype)
    kw = dict(model=model, batch_size=10, x_scale=1 / 256, eta=[0.5, 1.0, 2.0],
              momentum=[0.0, 0.4, 0.2], lmbda=0.5,
              eval_data=(sample.test.images[:100], sample.test.labels[:100]))
    return keys, pop, sample.train.images[:200], sample.train.labels[:200], kw


@pytest.fixture(scope="module")
def sweep(sample):
    """``(keys, pop, x, labels, kw, the uninterrupted 3-epoch result)``."""
    keys, pop, x, labels, kw = _sweep(sample)
    return keys, pop, x, labels, kw, jaxnet.fit_population(keys, pop, x, labels, epochs=3, **kw)


def _same(a, b):
    assert_trees_close(a.params, b.params, RESUME_RTOL, "params")
    assert_trees_close(a.velocity, b.velocity, RESUME_RTOL, "velocity")
    np.testing.assert_array_equal(a.correct, b.correct)
    np.testing.assert_array_equal(a.best, b.best)


def test_a_resumed_sweep_equals_the_uninterrupted_one(sweep, tmp_path):
    keys, pop, x, labels, kw, full = sweep
    ck = tmp_path / "sweep.npz"
    first = jaxnet.fit_population(keys, pop, x, labels, epochs=1, checkpoint=ck, **kw)
    assert first.correct.shape == (1, P) and ck.exists()
    rest = jaxnet.fit_population(keys, pop, x, labels, epochs=3, checkpoint=ck, resume=True,
                                 **kw)
    assert len(rest.epoch_seconds) == 2           # continued, not restarted
    _same(rest, full)
    assert first.stopped is None and rest.stopped is None
    # the members really trained and differ
    moved = float(jnp.max(jnp.abs(full.params[0].w - pop[0].w)))
    assert moved > 1e-3 and len({float(full.params[0].w[i, 0, 300]) for i in range(P)}) == P


def test_sigterm_finishes_the_epoch_saves_and_resumes_identically(sweep, tmp_path):
    keys, pop, x, labels, kw, full = sweep
    ck = tmp_path / "sweep.npz"
    seen = []

    def kill_once(epoch, correct):
        seen.append(epoch)
        if epoch == 0:
            os.kill(os.getpid(), signal.SIGTERM)
    part = jaxnet.fit_population(keys, pop, x, labels, epochs=3, checkpoint=ck,
                                 checkpoint_every=5, on_epoch=kill_once, **kw)
    assert seen == [0] and part.correct.shape == (1, P)
    assert part.stopped.startswith("interrupted by SIGTERM after epoch 0") and str(ck) in \
        part.stopped
    rest = jaxnet.fit_population(keys, pop, x, labels, epochs=3, checkpoint=ck, resume=True,
                                 **kw)
    _same(rest, full)


@pytest.mark.parametrize("change, match", [
    (dict(eta=[0.5, 1.5, 2.0]), r"eta: checkpoint \[0.5, 1.0, 2.0\], this run \[0.5, 1.5, 2.0\]"),
    (dict(keys=1), "keys_sha256: checkpoint"),
    (dict(x=1), "images_sha256: checkpoint"),
    (dict(eval_data=1), "eval_sha256: checkpoint"),
    (dict(precision="default"), "precision: checkpoint 'highest', this run 'default'"),
    (dict(dtype=jnp.float32), "dtype: checkpoint 'float64', this run 'float32'"),
    (dict(sizes=(784, 9, 10)), r"sizes: checkpoint \[784, 8, 10\], this run \[784, 9, 10\]"),
])
def test_a_checkpoint_of_another_sweep_is_refused_naming_the_difference(sample, sweep, tmp_path,
                                                                        change, match):
    keys, pop, x, labels, kw, _ = sweep
    ck = tmp_path / "sweep.npz"
    jaxnet.fit_population(keys, pop, x, labels, epochs=1, checkpoint=ck, **kw)
    keys2, kw2 = keys, dict(kw, eta=change.get("eta", kw["eta"]))
    sizes = change.get("sizes", (784, 8, 10))
    kw2["model"] = jaxnet.Model.dense(list(sizes), cost="cross_entropy",
                                      precision=change.get("precision", "highest"))
    rng = np.random.default_rng(0)    # only the shapes and dtype matter: no init to compile
    pop2 = tuple(jaxnet.Layer(rng.normal(size=(P, o, i)), rng.normal(size=(P, o)))
                 for i, o in zip(sizes[:-1], sizes[1:]))
    pop2 = jax.tree.map(lambda a: a.astype(change.get("dtype", np.float64)), pop2)
    if "keys" in change:
        keys2 = jax.random.split(jax.random.PRNGKey(4), P)
    if "x" in change:
        x = sample.train.images[200:400]
    if "eval_data" in change:
        kw2["eval_data"] = (sample.test.images[100:200], sample.test.labels[100:200])
    before = ck.read_bytes()
    with pytest.raises(jaxnet.CheckpointError, match=f"belongs to another run .*{match}"):
        jaxnet.fit_population(keys2, pop2, x, labels, epochs=2, checkpoint=ck, resume=True,
                              **kw2)
    assert ck.read_bytes() == before


def test_existing_foreign_or_damaged_checkpoints_are_refused_before_training(sweep, tmp_path):
    keys, pop, x, labels, kw, _ = sweep
    ck = tmp_path / "sweep.npz"
    jaxnet.fit_population(keys, pop, x, labels, epochs=1, checkpoint=ck, **kw)
    good = ck.read_bytes()
    with pytest.raises(jaxnet.CheckpointError, match="exists; pass resume=True"):
        jaxnet.fit_population(keys, pop, x, labels, epochs=2, checkpoint=ck, **kw)
    with pytest.raises(jaxnet.CheckpointError, match="has trained 1 epochs, more than the 0"):
        jaxnet.fit_population(keys, pop, x, labels, epochs=0, checkpoint=ck, resume=True, **kw)
    solo = tmp_path / "fit.npz"
    jaxnet.fit(keys[0], jax.tree.map(lambda a: a[0], pop), x, labels, epochs=1, checkpoint=solo,
               **dict(kw, eta=0.5, momentum=0.0, lmbda=0.5))
    with pytest.raises(jaxnet.CheckpointError, match="not a population checkpoint"):
        jaxnet.fit_population(keys, pop, x, labels, epochs=2, checkpoint=solo, resume=True,
                              **kw)
    ck.write_bytes(good[: len(good) // 2])
    with pytest.raises(jaxnet.CheckpointError, match="not a readable jaxnet checkpoint"):
        jaxnet.fit_population(keys, pop, x, labels, epochs=2, checkpoint=ck, resume=True, **kw)
    again = jaxnet.fit_population(keys, pop, x, labels, epochs=1, checkpoint=ck,
                                  overwrite=True, **kw)
    assert again.correct.shape == (1, P) and ck.read_bytes() != good[: len(good) // 2]
    with pytest.raises(ValueError, match="checkpoint_every: expected a positive int"):
        jaxnet.fit_population(keys, pop, x, labels, epochs=1, checkpoint=ck, overwrite=True,
                              checkpoint_every=0, **kw)


def test_the_result_names_the_best_member_of_each_configuration(sweep):
    keys, pop, x, labels, kw, _ = sweep
    kw = dict(kw, eta=[0.5, 3.0, 0.5], momentum=[0.1, 0.0, 0.1])  # members 0 and 2: one config
    res = jaxnet.fit_population(keys, pop, x, labels, epochs=1, **kw)
    np.testing.assert_array_equal(res.configs, [0, 1, 0])
    final = res.correct[-1]
    want0 = 0 if final[0] >= final[2] else 2
    assert res.best.tolist() == [want0, 1], (final, res.best)
    assert jaxnet.fit_population(keys, pop, x, labels, epochs=1,
                                 **dict(kw, eval_data=None)).best is None
