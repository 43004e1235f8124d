"""Evaluation: how many examples a network classifies correctly, and the monitored cost."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from ._costs import cost0, penalty_value
from ._inputs import check_classes, check_x, resolve, scale
from ._network import forward_trace


def _inputs(model, params, x, x_scale):
    x = x.astype(params[0].w.dtype)
    return x if x_scale is None else x * x_scale


def count_correct(model, params, x, labels, x_scale):
    """``Σ [argmax_j a^L_j(x) == label]`` over the rows of ``x (N, n_0)`` (ties go to
    the lowest j, as ``np.argmax``); ``x_scale`` an array or None."""
    acts = forward_trace(model, params, _inputs(model, params, x, x_scale))[1]
    predicted = jnp.argmax(acts[-1], axis=1)
    return jnp.sum(predicted == labels.astype(predicted.dtype))


def monitor(model, params, x, labels, x_scale, penalty):
    """``(correct, total cost)`` on a whole data set in one program: the cost is
    network2's ``total_cost`` with the regularisation term over the **training**
    set size (network2 divides by the evaluated set's size instead)."""
    zs, acts, _ = forward_trace(model, params, _inputs(model, params, x, x_scale))
    predicted = jnp.argmax(acts[-1], axis=1)
    correct = jnp.sum(predicted == labels.astype(predicted.dtype))
    y = jax.nn.one_hot(labels, acts[-1].shape[1], dtype=acts[-1].dtype)
    total = cost0(model.cost, zs[-1], acts[-1], y) + penalty_value(model.reg, params, penalty)
    return correct, total


count_correct_jit = jax.jit(count_correct, static_argnums=0)
monitor_jit = jax.jit(monitor, static_argnums=0)


def evaluate(params, x, labels, *, model=None, x_scale=None):
    """How many examples the network classifies correctly.

    Args:
      params: tuple of Layers matching ``model``.
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
    return count_correct_jit(model, params, x, labels, scale(x_scale, params))
