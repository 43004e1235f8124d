"""Data parallelism: a mini-batch split over 4 (forced) CPU devices, and over 2 processes."""

import json
import os
import socket
import subprocess
import sys
import tempfile

# The devices hold partial sums of each mini-batch's gradient, which XLA adds
# up across devices: another summation order, ~1e-16 relative per step,
# carried through 50 steps of a contracting map (as in test_training).
PARALLEL_RTOL = 1e-10

_FOUR = r"""
import json, jax, numpy as np
jax.config.update("jax_enable_x64", True)
import jaxnet
from jaxnet import data
from jaxnet.train._epoch import epoch
from jaxnet.train._steps import data_parallel
assert len(jax.devices()) == 4, jax.devices()
s = data.load_sample()
params = jaxnet.init_params(jax.random.PRNGKey(0), [784, 30, 10], dtype="float64")
order = np.random.default_rng(0).permutation(1000).astype(np.int32)
x, y = s.train.images[:1000], s.train.y()[:1000].astype(np.float64)
kw = dict(eta=3.0, batch_size=20, x_scale=1 / 256)
one = jaxnet.train_epoch(params, x, y, order, **kw)
mesh = jax.make_mesh((4,), ("data",))
four = jaxnet.train_epoch(params, x, y, order, mesh=mesh, **kw)
rel = max(float(np.max(np.abs(np.asarray(a) - np.asarray(b))) / np.max(np.abs(np.asarray(b))))
          for a, b in zip(jax.tree.leaves(four), jax.tree.leaves(one)))
moved = float(np.max(np.abs(np.asarray(four[0].w) - np.asarray(params[0].w))))
rule = jaxnet.sgd(3.0)
sharding, (p, st, xx, yy, oo) = data_parallel(mesh, 20, [params, rule.init(params), x, y, order])
hlo = epoch.lower(p, st, xx, yy, oo, np.float64(1 / 256), None, model=jaxnet.Model.dense([784, 30, 10]),
                  rule=rule, grad="backprop", batch_size=20, sharding=sharding).compile().as_text()
print(json.dumps(dict(rel=rel, moved=moved, all_reduce="all-reduce" in hlo,
                      devices=len(four[0].w.sharding.device_set))))
"""


def _python(code, env=None, **kw):
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=600, cwd=tempfile.gettempdir(), env=env, **kw)


def test_four_devices_equal_one_device():
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=4")
    r = _python(_FOUR, env=env)
    assert r.returncode == 0, r.stderr[-3000:]
    out = json.loads(r.stdout.strip().splitlines()[-1])
    assert out["all_reduce"], "the mini-batch was not split: no gradient all-reduce in the program"
    assert out["devices"] == 4 and out["moved"] > 1e-3
    assert out["rel"] <= PARALLEL_RTOL, out


def test_mesh_errors_are_named():
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=4")
    code = r"""
import jax, numpy as np, jaxnet
p = jaxnet.init_params(jax.random.PRNGKey(0), [4, 3, 2])
x, y = np.zeros((12, 4), np.float32), np.zeros((12, 2), np.float32)
try:
    jaxnet.train_epoch(p, x, y, np.arange(12), eta=1.0, batch_size=6,
                       mesh=jax.make_mesh((4,), ("data",)))
except ValueError as e:
    print(e)
"""
    r = _python(code, env=env)
    assert "batch_size: 6 does not split evenly over the mesh's 4 devices" in r.stdout, r.stderr


_WORKER = r"""
import json, sys, jax, numpy as np
port, pid, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
jax.config.update("jax_enable_x64", True)
jax.config.update("jax_cpu_collectives_implementation", "gloo")
jax.distributed.initialize(coordinator_address=f"127.0.0.1:{port}", num_processes=2,
                           process_id=pid)
import jaxnet
from jaxnet import data
assert jax.process_count() == 2 and len(jax.devices()) == 2, jax.devices()
s = data.load_sample()
params = jaxnet.init_params(jax.random.PRNGKey(0), [784, 30, 10], dtype="float64")
order = np.random.default_rng(0).permutation(1000).astype(np.int32)
x, y = s.train.images[:1000], s.train.y()[:1000].astype(np.float64)
mesh = jax.make_mesh((2,), ("data",))
p = jaxnet.train_epoch(params, x, y, order, eta=3.0, batch_size=20, x_scale=1 / 256, mesh=mesh)
leaves = [np.asarray(a.addressable_data(0)).tolist() for a in jax.tree.leaves(p)]
with open(out, "w") as f:
    json.dump(leaves, f)
jax.distributed.shutdown()
"""


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_processes_equal_one_process(sample, tmp_path):
    import jax
    import numpy as np

    import jaxnet
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
    outs = [tmp_path / f"p{i}.json" for i in range(2)]
    procs = [subprocess.Popen([sys.executable, "-c", _WORKER, str(port), str(i), str(outs[i])],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              cwd=tempfile.gettempdir(), env=env) for i in range(2)]
    results = [p.communicate(timeout=600) for p in procs]
    for p, (_, err) in zip(procs, results):
        assert p.returncode == 0, err[-3000:]
    params = jaxnet.init_params(jax.random.PRNGKey(0), [784, 30, 10], dtype="float64")
    order = np.random.default_rng(0).permutation(1000).astype(np.int32)
    one = jaxnet.train_epoch(params, sample.train.images[:1000],
                             sample.train.y()[:1000].astype(np.float64), order, eta=3.0,
                             batch_size=20, x_scale=1 / 256)
    for path in outs:  # both processes hold the same, replicated parameters
        got = [np.asarray(a) for a in json.loads(path.read_text())]
        for g, e in zip(got, jax.tree.leaves(one)):
            e = np.asarray(e)
            assert np.max(np.abs(g - e)) / np.max(np.abs(e)) <= PARALLEL_RTOL
