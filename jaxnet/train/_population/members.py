"""A population's members: their keys and initial parameters, their η, λ, μ as
stacked rule state, and which members share a configuration (and which is best)."""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from ..._core.costs import Penalty
from ..._core.memory import check_memory
from ..._core.model import INIT_SCHEMES, Model, draw_params
from ..._core.rules import Momentum, MomentumState, Sgd, SgdState
from ..._core.validate import check_dtype


def check_keys(keys):
    """``keys``: ``(P, 2)`` uint32 PRNG keys, ``P ≥ 1``; returned as given."""
    shape = np.shape(keys)
    if len(shape) != 2 or shape[1] != 2 or shape[0] < 1 or np.dtype(keys.dtype) != np.uint32:
        raise ValueError(f"keys: expected (P, 2) uint32 PRNG keys (jax.random.split(key, P)), "
                         f"got shape {shape} dtype {getattr(keys, 'dtype', None)}")
    return keys


def init_population(keys, model, *, dtype=jnp.float32, init="large"):
    """Stacked initial parameters, one member per key.

    Args:
      keys: ``(P, 2)`` PRNG keys (e.g. ``jax.random.split(key, P)``).
      model, dtype, init: as :func:`jaxnet.init_params` (a Model or sizes).

    Returns:
      Layers with a leading axis ``P`` (``w (P, n_out, n_in)``, ``b (P, n_out)``);
      member ``i`` equals ``init_params(keys[i], model, ...)``.
    """
    model = model if isinstance(model, Model) else Model.dense(model)
    dtype = check_dtype(dtype)
    if init not in INIT_SCHEMES:
        raise ValueError(f"init: expected one of {INIT_SCHEMES}, got {init!r}")
    keys = check_keys(keys)
    check_memory(model, dtype, members=keys.shape[0], training=True)
    return _draw_members(keys, model, dtype, init)


@partial(jax.jit, static_argnums=(1, 2, 3))
def _draw_members(keys, model, dtype, init):
    """Module-level, so a second population of the same model does not recompile."""
    return jax.vmap(lambda k: draw_params(k, model, dtype, init))(keys)


def member_values(v, p, name, low, high=None) -> np.ndarray:
    """A scalar or ``(P,)`` sequence → ``(P,)`` float64 numpy, each in [low, high]."""
    a = np.asarray(v, np.float64)
    if a.ndim == 0:
        a = np.full(p, float(a))
    if a.shape != (p,):
        raise ValueError(f"{name}: expected a number or {p} values (one per member), "
                         f"got shape {a.shape}")
    bad = ~np.isfinite(a) | (a < low) | ((a > high) if high is not None else False)
    if bad.any():
        i = int(np.argmax(bad))
        raise ValueError(f"{name}: member {i} has {a[i]}, outside "
                         f"{'[' if low == 0 else '('}{low}, {high if high else 'inf'}]")
    return a


def member_hyper(pop, eta, lmbda, momentum) -> dict:
    """``{"eta", "lmbda", "momentum"}``: each a checked ``(P,)`` float64 array."""
    etas = member_values(eta, pop, "eta", 0)
    if np.any(etas == 0):
        raise ValueError("eta: every member needs eta > 0")
    return dict(eta=etas, lmbda=member_values(lmbda, pop, "lmbda", 0),
                momentum=member_values(momentum, pop, "momentum", 0, 1))


def member_state(params, hyper: dict, n):
    """``(rule, stacked rule state, Penalty or None)`` from the members' η, λ, μ
    (``hyper``: :func:`member_hyper`'s arrays) and the n of λ/n.

    ``params``: stacked Layers, leading axis P; the state's leaves are ``(P,)``
    (η, μ) or the parameters' shapes (the velocity, zero)."""
    dtype = params[0].w.dtype
    eta_a = jnp.asarray(hyper["eta"], dtype)
    pen = None
    if hyper["lmbda"].any():
        pen = Penalty(jnp.asarray(hyper["lmbda"], dtype), jnp.asarray(n, dtype))
    if hyper["momentum"].any():
        velocity = jax.tree.map(jnp.zeros_like, params)
        return (Momentum(1.0, 0.0),
                MomentumState(eta_a, jnp.asarray(hyper["momentum"], dtype), velocity), pen)
    return Sgd(1.0), SgdState(eta_a), pen


def configurations(hyper: dict) -> np.ndarray:
    """``(P,)`` int: each member's configuration, members with equal (η, λ, μ) sharing
    one, numbered in the order they first appear."""
    seen: dict = {}
    triples = zip(hyper["eta"].tolist(), hyper["lmbda"].tolist(), hyper["momentum"].tolist())
    return np.array([seen.setdefault(t, len(seen)) for t in triples], np.int64)


def best_members(config: np.ndarray, correct, diverged=None) -> np.ndarray | None:
    """``(C,)`` int: per configuration, the member whose final parameters score best
    on the evaluation set (``correct (epochs, P)``; the lowest index on a tie) among
    those that did not diverge (``diverged (P,)``: an epoch, or -1), -1 where every
    member of the configuration diverged; None without an evaluation (or an epoch)."""
    if correct is None or len(correct) == 0:
        return None
    final = np.asarray(correct)[-1]
    ok = np.ones(final.shape, bool) if diverged is None else np.asarray(diverged) < 0
    out = []
    for c in range(int(config.max()) + 1):
        idx = np.flatnonzero((config == c) & ok)
        out.append(int(idx[np.argmax(final[idx])]) if idx.size else -1)  # the first of equals
    return np.array(out, np.int64)


def describe_member(hyper: dict, i: int) -> str:
    """Member ``i`` by its hyper-parameters: ``member 3 (eta 1e+30, lambda 0, mu 0)``."""
    return (f"member {i} (eta {hyper['eta'][i]:g}, lambda {hyper['lmbda'][i]:g}, "
            f"mu {hyper['momentum'][i]:g})")


def all_diverged(hyper: dict, diverged: np.ndarray) -> FloatingPointError:
    """The error of a population whose every member became NaN or Inf (``diverged
    (P,)``: the epoch of each), naming them by their hyper-parameters; its
    ``diverged`` attribute holds the epochs (the command line names the seeds)."""
    said = "; ".join(f"{describe_member(hyper, i)} at epoch {int(e)}"
                     for i, e in enumerate(diverged.tolist()[:8]))
    if len(diverged) > 8:
        said += f"; and {len(diverged) - 8} more"
    e = FloatingPointError(f"every member became NaN or Inf (eta is probably too large): "
                           f"{said}")
    e.diverged = np.asarray(diverged)
    return e
