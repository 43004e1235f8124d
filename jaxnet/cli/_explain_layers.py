"""One layer's symbols for ``jaxnet explain`` (jaxnet.cli._explain): each with its
shape, equation, summary and the largest relative difference from its twins.

Arrays here are one example's ``(*shape)`` or, for a mini-batch, ``(m, *shape)``
with every δ per example (the book's ``δ^{x,l}``: the trace's ``Δ^l`` times m).
"""

from __future__ import annotations

import numpy as np

from .._core.activations import prime
from ..nn import ConvPool
from ._explain_autodiff import activation_slope, output_gradient
from ._explain_equations import F, equations, name, step_of

#: How many of a symbol's largest entries (by magnitude) its summary lists.
TOP = 3


def rel_diff(u, v) -> float:
    """``max|u − v| / max(max|u|, max|v|)`` of two arrays of one shape (0 for two zero
    arrays): the difference relative to the tensors' scale (elementwise ratios are
    meaningless near 0)."""
    u, v = np.asarray(u, np.float64), np.asarray(v, np.float64)
    if u.shape != v.shape:
        raise ValueError(f"shapes differ: {u.shape} vs {v.shape}")
    diff = float(np.max(np.abs(u - v), initial=0.0))
    return 0.0 if diff == 0 else diff / float(max(np.max(np.abs(u)), np.max(np.abs(v))))


def summary(value) -> dict:
    """``{"norm", "min", "max", "nonzero", "largest": [{"index", "value"}, ...]}`` of an
    array of any shape (the :data:`TOP` entries of largest magnitude)."""
    v = np.asarray(value, np.float64)
    order = np.argsort(-np.abs(v.ravel()), kind="stable")[:TOP]
    return {"norm": float(np.linalg.norm(v.ravel())), "min": float(v.min()),
            "max": float(v.max()), "nonzero": int(np.count_nonzero(v)),
            "largest": [{"index": [int(i) for i in np.unravel_index(k, v.shape)],
                         "value": float(v.ravel()[k])} for k in order]}


def symbol(kind, l, value, equation, last, others=None, *, batch=False, f="σ",
           base=None) -> dict:
    """One symbol's record; ``others``: ``{twin: value or None}``; ``base``: compare
    ``value − base`` (an update's step, not the weights it moves)."""
    value = np.asarray(value)
    step = value if base is None else value - base
    return {"symbol": kind, "layer": l, "name": name(kind, l, batch, f),
            "step": step_of(kind, last), "equation": equation,
            "shape": list(value.shape), "value": value, "summary": summary(value),
            "diff": None if others is None else {
                k: None if v is None else rel_diff(step, v if base is None else v - base)
                for k, v in others.items()}}


def routed_delta(delta, idx, p: int) -> np.ndarray:
    """The routed δ ``D (F, Ho, Wo)`` of ``delta (F, Ho/p, Wo/p)``: each p×p block's δ at
    its arg-max ``idx (F, Ho/p, Wo/p)`` (row-major within the block), 0 elsewhere."""
    delta, idx = np.asarray(delta), np.asarray(idx)
    f, hp, wp = delta.shape
    d = np.zeros((f, hp, p, wp, p), delta.dtype)
    fi, yi, xi = np.indices(delta.shape)
    d[fi, yi, idx // p, xi, idx % p] = delta
    return d.reshape(f, hp * p, wp * p)


def convpool_backward(model, params, i, a_in, delta):
    """``(D^l (m, F, Ho, Wo), ∂C/∂a^{l−1} (m, C, H, W))`` of ConvPool ``model.layers[i]``
    by its hand-derived backward, for the inputs ``a_in (m, C, H, W)`` and
    ``delta (m, F, Ho/p, Wo/p)``."""
    layer, p = model.layers[i], params[i]
    _, idx = layer.forward(p, a_in, model.precision)
    _, g_in = layer.backward(p, a_in, idx, delta, model.precision, input_grad=True)
    routed = np.stack([routed_delta(d, k, layer.pool) for d, k in zip(delta, np.asarray(idx))])
    return routed, np.asarray(g_in)


def _dropped(layer, g, mask):
    """``∂C/∂a`` from the gradient ``g`` of the layer's (dropped-out) input."""
    p = getattr(layer, "dropout", 0)
    return g if not p else g * mask if mask is not None else g * (1 - p)


def _from_above(model, params, i, t, masks, batched):
    """The hand-derived ``∂C/∂a^l`` (shaped as ``a^l``) that Dense layer ``i + 1``
    hands down: ``(w^{l+1})ᵀδ^{l+1}``, then its dropout's mask or factor."""
    d = t["delta"][i + 1]
    d2 = d.reshape(-1, d.shape[-1]) if batched else d[None]
    g = (d2 @ np.asarray(params[i + 1].w)).reshape(t["a"][i + 1].shape)
    return _dropped(model.layers[i + 1], g, None if masks is None else masks[i + 1])


def _bp_symbols(ctx, i, eq, twins) -> list:
    """Steps 3 and 4 of layer ``i + 2``: ∇ₐC, (w)ᵀδ, f'(z), δ and a ConvPool's D, ∂C/∂a."""
    model, params, hand, auto, masks, batch = ctx
    layer, l, last = model.layers[i], i + 2, i == len(model.layers) - 1
    f = F[layer.activation]
    out = []
    if "grad_a" in eq:
        a, y = hand["a"][-1], hand["y"]
        g = a - y if model.cost == "quadratic" else (a - y) / (a * (1 - a))
        out.append(symbol("grad_a", l, g, eq["grad_a"], last, {
            "jax.grad": output_gradient(model.cost, a, y), "C": None}, batch=batch))
    if "back" in eq:
        mask = None if masks is None else masks[i + 1]
        out.append(symbol("back", l, _from_above(model, params, i, hand, masks, batch),
                          eq["back"], last, {"jax.grad": _dropped(
                              model.layers[i + 1], auto["input_grad"][i + 1], mask),
                              "C": None}, batch=batch))
    if "prime" in eq:
        out.append(symbol("prime", l, np.asarray(prime(layer.activation, hand["a"][i + 1])),
                          eq["prime"], last, {"jax.grad": activation_slope(
                              layer.activation, hand["z"][i]), "C": None}, batch=batch, f=f))
    out.append(symbol("delta", l, hand["delta"][i], eq["delta"], last, twins("delta", i),
                      batch=batch))
    if isinstance(layer, ConvPool):
        a_in, d = hand["a"][i], hand["delta"][i]
        routed, g_in = convpool_backward(model, params, i, a_in if batch else a_in[None],
                                         d if batch else d[None])
        routed, g_in = (routed, g_in) if batch else (routed[0], g_in[0])
        out.append(symbol("routed", l, routed, eq["routed"], last, twins("routed", i),
                          batch=batch))
        if "input_grad" in eq:
            out.append(symbol("input_grad", l, g_in, eq["input_grad"], last,
                              twins("input_grad", i), batch=batch))
    return out


def layer_block(ctx, i, c, update) -> dict:
    """Layer ``i + 2``'s block (``model.layers[i]``). ``ctx``: ``(model, params, hand,
    auto, masks, batch)``, each trace ``{"z", "a", "delta", ...: [arrays], "grads",
    "y"}``; ``c``: C's trace or None; ``update``: ``{"eta", "reg", "lmbda", "pen"``
    (hand penalty gradients) ``, "twins": {twin: Layers of the penalised gradient}}``."""
    model, params, hand, auto, masks, batch = ctx
    layer, l, last = model.layers[i], i + 2, i == len(model.layers) - 1
    eq = equations(model, i, masks is not None, batch, (update["reg"], update["lmbda"]))

    def twins(k, j):  # jax.grad's and C's value of hand[k][j] (C keeps no z)
        return {"jax.grad": auto[k][j], "C": c[k][j] if c and k in c else None}
    out = []
    if "mask" in eq:
        out.append(symbol("mask", l, masks[i], eq["mask"], last, batch=batch))
    out.append(symbol("z", l, hand["z"][i], eq["z"], last, twins("z", i), batch=batch))
    out.append(symbol("a", l, hand["a"][i + 1], eq["a"], last, twins("a", i + 1), batch=batch))
    if last:
        out.append(symbol("y", l, hand["y"], "the desired output, 1 at the label", last, batch=batch))
    out += _bp_symbols(ctx, i, eq, twins)
    g, ga = hand["grads"][i], auto["grads"][i]
    gc = c["grads"][i] if c else None
    out.append(symbol("gb", l, g.b, eq["gb"], last, {"jax.grad": ga.b,
                                                     "C": None if gc is None else gc.b}))
    out.append(symbol("gw", l, g.w, eq["gw"], last, {"jax.grad": ga.w,
                                                     "C": None if gc is None else gc.w}))
    w, b, eta = np.asarray(params[i].w), np.asarray(params[i].b), update["eta"]
    steps = {k: None if v is None else (-eta * v[i].w, -eta * v[i].b)
             for k, v in update["twins"].items()}
    out.append(symbol("w_new", l, w - eta * (g.w + update["pen"][i]), eq["w_new"], last,
                      {k: None if s is None else w + s[0] for k, s in steps.items()}, base=w))
    out.append(symbol("b_new", l, b - eta * g.b, eq["b_new"], last,
                      {k: None if s is None else b + s[1] for k, s in steps.items()}, base=b))
    return {"layer": l, "kind": type(layer).__name__, "activation": layer.activation,
            "dropout": float(getattr(layer, "dropout", 0.0)),
            "w": list(np.shape(params[i].w)), "b": list(np.shape(params[i].b)),
            "symbols": out}
