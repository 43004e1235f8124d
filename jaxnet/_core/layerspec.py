"""Layer specs as text, for the command line and the benchmarks.

    conv:F:K[,pool:P]   a ConvPool of F K×K filters, max-pooled P×P (1 without pool:P)
    fc:N                a Dense layer of N neurons (the hidden activation; as the last
                        layer, the cost's output activation: sigmoid)
    softmax:N           a softmax output layer of N neurons (the log-likelihood cost)

e.g. network3's best net: ``conv:20:5,pool:2,conv:40:5,pool:2,fc:1000,fc:1000,softmax:10``.
A net that starts with ``conv`` reads its n_0 inputs as one square image.
"""

from __future__ import annotations

import math

from .convpool import ConvPool
from .dense import Dense
from .model import Model


def _ints(token, parts, count):
    if len(parts) != count or not all(p.isdigit() and int(p) > 0 for p in parts):
        raise ValueError(f"{token!r}: expected {count} positive int(s) after "
                         f"{token.split(':')[0]}:")
    return [int(p) for p in parts]


def parse_layers(text: str, n_in: int, *, activation="sigmoid", dropout=0.0,
                 cost=None, reg="l2", precision="highest") -> Model:
    """The Model a spec describes for ``n_in`` inputs; ``activation`` for conv and
    hidden fc layers, ``dropout`` on the inputs of every fc and softmax layer, ``cost``
    (default: log_likelihood with a softmax output, else quadratic)."""
    tokens = [t.strip().lower() for t in text.split(",") if t.strip()]
    if not tokens:
        raise ValueError("expected at least one layer")
    layers = []
    for i, token in enumerate(tokens):
        kind, *parts = token.split(":")
        last = i == len(tokens) - 1
        if kind == "conv":
            filters, k = _ints(token, parts, 2)
            layers.append(ConvPool(filters, k, 1, activation))
        elif kind == "pool":
            (p,) = _ints(token, parts, 1)
            if not layers or not isinstance(layers[-1], ConvPool) or layers[-1].pool != 1:
                raise ValueError(f"{token!r}: a pool follows a conv layer (once)")
            prev = layers.pop()
            layers.append(ConvPool(prev.filters, prev.kernel, p, prev.activation))
        elif kind in ("fc", "softmax"):
            (n,) = _ints(token, parts, 1)
            act = "softmax" if kind == "softmax" else ("sigmoid" if last else activation)
            layers.append(Dense(n, act, dropout))
        else:
            raise ValueError(f"{token!r}: expected conv:F:K, pool:P, fc:N or softmax:N")
    if cost is None:
        cost = "log_likelihood" if layers[-1].activation == "softmax" else "quadratic"
    shape = (n_in,)
    if isinstance(layers[0], ConvPool):
        side = math.isqrt(n_in)
        if side * side != n_in:
            raise ValueError(f"a conv net reads its {n_in} inputs as a square image; "
                             f"{n_in} is not a square")
        shape = (1, side, side)
    return Model(shape, tuple(layers), cost=cost, reg=reg, precision=precision)


def describe(model) -> str:
    """A short name: ``conv20x5/2-fc100-softmax10`` or ``784-30-10``."""
    if all(isinstance(l, Dense) for l in model.layers):
        return "-".join(map(str, model.sizes))
    parts = []
    for layer in model.layers:
        if isinstance(layer, ConvPool):
            parts.append(f"conv{layer.filters}x{layer.kernel}/{layer.pool}")
        else:
            parts.append(f"{'softmax' if layer.activation == 'softmax' else 'fc'}"
                         f"{layer.n_out}")
    return "-".join(parts)
