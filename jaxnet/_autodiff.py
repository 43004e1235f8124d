"""The cross-check path: the same gradient through ``jax.grad`` of the cost."""

from __future__ import annotations

import jax

from ._network import _MODEL_ARGS, _MODEL_DOC, _REG_DOC, _cost, _model_args
from ._params import as_layers
from ._precision import DEFAULT_PRECISION
from ._validate import check_inputs, check_params, check_targets


def _autodiff_grad(params, x, y, cost="quadratic", activation="sigmoid", lmbda=None, n=None,
                   reg="l2", precision=DEFAULT_PRECISION):
    """``jax.grad`` of ``_cost`` with respect to ``params`` (a named function, so
    compiled programs and profiles say which gradient they hold)."""
    return jax.grad(_cost)(params, x, y, cost, activation, lmbda, n, reg, precision)


_autodiff_grad_jit = jax.jit(_autodiff_grad, static_argnames=_MODEL_ARGS)


def autodiff_grad(params, x, y, *, cost="quadratic", activation="sigmoid", lmbda=None, n=None,
                  reg="l2", precision=DEFAULT_PRECISION):
    """``jax.grad`` of :func:`jaxnet.cost` (regularisation term included) with respect
    to ``params``.

    Args:
      params: tuple of ``Layer(w (n_out, n_in), b (n_out,))``.
      x: ``(batch, n_0)`` float.
      y: ``(batch, n_L)`` float targets.{model}{reg}

    Returns:
      A tuple of Layers shaped like ``params``.
    """
    sizes, _ = check_params(params)
    m = check_inputs(x, sizes[0])
    check_targets(y, m, sizes[-1])
    return _autodiff_grad_jit(as_layers(params), x, y,
                              **_model_args(params, cost, activation, lmbda, n, reg, precision))


autodiff_grad.__doc__ = autodiff_grad.__doc__.format(model=_MODEL_DOC, reg=_REG_DOC)
