"""The costs, their output-layer δ (BP1), and the regularisation term.

Averaged over a batch of ``m`` rows, with ``Z = Z^L``, ``A = A^L``:

    quadratic       C0 = (1/m) Σ_x ½‖a − y‖²
    cross_entropy   C0 = (1/m) Σ_x Σ_j −[y_j ln a_j + (1 − y_j) ln(1 − a_j)]
                       = (1/m) Σ_x Σ_j softplus(z_j) − y_j z_j     (finite for any z)
    log_likelihood  C0 = (1/m) Σ_x −Σ_j y_j ln a_j
                       = (1/m) Σ_x Σ_j y_j (logsumexp(z) − z_j)    (finite for any z)

    BP1  Δ^L = (A − Y) ⊙ f'(Z) / m        (quadratic, output activation f)
         Δ^L = (A − Y) / m                (cross_entropy, sigmoid output)
         Δ^L = (A·Σ_j y_j − Y) / m         (log_likelihood, softmax output)

The regularised cost is ``C = C0 + (λ/2n) Σ_w w²`` (L2) or ``C0 + (λ/n) Σ_w |w|``
(L1), ``n`` the training-set size, biases not regularised; its gradient adds
``(λ/n)·w`` or ``(λ/n)·sgn(w)`` to BP4.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from .activations import prime


class Penalty(NamedTuple):
    """The regularisation strength as traced scalars in the parameters' dtype:
    ``lmbda`` (λ > 0) and ``n`` (the training-set size in λ/n). Functions take
    ``None`` for an unregularised cost, which compiles apart."""

    lmbda: jax.Array
    n: jax.Array


def cost0(cost: str, z: jax.Array, a: jax.Array, y: jax.Array) -> jax.Array:
    """The unregularised cost averaged over the batch, from ``Z^L``, ``A^L`` and
    ``Y`` (all ``(m, n_L)``); a scalar."""
    if cost == "quadratic":
        per = 0.5 * jnp.sum((a - y) ** 2)
    elif cost == "cross_entropy":
        per = jnp.sum(jax.nn.softplus(z) - y * z)
    else:
        per = jnp.sum(y * (jax.nn.logsumexp(z, axis=1, keepdims=True) - z))
    return per / z.shape[0]


def output_delta(cost: str, activation: str, a: jax.Array, y: jax.Array) -> jax.Array:
    """BP1: ``Δ^L = ∂C/∂Z^L (m, n_L)``, the mean's 1/m included."""
    m = a.shape[0]
    if cost == "quadratic":
        return (a - y) / m * prime(activation, a)
    if cost == "cross_entropy":
        return (a - y) / m
    return (a * jnp.sum(y, axis=1, keepdims=True) - y) / m


def penalty_value(reg: str, params, penalty) -> jax.Array:
    """``(λ/2n) Σ w²`` (l2) or ``(λ/n) Σ |w|`` (l1) over the weights; 0 without a penalty."""
    if penalty is None:
        return 0
    lmbda, n = penalty
    if reg == "l2":
        return lmbda / (2 * n) * sum(jnp.sum(p.w * p.w) for p in params)
    return lmbda / n * sum(jnp.sum(jnp.abs(p.w)) for p in params)


def penalty_grad(reg: str, w: jax.Array, penalty) -> jax.Array:
    """The penalty's gradient with respect to one layer's weights: ``(λ/n)·w`` or
    ``(λ/n)·sgn(w)``."""
    lmbda, n = penalty
    return (lmbda / n) * (w if reg == "l2" else jnp.sign(w))
