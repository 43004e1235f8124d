"""Update rules in optax's shape: ``init(params) -> state`` and
``update(grads, state, params) -> (updates, state)``, then
``params = apply_updates(params, updates)``.

The book's two rules keep their hyper-parameters in their state (optax's
``inject_hyperparams`` idea): η and μ are traced values, so a new η (the
learning-rate schedule) or μ never recompiles, and a rule compares equal to
any other of its kind — the rule is static, its numbers are not. Any optax
``GradientTransformation`` works in the same places (jaxnet.train_epoch_with).

    sgd(η)          updates = −η·g                       (network.py; with L2 in g this is
                                                          network2's (1 − ηλ/n)w − η∇C0)
    momentum(η, μ)  v' = μv − η·g,  updates = v'          (the book's chapter 3)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from .validate import check_momentum, check_positive_scalar, check_velocity


class SgdState(NamedTuple):
    """``eta``: the learning rate, a scalar in the parameters' dtype (or ``(P,)``
    for a population)."""

    eta: jax.Array


class MomentumState(NamedTuple):
    """``eta``, ``mu``: scalars (or ``(P,)``); ``velocity``: Layers shaped like the
    parameters."""

    eta: jax.Array
    mu: jax.Array
    velocity: tuple


def _dtype(params):
    return np.dtype(jax.tree.leaves(params)[0].dtype)


def _numpy_of(params):
    """The array module a state mirroring ``params`` is made with: NumPy when every
    leaf is a NumPy array (the C kernel's host parameters: its η, μ and velocity are
    then exact in the parameters' dtype, float64 included, whatever JAX's x64 flag),
    else jax.numpy."""
    return np if all(isinstance(a, np.ndarray) for a in jax.tree.leaves(params)) else jnp


@dataclass(frozen=True)
class Sgd:
    """Plain SGD, ``p ← p − η·g``. Make it with :func:`sgd`."""

    eta: float = field(compare=False)

    def init(self, params) -> SgdState:
        """η as a scalar in the parameters' dtype and kind (NumPy for NumPy parameters)."""
        return SgdState(_numpy_of(params).asarray(self.eta, _dtype(params)))

    def update(self, grads, state: SgdState, params=None):
        return jax.tree.map(lambda g: -state.eta * g, grads), state


@dataclass(frozen=True)
class Momentum:
    """The book's momentum, ``v ← μv − η·g``, ``p ← p + v``. Make it with :func:`momentum`."""

    eta: float = field(compare=False)
    mu: float = field(compare=False)

    def init(self, params) -> MomentumState:
        """η, μ and a zero velocity in the parameters' dtype and kind (NumPy for NumPy
        parameters)."""
        xp, dtype = _numpy_of(params), _dtype(params)
        return MomentumState(xp.asarray(self.eta, dtype), xp.asarray(self.mu, dtype),
                             jax.tree.map(xp.zeros_like, params))

    def update(self, grads, state: MomentumState, params=None):
        v = jax.tree.map(lambda v, g: state.mu * v - state.eta * g, state.velocity, grads)
        return v, state._replace(velocity=v)


def sgd(eta) -> Sgd:
    """The book's mini-batch SGD with learning rate ``eta`` > 0."""
    check_positive_scalar(eta, "eta")
    return Sgd(eta)


def momentum(eta, mu) -> Momentum:
    """Momentum-based SGD (chapter 3): learning rate ``eta`` > 0, co-efficient
    ``mu`` in [0, 1] (0 gives sgd's trajectory)."""
    check_positive_scalar(eta, "eta")
    check_momentum(mu)
    return Momentum(eta, mu)


def book_rule(eta, mu):
    """``momentum(eta, mu)`` when μ ≠ 0, else ``sgd(eta)`` (the book's choice by flag)."""
    check_momentum(mu)
    return sgd(eta) if float(mu) == 0 else momentum(eta, mu)


def apply_updates(params, updates):
    """``p + u`` leaf by leaf (optax.apply_updates): Layers shaped like ``params``
    (``updates`` has the same structure and shapes)."""
    return jax.tree.map(lambda p, u: p + u, params, updates)


def with_eta(state, eta):
    """A book rule's ``state`` with η replaced (the schedule's), in the array kind and
    dtype the state already has."""
    xp = np if isinstance(state.eta, np.ndarray) else jnp
    return state._replace(eta=xp.asarray(eta, state.eta.dtype))


def check_rule(rule) -> None:
    """``rule`` must have optax's ``init`` and ``update``."""
    if not (callable(getattr(rule, "init", None)) and callable(getattr(rule, "update", None))):
        raise TypeError(f"optimizer: expected an update rule (jaxnet.sgd, jaxnet.momentum or an "
                        f"optax GradientTransformation, with .init and .update), got "
                        f"{type(rule).__name__}")


def check_state(rule, state, params) -> None:
    """A book rule's state must be its kind's, with a valid η (and μ, and a velocity
    mirroring ``params``); other rules' states are their own business."""
    if not isinstance(rule, (Sgd, Momentum)):
        return
    want = SgdState if isinstance(rule, Sgd) else MomentumState
    if not isinstance(state, want):
        raise TypeError(f"state: expected a {want.__name__} (rule.init(params)), got "
                        f"{type(state).__name__}")
    check_positive_scalar(state.eta, "state.eta")
    if isinstance(state, MomentumState):
        check_momentum(state.mu)
        check_velocity(state.velocity, params)
