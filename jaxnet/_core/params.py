"""Parameters: a tuple of per-layer ``Layer(w, b)`` (what a run needs in memory:
jaxnet._core.memory)."""

from __future__ import annotations

from typing import NamedTuple

import jax


class Layer(NamedTuple):
    """One layer of weights and biases, laid out as in the book.

    Attributes:
      w: ``(n_out, n_in)`` float for a Dense layer, ``w[j, k]`` connecting
        input neuron ``k`` to output neuron ``j`` (other layer kinds say
        their own shape).
      b: ``(n_out,)`` float.
    """

    w: jax.Array
    b: jax.Array


def layer_sizes(params) -> tuple[int, ...]:
    """``(n_0, ..., n_L)`` of a Dense parameter tuple, Layers ``w (n_l, n_{l-1})``, ``b
    (n_l,)`` (not validated)."""
    return (params[0].w.shape[1],) + tuple(layer.w.shape[0] for layer in params)


def as_layers(params) -> tuple[Layer, ...]:
    """``params`` as a tuple of Layers (accepts any sequence of ``(w, b)`` pairs)."""
    return tuple(layer if isinstance(layer, Layer) else Layer(*layer) for layer in params)
