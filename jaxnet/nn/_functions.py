"""The network functions, checked: feedforward, cost, backprop and its jax.grad twin.

Each validates its arguments against the model (jaxnet._core.inputs), then calls
the compiled pure function of jaxnet._core.network with the model as its static
argument. Parameters may come in any tuple or list of ``(w, b)`` pairs; gradients
go back in the caller's containers (jaxnet._core.params.like).
"""

from __future__ import annotations

import numpy as np

from .._core.inputs import check_masks, check_x, check_y, penalty, resolve
from .._core.model import Model
from .._core.network import (
    autodiff_grad_jit,
    backprop_jit,
    backprop_trace_jit,
    cost_jit,
    feedforward_jit,
    unchecked_dropout_masks,
)
from .._core.params import like
from .._core.validate import check_dtype


def dropout_masks(key, model, m: int, dtype=np.float32):
    """The dropout masks a training step draws: for each layer with dropout ``p``, a
    0/1 array ``(m, *its input shape)`` keeping each entry with probability ``1 − p``
    (layer ``l`` from ``fold_in(key, l)``); None for the other layers. A step of an
    epoch with key ``k`` uses ``dropout_masks(fold_in(k, step), ...)``."""
    if not isinstance(model, Model):
        raise TypeError(f"model: expected a jaxnet.Model, got {type(model).__name__}")
    return unchecked_dropout_masks(key, model, int(m), check_dtype(dtype))


def _checked_call(fn, params, x, y, model, lmbda, n, masks):
    """``fn(params, x, y, penalty, masks, model=model)`` after checking every argument
    (``params`` as a tuple of Layers)."""
    model, params = resolve(params, model)
    m = check_x(model, x, allow_int=False)
    check_y(model, y, m)
    return fn(params, x, y, penalty(lmbda, n, params), check_masks(model, masks, m, params),
              model=model)


def feedforward(params, x, *, model=None):
    """The network's output.

    Args:
      params: a tuple or list of ``(w, b)`` pairs — ``jaxnet.Layer``, plain tuples
        or lists — matching ``model`` (for Dense layers ``w (n_out, n_in)``,
        ``b (n_out,)``), float32 or float64. What a function returns in the
        parameters' structure comes back in these containers; any other
        container (a dict, a NamedTuple of other fields) is a TypeError.
      x: ``(batch, n_0)`` float inputs; converted to the parameters' dtype.
      model: a jaxnet.Model; default ``Model.dense(sizes of params)``, the
        book's chapter-1 network (quadratic cost, sigmoid neurons).

    Returns:
      ``(batch, n_L)`` output activations in the parameters' dtype.
    """
    model, params = resolve(params, model)
    check_x(model, x, allow_int=False)
    return feedforward_jit(params, x, model=model)


def cost(params, x, y, *, model=None, lmbda=None, n=None, masks=None):
    """The cost averaged over the batch, plus the regularisation term.

    Computed from the output layer's weighted inputs, so cross-entropy and
    log-likelihood stay finite when outputs saturate at exactly 0 or 1.

    Args:
      params: ``(w, b)`` pairs matching ``model``, as :func:`feedforward`'s.
      x: ``(batch, n_0)`` float inputs.
      y: ``(batch, n_L)`` float targets (one-hot for classification).
      model: a jaxnet.Model (default: the chapter-1 network of params' sizes).
      lmbda: regularisation strength λ ≥ 0 (None or 0: none); the kind is
        ``model.reg``.
      n: the training-set size in λ/n (required when lmbda > 0).
      masks: dropout masks (:func:`jaxnet.dropout_masks`) for a model with
        dropout, as in training; None: the evaluation network (inputs of
        dropout layers scaled by 1 − p).

    Returns:
      A scalar in the parameters' dtype.
    """
    return _checked_call(cost_jit, params, x, y, model, lmbda, n, masks)


def backprop(params, x, y, *, model=None, lmbda=None, n=None, masks=None):
    """Gradient of :func:`cost` by the hand-derived BP1–BP4, whole batch at once.

    Args:
      params: ``(w, b)`` pairs matching ``model``, as :func:`feedforward`'s.
      x: ``(batch, n_0)`` float inputs.
      y: ``(batch, n_L)`` float targets.
      model: a jaxnet.Model (default: the chapter-1 network of params' sizes).
      lmbda: regularisation strength λ ≥ 0 (None or 0: none).
      n: the training-set size in λ/n (required when lmbda > 0).
      masks: dropout masks, as :func:`cost`.

    Returns:
      ``∂C/∂w`` and ``∂C/∂b`` per layer, in the containers, shapes and dtype of
      ``params`` (``jax.tree.structure`` equal: ``optax.apply_updates`` takes both).
    """
    return like(params, _checked_call(backprop_jit, params, x, y, model, lmbda, n, masks))


def autodiff_grad(params, x, y, *, model=None, lmbda=None, n=None, masks=None):
    """``jax.grad`` of :func:`cost` (regularisation term included) with respect to
    ``params``: the cross-check of :func:`backprop`, with its arguments
    (``params``, ``x (batch, n_0)``, ``y (batch, n_L)``, ``model``, ``lmbda``, ``n``,
    ``masks``).

    Returns:
      The gradient in the containers, shapes and dtype of ``params``.
    """
    return like(params, _checked_call(autodiff_grad_jit, params, x, y, model, lmbda, n, masks))


def backprop_trace(params, x, y, *, model=None, lmbda=None, n=None, masks=None) -> dict:
    """:func:`backprop` with every intermediate of the five steps, the twin of
    ``jaxnet.cref.backprop_trace`` (same arguments as :func:`backprop`).

    Returns:
      ``{"z": [Z^1..Z^L], "a": [A^0..A^L], "delta": [Δ^1..Δ^L], "grads": ...}``,
      the gradient in ``params``'s containers, as :func:`backprop`'s;
      ``Z^l``, ``A^l``, ``Δ^l`` each ``(batch, *shape of layer l)`` (a Dense
      layer's ``(batch, n_l)``; ``A^0`` is ``x`` in the model's input shape), and
      ``Δ^l = ∂C/∂Z^l`` of the batch's mean cost, so it includes the 1/batch.
    """
    trace = _checked_call(backprop_trace_jit, params, x, y, model, lmbda, n, masks)
    return {**trace, "grads": like(params, trace["grads"])}
