"""``jaxnet explain``'s second opinion: ``jax.grad`` of the cost with respect to each
layer's weighted input, with no BP equation used.

The cost is written again here as a function of additive perturbations ``e`` of
every intermediate explain shows (llm.c's golden state, computed as
tests/test_golden.py does): ``z^l + e_z^l``, a ConvPool's convolution before the
pool ``conv^l + e_conv^l``, and each layer's input ``a^{l-1} + e_in^l`` (after
dropout). At ``e = 0`` the cost is unchanged and ``∂C/∂e`` is the hand-derived
value's twin: ``δ^l``, the routed δ ``D^l`` and the input gradient ``∂C/∂a^{l-1}``.
``∂C/∂w`` and ``∂C/∂b`` come from the same ``jax.grad`` with respect to the
parameters. The forward is written apart from the layers' own (``jnp.dot`` and
``lax.conv_general_dilated`` at the highest precision, the max-pool's first maximum
as the documented tie rule), so a wrong forward shows up as a difference too.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from .._core.activations import activate
from .._core.costs import cost0
from ..nn import ConvPool, Dense, Layer

_HIGHEST = lax.Precision.HIGHEST


def _maxpool(conv, p):
    """``conv (m, F, Ho, Wo)`` → ``(m, F, Ho/p, Wo/p)``: each p×p block's first maximum
    in row-major order (ConvPool's tie rule; ``jnp.max`` would split a tie's gradient)."""
    m, f, ho, wo = conv.shape
    blocks = conv.reshape(m, f, ho // p, p, wo // p, p).transpose(0, 1, 2, 4, 3, 5)
    blocks = blocks.reshape(m, f, ho // p, wo // p, p * p)
    idx = jnp.argmax(blocks, axis=-1)
    return jnp.take_along_axis(blocks, idx[..., None], axis=-1)[..., 0]


def _layer_z(model, layer, p, inp, e_conv):
    """``z (m, *out shape)`` of one layer for its input ``inp (m, *in shape)``."""
    if isinstance(layer, ConvPool):
        conv = lax.conv_general_dilated(inp, p.w, (1, 1), "VALID", precision=_HIGHEST,
                                        dimension_numbers=("NCHW", "OIHW", "NCHW"))
        return _maxpool(conv + e_conv, layer.pool) + p.b[None, :, None, None]
    if isinstance(layer, Dense):
        return jnp.dot(inp.reshape(inp.shape[0], -1), p.w.T, precision=_HIGHEST) + p.b[None, :]
    return layer.forward(p, inp, model.precision)[0]  # a kind of another package: its own


def perturbed_cost(eps, params, model, x, y, masks):
    """``(C, (zs, acts))``: the cost of ``x (m, *input shape)``, ``y (m, n_L)`` with every
    intermediate perturbed by ``eps`` (``{"z", "conv", "in"}``: one array or None per
    layer, shaped like ``z^l``, the convolution before the pool, the layer's input);
    ``masks``: None or per layer None or ``(m, *input shape)`` 0/1."""
    a, zs, acts = x, [], [x]
    for l, (layer, p) in enumerate(zip(model.layers, params)):
        drop = getattr(layer, "dropout", 0)
        if drop:
            a = a * masks[l] if masks is not None else a * (1 - drop)
        z = _layer_z(model, layer, p, a + eps["in"][l], eps["conv"][l]) + eps["z"][l]
        a = activate(layer.activation, z)
        zs.append(z)
        acts.append(a)
    return cost0(model.cost, zs[-1], acts[-1], y), (zs, acts)


def _conv_shape(layer, in_shape):
    _, h, w = in_shape
    return (layer.filters, h - layer.kernel + 1, w - layer.kernel + 1)


def zero_perturbations(model, m: int, dtype) -> dict:
    """``{"z", "conv", "in"}`` of zeros ``(m, *shape)``; ``conv`` None for non-ConvPool."""
    zeros = lambda shape: jnp.zeros((m,) + tuple(shape), dtype)  # noqa: E731
    layers, shapes = model.layers, model.shapes
    return {"z": [zeros(s) for s in shapes[1:]],
            "conv": [zeros(_conv_shape(l, s)) if isinstance(l, ConvPool) else None
                     for l, s in zip(layers, shapes)],
            "in": [zeros(s) for s in shapes[:-1]]}


def _grads(model, params, x, y, masks):
    """``(∂C/∂eps, ∂C/∂params, zs, acts)`` at ``eps = 0`` for ``x (m, *input shape)``."""
    eps = zero_perturbations(model, x.shape[0], params[0].w.dtype)
    (g_eps, g_params), (zs, acts) = jax.grad(perturbed_cost, argnums=(0, 1), has_aux=True)(
        eps, params, model, x, y, masks)
    return g_eps, g_params, zs, acts


_grads_jit = jax.jit(_grads, static_argnums=0)


def autodiff_trace(model, params, x, y, masks=None) -> dict:
    """jax.grad's twin of every hand-derived quantity, for ``x (m, n_0)``, ``y (m, n_L)``
    and ``masks`` as jaxnet.backprop_trace takes them (checked by it first).

    Returns numpy arrays: ``{"z": [z^l (m, *shape)], "a": [a^0..a^L], "delta":
    [∂C/∂z^l], "routed": [∂C/∂conv^l (m, F, Ho, Wo) or None], "input_grad":
    [∂C/∂(input of layer l) (m, *input shape)], "grads": Layers like params}``.
    """
    dtype = params[0].w.dtype
    x = jnp.asarray(x, dtype).reshape((x.shape[0],) + tuple(model.input_shape))
    masks = None if masks is None else tuple(None if k is None else jnp.asarray(k, dtype)
                                             for k in masks)
    g_eps, g_params, zs, acts = _grads_jit(model, tuple(params), x, jnp.asarray(y, dtype),
                                           masks)
    host = lambda arrays: [None if v is None else np.asarray(v) for v in arrays]  # noqa: E731
    return {"z": host(zs), "a": host(acts), "delta": host(g_eps["z"]),
            "routed": host(g_eps["conv"]), "input_grad": host(g_eps["in"]),
            "grads": tuple(Layer(np.asarray(g.w), np.asarray(g.b)) for g in g_params)}


def activation_slope(activation: str, z) -> np.ndarray:
    """jax.grad's ``f'(z)`` of an elementwise activation at every entry of ``z`` (any
    shape): the twin of jaxnet's ``prime`` (which works from ``a = f(z)``)."""
    z = jnp.asarray(z)
    slope = jax.vmap(jax.grad(lambda t: activate(activation, t)))(z.ravel())
    return np.asarray(slope).reshape(z.shape)


def output_gradient(cost: str, a, y) -> np.ndarray:
    """jax.grad of one example's cost written as the book's function of ``a^L``:
    ``½‖a − y‖²`` or ``−Σ [y ln a + (1 − y) ln(1 − a)]``; ``a``, ``y (…, n_L)``."""
    def c(a):
        if cost == "quadratic":
            return 0.5 * jnp.sum((a - y) ** 2)
        return -jnp.sum(y * jnp.log(a) + (1 - y) * jnp.log(1 - a))
    return np.asarray(jax.grad(c)(jnp.asarray(a)))


def penalty_gradient(reg: str, params, lmbda: float, n: int) -> tuple:
    """jax.grad of the penalty ``(λ/2n) Σ w²`` (l2) or ``(λ/n) Σ |w|`` (l1) with
    respect to each layer's ``w``: numpy arrays shaped like the weights."""
    def value(ws):
        if reg == "l2":
            return lmbda / (2 * n) * sum(jnp.sum(w * w) for w in ws)
        return lmbda / n * sum(jnp.sum(jnp.abs(w)) for w in ws)
    return tuple(np.asarray(g) for g in jax.grad(value)([jnp.asarray(p.w) for p in params]))
