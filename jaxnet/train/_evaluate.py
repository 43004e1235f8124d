"""Evaluation: how many examples a network classifies correctly, and the monitored cost."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from .._core.costs import cost0, penalty_value
from .._core.inputs import check_classes, check_x, resolve, scale
from .._core.memory import check_memory
from .._core.network import forward_trace
from .._core.params import as_layers


def _inputs(model, params, x, x_scale):
    x = x.astype(params[0].w.dtype)
    return x if x_scale is None else x * x_scale


def count_correct(model, params, x, labels, x_scale):
    """``Σ [argmax_j a^L_j(x) == label]`` over the rows of ``x (N, n_0)`` (ties go to
    the lowest j, as ``np.argmax``); ``x_scale`` an array or None."""
    acts = forward_trace(params, _inputs(model, params, x, x_scale), model=model)[1]  # no masks
    predicted = jnp.argmax(acts[-1], axis=1)
    return jnp.sum(predicted == labels.astype(predicted.dtype))


def monitor(model, params, x, labels, x_scale, penalty):
    """``(correct, total cost)`` on a whole data set in one program: the cost is
    network2's ``total_cost`` with the regularisation term over the **training**
    set size (network2 divides by the evaluated set's size instead)."""
    zs, acts, _, _ = forward_trace(params, _inputs(model, params, x, x_scale), model=model)
    predicted = jnp.argmax(acts[-1], axis=1)
    correct = jnp.sum(predicted == labels.astype(predicted.dtype))
    y = jax.nn.one_hot(labels, acts[-1].shape[1], dtype=acts[-1].dtype)
    total = cost0(model.cost, zs[-1], acts[-1], y) + penalty_value(model.reg, params, penalty)
    return correct, total


def vote(model, params, x, labels, x_scale):
    """``Σ [majority vote of the members' argmax == label]`` for stacked ``params``
    (leading axis P): each member predicts a class, the most frequent class wins
    (a tie goes to the lowest class, as ``np.argmax`` of the counts)."""
    def predict(p):
        acts = forward_trace(p, _inputs(model, p, x, x_scale), model=model)[1]
        return jnp.argmax(acts[-1], axis=1)
    predictions = jax.vmap(predict)(params)                               # (P, N)
    counts = jnp.sum(jax.nn.one_hot(predictions, model.sizes[-1], dtype=jnp.int32), axis=0)
    winner = jnp.argmax(counts, axis=1)
    return jnp.sum(winner == labels.astype(winner.dtype))


count_correct_jit = jax.jit(count_correct, static_argnums=0)
vote_jit = jax.jit(vote, static_argnums=0)
monitor_jit = jax.jit(monitor, static_argnums=0)


def _check_fits(model, params, x, n: int, members: int = 1) -> None:
    """Evaluation is one program over all ``n`` rows of ``x``: refused before it is
    compiled when its values cannot fit the memory available (jaxnet._core.memory)."""
    check_memory(model, params[0].w.dtype, eval_examples=n, members=members,
                 x_itemsize=np.dtype(x.dtype).itemsize)


def evaluate_ensemble(params, x, labels, *, model=None, x_scale=None):
    """How many examples an ensemble classifies correctly by voting (chapter 6).

    Args:
      params: stacked parameters, leading axis P (jaxnet.fit_population's): pairs
        ``(w (P, n_l, n_{l-1}), b (P, n_l))`` for Dense layers, in any container
        :func:`evaluate` takes.
      x, labels, model, x_scale: as :func:`evaluate` (``x (N, n_0)``, ``labels (N,)``).

    Returns:
      A scalar int array: the examples whose majority-vote class (ties to the
      lowest class) equals the label.
    """
    leaves = jax.tree.leaves(params)
    if not leaves or any(np.ndim(a) < 1 or np.shape(a)[0] != np.shape(leaves[0])[0]
                         for a in leaves):
        raise ValueError("params: expected stacked Layers with a leading member axis "
                         "(jaxnet.fit_population's params)")
    model, member0 = resolve(jax.tree.map(lambda a: a[0], params), model)
    n = check_x(model, x, x_scale=x_scale)
    check_classes(model, labels, n)
    _check_fits(model, member0, x, n, members=np.shape(leaves[0])[0])
    params = as_layers(params)
    return vote_jit(model, params, x, labels, scale(x_scale, params))


def evaluate(params, x, labels, *, model=None, x_scale=None):
    """How many examples the network classifies correctly.

    Args:
      params: a tuple or list of ``(w, b)`` pairs (``jaxnet.Layer``, plain tuples or
        lists) matching ``model``.
      x: ``(N, n_0)`` float inputs, or integer with ``x_scale`` (as train_epoch).
      labels: ``(N,)`` int class labels in ``[0, n_L)``.
      model: a jaxnet.Model (default: the chapter-1 network of params' sizes).
      x_scale: float factor for integer ``x``.

    Returns:
      A scalar int array: ``Σ [argmax_j a^L_j(x) == label]`` (ties go to the
      lowest j, as ``np.argmax``).
    """
    model, params = resolve(params, model)
    n = check_x(model, x, x_scale=x_scale)
    check_classes(model, labels, n)
    _check_fits(model, params, x, n)
    return count_correct_jit(model, params, x, labels, scale(x_scale, params))
