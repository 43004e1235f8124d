"""backprop (BP1–BP4 by hand) against jax.grad, finite differences and the book."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from book import network
from conftest import assert_trees_close, rel_err
from hypothesis import Phase, given, settings
from hypothesis import strategies as st

import jaxnet
from jaxnet._core.precision import scaled_rtol

# float64: both paths evaluate the same sums in (nearly) the same order; ≤ 4
# layers of ≤ 784-term dot products lose at most ~1e3·eps64 ≈ 2e-13.
F64_RTOL = 1e-12
# float32: the same argument with eps32 = 1.2e-7 gives ~1e3·eps32 ≈ 1e-4 in the
# worst case; sums of ≤ 784 mostly-positive terms stay far below that, and 100
# ulps (1e-5) still catches any error in the equations (those are O(1)). For true
# float32 products; scaled to the precision in effect (jaxnet._core.precision.scaled_rtol).
F32_RTOL = 1e-5
# central differences with h = 1e-6 in float64: truncation O(h²·C''') ≈ 1e-12
# plus round-off O(eps·C/h) ≈ 1e-10, relative to gradients of size ≥ 1e-3.
FD_RTOL = 1e-6
FD_STEP = 1e-6
# A checked gradient smaller than this would make the comparison near-vacuous.
MIN_GRAD = 1e-3


def _net(seed, sizes, batch, dtype):
    """A random net (N(0, 1) as network.py) and batch, drawn with NumPy: no XLA compiles."""
    rng = np.random.default_rng(seed)
    params = tuple(jaxnet.Layer(rng.standard_normal((n_out, n_in)).astype(dtype),
                                rng.standard_normal(n_out).astype(dtype))
                   for n_in, n_out in zip(sizes[:-1], sizes[1:]))
    x = rng.uniform(size=(batch, sizes[0])).astype(dtype)
    y = np.eye(sizes[-1], dtype=dtype)[rng.integers(0, sizes[-1], batch)]
    return params, x, y


def _max_abs(tree):
    return max(float(jnp.max(jnp.abs(a))) for a in jax.tree.leaves(tree))


# Every new shape compiles (~1 s here), so no shrinking: a failure prints its example.
@settings(max_examples=12, deadline=None, phases=[Phase.explicit, Phase.reuse, Phase.generate])
@given(seed=st.integers(0, 2**31 - 1),
       sizes=st.lists(st.integers(1, 64), min_size=2, max_size=5),
       batch=st.integers(1, 32))
def test_backprop_equals_autodiff_f64_random_nets(seed, sizes, batch):
    params, x, y = _net(seed, sizes, batch, jnp.float64)
    manual = jaxnet.backprop(params, x, y)
    auto = jaxnet.autodiff_grad(params, x, y)
    assert all(isinstance(l, jaxnet.Layer) for l in manual)
    assert [(l.w.shape, l.b.shape, l.w.dtype) for l in manual] == \
           [(l.w.shape, l.b.shape, l.w.dtype) for l in params]
    assert_trees_close(manual, auto, F64_RTOL, f"sizes {sizes} batch {batch}")


@pytest.mark.parametrize("dtype, precision", [(jnp.float64, "highest"), (jnp.float32, "highest"),
                                              (jnp.float32, "default")])
def test_backprop_equals_autodiff_on_real_mnist(sample, dtype, precision):
    rtol = F64_RTOL if dtype == jnp.float64 else scaled_rtol(F32_RTOL, precision,
                                                             jax.default_backend())
    for seed, start in [(0, 0), (1, 100), (2, 4000)]:
        params = jaxnet.init_params(jax.random.PRNGKey(seed), [784, 30, 10], dtype=dtype)
        x = sample.train.x[start:start + 10]
        y = sample.train.y()[start:start + 10]
        model = jaxnet.Model.dense([784, 30, 10], precision=precision)
        manual = jaxnet.backprop(params, x, y, model=model)
        assert _max_abs(manual) > MIN_GRAD
        assert manual[0].w.dtype == dtype
        assert_trees_close(manual, jaxnet.autodiff_grad(params, x, y, model=model), rtol,
                           f"{dtype.__name__}, precision {precision}")


def test_float32_gradient_is_float32_accurate_by_default(sample):
    # Against the float64 gradient of the same (float32-representable) network:
    # true float32 products agree to ~5e-7 (CPU and, with precision="highest",
    # an H100); TF32, the GPU's platform default, was 6.2e-4 off. The default
    # precision must give the former on every platform.
    params32 = jaxnet.init_params(jax.random.PRNGKey(0), [784, 30, 10])
    params64 = jax.tree.map(lambda a: np.asarray(a, np.float64), params32)
    x, y = sample.train.x[:10], sample.train.y()[:10]
    reference = jaxnet.backprop(params64, x.astype(np.float64), y.astype(np.float64))
    for grad in (jaxnet.backprop, jaxnet.autodiff_grad):
        assert_trees_close(grad(params32, x, y), reference, F32_RTOL, grad.__name__)


@pytest.mark.parametrize("sizes", [[3, 2], [4, 5, 3], [2, 3, 4, 2]])
def test_backprop_matches_central_differences(sizes):
    params, x, y = _net(7, sizes, 5, jnp.float64)
    grads = jaxnet.backprop(params, x, y)
    assert _max_abs(grads) > MIN_GRAD
    leaves, treedef = jax.tree.flatten(params)
    grad_leaves = jax.tree.leaves(grads)
    from jaxnet._core.network import cost_jit
    model = jaxnet.Model.dense(sizes)
    cost = functools.partial(cost_jit, model=model)
    for i, (p, g) in enumerate(zip(leaves, grad_leaves)):
        p = np.asarray(p)
        fd = np.zeros_like(p)
        for idx in np.ndindex(p.shape):
            for sign in (+1, -1):
                q = p.copy()
                q[idx] += sign * FD_STEP
                moved = jax.tree.unflatten(treedef, leaves[:i] + [jnp.asarray(q)] + leaves[i + 1:])
                fd[idx] += sign * float(cost(moved, x, y))
        fd /= 2 * FD_STEP
        assert rel_err(g, fd) <= FD_RTOL, (i, rel_err(g, fd))


def test_autodiff_passes_jax_check_grads():
    from jax.test_util import check_grads
    params, x, y = _net(3, [4, 6, 3], 4, jnp.float64)
    assert _max_abs(jaxnet.autodiff_grad(params, x, y)) > MIN_GRAD
    check_grads(lambda p: jaxnet.cost(p, x, y), (params,), order=2, modes=["rev"])


def test_backprop_equals_the_books_per_example_algorithm(sample):
    params = jaxnet.init_params(jax.random.PRNGKey(4), [784, 30, 10], dtype=jnp.float64)
    x, y = sample.train.x[:10].astype(np.float64), sample.train.y()[:10].astype(np.float64)
    nb, nw = network.mean_gradient(*network.to_book(params), x, y)
    expected = tuple(jaxnet.Layer(w, b.ravel()) for w, b in zip(nw, nb))
    assert_trees_close(jaxnet.backprop(params, x, y), expected, F64_RTOL, "book")


def test_batch_gradient_is_mean_of_per_example_gradients():
    params, x, y = _net(5, [6, 8, 4], 9, jnp.float64)
    per_example = [jaxnet.backprop(params, x[i:i + 1], y[i:i + 1]) for i in range(9)]
    mean = jax.tree.map(lambda *g: sum(g) / len(g), *per_example)
    assert_trees_close(jaxnet.backprop(params, x, y), mean, F64_RTOL, "mean")
    # and the per-example gradients really differ, so the mean is not trivially each
    assert rel_err(per_example[0][0].w, per_example[1][0].w) > 1e-3


def test_cost_matches_the_book(sample):
    params = jaxnet.init_params(jax.random.PRNGKey(6), [784, 30, 10], dtype=jnp.float64)
    x, y = sample.test.x[:50].astype(np.float64), sample.test.y()[:50].astype(np.float64)
    expected = network.cost(*network.to_book(params), x, y)
    assert expected > 0.1
    assert abs(float(jaxnet.cost(params, x, y)) - expected) <= F64_RTOL * expected


def test_feedforward_of_a_hand_computed_net():
    # One neuron, w = [1, -2], b = 0.5: a = σ(1·0.3 − 2·0.1 + 0.5) = σ(0.6).
    params = (jaxnet.Layer(jnp.array([[1.0, -2.0]]), jnp.array([0.5])),)
    a = jaxnet.feedforward(params, jnp.array([[0.3, 0.1]]))
    assert a.shape == (1, 1)
    assert abs(float(a[0, 0]) - 1 / (1 + np.exp(-0.6))) <= 1e-15
