"""The model value: one hashable, validated description of a network.

``Model(input_shape, layers, cost, reg, precision)`` is checked once, when it
is made, and is then the single static argument of every compiled function:
two equal models share their compiled programs. What changes from call to
call (parameters, data, η, λ, μ) is traced and never recompiles.

A layer is any hashable value with these members (jaxnet.Dense is one; a
layer kind defined elsewhere works unchanged with backprop, jax.grad, the
cross-checks and the golden-state machinery, which only call them):

    activation                          a name from jaxnet._core.activations
    output_shape(in_shape) -> shape     per example; ValueError for an input it cannot take
    param_shapes(in_shape) -> Layer     the shapes of its (w, b)
    init(keys, in_shape, dtype, scheme) -> Layer(w, b)      keys: a pair of PRNG keys
    forward(p, A, precision) -> (Z, saved)                  A (m, *in_shape) → Z (m, *out)
    backward(p, A, saved, Δ, precision, input_grad) -> (Layer grads, ∂C/∂A or None)
    scratch(in_shape, training) -> int                      optional: values per example
                                        it holds beyond Z, A and Δ (jaxnet._core.memory)

where ``Δ = ∂C/∂Z`` (the book's δ, the 1/m of the mean included) and the
chain applies the activations: ``A' = f(Z)`` forward and BP2's ``⊙ f'(Z)``
backward (jaxnet._core.network).

The cost fixes what the output layer may be: every cost compares ``A^L`` with one-hot
targets ``(batch, n_L)`` row by row, so the output is flat, ``(n_L,)`` per example (a
ConvPool's feature maps are refused), and BP1 is written for its activation:

    cost            output activation   BP1: Δ^L · m
    quadratic       any but softmax     (A − Y) ⊙ f'(Z^L)
    cross_entropy   sigmoid             A − Y
    log_likelihood  softmax             A·Σ_j y_j − Y   (A − Y for one-hot Y)
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Sequence

import jax
import numpy as np

from .activations import ELEMENTWISE, HIDDEN, check_name
from .dense import Dense
from .memory import check_memory
from .precision import DEFAULT_PRECISION, check_precision
from .validate import check_dtype, check_shape, check_sizes

COSTS = ("quadratic", "cross_entropy", "log_likelihood")
REGULARIZATIONS = ("l2", "l1")
#: Hidden activations by name (those the C kernel implements too).
ACTIVATIONS = HIDDEN
#: The output activations each cost's BP1 is written for.
COST_OUTPUTS = {"quadratic": ELEMENTWISE, "cross_entropy": ("sigmoid",),
                "log_likelihood": ("softmax",)}
#: Initialisation schemes by name.
#:   "large":  w, b ~ N(0, 1)               (network.py; the book's "large" init)
#:   "scaled": w ~ N(0, 1/n_in), b ~ N(0, 1) (network2.py's default)
#:   "network3": w ~ N(0, 1/n_out), b ~ N(0, 1), softmax layers zero (network3.py; a
#:               ConvPool layer's n_out is filters·k²/p²)
INIT_SCHEMES = ("large", "scaled", "network3")
_MEMBERS = ("activation", "output_shape", "param_shapes", "init", "forward", "backward")


@dataclass(frozen=True)
class Model:
    """A network: input shape, layers, cost (and so the output layer), regularisation
    kind and the matrix products' precision.

    Attributes:
      input_shape: one example's shape, e.g. ``(784,)``; inputs ``x`` are
        ``(batch, prod(input_shape))`` rows, reshaped to it for the first layer.
      layers: layer specs (e.g. ``Dense(30, "sigmoid")``), the last is the output.
      cost: ``"quadratic"``, ``"cross_entropy"`` or ``"log_likelihood"``.
      reg: ``"l2"`` (adds (λ/2n) Σ w²) or ``"l1"`` (adds (λ/n) Σ |w|); applies
        when a function is given λ > 0; biases are never regularised.
      precision: ``"highest"`` (true float32, the default), ``"high"`` or
        ``"default"`` (the platform's fastest: TF32 on NVIDIA GPUs); see
        jaxnet._core.precision.
      shapes: (derived) each layer's output shape, the input's first.
    """

    input_shape: tuple
    layers: tuple
    cost: str = "quadratic"
    reg: str = "l2"
    precision: str = DEFAULT_PRECISION
    shapes: tuple = field(init=False, repr=False, compare=False)

    def __post_init__(self):
        put = lambda k, v: object.__setattr__(self, k, v)  # noqa: E731 (frozen dataclass)
        put("input_shape", check_shape(self.input_shape, "input_shape"))
        put("cost", check_name(self.cost, COSTS, "cost"))
        put("reg", check_name(self.reg, REGULARIZATIONS, "reg"))
        put("precision", check_precision(self.precision))
        put("layers", tuple(self.layers))
        put("shapes", _shapes(self.input_shape, self.layers))
        _check_output(self.cost, self.layers, self.shapes)

    @classmethod
    def dense(cls, sizes: Sequence[int], *, cost="quadratic", activation="sigmoid", reg="l2",
              precision=DEFAULT_PRECISION) -> "Model":
        """The book's fully connected network: ``sizes = [n_0, ..., n_L]``, hidden
        layers with ``activation``, the output layer's activation fixed by the
        cost (softmax for log_likelihood, else sigmoid)."""
        sizes = check_sizes(sizes)
        cost = check_name(cost, COSTS, "cost")
        activation = check_name(activation, ELEMENTWISE, "activation")
        out = "softmax" if cost == "log_likelihood" else "sigmoid"
        layers = [Dense(n, activation) for n in sizes[1:-1]] + [Dense(sizes[-1], out)]
        return cls(sizes[:1], tuple(layers), cost, reg, precision)

    @property
    def sizes(self) -> tuple:
        """Each layer's outputs per example, flattened, the input's first."""
        return tuple(math.prod(s) for s in self.shapes)

    @property
    def has_dropout(self) -> bool:
        """Whether any layer drops its inputs in training."""
        return any(getattr(layer, "dropout", 0) for layer in self.layers)

    @property
    def hidden_activation(self):
        """The hidden layers' common activation (None if they differ or there are none)."""
        acts = {layer.activation for layer in self.layers[:-1]}
        return acts.pop() if len(acts) == 1 else None

    def replace(self, **changes) -> "Model":
        """A copy with some attributes changed (validated again)."""
        return dataclasses.replace(self, **changes)

    def describe(self) -> dict:
        """A JSON-able description (checkpoints and saved parameters record it)."""
        return dict(input_shape=list(self.input_shape), cost=self.cost, reg=self.reg,
                    precision=self.precision,
                    layers=[dict(kind=type(l).__name__, **_fields(l)) for l in self.layers])


def _fields(layer) -> dict:
    if dataclasses.is_dataclass(layer):
        return {f.name: getattr(layer, f.name) for f in dataclasses.fields(layer)}
    return dict(getattr(layer, "_asdict", dict)())


def _check_output(cost, layers, shapes) -> None:
    """The output layer must be one ``cost`` can take: a flat ``(n_L,)`` output (the
    targets are one-hot rows) with an activation its BP1 is written for."""
    name, shape, out = f"layers[{len(layers) - 1}] {layers[-1]}", shapes[-1], layers[-1].activation
    if len(shape) != 1:
        raise ValueError(f"{name}: the {cost} cost compares the output with one-hot targets "
                         f"(batch, n_L), so the output layer must give a flat (n_L,) row per "
                         f"example; it gives {shape} (end with a Dense layer: fc:N or softmax:N)")
    if out not in COST_OUTPUTS[cost]:
        raise ValueError(f"{name}: the {cost} cost needs a {' or '.join(COST_OUTPUTS[cost])} "
                         f"output layer, got {out}")


def _shapes(input_shape, layers) -> tuple:
    if not layers:
        raise ValueError("layers: expected at least one layer (the output layer)")
    shapes = [input_shape]
    for i, layer in enumerate(layers):
        missing = [m for m in _MEMBERS if not hasattr(layer, m)]
        if missing:
            raise TypeError(f"layers[{i}]: {type(layer).__name__} is not a layer kind "
                            f"(no {', '.join(missing)})")
        if i < len(layers) - 1 and layer.activation not in ELEMENTWISE:
            raise ValueError(f"layers[{i}] {layer}: a hidden layer's activation must be one "
                             f"of {', '.join(ELEMENTWISE)}, got {layer.activation}")
        try:
            shapes.append(tuple(layer.output_shape(shapes[-1])))
            hash(layer)
        except (ValueError, TypeError) as e:
            raise type(e)(f"layers[{i}] {layer} on input {shapes[-1]}: {e}") from None
    return tuple(shapes)


def init_params(key: jax.Array, model, *, dtype=np.float32, init: str = "large") -> tuple:
    """Draws initial parameters.

    Args:
      key: a JAX PRNG key; layer ``l`` draws from ``split(key, 2L)[2l:2l+2]``.
      model: a Model, or layer sizes ``[n_0, n_1, ..., n_L]`` (``Model.dense``).
      dtype: ``float32`` or ``float64`` (the latter needs ``jax_enable_x64``).
      init: one of ``INIT_SCHEMES``.

    Returns:
      A tuple of ``Layer(w, b)``, one per layer: for Dense layers
      ``w (n_{l+1}, n_l)``, ``b (n_{l+1},)``.
    """
    model = model if isinstance(model, Model) else Model.dense(model)
    dtype = check_dtype(dtype)
    if init not in INIT_SCHEMES:
        raise ValueError(f"init: expected one of {INIT_SCHEMES}, got {init!r}")
    check_memory(model, dtype, training=True)
    return draw_params_jit(key, model, dtype, init)


def draw_params(key, model, dtype, scheme):
    """init_params without the checks (``model`` a Model, ``dtype`` a numpy dtype)."""
    keys = jax.random.split(key, 2 * len(model.layers))
    return tuple(layer.init((keys[2 * l], keys[2 * l + 1]), shape, dtype, scheme)
                 for l, (layer, shape) in enumerate(zip(model.layers, model.shapes)))


draw_params_jit = jax.jit(draw_params, static_argnums=(1, 2, 3))
