"""The precision policy: every matrix product jaxnet compiles names the requested precision.

CI has no GPU, where the platform default (TF32) would differ from true
float32, so these tests pin the policy on the CPU through what JAX lowers:
a child process runs every public entry point with ``precision=P`` while
JAX's own default is set to another value (``JAX_DEFAULT_MATMUL_PRECISION``)
and dumps every program it compiles (``jax_dump_ir_to``); every
``dot_general`` and ``convolution`` in those programs must carry ``P``. A
product that fell back to the default would carry the other value.
"""

import os
import re
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import jax
import numpy as np
import pytest

import jaxnet
from jaxnet._core.precision import (
    F32_ROUNDOFF,
    MAX_RTOL,
    PRECISIONS,
    check_precision,
    matmul_roundoff,
    scaled_rtol,
)

# Per requested precision, a JAX default that differs from it: a product
# without an explicit precision would show this one instead.
OTHER_DEFAULT = {"highest": "default", "high": "highest", "default": "highest"}

# The programs that must contain products (program-name fragments in the dump's
# file names): the gradients, the step, the epoch, evaluation, fit's epoch and
# monitoring, the population's epoch and monitoring, and the optax epoch.
# The compiled programs, by the pure functions' names (jit names each program after its
# function): every gradient, the cost, the output, a step, an epoch (plain, shuffled,
# data-parallel, with an optax rule), evaluation and monitoring, and the population's.
PROGRAMS = ("backprop", "autodiff_grad", "cost", "feedforward", "step", "epoch",
            "count_correct", "shuffled_epoch", "monitor", "population_epoch",
            "population_monitor")

CHILD = textwrap.dedent("""
    import sys
    import jax, jax.numpy as jnp, numpy as np, optax
    jax.config.update("jax_enable_x64", True)
    jax.config.update("jax_dump_ir_to", sys.argv[2])
    import jaxnet
    P = sys.argv[1]
    rng = np.random.default_rng(0)
    for dtype in (np.float32, np.float64):
        p = jaxnet.init_params(jax.random.PRNGKey(0), [6, 5, 3], dtype=dtype)
        x = rng.uniform(size=(12, 6)).astype(dtype)
        labels = rng.integers(0, 3, 12)
        y = np.eye(3, dtype=dtype)[labels]
        order = rng.permutation(12)
        reg = dict(lmbda=1.0, n=12)
        M = jaxnet.Model.dense([6, 5, 3], precision=P)
        jaxnet.backprop(p, x, y, model=M, **reg)
        jaxnet.autodiff_grad(p, x, y, model=M, **reg)
        jaxnet.cost(p, x, y, model=M, **reg)
        jaxnet.feedforward(p, x, model=M)
        jaxnet.sgd_step(p, x, y, 1.0, model=M)
        jaxnet.step_with(jaxnet.momentum(1.0, 0.5), p, None, x, y, model=M)
        jaxnet.train_epoch(p, x, y, order, eta=1.0, batch_size=5, model=M, lmbda=1.0)
        jaxnet.train_epoch(p, x, y, order, eta=1.0, batch_size=4, model=M,  # data parallel
                           mesh=jax.make_mesh((1,), ("data",)))
        jaxnet.evaluate(p, x, labels, model=M)
        jaxnet.fit(jax.random.PRNGKey(1), p, x, labels, epochs=1, eta=1.0, batch_size=5,
                   eval_data=(x, labels), monitor=jaxnet.MONITORS, model=M, momentum=0.5)
        keys = jax.random.split(jax.random.PRNGKey(2), 2)
        pop = jaxnet.init_population(keys, [6, 5, 3], dtype=dtype)
        jaxnet.fit_population(keys, pop, x, labels, epochs=1, eta=[1.0, 2.0], batch_size=5,
                              eval_data=(x, labels), model=M)
        opt = optax.sgd(1.0)
        jaxnet.train_epoch_with(opt, p, opt.init(p), x, y, order, batch_size=5, model=M)
""")

# The checker's own test: one jaxnet program and one product that names no precision,
# which the check must catch (the whole CHILD again would only add ~25 s of compiles).
BARE_CHILD = textwrap.dedent("""
    import sys
    import jax, numpy as np
    jax.config.update("jax_dump_ir_to", sys.argv[2])
    import jaxnet
    P = sys.argv[1]
    x = np.random.default_rng(0).uniform(size=(12, 6)).astype(np.float32)
    p = jaxnet.init_params(jax.random.PRNGKey(0), [6, 5, 3])
    jaxnet.backprop(p, x, np.eye(3, dtype=np.float32)[np.arange(12) % 3],
                    model=jaxnet.Model.dense([6, 5, 3], precision=P))
    jax.jit(lambda a: a @ a.T)(x)
""")

_PRODUCT = re.compile(r"stablehlo\.(dot_general|convolution)\b[^\n]*")
_PRECISION = re.compile(r"precision = \[(\w+), (\w+)\]")


def products_by_program(folder) -> dict:
    """program name → list of the precision pairs of its products (None: no precision)."""
    out = {}
    for f in sorted(Path(folder).glob("*.mlir")):
        name = re.sub(r"^jax_ir\d+_jit_|_compile\.mlir$|\.mlir$", "", f.name)
        for m in _PRODUCT.finditer(f.read_text()):
            p = _PRECISION.search(m.group(0))
            out.setdefault(name, []).append(p.groups() if p else None)
    return out


def lowered_products(precision, tmp_path, inject_bare=False) -> dict:
    env = dict(os.environ, JAX_DEFAULT_MATMUL_PRECISION=OTHER_DEFAULT[precision])
    argv = [sys.executable, "-c", BARE_CHILD if inject_bare else CHILD, precision, str(tmp_path)]
    r = subprocess.run(argv, capture_output=True, text=True, timeout=600, env=env,
                       cwd=tempfile.gettempdir())
    assert r.returncode == 0, r.stderr[-3000:]
    return products_by_program(tmp_path)


def wrong_products(found, precision) -> dict:
    want = (precision.upper(), precision.upper())
    return {name: pairs for name, pairs in found.items() if any(p != want for p in pairs)}


@pytest.mark.parametrize("precision", ["highest", "default"])
def test_every_product_carries_the_requested_precision(precision, tmp_path):
    found = lowered_products(precision, tmp_path)
    for program in PROGRAMS:  # the check is not vacuous: each program was seen, with products
        assert any(program in name for name in found), f"no products in a {program} program: {sorted(found)}"
    assert sum(map(len, found.values())) >= 50
    assert wrong_products(found, precision) == {}


def test_a_product_without_precision_is_caught(tmp_path):
    found = lowered_products("highest", tmp_path, inject_bare=True)
    assert any("backprop" in name for name in found), sorted(found)
    bad = wrong_products(found, "highest")
    assert list(bad) == ["_lambda"], bad
    assert bad["_lambda"] == [("DEFAULT", "DEFAULT")]


def test_precision_names_and_derived_tolerances():
    assert PRECISIONS[0] == "highest"
    assert check_precision("HIGHEST") == "highest"
    assert check_precision(jax.lax.Precision.DEFAULT) == "default"
    with pytest.raises(ValueError, match="precision: expected one of highest, high, default"):
        check_precision("tf32")
    with pytest.raises(ValueError, match="precision: expected one of"):
        jaxnet.Model.dense([2, 2], precision="fast")
    # The CPU computes float32 products in float32 whatever the name.
    for p in PRECISIONS:
        assert matmul_roundoff(p, np.float32, "cpu") == F32_ROUNDOFF
        assert scaled_rtol(1e-5, p, "cpu") == 1e-5
        assert matmul_roundoff(p, np.float64, "gpu") == 2.0 ** -53
    # TF32 keeps 10 of float32's 23 mantissa bits: 2^13 times the roundoff.
    assert matmul_roundoff("default", np.float32, "cuda") == 2.0 ** -11
    assert scaled_rtol(1e-6, "default", "gpu") == pytest.approx(1e-6 * 2 ** 13)
    assert scaled_rtol(1e-3, "default", "gpu") == MAX_RTOL
    assert scaled_rtol(1e-5, "highest", "gpu") == 1e-5
    assert matmul_roundoff("default", np.float32, "tpu") == 2.0 ** -8


def test_checkpoints_record_the_precision(tmp_path, sample):
    x, labels = sample.train.images[:40], sample.train.labels[:40]
    p = jaxnet.init_params(jax.random.PRNGKey(0), [784, 5, 10])
    ck = tmp_path / "run.npz"
    jaxnet.fit(jax.random.PRNGKey(1), p, x, labels, epochs=1, batch_size=10, x_scale=1 / 256,
               checkpoint=ck, model=jaxnet.Model.dense([784, 5, 10], precision="default"))
    with pytest.raises(jaxnet.CheckpointError, match="precision: checkpoint 'default', this run 'highest'"):
        jaxnet.fit(jax.random.PRNGKey(1), p, x, labels, epochs=2, batch_size=10, x_scale=1 / 256,
                   checkpoint=ck, resume=True)
