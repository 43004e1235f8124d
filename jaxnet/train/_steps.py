"""Training, checked: one step, one epoch with any update rule, and plain-SGD epochs.

Parameters come in any tuple or list of ``(w, b)`` pairs; they and a rule's state
are converted to tuples of Layers before anything is compiled, and the results go
back in the caller's containers (jaxnet._core.params)."""

from __future__ import annotations

from typing import Callable, Optional

import jax
import numpy as np

from .._core.inputs import check_key, check_masks, check_x, check_y, penalty, resolve, scale
from .._core.memory import check_memory
from .._core.network import GRADIENTS
from .._core.params import like, state_layers, state_like
from .._core.rules import check_rule, check_state, sgd
from .._core.validate import check_batch_size, check_order
from ._epoch import epoch as plain_epoch
from ._epoch import step_jit, top_level
from ._pallas import check_supported, solo_epoch

#: The epochs' implementations: the compiled JAX program, or the fused Pallas kernel.
EPOCH_IMPLS = ("jax", "pallas")


def check_grad(grad) -> str:
    """``grad``: a name from jaxnet._core.network.GRADIENTS."""
    if grad not in GRADIENTS:
        raise ValueError(f"grad: expected one of {tuple(GRADIENTS)}, got {grad!r}")
    return grad


def sgd_step(params, x, y, eta, *, model=None, lmbda=None, n=None, grad: str = "backprop",
             key=None, masks=None):
    """One mini-batch update ``p − η·∇C`` (the book's ``w − (η/m)·Σ_x ∇C_x``).

    Args:
      params: a tuple or list of ``(w, b)`` pairs (``jaxnet.Layer``, plain tuples
        or lists) matching ``model``; the result comes back in these containers.
      x: ``(m, n_0)`` float mini-batch.
      y: ``(m, n_L)`` float targets.
      eta: learning rate η > 0 (traced: new values do not recompile).
      model: a jaxnet.Model (default: the chapter-1 network of params' sizes).
      lmbda, n: regularisation strength λ and the training-set size in λ/n.
      grad: ``"backprop"`` (BP1–BP4 by hand) or ``"autodiff"`` (``jax.grad``).
      key: the PRNG key of the dropout masks (required when the model has
        dropout and no ``masks`` are given; :func:`jaxnet.dropout_masks`
        ``(key, ...)`` are the masks used).
      masks: the dropout masks themselves instead of ``key``: one entry per
        layer, ``(m, *input shape)`` 0/1 for a layer with dropout, None for the
        others (as :func:`jaxnet.dropout_masks` makes them).

    Returns:
      The updated parameters (the containers, shapes and dtype of ``params``).
    """
    return step_with(sgd(eta), params, None, x, y, model=model, lmbda=lmbda, n=n, grad=grad,
                     key=key, masks=masks)[0]


def step_with(rule, params, state, x, y, *, model=None, lmbda=None, n=None,
              grad: str = "backprop", key=None, masks=None):
    """One mini-batch update with an update rule.

    Args:
      rule: jaxnet.sgd(η), jaxnet.momentum(η, μ) or an optax GradientTransformation.
      params: ``(w, b)`` pairs matching ``model``, as :func:`sgd_step`'s.
      state: ``rule.init(params)``, then what the last call returned (None: a
        fresh ``rule.init(params)``).
      x: ``(m, n_0)`` float mini-batch; y: ``(m, n_L)`` float targets.
      model, lmbda, n, grad, key, masks: as :func:`sgd_step`.

    Returns:
      ``(params, state)`` after the update, in the containers of ``params`` and of
      ``rule.init(params)``.
    """
    template = params
    model, params = resolve(params, model)
    m = check_x(model, x, allow_int=False)
    check_y(model, y, m)
    check_memory(model, params[0].w.dtype, batch_size=m, x_itemsize=np.dtype(x.dtype).itemsize)
    state = _rule_state(rule, state, params, grad, template)
    if masks is not None:
        out = step_jit(model, rule, grad, params, state, x, y, penalty(lmbda, n, params),
                       None, check_masks(model, masks, m, params))
    else:
        out = step_jit(model, rule, grad, params, state, x, y, penalty(lmbda, n, params),
                       check_key(model, key))
    return _theirs(template, out)


def _theirs(template, out):
    """``(params, state)`` of Layers back in the containers of ``template`` (the
    caller's parameters) and of ``rule.init(template)``."""
    params, state = out
    return like(template, params), state_like(state, template)


def check_impl(impl, impls) -> str:
    """``impl``: one of ``impls``."""
    if not isinstance(impl, str) or impl not in impls:
        raise ValueError(f"impl: expected one of {impls}, got {impl!r}")
    return impl


def _rule_state(rule, state, params, grad, template):
    """Checks the rule, its state (a fresh ``rule.init(params)`` for None) and ``grad``;
    returns the state, its parts shaped like ``template`` (the caller's parameters) as
    tuples of Layers like ``params``."""
    check_rule(rule)
    check_grad(grad)
    if state is None:
        state = rule.init(params)
    else:
        state = state_layers(state, template)
    check_state(rule, state, params)
    return state


def train_epoch(params, x, y, order, *, eta, batch_size, model=None, x_scale=None, lmbda=None,
                grad: str = "backprop", progress: Optional[Callable] = None, mesh=None,
                key=None, n=None, masks=None, impl: str = "jax"):
    """One epoch of plain mini-batch SGD as a single compiled program.

    The examples are visited in ``order``, ``batch_size`` at a time
    (``lax.scan`` over the full mini-batches); when ``batch_size`` does not
    divide ``N``, the last ``N mod batch_size`` examples form a final, smaller
    mini-batch, exactly as network.py does. Shapes depend only on ``N`` and
    ``batch_size``, so new orders, η, λ or parameter values never recompile.

    Args:
      params: ``(w, b)`` pairs matching ``model``, as :func:`sgd_step`'s.
      x: ``(N, n_0)`` float inputs, or integer inputs (e.g. uint8 pixels)
        with ``x_scale``: mini-batch rows are ``x[i] * x_scale``.
      y: ``(N, n_L)`` float targets (one-hot for classification).
      order: ``(N,)`` int, a permutation of ``range(N)``.
      eta: learning rate η > 0.
      batch_size: mini-batch size, ``1 <= batch_size <= N``.
      model: a jaxnet.Model (default: the chapter-1 network of params' sizes).
      x_scale: float factor for integer ``x`` (``1/256`` for jaxnet.data's images).
      lmbda: regularisation strength λ ≥ 0.
      grad: ``"backprop"`` (BP1–BP4) or ``"autodiff"`` (``jax.grad``).
      progress: optional hashable callable ``progress(steps_done, n_steps)``,
        called from the host about 20 times an epoch.
      mesh: a 1-D ``jax.sharding.Mesh`` for data parallelism (see
        :func:`train_epoch_with`).
      key: the PRNG key of the dropout masks (required when the model has
        dropout): step ``i`` uses ``dropout_masks(fold_in(key, i), ...)``.
      n: the n of λ/n (default ``N``; network3 divides by the number of
        mini-batches).
      masks: the dropout masks instead of ``key``, by position: one entry per
        layer, ``(N, *input shape)`` for a layer with dropout (row ``t`` for the
        ``t``-th example visited), None for the others.
      impl: ``"jax"`` (the compiled ``lax.scan``) or ``"pallas"``: the whole epoch
        in one fused kernel (jaxnet.train._pallas; Dense models without dropout,
        float32, sgd or momentum; interpreted, slowly, without a GPU). With
        ``"pallas"`` a ``progress`` callback is called once, at the end.

    Returns:
      The parameters after the epoch, in the containers, shapes and dtype of
      ``params``. For
      momentum or any other rule: :func:`train_epoch_with`.
    """
    return train_epoch_with(sgd(eta), params, None, x, y, order, batch_size=batch_size,
                            model=model, x_scale=x_scale, lmbda=lmbda, grad=grad,
                            progress=progress, mesh=mesh, key=key, n=n, masks=masks,
                            impl=impl)[0]


def train_epoch_with(rule, params, state, x, y, order, *, batch_size, model=None, x_scale=None,
                     lmbda=None, grad: str = "backprop", progress: Optional[Callable] = None,
                     mesh=None, key=None, n=None, masks=None, impl: str = "jax"):
    """One epoch, one compiled program, with an update rule.

    Args:
      rule: jaxnet.sgd(η), jaxnet.momentum(η, μ) (η, μ live in the state:
        new values never recompile) or an optax GradientTransformation (a
        static argument: keep using the same object to avoid recompiling).
      params: ``(w, b)`` pairs matching ``model``, as :func:`sgd_step`'s.
      state: ``rule.init(params)``, then what the last call returned (None: a
        fresh ``rule.init(params)``).
      x, y, order, batch_size, model, x_scale, lmbda, grad, progress, key, n, masks,
        impl: as :func:`train_epoch`.
      mesh: a 1-D ``jax.sharding.Mesh`` for data parallelism: every mini-batch
        is split across its devices (``batch_size`` must divide evenly), the
        parameters and the data are replicated, and XLA sums the gradients
        across devices. Across hosts, the same call with a mesh over
        ``jax.devices()`` after ``jax.distributed.initialize``.

    Returns:
      ``(params, state)`` after the epoch, in the containers of ``params`` and of
      ``rule.init(params)``.
    """
    template = params
    model, params = resolve(params, model)
    if check_impl(impl, EPOCH_IMPLS) == "pallas":
        check_supported(model, params[0].w.dtype, rule, grad, mesh=mesh, masks=masks)
    size = check_x(model, x, x_scale=x_scale)
    check_y(model, y, size)
    check_order(order, size)
    batch_size = check_batch_size(batch_size, size)
    state = _rule_state(rule, state, params, grad, template)
    check_memory(model, params[0].w.dtype, batch_size=batch_size,   # before XLA allocates
                 x_itemsize=np.dtype(x.dtype).itemsize)
    pen = penalty(lmbda, size if n is None else n, params)
    if impl == "pallas":
        out = solo_epoch(rule, params, state, x, y, order, scale(x_scale, params), pen,
                         model=model, batch_size=batch_size)
        if progress is not None:
            progress(-(-size // batch_size), -(-size // batch_size))
        return _theirs(template, out)
    masks = check_masks(model, masks, size, params)
    key = None if masks is not None else check_key(model, key)
    sharding, scale_a = None, scale(x_scale, params)
    if mesh is not None:
        sharding, (params, state, x, y, order) = data_parallel(
            mesh, batch_size, [params, state, x, y, order])
    traced = any(isinstance(a, jax.core.Tracer) for a in jax.tree.leaves((params, x, y, order)))
    epoch = plain_epoch if traced else top_level("epoch")   # options: top level only
    return _theirs(template, epoch(params, state, x, y, order, scale_a, pen, key, masks,
                                   model=model, rule=rule, grad=grad, batch_size=batch_size,
                                   progress=progress, sharding=sharding))


def data_parallel(mesh, batch_size, trees):
    """``(batch sharding, trees replicated on the mesh)`` for data parallelism."""
    from jax.sharding import AxisType, Mesh, NamedSharding, PartitionSpec
    if len(mesh.axis_names) != 1:
        raise ValueError(f"mesh: expected a 1-D mesh (one axis over which mini-batches are "
                         f"split), got axes {mesh.axis_names}")
    if batch_size % mesh.size:
        raise ValueError(f"batch_size: {batch_size} does not split evenly over the mesh's "
                         f"{mesh.size} devices")
    # XLA partitions the epoch itself (GSPMD): the mesh's axis must be Auto, which
    # jax.make_mesh does not give by default in recent JAX; same devices, Auto axis.
    mesh = Mesh(mesh.devices, mesh.axis_names, axis_types=(AxisType.Auto,))
    replicated = NamedSharding(mesh, PartitionSpec())
    return (NamedSharding(mesh, PartitionSpec(mesh.axis_names[0])),
            [jax.device_put(t, replicated) for t in trees])
