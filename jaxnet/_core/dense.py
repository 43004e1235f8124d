"""The fully connected layer: ``Z = A Wᵀ + b``, ``A' = f(Z)``, and its hand-derived backward.

A layer kind is a hashable spec with five methods (see jaxnet._core.model):
``output_shape``, ``param_shapes``, ``init``, ``forward`` and ``backward``,
plus its ``activation``. For this layer, one row per example:

    forward    Z = A Wᵀ + b                          A (m, n_in) → Z (m, n_out)
    backward   ∂C/∂b = Σ_rows Δ          (BP3)       Δ (m, n_out) = ∂C/∂Z
               ∂C/∂W = Δᵀ A              (BP4)
               ∂C/∂A = Δ W               (BP2, before the ⊙ f'(Z) of the layer below)

An input with more than one axis per example (a feature map) is flattened
row by row first, so a Dense layer can follow a convolutional one.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

import jax
import jax.numpy as jnp

from .activations import OUTPUT, check_name
from .params import Layer
from .precision import contract
from .validate import check_dropout


@dataclass(frozen=True)
class Dense:
    """A fully connected layer of ``n_out`` neurons with ``activation``.

    Parameters ``Layer(w (n_out, n_in), b (n_out,))``, ``n_in`` the number
    of inputs per example (the previous layer's outputs, flattened).
    ``dropout``: network3's dropout of this layer's *inputs* with probability
    ``p`` in training (the chain applies it: jaxnet._core.network).
    """

    n_out: int
    activation: str = "sigmoid"
    dropout: float = 0.0

    def __post_init__(self):
        n = self.n_out
        if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 1:
            raise ValueError(f"Dense.n_out: expected a positive int, got {n!r}")
        object.__setattr__(self, "n_out", int(n))
        object.__setattr__(self, "activation",
                           check_name(self.activation, OUTPUT, "Dense.activation"))
        object.__setattr__(self, "dropout", check_dropout(self.dropout, "Dense.dropout"))

    def output_shape(self, in_shape: tuple) -> tuple:
        """``(n_out,)`` for any input shape."""
        return (self.n_out,)

    def param_shapes(self, in_shape: tuple) -> Layer:
        """``Layer(w=(n_out, n_in), b=(n_out,))`` with ``n_in = prod(in_shape)``."""
        return Layer(w=(self.n_out, math.prod(in_shape)), b=(self.n_out,))

    def init(self, keys, in_shape: tuple, dtype, scheme: str) -> Layer:
        """``w ~ N(0, 1)`` (``"large"``), ``N(0, 1/n_in)`` (``"scaled"``) or
        ``N(0, 1/n_out)`` (``"network3"``), ``b ~ N(0, 1)``; network3 starts a softmax
        layer at zero. ``keys`` is a pair of PRNG keys (weights, biases)."""
        n_in = math.prod(in_shape)
        if scheme == "network3" and self.activation == "softmax":
            return Layer(jnp.zeros((self.n_out, n_in), dtype), jnp.zeros((self.n_out,), dtype))
        w = jax.random.normal(keys[0], (self.n_out, n_in), dtype)
        fan = {"scaled": n_in, "network3": self.n_out}.get(scheme)
        if fan is not None:
            w = w / jnp.sqrt(jnp.asarray(fan, dtype))
        return Layer(w, jax.random.normal(keys[1], (self.n_out,), dtype))

    def forward(self, p: Layer, a: jax.Array, precision: str):
        """``(Z (m, n_out), None)`` for ``A (m, *in_shape)``: nothing else to save."""
        return contract(a.reshape(a.shape[0], -1), p.w, 1, 1, precision) + p.b[None, :], None

    def backward(self, p: Layer, a: jax.Array, saved, delta: jax.Array, precision: str,
                 input_grad: bool = True):
        """``(Layer(∂C/∂W, ∂C/∂b), ∂C/∂A shaped like a)`` from ``Δ = ∂C/∂Z (m, n_out)``;
        ``∂C/∂A`` is None when ``input_grad`` is False (the first layer)."""
        grads = Layer(w=contract(delta, a.reshape(a.shape[0], -1), 0, 0, precision),  # BP4
                      b=jnp.sum(delta, axis=0))                                        # BP3
        if not input_grad:
            return grads, None
        return grads, contract(delta, p.w, 1, 0, precision).reshape(a.shape)           # Δ W
