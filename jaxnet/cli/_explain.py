"""``jaxnet explain``'s core: the five steps of backpropagation for one example (or a
mini-batch), every symbol with its shape, its equation, a summary, and the largest
relative difference between the hand-derived value and its two twins, then the
gradient-descent update.

The three implementations: (1) the hand-derived BP1–BP4
(:func:`jaxnet.backprop_trace`), (2) ``jax.grad`` of the cost with respect to
each layer's weighted input and the parameters, no BP equation used
(jaxnet.cli._explain_autodiff), (3) the C kernel (:func:`jaxnet.cref.backprop_trace`:
csrc/jaxnet_dense_chain.h for Dense chains, csrc/jaxnet_net.h for chapter 6's models),
absent when the extension is not built. :func:`explain` is pure: it returns one
value (:class:`jaxnet.cli._explain_text.Explanation`) that the text, ``--json`` and
a notebook's display all render.
"""

from __future__ import annotations

import numpy as np

from .._core.inputs import resolve
from .._core.layerspec import describe
from ..nn import Layer, backprop_trace, cost
from ._explain_autodiff import autodiff_trace, penalty_gradient
from ._explain_layers import layer_block, rel_diff, routed_delta, summary, symbol
from ._explain_text import Explanation

__all__ = ["explain", "rel_diff", "routed_delta", "summary"]

#: Arrays of a trace that are ∂C/∂(something): the mean's 1/m is undone for them.
_PER_EXAMPLE = ("delta", "routed", "input_grad")


def c_trace(params, x, y, model, masks, lmbda=None, n=None):
    """``(cref.backprop_trace's dict or None, a note)`` for ``x (m, n_0)``, ``y (m, n_L)``
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
    return c_backprop_trace(params, x, y, model=model, masks=masks, lmbda=lmbda, n=n), where


def _arrays(trace, m: int, batch: bool) -> dict:
    """A trace (``{"z", "a", "delta", ...: [(m, *shape)], "grads"}``) as host arrays:
    one example's ``(*shape)`` (``batch`` False, m = 1) or ``(m, *shape)`` with each δ
    per example (times m: the trace's mean cost put 1/m in); ``grads`` kept."""
    def one(k, v):
        if v is None:
            return None
        v = np.asarray(v) * (m if k in _PER_EXAMPLE else 1)
        return v if batch else v[0]
    return {k: [one(k, v) for v in trace[k]] for k in trace if k != "grads"} | {
        "grads": trace["grads"]}


def _examples(model, params, x, y, masks):
    """``(x (m, n_0), y (m, n_L), masks with a batch axis, batch)``: one example
    ``x (n_0,)`` (or ``model.input_shape``), ``y (n_L,)``, or a mini-batch
    ``x (m, n_0)``, ``y (m, n_L)``, checked."""
    dtype = np.dtype(params[0].w.dtype)
    x, y = np.asarray(x, dtype), np.asarray(y, dtype)
    n0, nl = model.sizes[0], model.sizes[-1]
    one = x.shape in ((n0,), tuple(model.input_shape))
    if not one and not (x.ndim == 2 and x.shape[1] == n0 and len(x)):
        raise ValueError(f"x: expected one example ({n0},) or a mini-batch (m, {n0}), got "
                         f"shape {x.shape}")
    m = 1 if one else len(x)
    if y.shape != ((nl,) if one else (m, nl)):
        want = f"({nl},)" if one else f"({m}, {nl})"
        raise ValueError(f"y: expected the targets {want}, got shape {y.shape}")
    if masks is not None and one:
        masks = tuple(None if k is None else np.asarray(k, dtype)[None] for k in masks)
    elif masks is not None:
        masks = tuple(None if k is None else np.asarray(k, dtype) for k in masks)
    return x.reshape(m, n0), y.reshape(m, nl), masks, not one


def _update(model, params, eta, lmbda, n, auto, c_pen) -> dict:
    """What step 6 needs (jaxnet.cli._explain_layers.layer_block's ``update``)."""
    zeros = tuple(np.zeros(np.shape(p.w)) for p in params)
    hand_pen, auto_pen = zeros, zeros
    if lmbda:
        lam_n = lmbda / n
        hand_pen = tuple(lam_n * (np.asarray(p.w) if model.reg == "l2" else np.sign(p.w))
                         for p in params)
        auto_pen = penalty_gradient(model.reg, params, lmbda, n)
    twins = {"jax.grad": tuple(Layer(g.w + p, g.b) for g, p in zip(auto["grads"], auto_pen)),
             "C": c_pen}
    return {"eta": eta, "reg": model.reg, "lmbda": lmbda, "pen": hand_pen, "twins": twins}


def explain(params, x, y, *, model, masks=None, eta: float = 3.0, lmbda: float = 0.0,
            n: int | None = None) -> Explanation:
    """The five steps of backpropagation for one example or a mini-batch, checked three
    ways, and the update they lead to.

    Args:
      params: tuple of Layers matching ``model`` (float64 for rounding-level
        differences; float32 works, with float32's).
      x: ``(n_0,)`` one example's inputs (or ``model.input_shape``), or ``(m, n_0)``
        a mini-batch (the book's matrix form).
      y: ``(n_L,)`` its targets (one-hot for a digit), or ``(m, n_L)``.
      model: a jaxnet.Model (its ``cost`` fixes BP1, its ``reg`` the update).
      masks: None (a dropout layer scales its input by ``1 − p``: the evaluation
        network), or one entry per layer: None, or a 0/1 array of the layer's
        input shape (with the batch axis for a mini-batch).
      eta: the learning rate η of the update ``w → w − η ∂C/∂w``.
      lmbda: the regularisation λ (the book's chapter 3), with ``n`` the
        training-set size of λ/n; 0 for none.

    Returns:
      an Explanation (a dict; ``str()`` of it is the text, ``.to_json()`` the JSON):
      ``{"model", "network", "dtype", "batch"`` (m, or None for one example) ``,
      "cost", "prediction"`` (argmax a^L, a list for a batch) ``, "label", "eta",
      "lmbda", "n", "c_kernel": {"available", "note"}, "layers": [...]}``;
      ``layers[0]`` is the input (the book's layer 1), ``layers[i + 1]`` the book's
      layer ``i + 2`` (``model.layers[i]``): ``{"layer", "kind", "activation",
      "dropout", "w", "b", "symbols": [...]}``. A symbol is ``{"symbol"`` (x, y,
      mask, z, a, grad_a, back, prime, delta, routed, input_grad, gb, gw, w_new,
      b_new) ``, "layer", "name"`` (the book's: ``δ³``) ``, "step"`` (1–5, 6 the
      update) ``, "equation", "shape", "value"`` (one example's array, no batch
      axis, or ``(m, *shape)`` with every δ per example) ``, "summary", "diff"}``:
      None, or ``{"jax.grad": d, "C": d}`` with ``d`` the :func:`rel_diff` of the
      hand-derived value from that twin's (for an update, of the step), None where
      the twin has no such value.
    """
    model, params = resolve(params, model)
    if lmbda and not n:
        raise ValueError(f"lmbda {lmbda:g} needs n, the training-set size of λ/n")
    xb, yb, mb, batch = _examples(model, params, x, y, masks)
    m = len(xb)
    hand = _arrays(backprop_trace(params, xb, yb, model=model, masks=mb), m, batch)
    auto = _arrays(autodiff_trace(model, params, xb, yb, mb), m, batch)
    c, note = c_trace(params, xb, yb, model, mb)
    c = None if c is None else _arrays(c, m, batch)
    c_pen = None if c is None else (c["grads"] if not lmbda else c_trace(
        params, xb, yb, model, mb, lmbda, n)[0]["grads"])
    hand["y"] = yb if batch else yb[0]
    update = _update(model, params, eta, lmbda, n, auto, c_pen)
    ctx = (model, params, hand, auto, None if mb is None else
           [None if k is None else (k if batch else k[0]) for k in mb], batch)
    first = {"layer": 1, "kind": "input", "symbols": [symbol(
        "x", 1, hand["a"][0], f"{'X = A¹' if batch else 'x = a¹'}, the {xb.shape[1]} inputs", False,
        batch=batch)]}
    per_layer = [layer_block(ctx, i, c, update) for i in range(len(model.layers))]
    pred = np.argmax(np.asarray(hand["a"][-1]).reshape(m, -1), axis=1)
    label = np.argmax(yb, axis=1)
    return Explanation({
        "model": model.describe(), "network": describe(model),
        "dtype": np.dtype(params[0].w.dtype).name, "batch": m if batch else None,
        "cost": float(cost(params, xb, yb, model=model, masks=mb, lmbda=lmbda or None,
                           n=n if lmbda else None)),
        "prediction": pred.tolist() if batch else int(pred[0]),
        "label": label.tolist() if batch else int(label[0]),
        "eta": float(eta), "lmbda": float(lmbda), "n": n,
        "c_kernel": {"available": c is not None, "note": note},
        "layers": [first] + per_layer})
