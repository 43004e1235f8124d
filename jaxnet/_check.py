"""``jaxnet check``: the three implementations (and finite differences) side by side.

Runs the hand-derived backprop, ``jax.grad`` and the C kernel on real MNIST
batches and on a random net, in float64 and float32; then every cost × hidden
activation pair on the random net, each regularisation (none, L2, L1) meeting
every cost and every activation (float64, central differences included); then
whole epochs from the same start and order (chapter 1, and chapter 3 with
cross-entropy, tanh, L2 and momentum; the C kernel's fast path and its
reference both), and prints for every pair the largest absolute and
relative difference, the tensor where it occurs, and the tolerance.

The JAX paths run at the requested matrix-product precision (``--precision``,
default ``highest``: true float32); the C kernel is always true float32 or
float64. The float32 tolerances below hold for true float32 and are scaled
to the precision in effect (jaxnet._precision.scaled_rtol): with TF32 on a
GPU they are 8192 times looser, capped at 5 %, and the output says so.
"""

from __future__ import annotations

import sys
from typing import Callable, NamedTuple

import numpy as np

# Tolerances (relative to the largest entry of the reference tensor); the float32
# ones are for true float32 products and are scaled to the precision in effect:
F64_RTOL = 1e-12    # same sums in another order: ~1e3 float64 ulps
F32_RTOL = 1e-5     # ~100 float32 ulps
FD_RTOL = 1e-6      # central differences, h = 1e-6: O(h²) + O(eps/h) ≈ 1e-10, with margin
EPOCH64_RTOL = 1e-10  # 500 steps carrying ~1e-15 per-step differences (measured ~3e-14)
EPOCH32_RTOL = 1e-3   # 500 float32 steps carrying ~1e-7 per-step differences
FD_STEP = 1e-6


class Row(NamedTuple):
    case: str
    dtype: str
    pair: str
    max_abs: float
    max_rel: float
    where: str
    tol: float

    @property
    def ok(self) -> bool:
        return bool(self.max_rel <= self.tol)


def compare(a_tree, b_tree) -> tuple[float, float, str]:
    """Largest |a − b|, largest |a − b| / max|b| per tensor, and that tensor's name."""
    max_abs, max_rel, where = 0.0, 0.0, "-"
    for l, (la, lb) in enumerate(zip(a_tree, b_tree)):
        for part, x, y in (("w", la[0], lb[0]), ("b", la[1], lb[1])):
            x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
            diff = float(np.max(np.abs(x - y)))
            scale = float(np.max(np.abs(y)))
            rel = diff / scale if scale > 0 else (0.0 if diff == 0 else float("inf"))
            max_abs = max(max_abs, diff)
            if rel >= max_rel:
                max_rel, where = rel, f"{part}[{l}]"
    return max_abs, max_rel, where


def central_differences(cost: Callable, params):
    """∂cost/∂params by central differences, one parameter at a time (float64)."""
    from ._params import Layer
    out = []
    for l, layer in enumerate(params):
        grads = []
        for part in (0, 1):
            p = np.array(layer[part], np.float64)
            g = np.zeros_like(p)
            for idx in np.ndindex(p.shape):
                vals = []
                for sign in (1, -1):
                    q = p.copy()
                    q[idx] += sign * FD_STEP
                    moved = list(params)
                    moved[l] = Layer(q, layer[1]) if part == 0 else Layer(layer[0], q)
                    vals.append(float(cost(tuple(moved))))
                g[idx] = (vals[0] - vals[1]) / (2 * FD_STEP)
            grads.append(g)
        out.append(Layer(*grads))
    return tuple(out)


def default_implementations(precision="highest"):
    """name → gradient function ``(params, x, y) → Layers``; the C kernel if built.

    The JAX paths use ``precision`` for their matrix products."""
    import jaxnet
    impls = {"backprop": lambda *a, **k: jaxnet.backprop(*a, precision=precision, **k),
             "jax.grad": lambda *a, **k: jaxnet.autodiff_grad(*a, precision=precision, **k)}
    epochs = {"backprop": lambda *a, **k: jaxnet.train_epoch(*a, precision=precision, **k),
              "jax.grad": lambda *a, **k: jaxnet.train_epoch(*a, grad="autodiff",
                                                             precision=precision, **k)}
    try:
        from . import cref
    except ImportError as e:
        return impls, epochs, str(e)
    impls["C"] = cref.backprop
    epochs["C"] = cref.train_epoch  # the fast path
    epochs["C reference"] = lambda *a, **k: cref.train_epoch(*a, impl="reference", **k)
    return impls, epochs, None


def run(impls=None, epochs=None, out=sys.stdout, precision="highest") -> list[Row]:
    """Every comparison as a Row, printed to ``out``; the JAX paths at ``precision``."""
    import jax
    import jaxnet
    from . import data
    from ._precision import check_precision, matmul_roundoff, scaled_rtol

    precision = check_precision(precision)
    platform = jax.default_backend()
    missing = None
    if impls is None:
        impls, epochs, missing = default_implementations(precision)
    f32_rtol, epoch32_rtol = (scaled_rtol(t, precision, platform) for t in (F32_RTOL, EPOCH32_RTOL))
    u = matmul_roundoff(precision, np.float32, platform)
    scaled = ("as for true float32" if f32_rtol == F32_RTOL else
              f"scaled to {f32_rtol:.0e} (gradients) and {epoch32_rtol:.0e} (epochs)")
    print(f"precision {precision} on {platform} ({jax.devices()[0].device_kind}): float32 "
          f"products round their operands to 2^{np.log2(u):.0f}; float32 tolerances {scaled}",
          file=out)
    sample = data.load_sample()
    rows = []
    names = list(impls)
    pairs = [(a, b) for i, a in enumerate(names) for b in names[i + 1:]]

    for dtype, tol in ((np.float64, F64_RTOL), (np.float32, f32_rtol)):
        dt = np.dtype(dtype).name
        cases = []
        for seed, start in ((0, 0), (1, 2500)):
            p = jaxnet.init_params(jax.random.PRNGKey(seed), [784, 30, 10], dtype=dtype)
            cases.append((f"MNIST 784-30-10 batch@{start}", p, sample.train.x[start:start + 10],
                          sample.train.y()[start:start + 10]))
        rng = np.random.default_rng(7)
        p = tuple(jaxnet.Layer(rng.standard_normal((o, i)).astype(dtype), rng.standard_normal(o).astype(dtype))
                  for i, o in ((5, 4), (4, 3), (3, 2)))
        small = ("random 5-4-3-2 batch 7", p, rng.uniform(size=(7, 5)).astype(dtype),
                 np.eye(2, dtype=dtype)[rng.integers(0, 2, 7)])
        cases.append(small)
        if dtype == np.float64:
            small64 = small
        for case, params, x, y in cases:
            x, y = x.astype(dtype), y.astype(dtype)
            grads = {n: f(params, x, y) for n, f in impls.items()}
            for a, b in pairs:
                rows.append(Row(case, dt, f"{a} vs {b}", *compare(grads[a], grads[b]), tol))
        if dtype == np.float64:
            case, params, x, y = small
            fd = central_differences(lambda q, x=x, y=y: jaxnet.cost(q, x, y), params)
            for n in names:
                rows.append(Row(case, dt, f"{n} vs central diff.", *compare(impls[n](params, x, y), fd),
                                FD_RTOL))

    # Chapter 3: every cost x hidden activation x regularisation, float64, 5-4-3-2.
    rows += _chapter3_rows(impls, pairs, small64)

    # Whole epochs from the same start and order: 500 steps on the sample.
    order = np.random.default_rng(0).permutation(len(sample.train))
    # η = 0.1: at η = 0.5 this tanh net's trajectory is chaotic (float64 rounding
    # differences of 1e-15 grow to O(1) within 500 steps, between any two
    # implementations, the two JAX ones included); at 0.1 they stay ~1e-15.
    ch3 = dict(eta=0.1, cost="cross_entropy", activation="tanh", lmbda=5.0, momentum=0.5)
    for dtype, tol in ((np.float64, EPOCH64_RTOL), (np.float32, epoch32_rtol)):
        x, y = sample.train.x.astype(dtype), sample.train.y().astype(dtype)
        for label, kw in (("epoch, 5000 MNIST, eta 3, batch 10", dict(eta=3.0)),
                          ("epoch, 5000 MNIST, cross-entropy, tanh, eta 0.1, L2 5, momentum 0.5", ch3)):
            params = jaxnet.init_params(jax.random.PRNGKey(5), [784, 30, 10], dtype=dtype,
                                        init="scaled" if "cost" in kw else "large")
            if "momentum" in kw:
                kw = dict(kw, velocity=jaxnet.init_velocity(params))
            ends = {n: f(params, x, y, order, batch_size=10, **kw) for n, f in epochs.items()}
            if "velocity" in kw:
                ends = {n: e[0] for n, e in ends.items()}
            enames = list(ends)
            for i, a in enumerate(enames):
                for b in enames[i + 1:]:
                    rows.append(Row(label, np.dtype(dtype).name, f"{a} vs {b}",
                                    *compare(ends[a], ends[b]), tol))
    _print(rows, out, missing)
    return rows


def _jitted_cost(params, x, y, kw):
    """The cost as one compiled function of the parameters (central differences
    call it ~100 times; the public, validating jaxnet.cost costs ~20 ms a call)."""
    import jax

    from ._network import _cost, _model_args
    m = _model_args(params, kw["cost"], kw["activation"], kw.get("lmbda"), kw.get("n"),
                    kw.get("reg", "l2"))
    return jax.jit(lambda q: _cost(q, x, y, m["cost"], m["activation"], m["lmbda"], m["n"],
                                   m["reg"]))


def _chapter3_rows(impls, pairs, small):
    import jaxnet
    rows = []
    case, params, x, y = small
    # A Latin square: each cost meets each activation once and each regularisation
    # once (9 compiled configurations, ~2 s each here; the test suite runs all 27).
    regs = (None, "l2", "l1")
    for i, cost in enumerate(jaxnet.COSTS):
        for j, act in enumerate(jaxnet.ACTIVATIONS):
            reg = regs[(i + j) % 3]
            kw = dict(cost=cost, activation=act)
            if reg:
                kw.update(lmbda=2.0, n=50, reg=reg)
            label = f"5-4-3-2 {cost}, {act}, {reg or 'no reg'}"
            grads = {n: f(params, x, y, **kw) for n, f in impls.items()}
            for a, b in pairs:
                rows.append(Row(label, "float64", f"{a} vs {b}", *compare(grads[a], grads[b]),
                                F64_RTOL))
            fd = central_differences(_jitted_cost(params, x, y, kw), params)
            first = next(iter(impls))
            rows.append(Row(label, "float64", f"{first} vs central diff.",
                            *compare(grads[first], fd), FD_RTOL))
    return rows


def _print(rows, out, missing):
    head = ("case", "dtype", "pair", "max |diff|", "max rel", "where", "tolerance", "")
    body = [(r.case, r.dtype, r.pair, f"{r.max_abs:.2e}", f"{r.max_rel:.2e}", r.where,
             f"{r.tol:.0e}", "ok" if r.ok else "FAIL") for r in rows]
    widths = [max(len(str(c)) for c in col) for col in zip(head, *body)]
    for line in [head] + body:
        print("  ".join(str(c).ljust(w) for c, w in zip(line, widths)).rstrip(), file=out)
    if missing:
        print(f"C kernel: not checked: {missing}", file=out)
    bad = sum(not r.ok for r in rows)
    print(f"{len(rows) - bad} passed, {bad} failed" + (" (C kernel missing)" if missing else ""),
          file=out)


def main(precision="highest") -> int:
    import jax
    jax.config.update("jax_enable_x64", True)
    impls, epochs, missing = default_implementations(precision)
    rows = run(impls, epochs, precision=precision)
    return 0 if all(r.ok for r in rows) and not missing else 1
