"""Populations (jax.vmap): every member equals the same network trained alone."""

import re
import subprocess
import sys
import tempfile

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import assert_trees_close, rel_err

import jaxnet

# float64. vmap turns the members' matrix products into one batched product,
# which may sum in another order than the single network's. On the CPU the
# two are bit-identical; on an H100 member 2 (eta 3) differed from its solo
# run by 1.6e-5 while members 0 and 1 stayed within 1e-10. The reason is the
# run, not the products: nudging member 2's *initial* parameters by one ulp
# changes its solo result by ~8e-6 (measured here, on the CPU), while the
# same nudge moves members 0 and 1 by ~1e-14. So the claim we test: a
# member differs from its solo run by no more than MEMBER_RTOL, or by no more
# than the run's own rounding sensitivity (the one-ulp divergence) times the
# number of steps, each of which may inject a rounding difference of its own.
MEMBER_RTOL = 1e-10
STEPS = 2 * 50  # 2 epochs of 500 examples in mini-batches of 10
# An evaluation argmax flips only where the two top outputs differ by less than
# the parameters' difference: 3 of 300 (1 %) is generous for a ~1e-5 run.
MAX_FLIPS = 3


def _rel(a, b):
    return max(rel_err(x, y) for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)))


CE = jaxnet.Model.dense([784, 20, 10], cost="cross_entropy")


def test_each_member_equals_training_it_alone(sample):
    images, labels = sample.train.images[:500], sample.train.labels[:500]
    ev = (sample.test.images[:300], sample.test.labels[:300])
    keys = jax.random.split(jax.random.PRNGKey(4), 3)
    init_keys, fit_keys = keys, jax.random.split(jax.random.PRNGKey(5), 3)
    pop = jaxnet.init_population(init_keys, [784, 20, 10], dtype=jnp.float64)
    hyper = dict(eta=[0.5, 1.0, 3.0], lmbda=[0.0, 2.0, 0.0], momentum=[0.0, 0.5, 0.2])
    res = jaxnet.fit_population(fit_keys, pop, images, labels, epochs=2, batch_size=10,
                                x_scale=1 / 256, eval_data=ev, model=CE, **hyper)
    assert res.correct.shape == (2, 3) and res.total == 300
    for i in range(3):
        start = jax.tree.map(lambda a, i=i: np.asarray(a[i]), pop)
        solo = dict(epochs=2, batch_size=10, x_scale=1 / 256, eval_data=ev,
                    model=CE, eta=hyper["eta"][i], lmbda=hyper["lmbda"][i],
                    momentum=hyper["momentum"][i])
        alone = jaxnet.fit(fit_keys[i], start, images, labels, **solo)
        nudged = jaxnet.fit(fit_keys[i], jax.tree.map(lambda a: np.nextafter(a, np.inf), start),
                            images, labels, **solo)
        sensitivity = _rel(nudged.params, alone.params)
        bound = max(MEMBER_RTOL, STEPS * sensitivity)
        member = jax.tree.map(lambda a, i=i: a[i], res.params)
        assert_trees_close(member, alone.params, bound,
                           f"member {i} (one-ulp sensitivity {sensitivity:.1e})")
        flips = np.abs(res.correct[:, i] - [r.correct for r in alone.history])
        assert flips.max() <= (0 if bound == MEMBER_RTOL else MAX_FLIPS), (i, flips)
    # the members really differ (different η, λ, μ and shuffles)
    assert len({round(float(res.params[0].w[i, 0, 300]), 12) for i in range(3)}) == 3


@pytest.mark.parametrize("kw, match", [
    (dict(keys=np.zeros((3, 3), np.uint32)), r"keys: expected \(P, 2\) uint32"),
    (dict(eta=[1.0, 2.0]), r"eta: expected a number or 3 values"),
    (dict(eta=[1.0, 0.0, 1.0]), "every member needs eta > 0"),
    (dict(momentum=[0.0, 1.5, 0.0]), r"momentum: member 1 has 1.5"),
    (dict(lmbda=-1.0), "lmbda: member 0 has -1.0"),
])
def test_bad_population_arguments_are_named(kw, match):
    keys = jax.random.split(jax.random.PRNGKey(0), 3)
    pop = jaxnet.init_population(keys, [5, 4, 3], dtype=jnp.float64)
    rng = np.random.default_rng(0)
    x, labels = rng.uniform(size=(20, 5)), rng.integers(0, 3, 20)
    args = dict(keys=keys, eta=1.0)
    args.update(kw)
    with pytest.raises(ValueError, match=match):
        jaxnet.fit_population(args.pop("keys"), pop, x, labels, epochs=1, batch_size=5, **args)


def test_sweep_command_prints_a_summary_per_configuration():
    r = subprocess.run([sys.executable, "-m", "jaxnet", "sweep", "--data", "sample", "--epochs",
                        "1", "--seeds", "2", "--eta", "0.5,3", "--sizes", "784,10,10"],
                       capture_output=True, text=True, timeout=600, cwd=tempfile.gettempdir())
    assert r.returncode == 0, r.stderr
    assert "4 members (2 configurations x 2 seeds)" in r.stdout
    rows = re.findall(r"^\| ([\d.]+) \| 0 \| 0 \| ([\d.]+) \+- ([\d.]+) % \| ([\d.]+) % \| 2 \| ok \|$",
                      r.stdout, re.M)
    assert [row[0] for row in rows] == ["0.5", "3"], r.stdout
    assert all(0 < float(row[1]) <= float(row[3]) <= 100 for row in rows)
