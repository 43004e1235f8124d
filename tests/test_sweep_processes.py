"""``jaxnet sweep`` over two processes (jax.distributed, gloo over loopback), launched
as the README shows: it equals the same sweep in one process, and a member equals
``jaxnet train`` with its seed and hyper-parameters."""

import os
import socket
import subprocess
import sys
import tempfile

import numpy as np
from conftest import assert_trees_close

import jaxnet

# Each process holds 5 of the 9 members (padded to 10) where one process holds all 9:
# XLA's CPU backend picks the batched products' kernel by that shape, so a step may
# round another way (~1 ulp of float64); 1000 steps of eta <= 1 keep it far below this.
PROCESS_RTOL = 1e-10
SWEEP = ["sweep", "--data", "sample", "--sizes", "784,10,10", "--seeds", "3", "--eta", "1",
         "--momentum", "0,0.3,0.6", "--epochs", "2", "--dtype", "float64"]
# One CPU device each (also on a machine with a GPU: these are the CPU's guarantees).
ENV = dict({k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}, JAX_PLATFORMS="cpu")


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _jaxnet(*args):
    return [sys.executable, "-m", "jaxnet", *map(str, args)]


def _arrays(path):
    with np.load(path) as z:     # our own file: no pickle
        return {k: z[k] for k in z.files if k != "meta"}


def test_a_sweep_over_two_processes_equals_one_process(tmp_path):
    two, one, solo = tmp_path / "two.npz", tmp_path / "one.npz", tmp_path / "solo.npz"
    port = _free_port()
    procs = [subprocess.Popen(_jaxnet(*SWEEP, "--checkpoint", two, "--coordinator",
                                      f"127.0.0.1:{port}", "--num-processes", 2,
                                      "--process-id", i),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              cwd=tempfile.gettempdir(), env=ENV) for i in range(2)]
    outs = [p.communicate(timeout=600) for p in procs]
    for p, (_, err) in zip(procs, outs):
        assert p.returncode == 0, err[-3000:]
    assert "2 cpu devices in 2 processes" in outs[0][0] and "Epoch 1:" in outs[0][0]
    assert "Epoch" not in outs[1][0] and "jaxnet sweep" not in outs[1][0]  # 0 alone prints
    r = subprocess.run(_jaxnet(*SWEEP, "--checkpoint", one), capture_output=True, text=True,
                       timeout=600, cwd=tempfile.gettempdir(), env=ENV)
    assert r.returncode == 0, r.stderr
    a, b = _arrays(two), _arrays(one)
    assert a["w0"].shape == (9, 10, 784) and not np.array_equal(a["w0"][0], a["w0"][1])
    assert_trees_close(a, b, PROCESS_RTOL, "two processes vs one")
    np.testing.assert_array_equal(a["correct"], b["correct"])
    # member 5: configuration 1 (momentum 0.3), seed 2, as `jaxnet train --seed 2` trains it
    r = subprocess.run(_jaxnet("train", "--data", "sample", "--sizes", "784,10,10", "--eta", 1,
                               "--momentum", 0.3, "--seed", 2, "--epochs", 2, "--dtype",
                               "float64", "--progress", "never", "--save", solo),
                       capture_output=True, text=True, timeout=600, cwd=tempfile.gettempdir(),
                       env=ENV)
    assert r.returncode == 0, r.stderr
    member = tuple(jaxnet.Layer(a[f"w{l}"][5], a[f"b{l}"][5]) for l in range(2))
    assert_trees_close(member, jaxnet.load_params(solo), PROCESS_RTOL, "member 5 vs train")
