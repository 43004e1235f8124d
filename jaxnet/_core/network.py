"""The network as pure functions of a Model: feedforward, the cost, backprop by hand.

Conventions (whole-mini-batch matrix form). A mini-batch of ``m`` examples is
stored one example per row; layer ``l = 1..L`` (``model.layers[l-1]``) maps
``A^{l-1}`` to its weighted input ``Z^l`` (a Dense layer: ``A^{l-1} W^lᵀ + b^l``,
``W^l (n_l, n_{l-1})``) and ``A^l = f_l(Z^l)``, with ``A^0 = X``. The costs
and BP1 are in jaxnet._core.costs. The book's four equations, one row per example:

    BP1  Δ^L = ∂C/∂Z^L                                 (the cost's output δ)
    BP2  Δ^l = (∂C/∂A^l) ⊙ f_l'(Z^l),  ∂C/∂A^l = Δ^{l+1} W^{l+1} for a Dense layer above
    BP3  ∂C/∂b^l = Σ_rows Δ^l                           (n_l,)
    BP4  ∂C/∂W^l = Δ^lᵀ A^{l-1} + (λ/n)·W^l   (L2;  (λ/n)·sgn(W^l) for L1)

The 1/m of the mean is folded into Δ^L, so BP3/BP4 give the mean gradient
directly; a single example (m = 1) recovers the book's per-example equations.
Each layer kind owns its forward and its backward (BP3, BP4 and ∂C/∂A); this
module chains them and applies the activations.

Dropout (network3's): a layer with ``dropout = p > 0`` sees its input
multiplied by a 0/1 mask in training (``masks[l]``, shaped like that input,
from :func:`unchecked_dropout_masks`), and by ``1 − p`` otherwise (network3 scales the
weights by ``1 − p`` at evaluation: the same product). The masks are
explicit arguments, so every implementation can be compared on the same
ones; BP2 multiplies ``∂C/∂A`` by the mask too.

Every function here is unvalidated and pure, named ``unchecked_*``: the public,
checking versions of the same names without the prefix are in jaxnet.nn._functions.
``penalty`` is a jaxnet._core.costs.Penalty or None; ``masks``
a tuple with one mask or None per layer, or None (evaluation).
"""

from __future__ import annotations

import math

import jax

from .activations import activate, prime
from .costs import cost0, output_delta, penalty_grad, penalty_value


def unchecked_dropout_masks(key, model, m: int, dtype):
    """One 0/1 mask ``(m, *input shape)`` per layer with dropout (each entry kept with
    probability ``1 − p``), None for the others; layer ``l`` draws from
    ``fold_in(key, l)``. Drawn as ``(m, prod(shape))`` and reshaped: the same bits as a
    draw of ``(m, *shape)`` (threefry numbers the entries in row-major order), and
    XLA:CPU compiles a 4-D draw ~9x slower (3.6 s against 0.4 s for a conv layer's)."""
    return tuple(jax.random.bernoulli(jax.random.fold_in(key, l), 1 - layer.dropout,
                                      (m, math.prod(shape))).astype(dtype).reshape((m,) + shape)
                 if getattr(layer, "dropout", 0) else None
                 for l, (layer, shape) in enumerate(zip(model.layers, model.shapes)))


def _dropped(layer, a, mask):
    p = getattr(layer, "dropout", 0)
    if not p:
        return a
    return a * mask if mask is not None else a * (1 - p)


def forward_trace(params, x, masks=None, *, model):
    """``(zs, acts, saved, inputs)``: ``Z^1..Z^L``, ``A^0..A^L`` (in the params' dtype,
    each ``(m, *shape)``), what each layer's backward needs, and what each layer saw
    (``A^{l-1}`` after dropout)."""
    a = x.astype(params[0].w.dtype).reshape((x.shape[0],) + model.input_shape)
    zs, acts, saved, inputs = [], [a], [], []
    for l, (layer, p) in enumerate(zip(model.layers, params)):
        inputs.append(_dropped(layer, a, None if masks is None else masks[l]))
        z, s = layer.forward(p, inputs[-1], model.precision)
        a = activate(layer.activation, z)
        zs.append(z)
        acts.append(a)
        saved.append(s)
    return zs, acts, saved, inputs


def unchecked_feedforward(params, x, *, model):
    """``A^L (m, n_L)`` for ``x (m, n_0)``."""
    return forward_trace(params, x, model=model)[1][-1]  # evaluation: dropout layers scaled


def unchecked_cost(params, x, y, penalty=None, masks=None, *, model):
    """The batch's mean cost plus the regularisation term; a scalar."""
    zs, acts, _, _ = forward_trace(params, x, masks, model=model)
    return (cost0(model.cost, zs[-1], acts[-1], y.astype(acts[-1].dtype))
            + penalty_value(model.reg, params, penalty))


def unchecked_backprop_trace(params, x, y, penalty=None, masks=None, *, model) -> dict:
    """backprop with its intermediates: ``{"z": [Z^1..Z^L], "a": [A^0..A^L],
    "delta": [Δ^1..Δ^L], "grads": Layers}``; ``Δ^l`` includes the 1/m."""
    zs, acts, saved, inputs = forward_trace(params, x, masks, model=model)
    layers, precision = model.layers, model.precision
    delta = output_delta(model.cost, layers[-1].activation, acts[-1],          # BP1
                         y.astype(acts[-1].dtype))
    grads, deltas = [None] * len(params), [None] * len(params)
    for l in range(len(params) - 1, -1, -1):
        deltas[l] = delta
        g, g_in = layers[l].backward(params[l], inputs[l], saved[l], delta, precision,
                                     input_grad=l > 0)                        # BP3, BP4
        if penalty is not None:
            g = g._replace(w=g.w + penalty_grad(model.reg, params[l].w, penalty))
        grads[l] = g
        if l > 0:
            g_in = _dropped(layers[l], g_in, None if masks is None else masks[l])
            delta = g_in * prime(layers[l - 1].activation, acts[l])           # BP2
    return {"z": zs, "a": acts, "delta": deltas, "grads": tuple(grads)}


def unchecked_backprop(params, x, y, penalty=None, masks=None, *, model):
    """The gradient of :func:`unchecked_cost` by BP1–BP4: Layers shaped like ``params``."""
    return unchecked_backprop_trace(params, x, y, penalty, masks, model=model)["grads"]


def unchecked_autodiff_grad(params, x, y, penalty=None, masks=None, *, model):
    """``jax.grad`` of :func:`unchecked_cost` with respect to ``params`` (the cross-check)."""
    return jax.grad(unchecked_cost)(params, x, y, penalty, masks, model=model)


#: Gradient implementations by name: the hand-derived one and jax.grad's.
GRADIENTS = {"backprop": unchecked_backprop, "autodiff": unchecked_autodiff_grad}

feedforward_jit = jax.jit(unchecked_feedforward, static_argnames="model")
cost_jit = jax.jit(unchecked_cost, static_argnames="model")
backprop_jit = jax.jit(unchecked_backprop, static_argnames="model")
backprop_trace_jit = jax.jit(unchecked_backprop_trace, static_argnames="model")
autodiff_grad_jit = jax.jit(unchecked_autodiff_grad, static_argnames="model")
