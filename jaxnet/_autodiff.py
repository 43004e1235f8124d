"""The cross-check path: the same gradient through ``jax.grad`` of the cost."""

from __future__ import annotations

import jax

from ._network import _cost
from ._params import as_layers
from ._validate import check_inputs, check_params, check_targets

_autodiff_grad = jax.grad(_cost)
_autodiff_grad_jit = jax.jit(_autodiff_grad)


def autodiff_grad(params, x, y):
    """``jax.grad`` of :func:`jaxnet.cost` with respect to ``params``.

    Args:
      params: tuple of ``Layer(w (n_out, n_in), b (n_out,))``.
      x: ``(batch, n_0)`` float.
      y: ``(batch, n_L)`` float targets.

    Returns:
      A tuple of Layers shaped like ``params``.
    """
    sizes, _ = check_params(params)
    m = check_inputs(x, sizes[0])
    check_targets(y, m, sizes[-1])
    return _autodiff_grad_jit(as_layers(params), x, y)
