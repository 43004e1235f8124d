"""The network: feedforward, the costs, and backprop by hand.

Conventions (whole-mini-batch matrix form). A mini-batch of ``m`` examples is
stored one example per row, so for layer ``l = 1..L`` with ``W^l (n_l, n_{l-1})``:

    Z^l = A^{l-1} W^lᵀ + b^l           (m, n_l)
    A^l = f(Z^l) for hidden layers,  A^L = σ(Z^L) or softmax(Z^L),  A^0 = X

with ``f`` the hidden activation (sigmoid, tanh, relu) and the output layer
fixed by the cost (see jaxnet._model). The costs, averaged over the batch:

    quadratic       C0 = (1/m) Σ_x ½‖a^L − y‖²
    cross_entropy   C0 = (1/m) Σ_x Σ_j −[y_j ln a_j + (1 − y_j) ln(1 − a_j)]
                       = (1/m) Σ_x Σ_j softplus(z_j) − y_j z_j     (finite for any z)
    log_likelihood  C0 = (1/m) Σ_x −Σ_j y_j ln a_j
                       = (1/m) Σ_x Σ_j y_j (logsumexp(z) − z_j)    (finite for any z)

and the regularised cost ``C = C0 + (λ/2n) Σ_w w²`` (L2) or ``C0 + (λ/n) Σ_w |w|``
(L1), with ``n`` the training-set size; biases are not regularised.

The book's four equations, one row per example:

    BP1  Δ^L = (A^L − Y) ⊙ σ'(Z^L) / m   (quadratic)
         Δ^L = (A^L − Y) / m            (cross_entropy)
         Δ^L = (A^L·Σ_j y_j − Y) / m     (log_likelihood; A^L − Y for one-hot Y)
    BP2  Δ^l = (Δ^{l+1} W^{l+1}) ⊙ f'(Z^l)                  (m, n_l)
    BP3  ∂C/∂b^l = Σ_rows Δ^l                               (n_l,)
    BP4  ∂C/∂W^l = Δ^lᵀ A^{l-1} + (λ/n)·W^l   (L2;  (λ/n)·sgn(W^l) for L1)

The 1/m of the mean is folded into Δ^L, so BP3/BP4 give the mean gradient
directly; a single example (m = 1) recovers the book's per-example equations.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax import lax

from ._model import check_activation, check_cost, check_reg
from ._params import Layer, as_layers
from ._precision import DEFAULT_PRECISION, check_precision, lax_precision
from ._validate import check_inputs, check_params, check_reg_strength, check_targets


def sigmoid(z: jax.Array) -> jax.Array:
    """σ(z) = 1 / (1 + e^{−z}), elementwise, any shape; overflow-safe."""
    return jax.nn.sigmoid(z)


def sigmoid_prime(z: jax.Array) -> jax.Array:
    """σ'(z) = σ(z)(1 − σ(z)), elementwise, any shape."""
    s = sigmoid(z)
    return s * (1 - s)


def _contract(a, b, a_dim, b_dim, precision):
    """Σ_k a[.., k, ..] b[.., k, ..] over axis ``a_dim`` of ``a`` and ``b_dim`` of ``b``.

    ``dot_general`` with the contracted axes named, rather than ``a @ b.T``:
    XLA then reads both operands in place instead of materialising a
    transpose, which is measurably faster on the CPU (benchmarks/run.py).
    ``precision`` (a jaxnet._precision name) is always passed explicitly, so
    no product depends on the platform's default (TF32 on NVIDIA GPUs);
    ``jax.grad``'s transposed products inherit it.
    """
    return lax.dot_general(a, b, (((a_dim,), (b_dim,)), ((), ())),
                           precision=lax_precision(precision))


def _compute_dtype(params):
    return params[0].w.dtype


def _activate(z, activation):
    if activation == "sigmoid":
        return jax.nn.sigmoid(z)
    if activation == "tanh":
        return jnp.tanh(z)
    return jnp.maximum(z, 0)  # relu


def _activation_prime(a, activation):
    """f'(z) from a = f(z): a(1 − a), 1 − a², [a > 0]."""
    if activation == "sigmoid":
        return a * (1 - a)
    if activation == "tanh":
        return 1 - a * a
    return (a > 0).astype(a.dtype)


def _forward_trace(params, x, cost="quadratic", activation="sigmoid",
                   precision=DEFAULT_PRECISION):
    """``([Z^1..Z^L], [A^0..A^L])``: weighted inputs ``Z^l (m, n_l)`` and
    activations ``A^l (m, n_l)``, in the params' dtype."""
    a = x.astype(_compute_dtype(params))
    zs, acts = [], [a]
    last = len(params) - 1
    for l, (w, b) in enumerate(params):
        z = _contract(a, w, 1, 1, precision) + b[None, :]         # A W^T + b
        if l < last:
            a = _activate(z, activation)
        elif cost == "log_likelihood":
            a = jax.nn.softmax(z, axis=1)
        else:
            a = jax.nn.sigmoid(z)
        zs.append(z)
        acts.append(a)
    return zs, acts


def _feedforward(params, x, cost="quadratic", activation="sigmoid", precision=DEFAULT_PRECISION):
    return _forward_trace(params, x, cost, activation, precision)[1][-1]


def _penalty(params, lmbda, n, reg):
    """(λ/2n) Σ w² (l2) or (λ/n) Σ |w| (l1) over the weights; 0 when lmbda is None."""
    if lmbda is None:
        return 0
    if reg == "l2":
        return lmbda / (2 * n) * sum(jnp.sum(p.w * p.w) for p in params)
    return lmbda / n * sum(jnp.sum(jnp.abs(p.w)) for p in params)


def _cost0(params, x, y, cost="quadratic", activation="sigmoid", precision=DEFAULT_PRECISION):
    zs, acts = _forward_trace(params, x, cost, activation, precision)
    z, a = zs[-1], acts[-1]
    y = y.astype(a.dtype)
    m = x.shape[0]
    if cost == "quadratic":
        per = 0.5 * jnp.sum((a - y) ** 2)
    elif cost == "cross_entropy":
        per = jnp.sum(jax.nn.softplus(z) - y * z)
    else:
        per = jnp.sum(y * (jax.nn.logsumexp(z, axis=1, keepdims=True) - z))
    return per / m


def _cost(params, x, y, cost="quadratic", activation="sigmoid", lmbda=None, n=None, reg="l2",
          precision=DEFAULT_PRECISION):
    return _cost0(params, x, y, cost, activation, precision) + _penalty(params, lmbda, n, reg)


def _backprop_trace(params, x, y, cost="quadratic", activation="sigmoid", lmbda=None, n=None,
                    reg="l2", precision=DEFAULT_PRECISION):
    """backprop with its intermediates: ``{"z": [Z^1..Z^L], "a": [A^0..A^L],
    "delta": [Δ^1..Δ^L], "grads": Layers}``; ``Δ^l (m, n_l)`` includes the 1/m."""
    zs, acts = _forward_trace(params, x, cost, activation, precision)
    a_out = acts[-1]
    y = y.astype(a_out.dtype)
    m = x.shape[0]
    if cost == "quadratic":                                                # BP1
        delta = (a_out - y) / m * a_out * (1 - a_out)
    elif cost == "cross_entropy":
        delta = (a_out - y) / m
    else:
        delta = (a_out * jnp.sum(y, axis=1, keepdims=True) - y) / m
    grads, deltas = [None] * len(params), [None] * len(params)
    for l in range(len(params) - 1, -1, -1):
        deltas[l] = delta
        a_prev = acts[l]
        gw = _contract(delta, a_prev, 0, 0, precision)                     # BP4: Δ^T A
        if lmbda is not None:
            w = params[l].w
            gw = gw + (lmbda / n) * (w if reg == "l2" else jnp.sign(w))
        grads[l] = Layer(w=gw, b=jnp.sum(delta, axis=0))                   # BP3
        if l > 0:
            delta = (_contract(delta, params[l].w, 1, 0, precision)                   # BP2
                     * _activation_prime(a_prev, activation))
    return {"z": zs, "a": acts, "delta": deltas, "grads": tuple(grads)}


def _backprop(params, x, y, cost="quadratic", activation="sigmoid", lmbda=None, n=None, reg="l2",
              precision=DEFAULT_PRECISION):
    return _backprop_trace(params, x, y, cost, activation, lmbda, n, reg, precision)["grads"]


_MODEL_ARGS = ("cost", "activation", "reg", "precision")


def _model_args(params, cost, activation, lmbda, n, reg, precision=DEFAULT_PRECISION):
    """Validates the model keywords; returns them with lmbda/n as arrays in the
    params' dtype (None without regularisation, so the plain cost compiles apart)."""
    cost, activation, reg = check_cost(cost), check_activation(activation), check_reg(reg)
    precision = check_precision(precision)
    lmbda, n = check_reg_strength(lmbda, n)
    if lmbda is not None:
        dtype = _compute_dtype(params)
        lmbda, n = jnp.asarray(lmbda, dtype), jnp.asarray(n, dtype)
    return dict(cost=cost, activation=activation, lmbda=lmbda, n=n, reg=reg, precision=precision)


_feedforward_jit = jax.jit(_feedforward, static_argnames=("cost", "activation", "precision"))
_cost_jit = jax.jit(_cost, static_argnames=_MODEL_ARGS)
_backprop_jit = jax.jit(_backprop, static_argnames=_MODEL_ARGS)


_MODEL_DOC = """
      cost: ``"quadratic"`` (the book's chapter 1), ``"cross_entropy"`` (sigmoid
        output) or ``"log_likelihood"`` (softmax output); it also fixes the
        output layer.
      activation: hidden layers' ``"sigmoid"``, ``"tanh"`` or ``"relu"``.
      precision: the matrix products' precision: ``"highest"`` (true float32,
        the default), ``"high"`` or ``"default"`` (the platform's fastest:
        TF32 on NVIDIA GPUs, bfloat16 passes on TPU); see jaxnet._precision."""

_REG_DOC = """
      lmbda: regularisation strength λ ≥ 0 (0 or None: none).
      n: the training-set size in λ/n (required when lmbda > 0).
      reg: ``"l2"`` (adds (λ/2n) Σ w²) or ``"l1"`` (adds (λ/n) Σ |w|);
        biases are never regularised."""


def feedforward(params, x, *, cost="quadratic", activation="sigmoid",
                precision=DEFAULT_PRECISION):
    """The network's output.

    Args:
      params: tuple of ``Layer(w (n_out, n_in), b (n_out,))``, float32 or float64.
      x: ``(batch, n_0)`` float; converted to the parameters' dtype.{model}

    Returns:
      ``(batch, n_L)`` output activations, the parameters' dtype.
    """
    sizes, _ = check_params(params)
    check_inputs(x, sizes[0])
    return _feedforward_jit(as_layers(params), x, cost=check_cost(cost),
                            activation=check_activation(activation),
                            precision=check_precision(precision))


def cost(params, x, y, *, cost="quadratic", activation="sigmoid", lmbda=None, n=None, reg="l2",
         precision=DEFAULT_PRECISION):
    """The cost averaged over the batch, plus the regularisation term.

    Computed from the output layer's weighted inputs, so cross-entropy and
    log-likelihood stay finite when outputs saturate at exactly 0 or 1.

    Args:
      params: tuple of Layers.
      x: ``(batch, n_0)`` float.
      y: ``(batch, n_L)`` float targets (one-hot for classification).{model}{reg}

    Returns:
      A scalar in the parameters' dtype.
    """
    sizes, _ = check_params(params)
    m = check_inputs(x, sizes[0])
    check_targets(y, m, sizes[-1])
    return _cost_jit(as_layers(params), x, y,
                     **_model_args(params, cost, activation, lmbda, n, reg, precision))


def backprop(params, x, y, *, cost="quadratic", activation="sigmoid", lmbda=None, n=None,
             reg="l2", precision=DEFAULT_PRECISION):
    """Gradient of :func:`cost` by the hand-derived BP1–BP4, whole batch at once.

    Args:
      params: tuple of ``Layer(w (n_out, n_in), b (n_out,))``.
      x: ``(batch, n_0)`` float.
      y: ``(batch, n_L)`` float targets.{model}{reg}

    Returns:
      A tuple of Layers with the same structure, shapes and dtype as
      ``params``: ``∂C/∂w (n_out, n_in)`` and ``∂C/∂b (n_out,)`` per layer.
    """
    sizes, _ = check_params(params)
    m = check_inputs(x, sizes[0])
    check_targets(y, m, sizes[-1])
    return _backprop_jit(as_layers(params), x, y,
                         **_model_args(params, cost, activation, lmbda, n, reg, precision))


for _f in (feedforward, cost, backprop):
    _f.__doc__ = _f.__doc__.format(model=_MODEL_DOC, reg=_REG_DOC)
del _f
