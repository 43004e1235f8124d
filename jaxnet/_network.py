"""Sigmoid network: feedforward, the quadratic cost, and backprop by hand.

Conventions (whole-mini-batch matrix form). A mini-batch of ``m`` examples is
stored one example per row, so for layer ``l = 1..L`` with ``W^l (n_l, n_{l-1})``:

    Z^l = A^{l-1} W^lᵀ + b^l          (m, n_l)
    A^l = σ(Z^l),  A^0 = X           (m, n_l)
    C   = (1/m) Σ_x ½‖a^L(x) − y(x)‖²

The book's four equations, one row per example, with ``σ'(Z) = A ⊙ (1 − A)``:

    BP1  Δ^L = ∇_A C ⊙ σ'(Z^L),  ∇_A C = (A^L − Y) / m     (m, n_L)
    BP2  Δ^l = (Δ^{l+1} W^{l+1}) ⊙ σ'(Z^l)                  (m, n_l)
    BP3  ∂C/∂b^l = Σ_rows Δ^l                               (n_l,)
    BP4  ∂C/∂W^l = Δ^lᵀ A^{l-1}                             (n_l, n_{l-1})

The 1/m of the mean is folded into Δ^L, so BP3/BP4 give the mean gradient
directly; a single example (m = 1) recovers the book's per-example equations.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax import lax

from ._params import Layer, as_layers
from ._validate import check_inputs, check_params, check_targets


def sigmoid(z: jax.Array) -> jax.Array:
    """σ(z) = 1 / (1 + e^{−z}), elementwise, any shape; overflow-safe."""
    return jax.nn.sigmoid(z)


def sigmoid_prime(z: jax.Array) -> jax.Array:
    """σ'(z) = σ(z)(1 − σ(z)), elementwise, any shape."""
    s = sigmoid(z)
    return s * (1 - s)


def _contract(a, b, a_dim, b_dim):
    """Σ_k a[.., k, ..] b[.., k, ..] over axis ``a_dim`` of ``a`` and ``b_dim`` of ``b``.

    ``dot_general`` with the contracted axes named, rather than ``a @ b.T``:
    XLA then reads both operands in place instead of materialising a
    transpose, which is measurably faster on the CPU (benchmarks/epoch.py).
    """
    return lax.dot_general(a, b, (((a_dim,), (b_dim,)), ((), ())))


def _compute_dtype(params):
    return params[0].w.dtype


def _forward_trace(params, x):
    """``([Z^1..Z^L], [A^0..A^L])``: weighted inputs ``Z^l (m, n_l)`` and
    activations ``A^l (m, n_l)``, in the params' dtype."""
    a = x.astype(_compute_dtype(params))
    zs, acts = [], [a]
    for w, b in params:
        z = _contract(a, w, 1, 1) + b[None, :]                    # A W^T + b
        a = sigmoid(z)
        zs.append(z)
        acts.append(a)
    return zs, acts


def _forward(params, x):
    """All activations ``[A^0, ..., A^L]``; ``A^l (m, n_l)`` in the params' dtype."""
    return _forward_trace(params, x)[1]


def _feedforward(params, x):
    return _forward(params, x)[-1]


def _cost(params, x, y):
    a = _feedforward(params, x)
    m = x.shape[0]
    return 0.5 * jnp.sum((a - y.astype(a.dtype)) ** 2) / m


def _backprop_trace(params, x, y):
    """backprop with its intermediates: ``{"z": [Z^1..Z^L], "a": [A^0..A^L],
    "delta": [Δ^1..Δ^L], "grads": Layers}``; ``Δ^l (m, n_l)`` includes the 1/m."""
    zs, acts = _forward_trace(params, x)
    a_out = acts[-1]
    m = x.shape[0]
    delta = (a_out - y.astype(a_out.dtype)) / m * a_out * (1 - a_out)     # BP1
    grads, deltas = [None] * len(params), [None] * len(params)
    for l in range(len(params) - 1, -1, -1):
        deltas[l] = delta
        a_prev = acts[l]
        grads[l] = Layer(w=_contract(delta, a_prev, 0, 0),                 # BP4: Δ^T A
                         b=jnp.sum(delta, axis=0))                         # BP3
        if l > 0:
            delta = _contract(delta, params[l].w, 1, 0) * a_prev * (1 - a_prev)  # BP2
    return {"z": zs, "a": acts, "delta": deltas, "grads": tuple(grads)}


def _backprop(params, x, y):
    return _backprop_trace(params, x, y)["grads"]


_feedforward_jit = jax.jit(_feedforward)
_cost_jit = jax.jit(_cost)
_backprop_jit = jax.jit(_backprop)


def feedforward(params, x):
    """The network's output.

    Args:
      params: tuple of ``Layer(w (n_out, n_in), b (n_out,))``, float32 or float64.
      x: ``(batch, n_0)`` float; converted to the parameters' dtype.

    Returns:
      ``(batch, n_L)`` output activations, the parameters' dtype.
    """
    sizes, _ = check_params(params)
    check_inputs(x, sizes[0])
    return _feedforward_jit(as_layers(params), x)


def cost(params, x, y):
    """Quadratic cost averaged over the batch: ``mean_x ½‖a^L(x) − y(x)‖²``.

    Args:
      params: tuple of Layers.
      x: ``(batch, n_0)`` float.
      y: ``(batch, n_L)`` float targets (one-hot for classification).

    Returns:
      A scalar in the parameters' dtype.
    """
    sizes, _ = check_params(params)
    m = check_inputs(x, sizes[0])
    check_targets(y, m, sizes[-1])
    return _cost_jit(as_layers(params), x, y)


def backprop(params, x, y):
    """Gradient of :func:`cost` by the hand-derived BP1–BP4, whole batch at once.

    Args:
      params: tuple of ``Layer(w (n_out, n_in), b (n_out,))``.
      x: ``(batch, n_0)`` float.
      y: ``(batch, n_L)`` float targets.

    Returns:
      A tuple of Layers with the same structure, shapes and dtype as
      ``params``: ``∂C/∂w (n_out, n_in)`` and ``∂C/∂b (n_out,)`` per layer.
    """
    sizes, _ = check_params(params)
    m = check_inputs(x, sizes[0])
    check_targets(y, m, sizes[-1])
    return _backprop_jit(as_layers(params), x, y)
