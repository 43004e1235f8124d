"""The convolution's products as 2-D matrix products, laid out for the pooling that follows.

A ConvPool layer (k×k kernels, p×p pools) over channels-last inputs
``an (m, H, W, C)`` with ``Ho = H−k+1 = p·Hp`` and ``Wo = W−k+1 = p·Wp``. Its
patch matrix has one row per convolution output and one column per weight:

    P[(n, Y, X, py, px), (i, j, c)] = an[n, p·Y + py + i, p·X + px + j, c]
        rows    (m·Hp·Wp·p·p)   output (y, x) = (p·Y + py, p·X + px) of example n,
                                 the position (py, px) within its pool block minor
        columns (k·k·C)          the weight w[f, c, i, j], channels minor

so that ``conv = P Wqᵀ`` with ``Wq[f, (i, j, c)] = w[f, c, i, j]`` is
``(m, Hp, Wp, p·p, F)``: the p·p entries of every pool block are p·p consecutive
rows, and pooling and its routing compare and select along that axis. P is one
gather of the input's channel rows: a single pass that writes P once.

Measured on XLA's CPU backend (benchmarks/conv_forms.py, benchmarks/conv_speed.py):
every product is then a 2-D product with its long axis major (forward ``P Wqᵀ``,
∂C/∂w ``Dᵀ P``, ∂C/∂A's patches ``D Wq``), each near the machine's matmul peak,
where the same products as convolutions, or with the output positions minor, ran at
a quarter of it. The pool position minor (rather than major, the layout of
2026-12-03) and the gather build P in one pass instead of k·k·p·p slices, p·p
stacks and a concatenation (101 kernels a chunk's gradient to 31).

:func:`unpatches` is the adjoint of :func:`patches` (col2im): it adds every
patch entry back at the input position it was read from.
"""

from __future__ import annotations

from functools import lru_cache

import jax.numpy as jnp
import numpy as np
from jax import lax


def _sizes(h: int, w: int, k: int, p: int):
    """``(Hp, Wp, ext)``: the pooled sizes and how far a block's rows reach past them
    in phase coordinates (``(k + p − 2) div p``)."""
    return (h - k + 1) // p, (w - k + 1) // p, (k + p - 2) // p


def patches(an, k: int, p: int):
    """The patch matrix ``P (m·Hp·Wp·p·p, k·k·C)`` of ``an (m, H, W, C)`` (rows
    ``(n, Y, X, py, px)``, columns ``(i, j, c)``; the module's docstring): one gather of
    whole channel rows ``an[n, y, x, :]`` at positions fixed when the program is traced."""
    m, h, w, c = an.shape
    hp, wp, _ = _sizes(h, w, k, p)
    rows = lax.gather(jnp.asarray(an).reshape(m, h * w, c), _positions(h, w, k, p)[:, None],
                      _ROWS, slice_sizes=(m, 1, c), mode="promise_in_bounds")
    return rows.reshape(m * hp * wp * p * p, k * k * c)


#: ``an (m, H·W, C)`` gathered at positions ``(N, 1)`` → ``(m, N, C)``. lax.gather, not
#: ``an.at[:, at].get``: jnp's indexing adds a select for negative indices with its own
#: mask constant per call, which (like an index array per call) inside a loop became a
#: loop operand of its own and kept XLA from merging the forward's and the gradient's
#: gathers of the same patches.
_ROWS = lax.GatherDimensionNumbers(offset_dims=(0, 2), collapsed_slice_dims=(1,),
                                   start_index_map=(1,))


@lru_cache(maxsize=None)
def _positions(h: int, w: int, k: int, p: int):
    """The input positions ``y·W + x`` that :func:`patches` reads, ``(Hp·Wp·p·p·k·k,)``
    int32 in its row and column order; read-only, and **one object per shape**: a
    program traces it as one constant however often a layer's patches are taken, so
    inside a loop (the chunk groups of jaxnet._core.chunked) the forward's and the
    gradient's gathers are one (XLA's CSE merges them), where an array per call
    became one loop operand each and the gather was computed twice."""
    hp, wp, _ = _sizes(h, w, k, p)
    y, x, py, px, i, j = np.meshgrid(*map(np.arange, (hp, wp, p, p, k, k)), indexing="ij")
    at = ((p * y + py + i) * w + p * x + px + j).reshape(-1).astype(np.int32)
    at.flags.writeable = False
    return at


def unpatches(dp, shape: tuple, k: int, p: int):
    """The adjoint of :func:`patches` for an input of ``shape = (m, H, W, C)``: ``dp
    (m·Hp·Wp·p·p, k·k·C)`` → ``(m, H, W, C)``, each entry added at the input position
    its patch entry was read from (positions read by no patch get 0).

    Entry ``(py, px, i, j)`` of block ``(Y, X)`` lands at ``(p·(Y + u) + r, p·(X + v)
    + s)`` with ``py + i = p·u + r`` and ``px + j = p·v + s``: the entries that share
    ``(r, s, u, v)`` are added first, as they are (no shifts), then each polyphase
    image ``(r, s)`` of the result is the sum of its (ext+1)² shifted groups, shifted
    along x, then along y (benchmarks/conv_speed.py: 2–3× faster than a shifted add per
    entry on XLA's CPU backend)."""
    m, h, w, c = shape
    hp, wp, ext = _sizes(h, w, k, p)
    hq, wq = hp + ext, wp + ext
    dp = dp.reshape(m, hp, wp, p, p, k, k, c)
    groups = {}
    for py in range(p):
        for px in range(p):
            for i in range(k):
                for j in range(k):
                    key = ((py + i) % p, (px + j) % p, (py + i) // p, (px + j) // p)
                    t = dp[:, :, :, py, px, i, j, :]
                    groups[key] = t if key not in groups else groups[key] + t

    def shifted(a, axis, by, size):   # a, zero-padded along axis to size, moved by `by`
        pad = [(0, 0)] * 4
        pad[axis] = (by, size - a.shape[axis] - by)
        return jnp.pad(a, pad)

    def phase(r, s):   # (m, hq, wq, C)
        rows = [(u, _total([shifted(groups[(r, s, u, v)], 2, v, wq) for v in range(ext + 1)
                            if (r, s, u, v) in groups])) for u in range(ext + 1)]
        return _total([shifted(row, 1, u, hq) for u, row in rows if row is not None])
    full = jnp.stack([jnp.stack([phase(r, s) for s in range(p)], 3) for r in range(p)], 2)
    return full.reshape(m, hq * p, wq * p, c)[:, :h, :w]     # (m, hq, p, wq, p, C) → image


def _total(terms):
    """The sum of a list of arrays in order (None for an empty list)."""
    out = None
    for t in terms:
        out = t if out is None else out + t
    return out


def first_max(conv):
    """``conv (m, Hp, Wp, p·p, F)`` → ``(its maximum over axis 3, the index of the first
    maximum)``, both ``(m, Hp, Wp, F)``: blocks compared in order, a later one taken only
    when strictly larger, so ties go to the first (``np.argmax``'s rule, a NaN counting
    as the largest)."""
    best, idx = conv[:, :, :, 0], jnp.zeros(conv.shape[:3] + conv.shape[4:], jnp.int32)
    for t in range(1, conv.shape[3]):
        v = conv[:, :, :, t]
        take = (v > best) | (jnp.isnan(v) & ~jnp.isnan(best))
        best, idx = jnp.where(take, v, best), jnp.where(take, t, idx)
    return best, idx


def route(delta, idx, blocks: int):
    """``delta, idx (m, Hp, Wp, F)`` → ``(m, Hp, Wp, blocks, F)``: block ``t`` holds
    ``delta`` where ``idx == t`` and 0 elsewhere (the pooling's routing of δ to each
    arg-max)."""
    return jnp.stack([jnp.where(idx == t, delta, 0) for t in range(blocks)], 3)
