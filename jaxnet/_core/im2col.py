"""The convolution's products as 2-D matrix products, laid out for the pooling that follows.

A ConvPool layer (k×k kernels, p×p pools) over channels-last inputs
``an (m, H, W, C)`` with ``Ho = H−k+1 = p·Hp`` and ``Wo = W−k+1 = p·Wp``. Its
patch matrix has one row per convolution output and one column per weight:

    P[(py, px, n, Y, X), (i, j, c)] = an[n, p·Y + py + i, p·X + px + j, c]
        rows    (p·p·m·Hp·Wp)   output (y, x) = (p·Y + py, p·X + px) of example n,
                                 the position (py, px) within its pool block major
        columns (k·k·C)          the weight w[f, c, i, j], channels minor

so that ``conv = P Wqᵀ`` with ``Wq[f, (i, j, c)] = w[f, c, i, j]`` is
``(p·p, m, Hp, Wp, F)``: the p·p entries of every pool block are p·p contiguous
blocks of rows, and pooling and its routing compare and select whole blocks.
The rows are gathered without strided reads from the input's p·p polyphase
images ``an[:, p·u + r, p·v + s, :]`` (:func:`phases`): row offset ``py + i``
is phase ``(py + i) mod p`` shifted by ``(py + i) div p``.

Measured on XLA's CPU backend (benchmarks/conv_forms.py): every product is then a
2-D product with its long axis major (forward ``P Wqᵀ``, ∂C/∂w ``Dᵀ P``, ∂C/∂A's
patches ``D Wq``), each near the machine's matmul peak, where the same products as
convolutions, or with the output positions minor, ran at a quarter of it.

:func:`unpatches` is the adjoint of :func:`patches` (col2im): it adds every
patch entry back at the input position it was read from.
"""

from __future__ import annotations

import jax.numpy as jnp


def _sizes(h: int, w: int, k: int, p: int):
    """``(Hp, Wp, ext)``: the pooled sizes and how far a block's rows reach past them
    in phase coordinates (``(k + p − 2) div p``)."""
    return (h - k + 1) // p, (w - k + 1) // p, (k + p - 2) // p


def phases(an, p: int, hq: int, wq: int) -> list:
    """``an (m, H, W, C)``, zero-padded to ``(p·hq, p·wq)``, as its p·p polyphase
    images: ``[r][s] (m, hq, wq, C)`` holds ``an[:, p·u + r, p·v + s, :]``."""
    m, h, w, c = an.shape
    an = jnp.pad(an, ((0, 0), (0, p * hq - h), (0, p * wq - w), (0, 0)))
    g = an.reshape(m, hq, p, wq, p, c)
    return [[g[:, :, r, :, s, :] for s in range(p)] for r in range(p)]


def patches(an, k: int, p: int):
    """The patch matrix ``P (p·p·m·Hp·Wp, k·k·C)`` of ``an (m, H, W, C)`` (rows
    ``(py, px, n, Y, X)``, columns ``(i, j, c)``; the module's docstring)."""
    m, h, w, c = an.shape
    hp, wp, ext = _sizes(h, w, k, p)
    ph = phases(an, p, hp + ext, wp + ext)
    blocks = [jnp.stack([ph[(py + i) % p][(px + j) % p][
        :, (py + i) // p:(py + i) // p + hp, (px + j) // p:(px + j) // p + wp, :]
        for i in range(k) for j in range(k)], 3) for py in range(p) for px in range(p)]
    return jnp.stack(blocks, 0).reshape(p * p * m * hp * wp, k * k * c)


def unpatches(dp, shape: tuple, k: int, p: int):
    """The adjoint of :func:`patches` for an input of ``shape = (m, H, W, C)``: ``dp
    (p·p·m·Hp·Wp, k·k·C)`` → ``(m, H, W, C)``, each entry added at the input position
    its patch entry was read from (positions read by no patch get 0)."""
    m, h, w, c = shape
    hp, wp, ext = _sizes(h, w, k, p)
    hq, wq = hp + ext, wp + ext
    dp = dp.reshape(p, p, m, hp, wp, k, k, c)
    acc = [[None] * p for _ in range(p)]
    for i in range(k):
        for j in range(k):
            for py in range(p):
                for px in range(p):
                    u, v = (py + i) // p, (px + j) // p
                    part = jnp.pad(dp[py, px, :, :, :, i, j, :],
                                   ((0, 0), (u, hq - hp - u), (v, wq - wp - v), (0, 0)))
                    r, s = (py + i) % p, (px + j) % p
                    acc[r][s] = part if acc[r][s] is None else acc[r][s] + part
    full = jnp.stack([jnp.stack(row, 3) for row in acc], 2)     # (m, hq, p, wq, p, C)
    return full.reshape(m, hq * p, wq * p, c)[:, :h, :w]


def first_max(conv):
    """``conv (p·p, ...)`` → ``(its maximum over the first axis, the index of the first
    maximum)``, both ``(...)``: blocks compared in order, a later one taken only when
    strictly larger, so ties go to the first (``np.argmax``'s rule, a NaN counting
    as the largest)."""
    best, idx = conv[0], jnp.zeros(conv.shape[1:], jnp.int32)
    for t in range(1, conv.shape[0]):
        v = conv[t]
        take = (v > best) | (jnp.isnan(v) & ~jnp.isnan(best))
        best, idx = jnp.where(take, v, best), jnp.where(take, t, idx)
    return best, idx


def route(delta, idx, blocks: int):
    """``delta, idx (...)`` → ``(blocks, ...)``: block ``t`` holds ``delta`` where
    ``idx == t`` and 0 elsewhere (the pooling's routing of δ to each arg-max)."""
    return jnp.stack([jnp.where(idx == t, delta, 0) for t in range(blocks)], 0)
