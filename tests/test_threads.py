"""XLA:CPU's intra-op threads: the advice (jaxnet.cpu_threads_for), the setter that
takes effect before JAX starts and refuses after, and `jaxnet train --cpu-threads`.

The thread count is process-wide and fixed when JAX starts its backend, so every
check of an effect runs in a fresh child process (outside the source tree)."""

import json
import os
import subprocess
import sys
import tempfile

import jax
import numpy as np
import pytest
from conftest import assert_trees_close

import jaxnet
from jaxnet.bench import flops_per_example

# One float32 epoch (500 steps of mini-batch 10) under 1 thread and under XLA's default:
# each product's sums may be split differently across threads (a few float32 ulps, ~1e-7
# relative, per step), carried through ~500 steps of I - ηH: well below 1e-4, far below
# the 1e-2 that the epoch moves the weights.
THREADS_RTOL = 1e-4

CHILD = r"""
import json, os, sys
mode = sys.argv[1]
import jaxnet
if mode == "one":
    jaxnet.set_cpu_threads(1)
import jax, numpy as np
from jaxnet import data
s = data.load_sample()
p0 = jaxnet.init_params(jax.random.PRNGKey(0), [784, 30, 10])
x, y = s.train.images, s.train.y()
order = np.random.default_rng(0).permutation(len(x)).astype(np.int32)
p = jaxnet.train_epoch(p0, x, y, order, eta=3.0, batch_size=10, x_scale=data.PIXEL_SCALE)
pools = sum(open(f"/proc/self/task/{t}/comm").read().strip() == "tf_XLAEigen"
            for t in os.listdir("/proc/self/task"))
late = None
try:
    jaxnet.set_cpu_threads(1)
except RuntimeError as e:
    late = str(e)
print(json.dumps(dict(env=os.environ.get("PJRT_NPROC"), pool=pools, late=late,
                      params=[[np.asarray(a).tolist() for a in l] for l in p],
                      start=[[np.asarray(a).tolist() for a in l] for l in p0])))
"""


def _child(mode):
    env = {k: v for k, v in os.environ.items() if k not in ("PJRT_NPROC", "NPROC")}
    env.update(JAX_PLATFORMS="cpu", JAX_ENABLE_X64="0")
    out = subprocess.run([sys.executable, "-c", CHILD, mode], capture_output=True, text=True,
                         env=env, timeout=300, cwd=tempfile.gettempdir())
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def children():
    return {mode: _child(mode) for mode in ("one", "default")}


def _layers(lists):
    return tuple(jaxnet.Layer(np.asarray(w, np.float32), np.asarray(b, np.float32))
                 for w, b in lists)


def test_one_thread_takes_effect_before_jax_starts(children):
    one, default = children["one"], children["default"]
    assert one["env"] == "1" and default["env"] is None
    if sys.platform.startswith("linux"):   # XLA names its pool's threads tf_XLAEigen
        assert one["pool"] == 1, one["pool"]
        assert default["pool"] == len(os.sched_getaffinity(0)), default["pool"]


def test_setting_threads_after_jax_started_is_an_error(children):
    for child in children.values():
        assert child["late"] is not None and "already started" in child["late"], child["late"]
        assert "PJRT_NPROC=1" in child["late"]


def test_one_thread_follows_the_default_threads_trajectory(children):
    one, default = _layers(children["one"]["params"]), _layers(children["default"]["params"])
    assert_trees_close(one, default, THREADS_RTOL, "1 thread vs default")
    start = _layers(children["one"]["start"])
    moved = max(float(np.abs(a - b).max()) for a, b in zip(jax.tree.leaves(one),
                                                          jax.tree.leaves(start)))
    assert moved > 100 * THREADS_RTOL, moved   # not vacuous: the epoch moved the weights


def test_advice_is_one_thread_for_tiny_products_only():
    ch1 = jaxnet.Model.dense((784, 30, 10))
    assert jaxnet.cpu_threads_for(ch1, 10) == 1
    assert jaxnet.cpu_threads_for(ch1, 1000) is None
    conv = jaxnet.Model((1, 28, 28), (jaxnet.ConvPool(20, 5, 2), jaxnet.Dense(10, "softmax")),
                        cost="log_likelihood")
    assert jaxnet.cpu_threads_for(conv, 10) is None   # 24·24·25·20·2 FLOP an example, ×3
    with pytest.raises(ValueError, match="batch_size"):
        jaxnet.cpu_threads_for(ch1, 0)


def test_step_flops_of_a_dense_chain_are_the_benchmarks_count():
    from jaxnet._core.threads import step_flops
    for sizes in ((784, 30, 10), (784, 100, 30, 10)):
        model = jaxnet.Model.dense(sizes)
        assert step_flops(model, 7) == 7 * flops_per_example(sizes)


@pytest.mark.parametrize("bad", [0, -1, 1.5, True, "2"])
def test_set_cpu_threads_refuses_a_bad_count(bad):
    with pytest.raises(ValueError, match="positive int"):
        jaxnet.set_cpu_threads(bad)


def _train(*flags, **extra_env):
    env = {k: v for k, v in os.environ.items() if k not in ("PJRT_NPROC", "NPROC")}
    env.update(JAX_PLATFORMS="cpu", **extra_env)
    return subprocess.run([sys.executable, "-m", "jaxnet", "train", "--data", "sample",
                           "--epochs", "0", "--compile-cache", "none", *flags],
                          capture_output=True, text=True, env=env, timeout=300,
                          cwd=tempfile.gettempdir())


def test_train_chooses_and_prints_its_threads():
    chosen = _train()
    assert chosen.returncode == 0, chosen.stderr[-2000:]
    assert "1 XLA:CPU thread (chosen: 1.0 MFLOP of products a step)" in chosen.stdout
    told = _train("--cpu-threads", "2", "--batch-size", "100")
    assert told.returncode == 0, told.stderr[-2000:]
    assert "2 XLA:CPU threads (--cpu-threads)" in told.stdout
    bad = _train("--cpu-threads", "0")
    assert bad.returncode == 2 and "--cpu-threads" in bad.stderr
    # The user's own PJRT_NPROC is kept (not replaced by the advice, nor removed) and named.
    own = _train("--batch-size", "100", PJRT_NPROC="2")
    assert own.returncode == 0, own.stderr[-2000:]
    assert "2 XLA:CPU threads (PJRT_NPROC in the environment)" in own.stdout
