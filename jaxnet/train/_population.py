"""Populations: many networks trained at once in one compiled program (``jax.vmap``).

A population of ``P`` members is a stacked pytree: every leaf of the
parameters gains a leading axis ``P`` (``w (P, n_out, n_in)``, ``b (P, n_out)``).
Each member has its own PRNG key (init and shuffles), η, λ and μ; they share
the data, the model and the mini-batch size. Member ``i`` follows exactly the
algorithm of :func:`jaxnet.fit` with ``keys[i]`` and its own hyper-parameters.
"""

from __future__ import annotations

import time
from functools import partial
from typing import Callable, NamedTuple, Optional

import jax
import jax.numpy as jnp
import numpy as np

from ..nn._costs import Penalty
from ..nn._inputs import resolve
from ..nn._memory import check_memory
from ..nn._model import INIT_SCHEMES, Model, draw_params
from ..nn._params import as_layers
from ..nn._validate import check_dtype
from ._epoch import shuffled_epoch
from ._evaluate import monitor
from ._loop import prepare, reg_count, run_epoch
from ._rules import Momentum, MomentumState, Sgd, SgdState


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
    keys = _check_keys(keys)
    check_memory(model, dtype, members=keys.shape[0], training=True)
    return jax.jit(jax.vmap(lambda k: draw_params(k, model, dtype, init)))(keys)


def _check_keys(keys):
    shape = np.shape(keys)
    if len(shape) != 2 or shape[1] != 2 or shape[0] < 1 or np.dtype(keys.dtype) != np.uint32:
        raise ValueError(f"keys: expected (P, 2) uint32 PRNG keys (jax.random.split(key, P)), "
                         f"got shape {shape} dtype {getattr(keys, 'dtype', None)}")
    return keys


def _member_values(v, p, name, low, high=None):
    """A scalar or (P,) sequence → (P,) float64 numpy, each in [low, high]."""
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


class PopulationResult(NamedTuple):
    """``params``/``velocity``: stacked, leading axis P; ``correct`` ``(epochs, P)``
    evaluation accuracy counts (None without eval_data); ``total``: the
    evaluation set's size; ``compile_seconds``; ``epoch_seconds`` per epoch."""

    params: tuple
    velocity: Optional[tuple]
    correct: Optional[np.ndarray]
    total: Optional[int]
    compile_seconds: float
    epoch_seconds: list


def _axes(pen):
    return None if pen is None else Penalty(0, None)


@partial(jax.jit, static_argnames=("model", "rule", "grad", "batch_size", "shuffle"))
def population_epoch(params, state, keys, x, y, x_scale, pen, *, model, rule, grad, batch_size,
                     shuffle=True):
    """:func:`jaxnet.train._epoch.shuffled_epoch` for every member at once."""
    def one(p, s, k, pn):
        return shuffled_epoch(p, s, k, x, y, x_scale, pn, model=model, rule=rule, grad=grad,
                              batch_size=batch_size, shuffle=shuffle)
    return jax.vmap(one, in_axes=(0, 0, 0, _axes(pen)))(params, state, keys, pen)


@partial(jax.jit, static_argnums=0)
def population_monitor(model, params, x, labels, x_scale, pen):
    """``(correct (P,), cost (P,))`` of every member on one data set."""
    return jax.vmap(lambda p, pn: monitor(model, p, x, labels, x_scale, pn),
                    in_axes=(0, _axes(pen)))(params, pen)


def fit_population(keys, params, x, labels, *, model=None, epochs: int = 30, eta=3.0,
                   batch_size: int = 10, x_scale=None, eval_data=None, lmbda=0.0, momentum=0.0,
                   grad: str = "backprop",
                   on_epoch: Optional[Callable[[int, np.ndarray], None]] = None,
                   shuffle: bool = True, n=None) -> PopulationResult:
    """Trains ``P`` networks at once, one compiled program per epoch for all of them.

    Args:
      keys: ``(P, 2)`` PRNG keys for the members' shuffles (as ``fit``'s key).
      params: stacked parameters, leading axis ``P`` (:func:`init_population`).
      x, labels, model, x_scale, eval_data, batch_size, grad, shuffle, n:
        shared by all members, as in :func:`jaxnet.fit`.
      eta, lmbda, momentum: a number for every member or ``P`` values.
      epochs: epochs to train.
      on_epoch: called with ``(epoch, correct (P,))`` after each epoch.

    Returns:
      PopulationResult. Member ``i`` equals ``fit(keys[i], params[i], ...)``
      with its own η, λ, μ, to float rounding: vmap batches the matrix
      products, which may sum in another order (bit-identical on the CPU; on a
      GPU the difference is bounded by how much the run amplifies a one-ulp
      change of its start, which a chaotic run such as η = 3 cross-entropy
      raises to ~1e-5 relative in float64 within 100 steps: tests/test_population.py).
    """
    keys = _check_keys(keys)
    pop = keys.shape[0]
    leaves = jax.tree.leaves(params)
    if not leaves or any(np.ndim(a) < 1 or np.shape(a)[0] != pop for a in leaves):
        raise ValueError(f"params: expected stacked Layers with leading axis {pop} "
                         "(one member per key; see init_population)")
    model, member0 = resolve(jax.tree.map(lambda a: a[0], params), model)
    data = prepare(model, member0, x, labels, x_scale=x_scale, epochs=epochs,
                   batch_size=batch_size, eval_data=eval_data, grad=grad, members=pop)
    params = as_layers(jax.tree.map(jnp.asarray, params))
    if not isinstance(shuffle, bool):
        raise ValueError(f"shuffle: expected True or False, got {shuffle!r}")
    rule, state, pen = _member_state(params, member0, pop, eta, lmbda, momentum,
                                     reg_count(n, data.n, data.batch_size))
    t0 = time.perf_counter()
    epoch_fn = population_epoch.lower(params, state, keys, data.x, data.y, data.scale, pen,
                                      model=model, rule=rule, grad=grad,
                                      batch_size=data.batch_size, shuffle=shuffle).compile()
    eval_fn = None
    if data.eval is not None:
        eval_fn = population_monitor.lower(model, params, *data.eval, data.scale, pen).compile()
    compile_seconds = time.perf_counter() - t0
    correct, seconds = [], []
    for epoch in range(epochs):
        (params, state, keys, _), s = run_epoch(epoch_fn, epoch, params, state, keys, data.x,
                                                data.y, data.scale, pen)
        seconds.append(s)
        if eval_fn is not None:
            correct.append(np.asarray(eval_fn(params, *data.eval, data.scale, pen)[0]))
            if on_epoch is not None:
                on_epoch(epoch, correct[-1])
    velocity = state.velocity if isinstance(state, MomentumState) else None
    return PopulationResult(params, velocity, np.stack(correct) if correct else None,
                            None if data.eval is None else int(data.eval[1].shape[0]),
                            compile_seconds, seconds)


def _member_state(params, member0, pop, eta, lmbda, momentum, n):
    """``(rule, stacked rule state, Penalty or None)`` from the members' η, λ, μ."""
    dtype = member0[0].w.dtype
    etas = _member_values(eta, pop, "eta", 0)
    if np.any(etas == 0):
        raise ValueError("eta: every member needs eta > 0")
    lmbdas = _member_values(lmbda, pop, "lmbda", 0)
    mus = _member_values(momentum, pop, "momentum", 0, 1)
    eta_a = jnp.asarray(etas, dtype)
    pen = Penalty(jnp.asarray(lmbdas, dtype), jnp.asarray(n, dtype)) if lmbdas.any() else None
    if mus.any():
        velocity = jax.tree.map(jnp.zeros_like, params)
        return Momentum(1.0, 0.0), MomentumState(eta_a, jnp.asarray(mus, dtype), velocity), pen
    return Sgd(1.0), SgdState(eta_a), pen
