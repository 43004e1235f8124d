"""``jaxnet check``: the three implementations (and finite differences) side by side.

Runs the hand-derived backprop, ``jax.grad`` and the C kernel on real MNIST
batches and on a random net, in float64 and float32, then a whole epoch from
the same start and order, and prints for every pair the largest absolute and
relative difference, the tensor where it occurs, and the tolerance.
"""

from __future__ import annotations

import sys
from typing import Callable, NamedTuple

import numpy as np

# Tolerances (relative to the largest entry of the reference tensor):
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


def default_implementations():
    """name → gradient function ``(params, x, y) → Layers``; the C kernel if built."""
    import jaxnet
    impls = {"backprop": jaxnet.backprop, "jax.grad": jaxnet.autodiff_grad}
    epochs = {"backprop": lambda *a, **k: jaxnet.train_epoch(*a, **k),
              "jax.grad": lambda *a, **k: jaxnet.train_epoch(*a, grad="autodiff", **k)}
    try:
        from . import cref
    except ImportError as e:
        return impls, epochs, str(e)
    impls["C"] = cref.backprop
    epochs["C"] = cref.train_epoch
    return impls, epochs, None


def run(impls=None, epochs=None, out=sys.stdout) -> list[Row]:
    import jax
    import jaxnet
    from . import data
    from ._network import _cost

    missing = None
    if impls is None:
        impls, epochs, missing = default_implementations()
    sample = data.load_sample()
    rows = []
    names = list(impls)
    pairs = [(a, b) for i, a in enumerate(names) for b in names[i + 1:]]

    for dtype, tol in ((np.float64, F64_RTOL), (np.float32, F32_RTOL)):
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
        for case, params, x, y in cases:
            x, y = x.astype(dtype), y.astype(dtype)
            grads = {n: f(params, x, y) for n, f in impls.items()}
            for a, b in pairs:
                rows.append(Row(case, dt, f"{a} vs {b}", *compare(grads[a], grads[b]), tol))
        if dtype == np.float64:
            case, params, x, y = small
            fd = central_differences(lambda q, x=x, y=y: _cost(q, x, y), params)
            for n in names:
                rows.append(Row(case, dt, f"{n} vs central diff.", *compare(impls[n](params, x, y), fd),
                                FD_RTOL))

    # Whole epochs from the same start and order: 500 steps on the sample.
    order = np.random.default_rng(0).permutation(len(sample.train))
    for dtype, tol in ((np.float64, EPOCH64_RTOL), (np.float32, EPOCH32_RTOL)):
        params = jaxnet.init_params(jax.random.PRNGKey(5), [784, 30, 10], dtype=dtype)
        x, y = sample.train.x.astype(dtype), sample.train.y().astype(dtype)
        ends = {n: f(params, x, y, order, eta=3.0, batch_size=10) for n, f in epochs.items()}
        enames = list(ends)
        for i, a in enumerate(enames):
            for b in enames[i + 1:]:
                rows.append(Row("epoch, 5000 MNIST, eta 3, batch 10", np.dtype(dtype).name,
                                f"{a} vs {b}", *compare(ends[a], ends[b]), tol))
    _print(rows, out, missing)
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


def main() -> int:
    import jax
    jax.config.update("jax_enable_x64", True)
    impls, epochs, missing = default_implementations()
    rows = run(impls, epochs)
    return 0 if all(r.ok for r in rows) and not missing else 1
