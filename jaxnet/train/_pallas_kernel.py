"""The fused epoch's kernel body: one program trains one network for a whole epoch.

Everything the kernel sees is padded to the Triton backend's power-of-two blocks
(jaxnet.train._pallas pads and unpads); :class:`Plan` records the real and the
padded sizes. Per program (one member of a population):

    order (N,) int32          the epoch's order: step t's rows are order[t·bs .. t·bs + m]
    x     (N, n_0)            shared inputs, uint8/int (× x_scale) or float32
    y     (N, n_L) float32    shared targets
    hyper (8,) float32        η, μ, λ, n (of λ/n), x_scale
    w_l   (n_l', n_{l-1}')    weights, padded with zeros, read and written in place
    b_l   (n_l',)             biases; and the velocities, shaped alike (momentum)

Step ``t`` gathers its ``m`` rows (``m = batch_size``, or the book's smaller last
mini-batch), runs the forward pass and BP1–BP4 as jaxnet._core.network derives them
(the ``1/m`` in Δ^L, the penalty added to BP4, every gradient from the weights
before the update) and applies the rule, ``w ← w + (−η)·g`` or ``v ← μv − η·g,
w ← w + v``. Padded units and padded rows are masked: a padded hidden unit's
activation is 0 (so the next layer's padded columns never learn), a padded
output unit's and a padded row's Δ is 0, a padded softmax logit is −∞.

The weights live in the program's output blocks (global memory, cache-resident),
not in registers: W¹ of a 784-30-10 network would spill. Layer 1 reads its input
in column chunks of at most :data:`CHUNK` (powers of two, 784 = 3·256 + 16), so
neither the input nor W¹ is padded to 1024 columns. On a GPU a barrier separates
every read of a weight block from the next write of it (the threads of a program
read and write them in different layouts).
"""

from __future__ import annotations

from typing import NamedTuple, Optional

import jax.numpy as jnp
from jax import lax
from jax.experimental import pallas as pl
from jax.experimental.pallas import triton as plgpu

from .._core.activations import activate, prime
from .._core.costs import penalty_grad
from .._core.precision import lax_precision

#: The widest column chunk of layer 1's input (bounds the registers a chunk of W¹ takes).
CHUNK = 256
#: The smallest block side: Triton's dot needs M, N, K ≥ 16.
MIN_BLOCK = 16
#: The hyper-parameters' slots in a member's ``hyper`` row.
HYPER = ("eta", "mu", "lmbda", "n", "x_scale")
HYPER_WIDTH = 8


def next_pow2(n: int) -> int:
    """The smallest power of two ≥ max(n, MIN_BLOCK)."""
    return max(MIN_BLOCK, 1 << (int(n) - 1).bit_length())


def chunks(n: int) -> tuple:
    """``((start, size), ...)``: ``n`` columns rounded up to a multiple of MIN_BLOCK,
    split into powers of two of at most CHUNK (784 → 256, 256, 256, 16)."""
    rest, start, out = -(-int(n) // MIN_BLOCK) * MIN_BLOCK, 0, []
    while rest:
        size = min(CHUNK, 1 << (rest.bit_length() - 1))
        out.append((start, size))
        start, rest = start + size, rest - size
    return tuple(out)


class Plan(NamedTuple):
    """The static description of one epoch's kernel (hashable: a jit static argument).

    sizes: ``(n_0, ..., n_L)`` real; pads: ``(n_0', ..., n_L')`` padded (``n_0'`` a
    multiple of MIN_BLOCK, the others powers of two); cols: layer 1's input chunks;
    activations: per layer; cost; reg: ``"l2"``/``"l1"``, or None without a penalty;
    momentum: the rule; batch: B, the padded mini-batch; batch_size: the real one;
    n_full, rem: full mini-batches and the last one's size (0: none); scaled: x is
    integer (× x_scale); precision: the dots' name; barriers: emit GPU barriers.
    """

    sizes: tuple
    pads: tuple
    cols: tuple
    activations: tuple
    cost: str
    reg: Optional[str]
    momentum: bool
    batch: int
    batch_size: int
    n_full: int
    rem: int
    scaled: bool
    precision: str
    barriers: bool

    @property
    def steps(self) -> int:
        """Mini-batches in the epoch (the last may be smaller)."""
        return self.n_full + (self.rem > 0)

    @property
    def n_layers(self) -> int:
        return len(self.activations)


def _dot(a, b, a_dim: int, b_dim: int, plan: Plan):
    return lax.dot_general(a, b, (((a_dim,), (b_dim,)), ((), ())),
                           precision=lax_precision(plan.precision),
                           preferred_element_type=jnp.float32)


def _cols(shape, start: int = 0):
    return start + lax.broadcasted_iota(jnp.int32, shape, 1)


def _gather(ref, rows, start: int, size: int, n_valid: int):
    """Rows ``rows (B,)`` of ``ref``, columns ``start .. start + size`` (those ≥ n_valid
    read as 0, their index clamped: a GPU does not check it): ``(B, size)``."""
    shape = (rows.shape[0], size)
    r = jnp.broadcast_to(rows[:, None], shape)
    c = _cols(shape, start)
    if start + size <= n_valid:
        return ref[r, c]
    return plgpu.load(ref.at[r, jnp.minimum(c, n_valid - 1)], mask=c < n_valid, other=0)


def _inputs(plan: Plan, x_ref, rows, scale):
    """Layer 1's input, chunk by chunk, as the JAX epoch's minibatch makes it."""
    out = []
    for start, size in plan.cols:
        xb = _gather(x_ref, rows, start, size, plan.sizes[0]).astype(jnp.float32)
        out.append(xb * scale if plan.scaled else xb)
    return out


def _barrier(plan: Plan):
    if plan.barriers:
        plgpu.debug_barrier()


def _forward(plan: Plan, w_refs, b_refs, a0):
    """``(hidden activations A¹..A^{L-1}, A^L)``, padded units' activations 0 (a padded
    softmax logit −∞)."""
    acts, a = [], a0
    for l in range(plan.n_layers):
        n_out, name = plan.sizes[l + 1], plan.activations[l]
        parts = plan.cols if l == 0 else ((0, plan.pads[l]),)
        z = None
        for (start, size), a_c in zip(parts, a):
            d = _dot(a_c, w_refs[l][:, pl.ds(start, size)], 1, 1, plan)
            z = d if z is None else z + d
        z = z + b_refs[l][...][None, :]
        valid = _cols(z.shape) < n_out
        if name == "softmax":
            z = jnp.where(valid, z, -jnp.inf)
        a = [jnp.where(valid, activate(name, z), 0.0)]
        if l < plan.n_layers - 1:
            acts.append(a[0])
    return acts, a[0]


def _output_delta(plan: Plan, a, y, m, row_ok):
    """BP1 as jaxnet._core.costs.output_delta with the step's ``m`` (traced), masked."""
    if plan.cost == "quadratic":
        d = (a - y) / m * prime(plan.activations[-1], a)
    elif plan.cost == "cross_entropy":
        d = (a - y) / m
    else:
        d = (a * jnp.sum(y, axis=1, keepdims=True) - y) / m
    ok = row_ok[:, None] & (_cols(d.shape) < plan.sizes[-1])
    return jnp.where(ok, d, 0.0)


def _update(plan: Plan, h, w_ref, v_ref, g, sl):
    """Writes ``w_ref[sl]`` (and ``v_ref[sl]``) after the rule's update with gradient
    ``g`` (the penalty's gradient included); ``h``: the loaded hyper-parameters."""
    if plan.momentum:
        v = h["mu"] * v_ref[sl] - h["eta"] * g
        new = w_ref[sl] + v
        _barrier(plan)
        v_ref[sl] = v
    else:
        new = w_ref[sl] + (-h["eta"]) * g
        _barrier(plan)
    w_ref[sl] = new


def _backward(plan: Plan, h, refs, acts, a0, delta):
    """BP2–BP4 from Δ^L, layer by layer from the top, each layer updated once its
    gradient and the Δ W below it are known. ``refs``: (w, b, vw, vb) per layer."""
    for l in range(plan.n_layers - 1, -1, -1):
        w_ref, b_ref, vw_ref, vb_ref = refs[l]
        below = a0 if l == 0 else [acts[l - 1]]
        parts = plan.cols if l == 0 else ((0, plan.pads[l]),)
        g_in = None if l == 0 else _dot(delta, w_ref[...], 1, 0, plan)           # Δ W
        for (start, size), a_c in zip(parts, below):
            sl = (slice(None), pl.ds(start, size))
            g = _dot(delta, a_c, 0, 0, plan)                                       # BP4
            if plan.reg is not None:
                g = g + penalty_grad(plan.reg, w_ref[sl], (h["lmbda"], h["n"]))
            _update(plan, h, w_ref, vw_ref, g, sl)
        _update(plan, h, b_ref, vb_ref, jnp.sum(delta, axis=0), (pl.ds(0, plan.pads[l + 1]),))
        if l > 0:
            delta = g_in * prime(plan.activations[l - 1], acts[l - 1])            # BP2


def _copy(src, dst, parts):
    for start, size in parts:
        sl = (slice(None), pl.ds(start, size)) if len(src.shape) == 2 else (pl.ds(start, size),)
        dst[sl] = src[sl]


def make_kernel(plan: Plan):
    """The kernel of :func:`jaxnet.train._pallas.epoch_call`: refs ``(order, x, y, hyper,
    params in (w, b per layer), [velocities in], params out, [velocities out])``."""
    n_l, k = plan.n_layers, 4 if plan.momentum else 2

    def kernel(order_ref, x_ref, y_ref, hyper_ref, *refs):
        ins, outs = refs[: k * n_l], refs[k * n_l:]
        for i, (src, dst) in enumerate(zip(ins, outs)):
            group, layer = divmod(i, n_l)          # groups: w, b, velocity w, velocity b
            _copy(src, dst, plan.cols if layer == 0 and group % 2 == 0
                  else ((0, src.shape[-1]),))
        _barrier(plan)
        w, b = outs[:n_l], outs[n_l:2 * n_l]
        vw, vb = (outs[2 * n_l:3 * n_l], outs[3 * n_l:]) if plan.momentum else ((None,) * n_l,) * 2
        layers = list(zip(w, b, vw, vb))
        h = {name: hyper_ref[i] for i, name in enumerate(HYPER)}

        def step(t, carry):
            m = jnp.where(t == plan.n_full, plan.rem, plan.batch_size) if plan.rem else \
                jnp.int32(plan.batch_size)
            row_ok = lax.broadcasted_iota(jnp.int32, (plan.batch,), 0) < m
            # The padded rows' indices are not read (a GPU would not check them): row 0.
            rows = plgpu.load(order_ref.at[pl.ds(t * plan.batch_size, plan.batch)],
                              mask=row_ok, other=0)
            a0 = _inputs(plan, x_ref, rows, h["x_scale"])
            acts, out = _forward(plan, w, b, a0)
            y = _gather(y_ref, rows, 0, plan.pads[-1], plan.sizes[-1])
            delta = _output_delta(plan, out, y, m.astype(jnp.float32), row_ok)
            _backward(plan, h, layers, acts, _inputs(plan, x_ref, rows, h["x_scale"]), delta)
            _barrier(plan)
            return carry

        lax.fori_loop(0, plan.steps, step, None)
    return kernel


def plan_of(model, *, batch_size: int, n_examples: int, scaled: bool, momentum: bool,
            penalty: bool, barriers: bool) -> Plan:
    """The Plan of a (supported, checked) Dense model's epoch."""
    sizes = tuple(model.sizes)
    n_full, rem = divmod(int(n_examples), int(batch_size))
    pads = (sum(s for _, s in chunks(sizes[0])),) + tuple(next_pow2(n) for n in sizes[1:])
    return Plan(sizes, pads, chunks(sizes[0]), tuple(layer.activation for layer in model.layers),
                model.cost, model.reg if penalty else None, bool(momentum),
                next_pow2(batch_size), int(batch_size), n_full, rem, bool(scaled),
                model.precision, bool(barriers))

