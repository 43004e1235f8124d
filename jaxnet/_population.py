"""Populations: many networks trained at once in one compiled program (``jax.vmap``).

A population of ``P`` members is a stacked pytree: every leaf of the
parameters gains a leading axis ``P`` (``w (P, n_out, n_in)``, ``b (P, n_out)``).
Each member has its own PRNG key (init and shuffles), η, λ and μ; they share
the data, the architecture, the cost and the mini-batch size. Member ``i``
follows exactly the algorithm of :func:`jaxnet.fit` with ``keys[i]`` and its
own hyper-parameters.
"""

from __future__ import annotations

import time
from functools import partial
from typing import Callable, NamedTuple, Optional

import jax
import jax.numpy as jnp
import numpy as np

from ._model import check_activation, check_cost, check_reg
from ._params import _init_params, as_layers, check_fits
from ._precision import DEFAULT_PRECISION, check_precision
from ._train import (_check_grad, _check_training_set, _monitor, _shuffled_epoch,
                     check_eval_data)
from ._validate import check_dtype, check_sizes


def init_population(keys, sizes, *, dtype=jnp.float32, init="large"):
    """Stacked initial parameters, one member per key.

    Args:
      keys: ``(P, 2)`` PRNG keys (e.g. ``jax.random.split(key, P)``).
      sizes, dtype, init: as :func:`jaxnet.init_params`.

    Returns:
      Layers with ``w (P, n_out, n_in)``, ``b (P, n_out)``; member ``i`` equals
      ``init_params(keys[i], sizes, ...)``.
    """
    sizes = check_sizes(sizes)
    dtype = check_dtype(dtype)
    keys = _check_keys(keys)
    check_fits(sizes, dtype, members=keys.shape[0])
    return jax.vmap(lambda k: _init_params(k, sizes, dtype, init))(keys)


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


@partial(jax.jit, static_argnames=("batch_size", "grad", "cost", "activation", "reg",
                                   "precision"))
def _population_epoch(params, velocity, keys, x, y, etas, x_scale, lmbdas, mus, *, batch_size,
                      grad, cost, activation, reg, precision):
    def one(p, v, k, eta, lm, mu):
        return _shuffled_epoch(p, v, k, x, y, eta, x_scale, lm, mu, batch_size=batch_size,
                               grad=grad, progress=None, cost=cost, activation=activation,
                               reg=reg, precision=precision)
    v_axis = None if velocity is None else 0
    mu_axis = None if mus is None else 0
    lm_axis = None if lmbdas is None else 0
    return jax.vmap(one, in_axes=(0, v_axis, 0, 0, lm_axis, mu_axis))(
        params, velocity, keys, etas, lmbdas, mus)


@partial(jax.jit, static_argnames=("cost", "activation", "reg", "precision"))
def _population_monitor(params, x, labels, x_scale, lmbdas, n, *, cost, activation, reg,
                        precision):
    lm_axis = None if lmbdas is None else 0
    return jax.vmap(lambda p, lm: _monitor(p, x, labels, x_scale, lm, n, cost=cost,
                                           activation=activation, reg=reg, precision=precision),
                    in_axes=(0, lm_axis))(params, lmbdas)


def fit_population(keys, params, x, labels, *, epochs: int = 30, eta=3.0, batch_size: int = 10,
                   x_scale=None, eval_data=None, cost="quadratic", activation="sigmoid",
                   lmbda=0.0, reg="l2", momentum=0.0, grad: str = "backprop",
                   on_epoch: Optional[Callable[[int, np.ndarray], None]] = None,
                   precision=DEFAULT_PRECISION) -> PopulationResult:
    """Trains ``P`` networks at once, one compiled program per epoch for all of them.

    Args:
      keys: ``(P, 2)`` PRNG keys for the members' shuffles (as ``fit``'s key).
      params: stacked parameters, leading axis ``P`` (:func:`init_population`).
      x, labels, x_scale, eval_data, batch_size, cost, activation, reg, grad,
      precision: shared by all members, as in :func:`jaxnet.fit`.
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
    if not leaves or any(np.shape(a)[0] != pop for a in leaves):
        raise ValueError(f"params: expected stacked Layers with leading axis {pop} "
                         "(one member per key; see init_population)")
    member0 = jax.tree.map(lambda a: a[0], params)
    sizes = [member0[0].w.shape[1]] + [l.w.shape[0] for l in member0]
    dtype = np.dtype(member0[0].w.dtype)
    n, batch_size = _check_training_set(x, labels, sizes, x_scale, epochs, batch_size)
    _check_grad(grad)
    static = dict(cost=check_cost(cost), activation=check_activation(activation),
                  reg=check_reg(reg), precision=check_precision(precision))
    etas = _member_values(eta, pop, "eta", 0)
    if np.any(etas == 0):
        raise ValueError("eta: every member needs eta > 0")
    lmbdas = _member_values(lmbda, pop, "lmbda", 0)
    mus = _member_values(momentum, pop, "momentum", 0, 1)
    if eval_data is not None:
        ex, el = check_eval_data(eval_data, sizes, x_scale)

    params = as_layers(jax.tree.map(jnp.asarray, params))
    velocity = jax.tree.map(jnp.zeros_like, params) if mus.any() else None
    mu_a = jnp.asarray(mus, dtype) if velocity is not None else None
    lm_a = jnp.asarray(lmbdas, dtype) if lmbdas.any() else None
    n_a = jnp.asarray(n, dtype) if lm_a is not None else None
    eta_a = jnp.asarray(etas, dtype)
    scale_a = None if x_scale is None else jnp.asarray(x_scale, dtype)
    x = jax.device_put(x)
    y = jax.device_put(np.eye(sizes[-1], dtype=dtype)[np.asarray(labels)])

    t0 = time.perf_counter()
    epoch_fn = _population_epoch.lower(params, velocity, keys, x, y, eta_a, scale_a, lm_a, mu_a,
                                       batch_size=batch_size, grad=grad, **static).compile()
    eval_fn = (_population_monitor.lower(params, ex, el, scale_a, lm_a, n_a, **static).compile()
               if eval_data is not None else None)
    compile_seconds = time.perf_counter() - t0

    correct, seconds = [], []
    for epoch in range(epochs):
        t0 = time.perf_counter()
        params, velocity, keys, finite = jax.block_until_ready(
            epoch_fn(params, velocity, keys, x, y, eta_a, scale_a, lm_a, mu_a))
        seconds.append(time.perf_counter() - t0)
        if not bool(np.all(finite)):
            bad = np.flatnonzero(~np.asarray(finite)).tolist()
            raise FloatingPointError(f"epoch {epoch}: members {bad} became NaN or Inf "
                                     f"(their eta is probably too large)")
        if eval_fn is not None:
            c, _ = eval_fn(params, ex, el, scale_a, lm_a, n_a)
            correct.append(np.asarray(c))
            if on_epoch is not None:
                on_epoch(epoch, correct[-1])
    return PopulationResult(params, velocity, np.stack(correct) if correct else None,
                            int(el.shape[0]) if eval_data is not None else None,
                            compile_seconds, seconds)
