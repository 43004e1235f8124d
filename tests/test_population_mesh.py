"""Populations split over devices: 4 forced CPU devices, P = 4, 6 and 8 members (padded
when P does not divide them), a 2-D members x data mesh, a chapter-6 (ConvPool)
population, and the checkpoint of a sharded sweep."""

import json
import os
import subprocess
import sys
import tempfile

import pytest

# Against the whole unsharded population (or a member's solo fit), XLA's CPU backend
# picks the batched matrix products' kernel by their shape (members per device), so a
# step may round another way (~1 ulp; measured: 0 for P = 6 and 8, 1.6e-15 for P = 4);
# these runs (eta <= 1) contract such a change, so it stays within a few hundred ulps of
# float64 after 40 steps.
SHARD_RTOL = 1e-12
# A checkpoint resumed on the same split runs the same programs on the same inputs.
RESUME_RTOL = 0.0
# The 2-D mesh also splits each mini-batch over 2 devices, whose partial gradients XLA
# adds across them (as tests/test_distributed.py): ~1e-16 per step, carried 40 steps.
DATA_SPLIT_RTOL = 1e-10

_SCRIPT = r"""
import json, jax, numpy as np
jax.config.update("jax_enable_x64", True)
import jaxnet
from jaxnet import data
from jaxnet.train._population.fit import population_epoch
assert len(jax.devices()) == 4, jax.devices()
s = data.load_sample()
x, l = s.train.images[:200], s.train.labels[:200]
ev = (s.test.images[:100], s.test.labels[:100])
MODEL = jaxnet.Model.dense([784, 6, 10], cost="cross_entropy")
MESH = jax.make_mesh((4,), ("m",))

def rel(a, b, n=None):
    out = 0.0
    for u, v in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
        u, v = np.asarray(u)[:n], np.asarray(v)[:n]
        out = max(out, float(np.max(np.abs(u - v)) / np.max(np.abs(v))))
    return out

def member(t, i):
    return jax.tree.map(lambda a: a[i], t)

def sweep(P, model=MODEL, x=x, l=l, epochs=2, **kw):
    keys = jax.random.split(jax.random.PRNGKey(P), P)
    pop = jaxnet.init_population(keys, model, dtype="float64",
                                 init="scaled" if model is not MODEL else "large")
    hyper = dict(eta=np.linspace(0.3, 1.0, P), momentum=np.linspace(0.0, 0.5, P), lmbda=0.5)
    args = dict(model=model, epochs=epochs, batch_size=10, x_scale=1 / 256, eval_data=ev)
    fit = lambda k, p, **more: jaxnet.fit_population(k, p, x, l, **hyper, **args, **more)
    return keys, pop, hyper, args, fit

out = {}
for P in (4, 6, 8):
    keys, pop, hyper, args, fit = sweep(P)
    sharded, whole = fit(keys, pop, mesh=MESH), fit(keys, pop)
    solo = 0.0
    for i in (0, P - 1):                      # the first member and the last (P = 6: padded)
        one = jaxnet.fit(keys[i], member(pop, i), x, l, eta=hyper["eta"][i],
                         momentum=hyper["momentum"][i], lmbda=0.5, **args)
        solo = max(solo, rel(member(sharded.params, i), one.params))
    out[P] = dict(whole=rel((sharded.params, sharded.velocity), (whole.params, whole.velocity)),
                  solo=solo, shape=list(sharded.params[0].w.shape),
                  correct=(sharded.correct == whole.correct).all().item(),
                  moved=rel(sharded.params, pop), best=sharded.best.tolist(),
                  distinct=len({float(sharded.params[0].w[i, 0, 300]) for i in range(P)}))

# The sharded epoch: members on all 4 devices, and no gradient summed across them.
from jaxnet.train._population.mesh import member_sharding, put_members
sh = member_sharding(MESH)
keys, pop, hyper, args, fit = sweep(6)
on = put_members((pop, jaxnet.SgdState(np.full(6, 0.5)), keys), 6, sh)
hlo = population_epoch.lower(*on, x, jaxnet.data.one_hot(l, 10, np.float64), np.float64(1 / 256),
                             None, model=MODEL, rule=jaxnet.sgd(1.0), grad="backprop",
                             batch_size=10, sharding=sh).compile().as_text()
out["epoch"] = dict(all_reduce="all-reduce" in hlo, devices=len(on[0][0].w.sharding.device_set),
                    local=list(on[0][0].w.addressable_shards[0].data.shape))

# A 2-D mesh: 2 groups of members, each mini-batch split over 2 devices.
keys, pop, hyper, args, fit = sweep(6)
two = fit(keys, pop, mesh=jax.make_mesh((2, 2), ("members", "data")))
out["2d"] = rel(two.params, fit(keys, pop).params)

# Chapter 6: an ensemble of ConvPool nets, sharded.
conv = jaxnet.Model((1, 28, 28), (jaxnet.ConvPool(2, 5, 2, "relu"), jaxnet.Dense(10, "softmax")),
                    cost="log_likelihood")
keys, pop, hyper, args, fit = sweep(6, conv, x[:60], l[:60], epochs=1)
cs = fit(keys, pop, mesh=MESH)
out["conv"] = dict(whole=rel(cs.params, fit(keys, pop).params), moved=rel(cs.params, pop))

# A sharded sweep's checkpoint: resumed on the same split it is the uninterrupted run;
# another number of members per device is another sweep.
import tempfile, os
ck = os.path.join(tempfile.mkdtemp(), "sweep.npz")
keys, pop, hyper, args, fit = sweep(8)
full = fit(keys, pop, mesh=MESH)
jaxnet.fit_population(keys, pop, x, l, mesh=MESH, checkpoint=ck, **hyper, **dict(args, epochs=1))
two_dev = jax.make_mesh((2,), ("m",), devices=jax.devices()[:2])
try:
    fit(keys, pop, mesh=two_dev, checkpoint=ck, resume=True)
    out["refused"] = None
except jaxnet.CheckpointError as e:
    out["refused"] = str(e)
rest = fit(keys, pop, mesh=MESH, checkpoint=ck, resume=True)
out["resumed"] = rel((rest.params, rest.velocity), (full.params, full.velocity))
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def four():
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=4",
               JAX_PLATFORMS="cpu")
    r = subprocess.run([sys.executable, "-c", _SCRIPT], capture_output=True, text=True,
                       timeout=900, cwd=tempfile.gettempdir(), env=env)
    assert r.returncode == 0, r.stderr[-3000:]
    return json.loads(r.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("P", [4, 6, 8])
def test_a_sharded_population_equals_the_unsharded_one(four, P):
    got = four[str(P)]
    assert got["shape"][0] == P and got["distinct"] == P and got["moved"] > 1e-3, got
    assert got["whole"] <= SHARD_RTOL and got["solo"] <= SHARD_RTOL, got
    assert got["correct"], got


def test_the_members_are_split_over_the_devices_without_communication(four):
    e = four["epoch"]
    assert e["devices"] == 4 and e["local"][0] == 2, e   # 6 members padded to 8: 2 each
    assert not e["all_reduce"], "the sharded epoch sums something across devices"


def test_a_two_d_mesh_and_a_convpool_population_equal_the_unsharded_ones(four):
    assert four["2d"] <= DATA_SPLIT_RTOL, four["2d"]
    assert four["conv"]["whole"] <= SHARD_RTOL and four["conv"]["moved"] > 1e-3, four["conv"]


def test_a_sharded_checkpoint_resumes_exactly_and_refuses_another_split(four):
    assert four["resumed"] <= RESUME_RTOL, four["resumed"]
    assert four["refused"] and "members_per_device: checkpoint 2, this run 4" in \
        four["refused"], four["refused"]
