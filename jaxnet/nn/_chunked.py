"""A mini-batch's gradient computed a chunk of rows at a time, for conv networks.

The gradient of the batch's mean cost is the size-weighted mean of its chunks'
mean-cost gradients (the cost is a sum over examples, each chunk's Δ^L carries its
own 1/size), plus the penalty's gradient once:

    ∇C = Σ_chunks (size_c / m) ∇C_c + ∇(penalty)

with the batch's ``m`` rows cut, in order, into ``m div CHUNK_ROWS`` chunks of
:data:`CHUNK_ROWS` (one ``lax.scan``) and a last chunk of the ``m mod CHUNK_ROWS``
left. The same sums in another order: the deltas and their derivation do not
change, only which rows share one product. Dense-only models are not chunked
(their products are largest, and fastest, over the whole batch).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax import lax

from ._convpool import ConvPool
from ._costs import penalty_grad, penalty_value
from ._network import GRADIENTS

#: Rows of a conv network's mini-batch whose gradient is computed at once. The patch
#: matrices and convolutions of a chunk stay in the cache: on XLA's CPU backend the
#: two-ConvPool net's time per example was flat from batch 10 to 1000 chunked by 20,
#: where unchunked it grew 1.5x to 100 and 2x more to 1000 (benchmarks/conv_forms.py).
CHUNK_ROWS = 20


def chunked(model) -> bool:
    """Whether ``model``'s mini-batches are computed by chunks (it has a ConvPool)."""
    return any(isinstance(layer, ConvPool) for layer in model.layers)


def batch_gradient(grad: str, model, params, x, y, penalty=None, masks=None):
    """``GRADIENTS[grad]`` of the mini-batch ``x (m, n_0)``, ``y (m, n_L)`` (dropout
    ``masks``: per layer ``(m, *input shape)`` or None), by chunks of
    :data:`CHUNK_ROWS` rows when the model :func:`chunked`; Layers like ``params``."""
    fn, m = GRADIENTS[grad], x.shape[0]
    if not chunked(model) or m <= CHUNK_ROWS:
        return fn(model, params, x, y, penalty, masks)
    full, rest = divmod(m, CHUNK_ROWS)
    rows = full * CHUNK_ROWS

    def part(a, lo, hi, count=None):
        if a is None:
            return None
        a = a[lo:hi]
        return a if count is None else a.reshape((count, CHUNK_ROWS) + a.shape[1:])

    def parts(lo, hi, count=None):
        ms = None if masks is None else tuple(part(k, lo, hi, count) for k in masks)
        return part(x, lo, hi, count), part(y, lo, hi, count), ms

    def body(total, chunk):
        g = fn(model, params, *chunk[:2], None, chunk[2])
        return jax.tree.map(jnp.add, total, g), None

    total, _ = lax.scan(body, jax.tree.map(jnp.zeros_like, params), parts(0, rows, full))
    g = jax.tree.map(lambda t: t * (CHUNK_ROWS / m), total)
    if rest:
        xr, yr, mr = parts(rows, m)
        last = fn(model, params, xr, yr, None, mr)
        g = jax.tree.map(lambda a, b: a + b * (rest / m), g, last)
    return _with_penalty(grad, model, params, g, penalty)


def _with_penalty(grad, model, params, g, penalty):
    """``g`` plus the penalty's gradient, as ``GRADIENTS[grad]`` adds it: BP4's
    ``(λ/n)·w`` term by hand, or ``jax.grad`` of the penalty."""
    if penalty is None:
        return g
    if grad == "autodiff":
        pg = jax.grad(lambda p: penalty_value(model.reg, p, penalty))(params)
        return jax.tree.map(jnp.add, g, pg)
    return tuple(gl._replace(w=gl.w + penalty_grad(model.reg, p.w, penalty))
                 for gl, p in zip(g, params))
