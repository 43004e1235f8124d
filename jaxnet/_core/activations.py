"""Activation functions by name, and their derivatives written with a = f(z).

    name      f(z)             f'(z) from a = f(z), as BP2 uses it
    sigmoid   1/(1+e^−z)       a(1 − a)
    tanh      tanh z           1 − a²
    relu      max(z, 0)        [a > 0]  (0 at z = 0, as jax.nn.relu's derivative)
    linear    z                1
    softmax   e^z_j / Σ e^z    (output layer only: the log-likelihood's BP1 never needs it)
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

#: The chapter-3 hidden activations (the C kernel implements these three).
HIDDEN = ("sigmoid", "tanh", "relu")
#: Elementwise activations: any layer may use them.
ELEMENTWISE = HIDDEN + ("linear",)
#: Activations an output layer can use.
OUTPUT = ELEMENTWISE + ("softmax",)


def activate(name: str, z: jax.Array) -> jax.Array:
    """``f(z)`` elementwise (softmax over the last axis); any shape ``(m, ...)``."""
    if name == "sigmoid":
        return jax.nn.sigmoid(z)
    if name == "tanh":
        return jnp.tanh(z)
    if name == "relu":
        return jnp.maximum(z, 0)
    if name == "linear":
        return z
    return jax.nn.softmax(z, axis=-1)


def prime(name: str, a: jax.Array) -> jax.Array:
    """``f'(z)`` from ``a = f(z)``, same shape as ``a`` (not defined for softmax)."""
    if name == "sigmoid":
        return a * (1 - a)
    if name == "tanh":
        return 1 - a * a
    if name == "relu":
        return (a > 0).astype(a.dtype)
    if name == "linear":
        return jnp.ones_like(a)
    raise ValueError(f"activation {name!r} has no elementwise derivative (output layer only)")


def check_name(value, choices, what: str) -> str:
    """``value`` normalised (``-`` → ``_``, lower case) if it is one of ``choices``."""
    if isinstance(value, str):
        v = value.replace("-", "_").lower()
        if v in choices:
            return v
    raise ValueError(f"{what}: expected one of {', '.join(choices)}, got {value!r}")


def sigmoid(z):
    """σ(z) = 1 / (1 + e^{−z}), elementwise, any shape; overflow-safe."""
    return activate("sigmoid", z)


def sigmoid_prime(z):
    """σ'(z) = σ(z)(1 − σ(z)), elementwise, any shape."""
    s = sigmoid(z)
    return s * (1 - s)
