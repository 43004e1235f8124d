"""The model's choices by name: cost (and with it the output layer), hidden activation,
regularisation. Shared by the JAX code, the C twins and the CLI.

    cost            output layer   BP1: Δ^L · m
    quadratic       sigmoid        (A − Y) ⊙ σ'(Z^L)
    cross_entropy   sigmoid        A − Y
    log_likelihood  softmax        A − Y

    activation      f(z)           f'(z) written with a = f(z), as BP2 uses it
    sigmoid         1/(1+e^−z)     a(1 − a)
    tanh            tanh z         1 − a²
    relu            max(z, 0)      [a > 0]  (0 at z = 0, as jax.nn.relu's derivative)
"""

from __future__ import annotations

COSTS = ("quadratic", "cross_entropy", "log_likelihood")
ACTIVATIONS = ("sigmoid", "tanh", "relu")
REGULARIZATIONS = ("l2", "l1")


def _name(value, choices, what):
    if isinstance(value, str):
        v = value.replace("-", "_").lower()
        if v in choices:
            return v
    raise ValueError(f"{what}: expected one of {', '.join(choices)}, got {value!r}")


def check_cost(cost) -> str:
    return _name(cost, COSTS, "cost")


def check_activation(activation) -> str:
    return _name(activation, ACTIVATIONS, "activation")


def check_reg(reg) -> str:
    return _name(reg, REGULARIZATIONS, "reg")


def output_activation(cost: str) -> str:
    """The output layer's activation for a cost: softmax for log_likelihood, else sigmoid."""
    return "softmax" if cost == "log_likelihood" else "sigmoid"
