"""The fused epoch of a population, checked: ``P`` networks, one Pallas launch."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from ..._core.costs import Penalty
from ..._core.inputs import check_x, check_y, resolve, scale
from ..._core.memory import check_memory
from ..._core.params import as_layers
from ..._core.rules import Momentum, MomentumState, Sgd, SgdState
from ..._core.validate import check_batch_size, check_momentum, check_order, check_positive_scalar
from .._pallas import check_supported, fused_epoch, interpret_mode, plan_for


def _members(params):
    """``P``: the leading axis every leaf of the stacked ``params`` shares."""
    leaves = jax.tree.leaves(params)
    sizes = {np.shape(a)[0] if np.ndim(a) else None for a in leaves}
    if len(sizes) != 1 or None in sizes:
        raise ValueError(f"params: expected stacked Layers, every leaf with the same leading "
                         f"axis P (jaxnet.init_population), got leading sizes {sorted(sizes, key=str)}")
    return sizes.pop()


def _per_member(v, p, name, check):
    """A scalar or ``(P,)`` value → ``(P,)`` float32, each entry checked by ``check``."""
    a = np.asarray(v, np.float64)
    if a.shape not in ((), (p,)):
        raise ValueError(f"{name}: expected a number or {p} values (one per member), "
                         f"got shape {a.shape}")
    for i, e in enumerate(np.broadcast_to(a, (p,))):
        check(float(e), f"{name}[{i}]")
    return jnp.asarray(np.broadcast_to(a, (p,)), jnp.float32)


def _rule_of(state, params, p):
    """``(the rule kind, state with (P,) float32 η (μ))`` from the members' state."""
    if not isinstance(state, (SgdState, MomentumState)):
        raise TypeError(f"state: expected the members' SgdState or MomentumState "
                        f"(jax.vmap(rule.init)(params)), got {type(state).__name__}")
    eta = _per_member(state.eta, p, "state.eta", check_positive_scalar)
    if isinstance(state, SgdState):
        return Sgd(1.0), SgdState(eta)
    mu = _per_member(state.mu, p, "state.mu", lambda v, name: check_momentum(v))
    shapes = jax.tree.map(np.shape, tuple(state.velocity)), jax.tree.map(np.shape, params)
    if shapes[0] != shapes[1]:
        raise ValueError(f"state.velocity: expected the stacked parameters' shapes "
                         f"{shapes[1]}, got {shapes[0]}")
    return Momentum(1.0, 0.0), MomentumState(eta, mu, state.velocity)


def _penalty(lmbda, n, p, size):
    """A Penalty with ``(P,)`` λ, or None when every λ is 0 or None."""
    if lmbda is None:
        return None

    def non_negative(v, name):
        if not np.isfinite(v) or v < 0:
            raise ValueError(f"{name}: expected a finite number ≥ 0, got {v}")
    lam = _per_member(lmbda, p, "lmbda", non_negative)
    if not np.any(np.asarray(lam)):
        return None
    n = size if n is None else check_positive_scalar(n, "n")
    return Penalty(lam, jnp.asarray(n, jnp.float32))


@jax.jit
def _permutations(orders):
    """``(P,)`` bool: whether each row of ``orders (P, N)`` is a permutation of range(N)."""
    n = orders.shape[1]
    ok = (orders >= 0) & (orders < n)
    counts = jax.vmap(lambda o: jnp.zeros(n, jnp.int32).at[o].add(1, mode="drop"))(orders)
    return jnp.all(ok, axis=1) & jnp.all(counts == 1, axis=1)


def _orders(orders, p, size):
    """``(1 or P, N)`` int32 from one order ``(N,)`` or one per member ``(P, N)`` (checked
    on the device, all rows at once; a bad row is then named)."""
    shape = np.shape(orders)
    if len(shape) == 1:
        check_order(orders, size)
        return jnp.asarray(orders, jnp.int32)[None]
    if len(shape) != 2 or shape[0] != p or shape[1] != size:
        raise ValueError(f"orders: expected ({size},) (one order for every member) or "
                         f"({p}, {size}) (one per member), got {shape}")
    if np.dtype(orders.dtype).kind not in "ui":
        raise TypeError(f"orders: expected integer permutations, got dtype {orders.dtype}")
    orders = jnp.asarray(orders, jnp.int32)
    ok = np.asarray(_permutations(orders))
    if not ok.all():
        bad = int(np.argmin(ok))
        check_order(np.asarray(orders[bad]), size, name=f"orders[{bad}]")
    return orders


def pallas_population_epoch(params, state, x, y, orders, *, batch_size, model=None,
                            x_scale=None, lmbda=None, n=None):
    """One epoch of ``P`` networks in one launch of the fused Pallas kernel
    (``grid=(P,)``, one network per program); member ``i`` trains as
    ``train_epoch_with(rule_i, params[i], state[i], x, y, orders[i], ...,
    impl="pallas")``. Without a GPU it runs interpreted (slow; it says so once).

    Args:
      params: stacked Layers, leading axis ``P`` (``w (P, n_l, n_{l-1})``, ``b (P,
        n_l)``; :func:`jaxnet.init_population`), float32, a Dense model's.
      state: the members' rule state: ``SgdState(eta)`` or ``MomentumState(eta, mu,
        velocity)``, η and μ a number or ``(P,)``, the velocity stacked like
        ``params`` (``jax.vmap(rule.init)(params)``). The rule is the state's kind.
      x: ``(N, n_0)`` inputs, float or integer with ``x_scale``; y: ``(N, n_L)`` float
        targets.
      orders: ``(N,)`` int, one permutation for every member, or ``(P, N)``, one each.
      batch_size: the mini-batch size (the book's smaller last one when it does not
        divide ``N``).
      model: a Dense jaxnet.Model without dropout (default: ``Model.dense`` of the sizes).
      x_scale: the factor of integer ``x``.
      lmbda: λ, a number or ``(P,)`` (None or 0: no penalty); n: the n of λ/n
        (default ``N``).

    Returns:
      ``(params, state)`` after the epoch, stacked as given (η, μ ``(P,)`` float32).
    """
    p = _members(params)
    params = as_layers(params)
    model, _ = resolve(jax.tree.map(lambda a: a[0], params), model)
    check_supported(model, params[0].w.dtype)
    size = check_x(model, x, x_scale=x_scale)
    check_y(model, y, size)
    batch_size = check_batch_size(batch_size, size)
    rule, state = _rule_of(state, params, p)
    pen = _penalty(lmbda, n, p, size)
    check_memory(model, np.float32, batch_size=batch_size, members=p,
                 x_itemsize=np.dtype(x.dtype).itemsize)
    interpret = interpret_mode()
    plan = plan_for(model, rule, x, size, batch_size, pen, interpret=interpret)
    return fused_epoch(params, state, x, y, _orders(orders, p, size), scale(x_scale, params),
                       pen, plan=plan, interpret=interpret)
