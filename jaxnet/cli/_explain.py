"""``jaxnet explain``'s core: the five steps of backpropagation for one example,
every symbol with its shape, its equation, a summary, and the largest relative
difference between the hand-derived value and its two twins.

The three implementations: (1) the hand-derived BP1–BP4
(:func:`jaxnet.backprop_trace`), (2) ``jax.grad`` of the cost with respect to
each layer's weighted input and the parameters, no BP equation used
(jaxnet.cli._explain_autodiff), (3) the C kernel (:func:`jaxnet.cref.backprop_trace`:
csrc/jaxnet_dense_chain.h for Dense chains, csrc/jaxnet_net.h for chapter 6's models),
absent when the extension is not built. :func:`explain` is pure: the command
only formats what it returns (jaxnet.cli._explain_text).
"""

from __future__ import annotations

import numpy as np

from .._core.inputs import resolve
from .._core.layerspec import describe
from ..nn import ConvPool, backprop_trace, cost
from ._explain_autodiff import autodiff_trace
from ._explain_equations import equations, name, step_of

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


def _symbol(kind, l, value, equation, last, others=None) -> dict:
    value = np.asarray(value)
    return {"symbol": kind, "layer": l, "name": name(kind, l), "step": step_of(kind, last),
            "equation": equation, "shape": list(value.shape), "value": value,
            "summary": summary(value),
            "diff": None if others is None else {
                k: None if v is None else rel_diff(value, v) for k, v in others.items()}}


def routed_delta(delta, idx, p: int) -> np.ndarray:
    """The routed δ ``D (F, Ho, Wo)`` of ``delta (F, Ho/p, Wo/p)``: each p×p block's δ at
    its arg-max ``idx (F, Ho/p, Wo/p)`` (row-major within the block), 0 elsewhere."""
    delta, idx = np.asarray(delta), np.asarray(idx)
    f, hp, wp = delta.shape
    d = np.zeros((f, hp, p, wp, p), delta.dtype)
    fi, yi, xi = np.indices(delta.shape)
    d[fi, yi, idx // p, xi, idx % p] = delta
    return d.reshape(f, hp * p, wp * p)


def _convpool_backward(model, params, i, a_in, delta):
    """``(D^l (F, Ho, Wo), ∂C/∂a^{l−1} (C, H, W))`` of ConvPool ``model.layers[i]`` by its
    hand-derived backward, for one example's input ``a_in (1, C, H, W)`` and
    ``delta (1, F, Ho/p, Wo/p)``."""
    layer, p = model.layers[i], params[i]
    _, idx = layer.forward(p, a_in, model.precision)
    _, g_in = layer.backward(p, a_in, idx, delta, model.precision, input_grad=True)
    return routed_delta(delta[0], idx[0], layer.pool), np.asarray(g_in)[0]


def c_trace(params, x, y, model, masks):
    """``(cref.backprop_trace's dict or None, a note)`` for ``x (1, n_0)``, ``y (1, n_L)``
    and ``masks`` as jaxnet.backprop_trace takes them: None when the extension is not
    built or the model has a layer kind the C kernel does not implement."""
    try:
        from ..cref import backprop_trace as c_backprop_trace
        from ..cref import uses_network_kernel
    except ImportError as e:
        return None, f"not built ({e})"
    other = sorted({type(l).__name__ for l in model.layers} - {"Dense", "ConvPool"})
    if other:
        return None, f"implements Dense and ConvPool layers, not {other}"
    where = ("csrc/jaxnet_net.h" if masks is not None or uses_network_kernel(model)
             else "csrc/jaxnet_dense_chain.h")
    return c_backprop_trace(params, x, y, model=model, masks=masks), where


def _layer(model, params, i, hand, auto, c, masks) -> dict:
    """One layer's block: the book's layer ``i + 2`` (``model.layers[i]``). ``hand``,
    ``auto``, ``c`` (or None): one example's traces (:func:`_one`), each array without
    its batch axis; ``masks``: None or per layer None or the input's ``(*shape)`` mask."""
    layer, l, last = model.layers[i], i + 2, i == len(model.layers) - 1
    eq = equations(model, i, masks is not None)

    def twins(k, j):  # jax.grad's and C's value of hand[k][j] (C keeps no z)
        return {"jax.grad": auto[k][j], "C": c[k][j] if c and k in c else None}
    out = []
    if "mask" in eq:
        out.append(_symbol("mask", l, masks[i], eq["mask"], last))
    out.append(_symbol("z", l, hand["z"][i], eq["z"], last, twins("z", i)))
    out.append(_symbol("a", l, hand["a"][i + 1], eq["a"], last, twins("a", i + 1)))
    out.append(_symbol("delta", l, hand["delta"][i], eq["delta"], last, twins("delta", i)))
    if isinstance(layer, ConvPool):
        routed, g_in = _convpool_backward(model, params, i, hand["a"][i][None],
                                          hand["delta"][i][None])
        out.append(_symbol("routed", l, routed, eq["routed"], last, twins("routed", i)))
        if "input_grad" in eq:
            out.append(_symbol("input_grad", l, g_in, eq["input_grad"], last,
                               twins("input_grad", i)))
    g, ga = hand["grads"][i], auto["grads"][i]
    gc = c["grads"][i] if c else None
    out.append(_symbol("gw", l, g.w, eq["gw"], last, {"jax.grad": ga.w,
                                                      "C": None if gc is None else gc.w}))
    out.append(_symbol("gb", l, g.b, eq["gb"], last, {"jax.grad": ga.b,
                                                      "C": None if gc is None else gc.b}))
    return {"layer": l, "kind": type(layer).__name__, "activation": layer.activation,
            "dropout": float(getattr(layer, "dropout", 0.0)),
            "w": list(np.shape(params[i].w)), "b": list(np.shape(params[i].b)),
            "symbols": out}


def _one(trace) -> dict:
    """A batch-of-one trace (``{"z", "a", "delta", ...: [(1, *shape)], "grads"}``) as one
    example's arrays ``(*shape)``, the batch axis dropped; ``grads`` kept."""
    return {k: [None if v is None else np.asarray(v)[0] for v in trace[k]]
            for k in trace if k != "grads"} | {"grads": trace["grads"]}


def _example(model, params, x, y, masks):
    """``x``, ``y`` and ``masks`` checked for one example and made a batch of one."""
    dtype = np.dtype(params[0].w.dtype)
    x, y = np.asarray(x, dtype), np.asarray(y, dtype)
    n0, nl = model.sizes[0], model.sizes[-1]
    if x.shape not in ((n0,), tuple(model.input_shape)):
        raise ValueError(f"x: expected one example ({n0},), got shape {x.shape}")
    if y.shape != (nl,):
        raise ValueError(f"y: expected one example's targets ({nl},), got shape {y.shape}")
    if masks is not None:
        masks = tuple(None if k is None else np.asarray(k, dtype)[None] for k in masks)
    return x.reshape(1, n0), y.reshape(1, nl), masks


def explain(params, x, y, *, model, masks=None) -> dict:
    """The five steps of backpropagation for one example, checked three ways.

    Args:
      params: tuple of Layers matching ``model`` (float64 for rounding-level
        differences; float32 works, with float32's).
      x: ``(n_0,)`` one example's inputs (or ``model.input_shape``).
      y: ``(n_L,)`` its targets (one-hot for a digit).
      model: a jaxnet.Model.
      masks: None (a dropout layer scales its input by ``1 − p``: the evaluation
        network), or one entry per layer: None, or a 0/1 array of the layer's
        input shape for a layer with dropout (``jaxnet.dropout_masks(key, model,
        1)`` without its batch axis).

    Returns:
      ``{"model": model.describe(), "network"`` (its short name) ``, "dtype", "cost": C,
      "prediction": argmax a^L,
      "c_kernel": {"available", "note"}, "layers": [...]}``; ``layers[0]`` is the
      input (the book's layer 1), ``layers[i + 1]`` the book's layer ``i + 2``
      (``model.layers[i]``): ``{"layer", "kind", "activation", "dropout", "w", "b"``
      (the parameters' shapes) ``, "symbols": [...]}``. A symbol is ``{"symbol"``
      (x, mask, z, a, delta, routed, input_grad, gw, gb) ``, "layer", "name"`` (the
      book's: ``δ³``) ``, "step"`` (1–5) ``, "equation", "shape", "value"`` (one
      example's array, no batch axis: ``z^l`` ``(n_l,)`` or ``(F, Ho/p, Wo/p)``;
      ``∂C/∂w^l`` shaped as ``w^l``) ``, "summary"`` (:func:`summary`) ``, "diff"}``:
      None, or ``{"jax.grad": d, "C": d}`` with ``d`` the :func:`rel_diff` of the
      hand-derived value from that twin's, None where the twin has no such value.
    """
    model, params = resolve(params, model)
    xb, yb, mb = _example(model, params, x, y, masks)
    hand = _one(backprop_trace(params, xb, yb, model=model, masks=mb))
    auto = _one(autodiff_trace(model, params, xb, yb, mb))
    c, note = c_trace(params, xb, yb, model, mb)
    c = None if c is None else _one(c)
    first = {"layer": 1, "kind": "input", "symbols": [
        _symbol("x", 1, hand["a"][0], f"the input: a¹ = x, {len(xb[0])} values", False)]}
    per_layer = [_layer(model, params, i, hand, auto, c, None if mb is None else
                        [None if k is None else k[0] for k in mb])
                 for i in range(len(model.layers))]
    return {"model": model.describe(), "network": describe(model),
            "dtype": np.dtype(params[0].w.dtype).name,
            "cost": float(cost(params, xb, yb, model=model, masks=mb)),
            "prediction": int(np.argmax(hand["a"][-1])),
            "c_kernel": {"available": c is not None, "note": note},
            "layers": [first] + per_layer}
