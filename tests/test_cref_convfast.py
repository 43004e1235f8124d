"""The C fast path of chapter 6's networks (csrc/jaxnet_net_fast.h), the default C
kernel of their steps and epochs, against the JAX twins (jaxnet.step_with,
jaxnet.train_epoch_with) and against the readable reference (kernel="reference"),
float64 and float32; threads 1 and 2 identical; uint8 pixels as their float values.
(csrc/test_jaxnet_net_fast.c checks it against the reference in C.)"""

import jax
import numpy as np
import pytest
from conftest import assert_trees_close

import jaxnet
from jaxnet import cref
from jaxnet._core.layerspec import parse_layers

# float64 step: the same sums as XLA's in another order, fused multiply-adds: ~1e-15.
STEP_F64_RTOL = 1e-12
# float64 epoch: each step's rounding feeds the next (the bar).
EPOCH_F64_RTOL = 1e-10
# float32 epoch: ~1e-7 per step, grown over 21 steps.
EPOCH_F32_RTOL = 1e-4

C, D = jaxnet.ConvPool, jaxnet.Dense
SMALL = {  # input shape, layers (log-likelihood cost)
    "two-conv-dropout": ((1, 10, 10), (C(3, 3, 2, "tanh"), C(4, 2, 1, "relu"),
                                       D(6, "sigmoid", dropout=0.3), D(3, "softmax"))),
    "conv-linear-dropout": ((2, 8, 8), (C(2, 3, 3, "linear"),
                                        D(5, "relu", dropout=0.2), D(3, "softmax"))),
}


def _moved(p, p0):
    return jax.tree.map(lambda a, b: np.asarray(a, np.float64) - np.asarray(b), p, p0)


def _assert_updates_close(c, j, p0, tol, what):
    """Both moved every parameter by the same amount (and by something)."""
    assert_trees_close(_moved(c, p0), _moved(j, p0), tol, what)
    assert min(float(np.max(np.abs(m))) for m in jax.tree.leaves(_moved(j, p0))) > 0, what


def _identical(a, b):
    return all(np.array_equal(x, y) for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)))


@pytest.mark.parametrize("name", list(SMALL))
@pytest.mark.parametrize("kernel", [None, "fast", "reference"])
@pytest.mark.parametrize("rule", [jaxnet.sgd(0.5), jaxnet.momentum(0.5, 0.7)], ids=str)
def test_c_steps_of_both_kernels_equal_the_jax_step(name, kernel, rule):
    shape, layers = SMALL[name]
    model = jaxnet.Model(shape, layers, cost="log_likelihood")
    params = jaxnet.init_params(jax.random.PRNGKey(0), model, dtype=np.float64, init="scaled")
    rng = np.random.default_rng(0)
    x = rng.uniform(size=(6, int(np.prod(shape))))
    y = np.eye(3)[rng.integers(0, 3, 6)]
    state = rule.init(params)
    if isinstance(state, jaxnet.MomentumState):  # a non-zero velocity, so μ·v counts
        state = state._replace(velocity=jax.tree.map(lambda v: v + 0.01, state.velocity))
    kw = dict(model=model, lmbda=0.5, n=20, key=jax.random.PRNGKey(5))
    c, c_state = cref.step_with(rule, params, state, x, y, kernel=kernel, **kw)
    j, j_state = jaxnet.step_with(rule, params, state, x, y, **kw)
    _assert_updates_close(c, j, params, STEP_F64_RTOL, f"{name} step, kernel {kernel}")
    if isinstance(state, jaxnet.MomentumState):
        assert_trees_close(c_state.velocity, j_state.velocity, STEP_F64_RTOL, "velocity")


def _digits(sample, dtype, n=205):
    """A two-ConvPool net (as chapter 6's, narrower) and ``n`` real digits as uint8."""
    model = parse_layers("conv:4:5,pool:2,conv:6:3,pool:2,fc:20,softmax:10", 784,
                         activation="sigmoid")
    params = jaxnet.init_params(jax.random.PRNGKey(1), model, dtype=dtype, init="network3")
    x8 = np.asarray(sample.train.images[:n])
    y = sample.train.y()[:n].astype(dtype)
    return model, params, x8, y, np.random.default_rng(2).permutation(n)


def test_fast_epoch_equals_jax_any_threads_and_uint8_as_floats(sample):
    """float64, shuffled, batch 10 with a smaller last one, L2, momentum: the fast path
    equals the JAX epoch to EPOCH_F64_RTOL and the reference kernel's; threads=2 gives
    exactly threads=1's numbers, and uint8 pixels exactly those of their float values."""
    assert sample.train.images.dtype == np.uint8
    model, params, x8, y, order = _digits(sample, np.float64)
    rule, scale = jaxnet.momentum(0.1, 0.5), 1 / 255
    kw = dict(batch_size=10, model=model, lmbda=0.1)

    def c(x, **k):
        return cref.train_epoch_with(rule, params, None, x, y, order, **kw, **k)

    fast1, s1 = c(x8, x_scale=scale, threads=1)
    fast2, s2 = c(x8, x_scale=scale, threads=2)
    assert _identical(fast1, fast2) and _identical(s1.velocity, s2.velocity), "threads 1 vs 2"
    assert _identical(c(x8.astype(np.float64) * scale)[0], fast1), "uint8 vs its floats"
    j, _ = jaxnet.train_epoch_with(rule, params, None, x8, y, order, x_scale=scale, **kw)
    _assert_updates_close(fast1, j, params, EPOCH_F64_RTOL, "fast epoch vs JAX")
    ref, _ = c(x8, x_scale=scale, kernel="reference")
    _assert_updates_close(fast1, ref, params, EPOCH_F64_RTOL, "fast vs reference epoch")


def test_fast_epoch_float32_and_is_the_default(sample):
    model, params, x8, y, order = _digits(sample, np.float32)
    kw = dict(eta=0.1, batch_size=10, model=model, x_scale=1 / 255)
    assert cref.Epoch(jaxnet.sgd(0.1), params, None, x8, y, batch_size=10, model=model,
                      x_scale=1 / 255).kernel == "fast"
    c = cref.train_epoch(params, x8, y, order, **kw)
    j = jaxnet.train_epoch(params, x8, y, order, **kw)
    _assert_updates_close(c, j, params, EPOCH_F32_RTOL, "fast epoch, float32")
    assert _identical(c, cref.train_epoch(params, x8, y, order, threads=2, **kw))


def test_fast_path_refuses_bad_arguments_by_name(sample):
    model, params, x8, y, order = _digits(sample, np.float64, n=20)
    kw = dict(eta=0.1, batch_size=10, model=model, x_scale=1 / 255)
    for bad, match in ((dict(threads=0), "threads"), (dict(kernel="quick"), "kernel"),
                       (dict(batch_size=21), "batch_size")):
        with pytest.raises(ValueError, match=match):
            cref.train_epoch(params, x8, y, order, **{**kw, **bad})
    xf = x8.astype(np.float64)
    xf[3, 5] = np.nan
    with pytest.raises(ValueError, match="x"):
        cref.train_epoch(params, xf, y, order, **{**kw, "x_scale": None})
