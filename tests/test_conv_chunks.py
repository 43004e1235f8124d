"""The conv layer's products as matrix products (jaxnet._core.im2col) and the chunked
computation of large mini-batches (jaxnet._core.chunked, ConvPool.CHUNK): the patch
matrix against its definition by loops, col2im as its adjoint, and chunked gradients
and layers against the same computation on the whole batch."""

import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import assert_trees_close

import jaxnet
from jaxnet._core import chunked as _chunked
from jaxnet._core import convpool as _convpool
from jaxnet._core import im2col as _im2col
from jaxnet._core.costs import Penalty
from jaxnet._core.network import GRADIENTS
from jaxnet.train import _epoch

# float64, the same sums in another order (chunks against one product).
F64_RTOL = 1e-12


@pytest.mark.parametrize("k, p, h, w, c", [(5, 2, 12, 12, 3), (3, 3, 11, 8, 2), (2, 1, 5, 6, 1)])
def test_the_patch_matrix_is_its_definition_and_col2im_its_adjoint(k, p, h, w, c):
    rng = np.random.default_rng(0)
    m, hp, wp = 2, (h - k + 1) // p, (w - k + 1) // p
    an = rng.normal(size=(m, h, w, c))
    want = np.zeros((m, hp, wp, p, p, k, k, c))
    for n, yy, xx, py, px, i, j in np.ndindex(m, hp, wp, p, p, k, k):
        want[n, yy, xx, py, px, i, j] = an[n, p * yy + py + i, p * xx + px + j]
    got = np.asarray(_im2col.patches(jnp.asarray(an), k, p))
    np.testing.assert_array_equal(got, want.reshape(got.shape))
    dp = rng.normal(size=got.shape)
    back = np.asarray(_im2col.unpatches(jnp.asarray(dp), an.shape, k, p))
    # <patches(a), dp> = <a, unpatches(dp)> for every a, dp: the adjoint
    assert np.isclose(np.sum(got * dp), np.sum(an * back), rtol=F64_RTOL, atol=0)


def _conv_net(m, dropout):
    model = jaxnet.Model((1, 12, 12), (jaxnet.ConvPool(3, 5, 2, "sigmoid"),
                                       jaxnet.Dense(5, "sigmoid", dropout=dropout),
                                       jaxnet.Dense(3, "softmax")), cost="log_likelihood")
    params = jaxnet.init_params(jax.random.PRNGKey(0), model, dtype=np.float64, init="scaled")
    rng = np.random.default_rng(1)
    x, y = rng.uniform(size=(m, 144)), np.eye(3)[rng.integers(0, 3, m)]
    masks = jaxnet.dropout_masks(jax.random.PRNGKey(2), model, m, np.float64) if dropout \
        else None
    return model, params, x, y, masks


@pytest.mark.parametrize("grad, dropout, chunks", [
    ("backprop", 0.0, 2), ("autodiff", 0.5, 2),   # two loose chunks and a smaller rest
    ("backprop", 0.5, _chunked.GROUP + 1),        # a scanned group, a loose chunk, a rest
    ("autodiff", 0.0, 2 * _chunked.GROUP)])       # two groups, no rest
def test_a_chunked_mini_batch_gradient_is_the_whole_batch_gradient(grad, dropout, chunks):
    m = chunks * _chunked.CHUNK_ROWS + (0 if chunks == 2 * _chunked.GROUP else 5)
    model, params, x, y, masks = _conv_net(m, dropout)
    penalty = Penalty(0.7, 50.0)
    assert _chunked.chunked(model)
    whole = GRADIENTS[grad](params, x, y, penalty, masks, model=model)
    chunks = _chunked.batch_gradient(grad, params, x, y, penalty, masks, model=model)
    other = GRADIENTS["autodiff" if grad == "backprop" else "backprop"](
        params, x, y, penalty, masks, model=model)
    assert min(float(jnp.max(jnp.abs(g.w))) for g in whole) > 1e-4, "a vacuous layer"
    assert_trees_close(chunks, whole, F64_RTOL, grad)
    assert_trees_close(chunks, other, F64_RTOL, "the other gradient")


def test_a_layer_over_more_than_a_chunk_is_the_layer_over_its_parts():
    layer = jaxnet.ConvPool(3, 5, 2, "sigmoid")
    m = 2 * _convpool.CHUNK + 7
    rng = np.random.default_rng(3)
    p = jaxnet.Layer(jnp.asarray(rng.normal(size=(3, 2, 5, 5))),
                     jnp.asarray(rng.normal(size=3)))
    a = jnp.asarray(rng.normal(size=(m, 2, 12, 12)))
    delta = jnp.asarray(rng.normal(size=(m, 3, 4, 4)))
    z, idx = layer.forward(p, a, "highest")
    g, g_in = layer.backward(p, a, idx, delta, "highest")
    cuts = [(0, 100), (100, 200), (200, m)]               # each at most one chunk
    parts = [layer.forward(p, a[lo:hi], "highest") for lo, hi in cuts]
    np.testing.assert_array_equal(z, jnp.concatenate([q[0] for q in parts]))
    np.testing.assert_array_equal(idx, jnp.concatenate([q[1] for q in parts]))
    back = [layer.backward(p, a[lo:hi], q[1], delta[lo:hi], "highest")
            for (lo, hi), q in zip(cuts, parts)]
    assert_trees_close(g, jax.tree.map(lambda *t: sum(t), *[b[0] for b in back]), F64_RTOL,
                       "the summed parts")
    assert_trees_close(g_in, jnp.concatenate([b[1] for b in back]), F64_RTOL, "dC/dA")


def test_a_scanned_chunk_gathers_its_patches_once():
    # The forward and ∂C/∂w read the same patch matrix. In an epoch (the steps' loop
    # around the groups' loop) XLA merged neither gather while every call made its own
    # constants (2 a chunk, issue 32): one a chunk now.
    m = 2 * _chunked.GROUP * _chunked.CHUNK_ROWS                  # two groups: a real loop
    model, params, x, y, _ = _conv_net(2 * m, 0.0)                # two steps: a real loop
    rule = jaxnet.sgd(0.1)
    hlo = _epoch.epoch.lower(params, rule.init(params), x, y, jnp.arange(2 * m), None, None,
                             model=model, rule=rule, grad="backprop",
                             batch_size=m).compile().as_text()
    rows = _chunked.CHUNK_ROWS * 4 * 4 * 2 * 2                     # (m·Hp·Wp·p·p, k·k·C)
    gathers = [ln for ln in hlo.splitlines()
               if re.match(rf"\s*(ROOT )?%\S+ = f64\[{rows},25\]\S* fusion\(", ln)
               and "gather" in ln]
    assert len(gathers) == _chunked.GROUP, gathers                # one per chunk of a group
