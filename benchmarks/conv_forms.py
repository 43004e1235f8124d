"""Which formulation of the conv-pool layer XLA's CPU backend runs fastest, at
mini-batches 10, 100 and 1000: the profile that chose jaxnet.nn's ConvPool.

    python benchmarks/conv_forms.py [--examples 3000] [--repeats 3] [--out benchmarks/results]

Each alternative is a ``jaxnet.ConvPool`` whose ``forward``/``backward`` are
written another way; the same derivation (the docstring of jaxnet/nn/_convpool.py),
only the products' formulation changes. A form is composed of four choices:

- ``fwd``: the convolution as ``lax.conv_general_dilated`` (channels-last) or as
  im2col (25 shifted slices stacked into patches) and one ``dot_general``;
- ``gw``: ∂C/∂w as a convolution contracting over the examples, or as one
  product of the routed δ with the patches (contracting examples × positions);
- ``gin``: ∂C/∂A as a full convolution with the flipped kernels, or as one
  product δ·w into patch gradients summed back (col2im: 25 padded adds);
- ``pool``: the arg-max index (``argmax`` over blocks moved last, transposes)
  or the first-maximum mask computed in place (comparisons and exclusive
  counts, no transposes).

Also ``cnhw`` (channels-major, output positions minor), ``phase`` (channels-major,
the pool window major) and ``rows`` (position-major: what jaxnet._core.im2col ships);
``pool=argmax`` runs the shipped layer itself (a control). Every form's mini-batch
gradient is taken 20 rows at a time as the shipped one's (jaxnet._core.chunked applies to
any ConvPool), so the batch columns compare formulations, not chunking; unchunked,
the shipped layer of 2026-12-03 took 249/192/418 µs at 10/100/1000 on that machine.

Every form is checked first: one float64 step against jaxnet.sgd_step (the
layer as shipped) to ``CHECK_RTOL``; then one float32 epoch over ``--examples``
real digits (network3's row 3 net, η = 0.1) is timed per mini-batch, median of
``--repeats`` after a compiling call. Writes ``results/DATE-conv-forms.{md,json}``.
"""

from __future__ import annotations

import argparse
import itertools
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from common import RESULTS, save, timed, updates_diff
from jax import lax

import jaxnet
from jaxnet import bench, data

SPEC = "conv:20:5,pool:2,conv:40:5,pool:2,fc:100,softmax:10"
#: A form whose float64 step differs from the shipped layer's by more than this is
#: wrong, not reordered (the same sums in another order differ by ~1e-15).
CHECK_RTOL = 1e-12
_PREC = {"highest": lax.Precision.HIGHEST, "high": lax.Precision.HIGH,
         "default": lax.Precision.DEFAULT}


def _conv(lhs, rhs, precision, padding="VALID"):
    return lax.conv_general_dilated(lhs, rhs, (1, 1), padding,
                                    dimension_numbers=("NHWC", "HWIO", "NHWC"),
                                    precision=_PREC[precision])


def _patches(a, k):
    """``a (m, H, W, C)`` → ``(m, Ho, Wo, C, k·k)``: row ``(y, x)`` holds a[y+i, x+j, c]."""
    _, h, w, _ = a.shape
    ho, wo = h - k + 1, w - k + 1
    return jnp.stack([a[:, i:i + ho, j:j + wo, :] for i in range(k) for j in range(k)], -1)


def _first_max(conv, p):
    """``conv (m, Ho, Wo, F)`` → (pooled (m, Ho/p, Wo/p, F), first-max mask like conv)."""
    m, ho, wo, f = conv.shape
    c = conv.reshape(m, ho // p, p, wo // p, p, f)
    mx = jnp.max(c, axis=(2, 4), keepdims=True)
    eq = (c == mx) | jnp.isnan(c)
    row = jnp.sum(eq, axis=4, keepdims=True, dtype=jnp.int32)
    before = (jnp.cumsum(row, axis=2) - row) + (jnp.cumsum(eq, axis=4, dtype=jnp.int32) - eq)
    first = eq & (before == 0)
    return jnp.sum(jnp.where(first, c, 0), axis=(2, 4)), first


def _pool_slices(c, p):
    """``c (F, m, Ho, Wo)`` → (pooled (F, m, Ho/p, Wo/p), first arg-max index): the p·p
    strided slices compared in row-major order (a NaN wins, as in ``argmax``)."""
    return _first([c[:, :, t // p::p, t % p::p] for t in range(p * p)])


def _first(blocks):
    """The elementwise maximum of ``blocks`` and the index of the first block holding
    it (a later block taken only when strictly larger; a NaN wins, as in argmax)."""
    best, idx = blocks[0], jnp.zeros(blocks[0].shape, jnp.int32)
    for t, v in enumerate(blocks[1:], 1):
        take = (v > best) | (jnp.isnan(v) & ~jnp.isnan(best))
        best, idx = jnp.where(take, v, best), jnp.where(take, t, idx)
    return best, idx


def _unpool_slices(dt, idx, p):
    """The routed δ ``(F, m, Ho, Wo)`` from ``dt, idx (F, m, Ho/p, Wo/p)``."""
    rows = [jnp.stack([jnp.where(idx == i * p + j, dt, 0) for j in range(p)], -1)
            for i in range(p)]
    f, m, hp, wp = dt.shape
    return jnp.stack(rows, -3).reshape(f, m, hp * p, wp * p)


def _cpatches(at, k):
    """``at (C, m, H, W)`` → ``(C, k·k, m, Ho, Wo)``."""
    _, _, h, w = at.shape
    ho, wo = h - k + 1, w - k + 1
    return jnp.stack([at[:, :, i:i + ho, j:j + wo] for i in range(k) for j in range(k)], 1)


@dataclass(frozen=True)
class Cnhw(jaxnet.ConvPool):
    """The layer computed channels-major ``(C, m, H, W)``: patches stacked from 25
    contiguous slices, one product per derivative, pooling by strided slices."""

    gin: str = "col2im"

    def forward(self, p, a, precision):
        k, pl, (f, c) = self.kernel, self.pool, p.w.shape[:2]
        at = a.transpose(1, 0, 2, 3)
        pt = _cpatches(at, k)
        conv = lax.dot_general(p.w.reshape(f, c, k * k), pt, (((1, 2), (0, 1)), ((), ())),
                               precision=_PREC[precision])          # (F, m, Ho, Wo)
        pooled, idx = _pool_slices(conv, pl)
        return (pooled.transpose(1, 0, 2, 3) + p.b[None, :, None, None],
                idx.transpose(1, 0, 2, 3))

    def backward(self, p, a, saved, delta, precision, input_grad=True):
        k, pl, (f, c) = self.kernel, self.pool, p.w.shape[:2]
        d = _unpool_slices(delta.transpose(1, 0, 2, 3), saved.transpose(1, 0, 2, 3), pl)
        at = a.transpose(1, 0, 2, 3)
        pt = _cpatches(at, k)
        gw = lax.dot_general(d, pt, (((1, 2, 3), (2, 3, 4)), ((), ())),
                             precision=_PREC[precision]).reshape(f, c, k, k)
        grads = jaxnet.Layer(w=gw, b=jnp.sum(delta, axis=(0, 2, 3)))
        if not input_grad:
            return grads, None
        if self.gin == "conv":
            flipped = p.w[:, :, ::-1, ::-1].transpose(2, 3, 0, 1)
            g = _conv(d.transpose(1, 2, 3, 0), flipped, precision,
                      padding=((k - 1, k - 1), (k - 1, k - 1)))
            return grads, g.transpose(0, 3, 1, 2)
        dp = lax.dot_general(p.w.reshape(f, c, k * k), d, (((0,), (0,)), ((), ())),
                             precision=_PREC[precision])            # (C, k·k, m, Ho, Wo)
        _, m, ho, wo = d.shape
        g = sum(jnp.pad(dp[:, i * k + j], ((0, 0), (0, 0), (i, k - 1 - i), (j, k - 1 - j)))
                for i in range(k) for j in range(k))
        return grads, g.transpose(1, 0, 2, 3)


def _phases(at, p, hp_pad, wp_pad):
    """``at (C, m, H, W)`` zero-padded to ``(p·hp_pad, p·wp_pad)`` → its p·p polyphase
    images ``[r][s] (C, m, hp_pad, wp_pad)``: ``at[..., p·u + r, p·v + s]``."""
    c, m, h, w = at.shape
    at = jnp.pad(at, ((0, 0), (0, 0), (0, p * hp_pad - h), (0, p * wp_pad - w)))
    g = at.reshape(c, m, hp_pad, p, wp_pad, p)
    return [[g[:, :, :, r, :, s] for s in range(p)] for r in range(p)]


def _ppatches(at, k, p):
    """``at (C, m, H, W)`` → ``P (C, k·k, p·p, m, Hp, Wp)``:
    ``P[c, (i,j), (py,px), n, Y, X] = at[c, n, p·Y + py + i, p·X + px + j]``: the
    patches with the pool window's position as a major axis."""
    _, m, h, w = at.shape
    hp, wp = (h - k + 1) // p, (w - k + 1) // p
    ext = (k + p - 2) // p
    ph = _phases(at, p, hp + ext, wp + ext)
    sl = [ph[(py + i) % p][(px + j) % p][:, :, (py + i) // p:(py + i) // p + hp,
                                         (px + j) // p:(px + j) // p + wp]
          for i in range(k) for j in range(k) for py in range(p) for px in range(p)]
    c = at.shape[0]
    return jnp.stack(sl, 1).reshape(c, k * k, p * p, m, hp, wp)


@dataclass(frozen=True)
class Phase(jaxnet.ConvPool):
    """Channels-major with the pool window a major axis of the conv output
    ``(F, p·p, m, Hp, Wp)``: pooling and routing touch p·p contiguous blocks."""

    def forward(self, p, a, precision):
        k, pl, (f, c) = self.kernel, self.pool, p.w.shape[:2]
        pt = _ppatches(a.transpose(1, 0, 2, 3), k, pl)
        conv = lax.dot_general(p.w.reshape(f, c, k * k), pt, (((1, 2), (0, 1)), ((), ())),
                               precision=_PREC[precision])          # (F, p·p, m, Hp, Wp)
        best, idx = _first([conv[:, t] for t in range(pl * pl)])
        return (best.transpose(1, 0, 2, 3) + p.b[None, :, None, None],
                idx.transpose(1, 0, 2, 3))

    def backward(self, p, a, saved, delta, precision, input_grad=True):
        k, pl, (f, c) = self.kernel, self.pool, p.w.shape[:2]
        dt, it = delta.transpose(1, 0, 2, 3), saved.transpose(1, 0, 2, 3)
        d = jnp.stack([jnp.where(it == t, dt, 0) for t in range(pl * pl)], 1)
        at = a.transpose(1, 0, 2, 3)
        pt = _ppatches(at, k, pl)
        gw = lax.dot_general(d, pt, (((1, 2, 3, 4), (2, 3, 4, 5)), ((), ())),
                             precision=_PREC[precision]).reshape(f, c, k, k)
        grads = jaxnet.Layer(w=gw, b=jnp.sum(delta, axis=(0, 2, 3)))
        if not input_grad:
            return grads, None
        wt = p.w.reshape(f, c * k * k).T
        dp = lax.dot_general(wt, d, (((1,), (0,)), ((), ())),
                             precision=_PREC[precision])   # (C·k·k, p·p, m, Hp, Wp)
        _, _, m, hp, wp = d.shape
        dp = dp.reshape(c, k, k, pl, pl, m, hp, wp)
        _, _, h, w = at.shape
        ext = (k + pl - 2) // pl
        hq, wq = hp + ext, wp + ext
        phases = [[0 for _ in range(pl)] for _ in range(pl)]
        for i in range(k):
            for j in range(k):
                for py in range(pl):
                    for px in range(pl):
                        u, v = (py + i) // pl, (px + j) // pl
                        phases[(py + i) % pl][(px + j) % pl] = phases[(py + i) % pl][
                            (px + j) % pl] + jnp.pad(dp[:, i, j, py, px], (
                                (0, 0), (0, 0), (u, hq - hp - u), (v, wq - wp - v)))
        g = jnp.stack([jnp.stack(row, -1) for row in phases], -3)   # (C, m, hq, p, wq, p)
        g = g.reshape(c, m, hq * pl, wq * pl)[:, :, :h, :w]
        return grads, g.transpose(1, 0, 2, 3)


def _row_phases(an, p, hq, wq):
    """``an (m, H, W, C)`` zero-padded to ``(p·hq, p·wq)`` → ``[r][s] (m, hq, wq, C)``."""
    m, h, w, c = an.shape
    an = jnp.pad(an, ((0, 0), (0, p * hq - h), (0, p * wq - w), (0, 0)))
    g = an.reshape(m, hq, p, wq, p, c)
    return [[g[:, :, r, :, s, :] for s in range(p)] for r in range(p)]


def _row_patches(an, k, p):
    """``an (m, H, W, C)`` → ``P (p·p·m·Hp·Wp, k·k·C)``, rows ordered (py, px, n, Y, X),
    columns (i, j, c): ``an[n, p·Y + py + i, p·X + px + j, c]``."""
    m, h, w, c = an.shape
    hp, wp = (h - k + 1) // p, (w - k + 1) // p
    ext = (k + p - 2) // p
    ph = _row_phases(an, p, hp + ext, wp + ext)
    blocks = [jnp.stack([ph[(py + i) % p][(px + j) % p][
        :, (py + i) // p:(py + i) // p + hp, (px + j) // p:(px + j) // p + wp, :]
        for i in range(k) for j in range(k)], 3) for py in range(p) for px in range(p)]
    return jnp.stack(blocks, 0).reshape(p * p * m * hp * wp, k * k * c)


@dataclass(frozen=True)
class Rows(jaxnet.ConvPool):
    """Position-major: patches ``(p·p·m·Hp·Wp, k·k·C)``, conv ``(p·p·m·Hp·Wp, F)``;
    every product a 2-D one with the long axis major (NT, TN, NN)."""

    def forward(self, p, a, precision):
        k, pl, (f, c) = self.kernel, self.pool, p.w.shape[:2]
        an = a.transpose(0, 2, 3, 1)
        m, h, w, _ = an.shape
        hp, wp = (h - k + 1) // pl, (w - k + 1) // pl
        pt = _row_patches(an, k, pl)
        wq = p.w.transpose(0, 2, 3, 1).reshape(f, k * k * c)
        conv = lax.dot_general(pt, wq, (((1,), (1,)), ((), ())), precision=_PREC[precision])
        conv = conv.reshape(pl * pl, m, hp, wp, f)
        best, idx = _first([conv[t] for t in range(pl * pl)])
        return (best.transpose(0, 3, 1, 2) + p.b[None, :, None, None],
                idx.transpose(0, 3, 1, 2))

    def backward(self, p, a, saved, delta, precision, input_grad=True):
        k, pl, (f, c) = self.kernel, self.pool, p.w.shape[:2]
        dn, itn = delta.transpose(0, 2, 3, 1), saved.transpose(0, 2, 3, 1)
        m, hp, wp, _ = dn.shape
        d = jnp.stack([jnp.where(itn == t, dn, 0) for t in range(pl * pl)], 0)
        d = d.reshape(-1, f)
        an = a.transpose(0, 2, 3, 1)
        pt = _row_patches(an, k, pl)
        gw = lax.dot_general(d, pt, (((0,), (0,)), ((), ())), precision=_PREC[precision])
        gw = gw.reshape(f, k, k, c).transpose(0, 3, 1, 2)
        grads = jaxnet.Layer(w=gw, b=jnp.sum(delta, axis=(0, 2, 3)))
        if not input_grad:
            return grads, None
        wq = p.w.transpose(0, 2, 3, 1).reshape(f, k * k * c)
        dp = lax.dot_general(d, wq, (((1,), (0,)), ((), ())), precision=_PREC[precision])
        dp = dp.reshape(pl, pl, m, hp, wp, k, k, c)
        _, h, w, _ = an.shape
        ext = (k + pl - 2) // pl
        hq, wq_ = hp + ext, wp + ext
        phases = [[0] * pl for _ in range(pl)]
        for i in range(k):
            for j in range(k):
                for py in range(pl):
                    for px in range(pl):
                        u, v, r, s_ = (py + i) // pl, (px + j) // pl, (py + i) % pl, (px + j) % pl
                        phases[r][s_] = phases[r][s_] + jnp.pad(dp[py, px, :, :, :, i, j, :], (
                            (0, 0), (u, hq - hp - u), (v, wq_ - wp - v), (0, 0)))
        g = jnp.stack([jnp.stack(row, 3) for row in phases], 2)   # (m, hq, p, wq, p, C)
        g = g.reshape(m, hq * pl, wq_ * pl, c)[:, :h, :w]
        return grads, g.transpose(0, 3, 1, 2)


@dataclass(frozen=True)
class Form(jaxnet.ConvPool):
    """A ConvPool computed another way (see the module docstring)."""

    fwd: str = "conv"
    gw: str = "conv"
    gin: str = "conv"
    routing: str = "mask"

    def forward(self, p, a, precision):
        if self.routing == "argmax":
            if self.fwd != "conv":
                raise ValueError("argmax pooling is measured with the conv forward only")
            return super().forward(p, a, precision)
        k, (f, c) = self.kernel, p.w.shape[:2]
        a = a.transpose(0, 2, 3, 1)
        if self.fwd == "conv":
            conv = _conv(a, p.w.transpose(2, 3, 1, 0), precision)
        else:
            pt = _patches(a, k)
            conv = lax.dot_general(pt, p.w.reshape(f, c, k * k), (((3, 4), (1, 2)), ((), ())),
                                   precision=_PREC[precision])
        pooled, first = _first_max(conv, self.pool)
        return pooled.transpose(0, 3, 1, 2) + p.b[None, :, None, None], first

    def backward(self, p, a, saved, delta, precision, input_grad=True):
        if self.routing == "argmax":
            return super().backward(p, a, saved, delta, precision, input_grad)
        k, pl, (f, c) = self.kernel, self.pool, p.w.shape[:2]
        m, ho, wo = saved.shape[0], saved.shape[1] * pl, saved.shape[3] * pl
        dl = delta.transpose(0, 2, 3, 1)[:, :, None, :, None, :]
        d = jnp.where(saved, dl, 0).reshape(m, ho, wo, f)          # routed δ, channels-last
        an = a.transpose(0, 2, 3, 1)
        if self.gw == "conv":
            gw = _conv(an.transpose(3, 1, 2, 0), d.transpose(1, 2, 0, 3),
                       precision).transpose(3, 0, 1, 2)
        else:
            gw = lax.dot_general(d, _patches(an, k), (((0, 1, 2), (0, 1, 2)), ((), ())),
                                 precision=_PREC[precision]).reshape(f, c, k, k)
        grads = jaxnet.Layer(w=gw, b=jnp.sum(delta, axis=(0, 2, 3)))
        if not input_grad:
            return grads, None
        if self.gin == "conv":
            flipped = p.w[:, :, ::-1, ::-1].transpose(2, 3, 0, 1)
            g = _conv(d, flipped, precision, padding=((k - 1, k - 1), (k - 1, k - 1)))
        else:
            dp = lax.dot_general(d, p.w.reshape(f, c, k * k), (((3,), (0,)), ((), ())),
                                 precision=_PREC[precision])      # (m, Ho, Wo, C, k·k)
            g = sum(jnp.pad(dp[..., i * k + j], ((0, 0), (i, k - 1 - i), (j, k - 1 - j), (0, 0)))
                    for i in range(k) for j in range(k))
        return grads, g.transpose(0, 3, 1, 2)


FORMS = {"shipped": None}
for _fwd, _gw, _gin in itertools.product(("conv", "im2col"), ("conv", "im2col"),
                                         ("conv", "col2im")):
    FORMS[f"fwd={_fwd} gw={_gw} gin={_gin} pool=mask"] = dict(fwd=_fwd, gw=_gw, gin=_gin)
FORMS["fwd=conv gw=conv gin=conv pool=argmax"] = dict(routing="argmax")
FORMS["cnhw gin=col2im"] = dict(cnhw="col2im")
FORMS["cnhw gin=conv"] = dict(cnhw="conv")
FORMS["phase"] = dict(phase=True)
FORMS["rows"] = dict(rows=True)


def model_of(form):
    base = jaxnet.parse_layers(SPEC, 784)
    if form is None:
        return base
    if "rows" in form:
        return base.replace(layers=tuple(
            Rows(ly.filters, ly.kernel, ly.pool, ly.activation)
            if isinstance(ly, jaxnet.ConvPool) else ly for ly in base.layers))
    if "phase" in form:
        return base.replace(layers=tuple(
            Phase(ly.filters, ly.kernel, ly.pool, ly.activation)
            if isinstance(ly, jaxnet.ConvPool) else ly for ly in base.layers))
    if "cnhw" in form:
        return base.replace(layers=tuple(
            Cnhw(ly.filters, ly.kernel, ly.pool, ly.activation, gin=form["cnhw"])
            if isinstance(ly, jaxnet.ConvPool) else ly for ly in base.layers))
    layers = tuple(Form(ly.filters, ly.kernel, ly.pool, ly.activation, **form)
                   if isinstance(ly, jaxnet.ConvPool) else ly for ly in base.layers)
    return base.replace(layers=layers)


def check(form, d):
    """Relative difference of one float64 step against the shipped layer's."""
    jax.config.update("jax_enable_x64", True)
    try:
        model0 = jaxnet.parse_layers(SPEC, 784)
        p0 = jaxnet.init_params(jax.random.PRNGKey(0), model0, dtype="float64", init="scaled")
        x = d.train.images[:10].astype(np.float64) * data.PIXEL_SCALE
        y = np.eye(10)[d.train.labels[:10]]
        ref = jaxnet.sgd_step(p0, x, y, 0.1, model=model0)
        got = jaxnet.sgd_step(p0, x, y, 0.1, model=model_of(form))
        return updates_diff(got, ref, p0)
    finally:
        jax.config.update("jax_enable_x64", False)


def time_form(form, d, n, batch, repeats):
    model = model_of(form)
    params = jaxnet.init_params(jax.random.PRNGKey(0), model, init="network3")
    x = jax.device_put(d.train.images[:n])
    y = jax.device_put(np.eye(10, dtype=np.float32)[d.train.labels[:n]])
    order = jax.device_put(np.random.default_rng(0).permutation(n).astype(np.int32))

    def run():
        jax.block_until_ready(jaxnet.train_epoch(params, x, y, order, eta=0.1, batch_size=batch,
                                                 model=model, x_scale=data.PIXEL_SCALE))
    _, median, _ = timed(run, repeats)
    return median / n * 1e6


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--examples", type=int, default=3000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--batches", default="10,100,1000")
    ap.add_argument("--forms", default="", help="substrings; only forms matching one")
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args(argv)
    d = data.load_mnist()
    batches = [int(b) for b in args.batches.split(",")]
    forms = {k: v for k, v in FORMS.items()
             if not args.forms or any(s in k for s in args.forms.split(","))}
    rows = []
    for name, form in forms.items():
        err = 0.0 if form is None else check(form, d)
        row = {"form": name, "check": err}
        if err > CHECK_RTOL:
            print(f"{name}: off by {err:.1e}, not timed", flush=True)
            rows.append(row)
            continue
        for b in batches:
            row[b] = time_form(form, d, args.examples, b, args.repeats)
        rows.append(row)
        print(f"{name:42s} check {err:.0e} " + " ".join(
            f"b{b}: {row[b]:7.1f} us/ex" for b in batches), flush=True)
    return write(args, rows, batches)


def write(args, rows, batches):
    stamp = time.strftime("%Y-%m-%d")
    machine = bench.machine()
    lines = [f"# Conv-pool formulations, µs per example ({stamp})", "",
             f"`python benchmarks/conv_forms.py --examples {args.examples} --repeats "
             f"{args.repeats}`; {args.examples} MNIST digits, network3's row 3 net, float32, "
             f"one epoch, median of {args.repeats}. Machine: {machine}", "",
             "| form | float64 step vs shipped | " + " | ".join(f"batch {b}" for b in batches)
             + " |", "|---|---|" + "---|" * len(batches)]
    for r in rows:
        lines.append(f"| {r['form']} | {r['check']:.0e} | " + " | ".join(
            f"{r[b]:.1f}" if b in r else "–" for b in batches) + " |")
    doc = {"machine": machine, "examples": args.examples, "repeats": args.repeats,
           "rows": [{str(k): v for k, v in r.items()} for r in rows]}
    return save(args.out / f"{stamp}-conv-forms", doc, "\n".join(lines) + "\n",
                prog="benchmarks/conv_forms.py")


if __name__ == "__main__":
    sys.exit(main())
