"""Any optax ``GradientTransformation`` as the update rule of a compiled epoch.

Gradients are the parameters' own pytree (a tuple of Layers), so an optax
optimiser applies directly: ``updates, state = opt.update(grads, state,
params)``, ``params = optax.apply_updates(params, updates)``. This module
only needs the ``init``/``update`` protocol, so jaxnet does not depend on
optax (the ``optax`` extra installs it).
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
from jax import lax

from ._network import _MODEL_DOC
from ._params import as_layers
from ._precision import DEFAULT_PRECISION
from ._train import GRADIENTS, _check_grad, _minibatch, _model
from ._validate import (check_batch_size, check_inputs, check_order, check_params,
                        check_targets, check_x_scale)


def _apply(params, updates):
    return jax.tree.map(lambda p, u: p + u, params, updates)


@partial(jax.jit, static_argnames=("optimizer", "batch_size", "grad", "cost", "activation",
                                   "precision"))
def _optimizer_epoch(params, opt_state, x, y, order, x_scale, *, optimizer, batch_size, grad,
                     cost, activation, precision):
    dtype = params[0].w.dtype
    if x_scale is not None:
        x_scale = jnp.asarray(x_scale, dtype)
    model = dict(cost=cost, activation=activation, lmbda=None, n=None, reg="l2",
                 precision=precision)
    n = order.shape[0]
    n_full, rem = divmod(n, batch_size)

    def step(carry, idx):
        p, s = carry
        xb, yb = _minibatch(x, y, idx, x_scale, dtype)
        g = GRADIENTS[grad](p, xb, yb, **model)
        updates, s = optimizer.update(g, s, p)
        return (_apply(p, updates), s), None

    full = order[: n_full * batch_size].reshape(n_full, batch_size)
    (params, opt_state), _ = lax.scan(step, (params, opt_state), full)
    if rem:
        (params, opt_state), _ = step((params, opt_state), order[n_full * batch_size:])
    return params, opt_state


def train_epoch_with(optimizer, params, opt_state, x, y, order, *, batch_size, x_scale=None,
                     cost="quadratic", activation="sigmoid", grad: str = "backprop",
                     precision=DEFAULT_PRECISION):
    """One epoch, one compiled program, with an optax optimiser as the update rule.

    Args:
      optimizer: an optax ``GradientTransformation`` (anything with
        ``update(grads, state, params) -> (updates, state)``); it is a static
        argument, so keep using the same object to avoid recompiling.
      params: tuple of Layers.
      opt_state: ``optimizer.init(params)``, then what the last call returned.
      x, y, order, batch_size, x_scale: as :func:`jaxnet.train_epoch`.{model}
      grad: ``"backprop"`` or ``"autodiff"``.

    Returns:
      ``(params, opt_state)`` after the epoch. With ``optax.sgd(eta)`` the
      trajectory is :func:`jaxnet.train_epoch`'s.

    Regularise with the optimiser (e.g. ``optax.add_decayed_weights``), not λ.
    """
    if not callable(getattr(optimizer, "update", None)):
        raise TypeError(f"optimizer: expected an optax GradientTransformation (with .init and "
                        f".update), got {type(optimizer).__name__}")
    sizes, _ = check_params(params)
    n = check_inputs(x, sizes[0], allow_int=True)
    check_x_scale(x, x_scale)
    check_targets(y, n, sizes[-1])
    check_order(order, n)
    batch_size = check_batch_size(batch_size, n)
    _check_grad(grad)
    m = _model(params, cost, activation, None, None, "l2", grad, precision)
    return _optimizer_epoch(as_layers(params), opt_state, x, y, order, x_scale,
                            optimizer=optimizer, batch_size=batch_size, grad=grad,
                            cost=m["cost"], activation=m["activation"],
                            precision=m["precision"])


train_epoch_with.__doc__ = train_epoch_with.__doc__.format(model=_MODEL_DOC)
