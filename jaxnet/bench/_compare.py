"""Comparing gradients: two trees side by side, central differences, and every
implementation on any model (``model_rows``: what ``jaxnet check`` and the tests
use for a layer kind, whatever module defines it)."""

from __future__ import annotations

from typing import Callable, NamedTuple

import numpy as np

F64_RTOL = 1e-12    # same sums in another order: ~1e3 float64 ulps
FD_RTOL = 1e-6      # central differences, h = 1e-6: O(h²) + O(eps/h) ≈ 1e-10, with margin
FD_STEP = 1e-6


class Comparison(NamedTuple):
    """One row of `jaxnet check`: two implementations on one case, their largest
    differences, where, and the tolerance."""

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
    """Largest |a − b|, largest |a − b| / max|b| over the tensors, and that tensor's name
    (``w[l]``/``b[l]`` for Layers). A structure or shape mismatch, or a value that is
    not finite, counts as an infinite difference; a zero reference tensor as 0 if the
    other is zero too, else infinite."""
    import jax
    la, lb = jax.tree.leaves(a_tree), jax.tree.leaves(b_tree)
    if len(la) != len(lb):
        return float("inf"), float("inf"), "structure"
    max_abs, max_rel, where = 0.0, 0.0, "-"
    for i, (x, y) in enumerate(zip(la, lb)):
        name = f"{'wb'[i % 2]}[{i // 2}]"
        x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
        if x.shape != y.shape:
            return float("inf"), float("inf"), name
        diff = float(np.max(np.abs(x - y), initial=0.0))
        scale = float(np.max(np.abs(y), initial=0.0))
        rel = diff / scale if scale > 0 else (0.0 if diff == 0 else float("inf"))
        if not np.isfinite(rel):
            rel = float("inf")
        max_abs = max(max_abs, diff)
        if rel >= max_rel:
            max_rel, where = rel, name
    return max_abs, max_rel, where


def central_differences(cost: Callable, params):
    """∂cost/∂params by central differences, one parameter at a time (float64)."""
    from .._core.params import Layer
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
    """``(gradients, epochs, why the C kernel is missing or None)``: name → gradient
    ``(params, x, y, *, model, lmbda=None, n=None) → Layers``, and name → epoch
    ``(rule, params, x, y, order, *, batch_size, model, lmbda=None) → params``.
    The JAX paths use the model's precision; the C kernel ignores it."""
    import jaxnet
    impls = {"backprop": jaxnet.backprop, "jax.grad": jaxnet.autodiff_grad}

    def jax_epoch(grad):
        return lambda rule, *a, **k: jaxnet.train_epoch_with(rule, a[0], None, *a[1:], grad=grad,
                                                             **k)[0]
    epochs = {"backprop": jax_epoch("backprop"), "jax.grad": jax_epoch("autodiff")}
    try:
        from .. import cref
    except ImportError as e:
        return impls, epochs, str(e)
    impls["C"] = cref.backprop
    epochs["C"] = lambda rule, *a, **k: cref.train_epoch_with(rule, a[0], None, *a[1:], **k)[0]
    epochs["C reference"] = lambda rule, *a, **k: cref.train_epoch_with(
        rule, a[0], None, *a[1:], kernel="reference", **k)[0]
    return impls, epochs, None


def jitted_cost(params, x, y, model, lmbda=None, n=None, masks=None):
    """The cost as one compiled function of the parameters (central differences
    call it ~100 times; the public, validating jaxnet.cost costs ~20 ms a call)."""
    import jax

    from .._core.inputs import penalty
    from .._core.network import unchecked_cost as cost
    pen = penalty(lmbda, n, params)
    return jax.jit(lambda q: cost(q, x, y, pen, masks, model=model))


def model_rows(label, model, params, x, y, impls=None, lmbda=None, n=None,
               masks=None) -> list[Comparison]:
    """Every pair of gradients of any model (any layer kinds) on float64 ``x (m, n_0)``,
    ``y (m, n_L)``, and the first against central differences. An implementation that
    does not take the model (the C kernel: Dense chains only) raises ValueError and is
    left out. ``impls``: name → gradient (default :func:`default_implementations`);
    ``masks``: dropout masks for all of them (and the central differences)."""
    impls = impls if impls is not None else default_implementations()[0]
    grads = {}
    for name, f in impls.items():
        try:
            extra = {} if masks is None else dict(masks=masks)
            grads[name] = f(params, x, y, model=model, lmbda=lmbda, n=n, **extra)
        except (ValueError, TypeError) as e:  # a model (or masks) it does not implement
            if name == next(iter(impls)):  # the first is the reference: it must take it
                raise
            grads[name] = e
    names = [k for k, g in grads.items() if not isinstance(g, Exception)]
    rows = [Comparison(label, "float64", f"{a} vs {b}", *compare(grads[a], grads[b]), F64_RTOL)
            for i, a in enumerate(names) for b in names[i + 1:]]
    fd = central_differences(jitted_cost(params, x, y, model, lmbda, n, masks), params)
    return rows + [Comparison(label, "float64", f"{names[0]} vs central diff.",
                       *compare(grads[names[0]], fd), FD_RTOL)]
