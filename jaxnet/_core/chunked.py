"""A mini-batch's gradient computed a chunk of rows at a time, for conv networks.

The gradient of the batch's mean cost is the size-weighted mean of its chunks'
mean-cost gradients (the cost is a sum over examples, each chunk's Δ^L carries its
own 1/size), plus the penalty's gradient once:

    ∇C = Σ_chunks (size_c / m) ∇C_c + ∇(penalty)

with the batch's ``m`` rows cut, in order, into ``m div CHUNK_ROWS`` chunks of
:data:`CHUNK_ROWS` and a last chunk of the ``m mod CHUNK_ROWS`` left. The chunks
are taken :data:`GROUP` at a time (one ``lax.scan`` over the groups), the gradients
of a group's chunks independent of one another until they are added, so XLA's CPU
runtime runs them at once on its threads; the chunks past the last whole group,
and the rest, follow, also independent. The same sums in another order: the
deltas and their derivation do not change, only which rows share one product.
Dense-only models are not chunked (their products are largest, and fastest, over
the whole batch).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax import lax

from .convpool import ConvPool
from .costs import penalty_grad, penalty_value
from .network import GRADIENTS

#: Rows of a conv network's mini-batch whose gradient is computed at once. The patch
#: matrices and convolutions of a chunk stay in the cache: on XLA's CPU backend the
#: two-ConvPool net's time per example was flat from batch 10 to 1000 chunked by 20,
#: where unchunked it grew 1.5x to 100 and 2x more to 1000 (benchmarks/conv_forms.py).
#: 25 rather than 20: a mini-batch of 100 is one whole group (20 left a fifth chunk alone
#: on one core) and 1000 ten, with fewer kernels (157 -> 128 and 208 -> 147); quiet, side
#: by side, 185 -> 170 µs an example at 100 and 177 -> 170 at 1000
#: (benchmarks/results/2026-12-08-conv-speed-chunk25.md).
CHUNK_ROWS = 25

#: Chunks whose gradients one scan step computes independently. On 2 cores the
#: two-ConvPool net's time per example fell from 139 to 111 µs at batch 100 and from
#: 146 to 111 at 1000 (benchmarks/results/2026-12-03-conv-speed-before-groups.md
#: against 2026-12-03-conv-speed.md; side by side in one process, 141 to 103 at 100,
#: with 2 108 and with 8 no better than 4): one chunk at a time used little of the
#: second core.
GROUP = 4


def chunked(model) -> bool:
    """Whether ``model``'s mini-batches are computed by chunks (it has a ConvPool)."""
    return any(isinstance(layer, ConvPool) for layer in model.layers)


def batch_gradient(grad: str, params, x, y, penalty=None, masks=None, *, model):
    """``GRADIENTS[grad]`` of the mini-batch ``x (m, n_0)``, ``y (m, n_L)`` (dropout
    ``masks``: per layer ``(m, *input shape)`` or None), by chunks of
    :data:`CHUNK_ROWS` rows when the model :func:`chunked`; Layers like ``params``."""
    fn, m = GRADIENTS[grad], x.shape[0]
    if not chunked(model) or m <= CHUNK_ROWS:
        return fn(params, x, y, penalty, masks, model=model)
    full, rest = divmod(m, CHUNK_ROWS)
    groups, loose = divmod(full, GROUP)

    def part(a, lo, hi, shape=()):
        return None if a is None else a[lo:hi].reshape(shape + (-1,) + a.shape[1:])

    def parts(lo, hi, shape=()):
        ms = None if masks is None else tuple(part(k, lo, hi, shape) for k in masks)
        return part(x, lo, hi, shape), part(y, lo, hi, shape), ms

    def one(chunk, i=None):
        """The gradient of a chunk (of chunk ``i`` of a group's arrays)."""
        pick = (lambda a: a) if i is None else (lambda a: None if a is None else a[i])
        xc, yc, ms = chunk
        return fn(params, pick(xc), pick(yc), None,
                  None if ms is None else tuple(pick(k) for k in ms), model=model)

    def add(*gs):
        return jax.tree.map(lambda *a: sum(a[1:], a[0]), *gs)

    def body(total, group):
        return add(total, *(one(group, i) for i in range(GROUP))), None

    total = jax.tree.map(jnp.zeros_like, params)
    if groups:
        rows = groups * GROUP * CHUNK_ROWS
        total, _ = lax.scan(body, total, parts(0, rows, (groups, GROUP)))
    start = groups * GROUP * CHUNK_ROWS
    total = add(total, *(one(parts(start + c * CHUNK_ROWS, start + (c + 1) * CHUNK_ROWS))
                         for c in range(loose)))
    g = jax.tree.map(lambda t: t * (CHUNK_ROWS / m), total)
    if rest:
        last = one(parts(full * CHUNK_ROWS, m))
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
