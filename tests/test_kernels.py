"""The chapter-1 step's kernels: XLA:CPU runs a compiled program kernel by kernel, and at
mini-batch 10 each one's ~1.5-3 µs of runtime costs more than its arithmetic (issue 32),
so the count in the epoch's loop body is pinned as an upper bound."""

import jax
import jax.numpy as jnp
import numpy as np

import jaxnet
from jaxnet.bench import loop_body_kernels
from jaxnet.train import _epoch

# 5 products (Z¹, Z², Δ²W², BP4 twice), the mini-batch's gather and scale, b + σ, Δ² (with
# the targets' gather), BP2's ⊙σ', 4 updates (w¹ b¹ w² b²) and the loop counter: 14.
# XLA's default copy insertion adds 2 copies of the carry (16): EPOCH_OPTIONS removes them.
CH1_STEP_KERNELS = 14


def _chapter1(n=200):
    model = jaxnet.Model.dense((784, 30, 10))
    params = jaxnet.init_params(jax.random.PRNGKey(0), model, dtype=jnp.float32)
    rng = np.random.default_rng(0)
    x = jnp.asarray(rng.integers(0, 256, (n, 784), dtype=np.uint8))
    y = jnp.asarray(np.eye(10, dtype=np.float32)[rng.integers(0, 10, n)])
    order = jnp.asarray(rng.permutation(n).astype(np.int32))
    rule = jaxnet.sgd(3.0)
    args = (params, rule.init(params), x, y, order, jnp.float32(1 / 256), None)
    return args, dict(model=model, rule=rule, grad="backprop", batch_size=10)


def test_the_chapter1_step_runs_at_most_its_kernels():
    args, kw = _chapter1()
    hlo = _epoch.top_level("epoch").lower(*args, **kw).compile().as_text()
    kinds = loop_body_kernels(hlo)
    assert sum(kinds.values()) <= CH1_STEP_KERNELS, kinds
    assert kinds.get("dot", 0) + kinds.get("fusion", 0) >= 5, kinds   # the products are there


def test_the_kernel_count_sees_the_copies_it_pins():
    # Not vacuous: the plain program (XLA's default copy insertion) counts more.
    args, kw = _chapter1()
    hlo = _epoch.epoch.lower(*args, **kw).compile().as_text()
    assert sum(loop_body_kernels(hlo).values()) > CH1_STEP_KERNELS


def test_the_compile_options_change_no_number():
    args, kw = _chapter1()
    a = _epoch.top_level("epoch")(*args, **kw)
    b = _epoch.epoch(*args, **kw)
    for u, v in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
        np.testing.assert_array_equal(np.asarray(u), np.asarray(v))
    assert float(jnp.abs(a[0][0].w - args[0][0].w).max()) > 1e-3   # the epoch moved them
