"""fit_population(impl="c"): every member's epoch by the C kernel's fast path
(jaxnet.cref.Epoch, one thread each), the members spread over a pool of Python
threads. cffi's API-mode calls release the GIL, so the pool's threads train
members at the same time; a member's numbers do not depend on which thread
trained it or how many there are.

Each member draws its shuffle (and dropout key) from its own key exactly as
``population_epoch`` does (the same vmapped draw), so the two implementations
train every member over the same orders; the parameters stay on the host between
epochs and come back stacked as the loop expects them.
"""

from __future__ import annotations

import numbers
import os
from concurrent.futures import ThreadPoolExecutor
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from ..._core.rules import MomentumState
from .._epoch import shuffle_order


def default_threads() -> int:
    """The cores this process may run on (its affinity), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:   # no sched_getaffinity (macOS)
        return max(1, os.cpu_count() or 1)


def check_c_options(impl: str, threads, mesh) -> int | None:
    """``threads`` for ``impl``: with ``"c"`` a positive int (None: the machine's cores),
    returned; with another impl it must be None. A mesh is refused with ``"c"``."""
    if impl != "c":
        if threads is not None:
            raise ValueError(f"threads: the C epoch's thread count (impl='c' only), got "
                             f"threads={threads!r} with impl={impl!r}")
        return None
    if mesh is not None:
        raise ValueError("mesh: impl='c' trains the members on this host's threads; "
                         "split them over devices with impl='jax'")
    if threads is None:
        return default_threads()
    if isinstance(threads, bool) or not isinstance(threads, numbers.Integral) or threads < 1:
        raise ValueError(f"threads: expected a positive int (members trained at once), "
                         f"got {threads!r}")
    return int(threads)


def _rounds(n: int) -> int:
    """The sorts of ``jax.random.permutation(key, n)`` (its ``_shuffle``: enough 32-bit
    sort keys that all n are distinct with high probability)."""
    return int(np.ceil(3 * np.log(max(1, n)) / np.log(np.iinfo(np.uint32).max)))


@partial(jax.jit, static_argnums=(1, 2, 3, 4))
def _draw(keys, n: int, shuffle: bool, dropout: bool, host_sort: bool = True):
    """Every member's ``(next key, order (n,) int32 or its sort keys (rounds, n) uint32,
    dropout key or None)``, drawn as ``shuffled_epoch`` draws them under
    ``population_epoch``'s vmap. With ``shuffle`` the order is left to the host
    (:func:`_order`): ``jax.random.permutation``'s sorts, slow on XLA:CPU (~1 s for
    64 orders of 10,000), take a few ms in NumPy and run in the member's thread.
    ``host_sort=False``: the orders themselves, by ``shuffle_order`` (slower, for a JAX
    whose permutation :func:`host_sort_reproduces` no longer)."""
    def one(key):
        if shuffle and not host_sort:
            key, order = shuffle_order(key, n)
        elif shuffle:                    # shuffle_order: key, sub = split(key); permutation(sub)
            key, sub = jax.random.split(key)
            bits = []
            for _ in range(_rounds(n)):  # permutation's _shuffle: sub, k = split(sub); bits(k)
                sub, k = jax.random.split(sub)
                bits.append(jax.random.bits(k, (n,), jnp.uint32))
            order = jnp.stack(bits) if bits else jnp.arange(n, dtype=jnp.int32)
        else:
            order = jnp.arange(n, dtype=jnp.int32)
        drop = None
        if dropout:
            key, drop = jax.random.split(key)
        return key, order, drop
    return jax.vmap(one)(keys)


def _order(drawn: np.ndarray) -> np.ndarray:
    """A member's order ``(n,)`` int64 from :func:`_draw`'s: its sort keys ``(rounds,
    n)`` uint32 applied as ``permutation`` applies them (a stable sort of the keys,
    carrying the order), or the order itself."""
    if drawn.ndim == 1:
        return drawn.astype(np.int64)
    order = np.arange(drawn.shape[1], dtype=np.int64)
    for bits in drawn:
        order = order[np.argsort(bits, kind="stable")]
    return order


def host_sort_reproduces(keys, n: int) -> bool:
    """Whether the host's order from ``keys[0]`` equals ``shuffle_order``'s: False if
    this JAX's permutation draws its orders otherwise (then the orders are drawn by
    ``shuffle_order`` itself, slower, the same orders). Asked once a run."""
    want = np.asarray(shuffle_order(keys[0], n)[1])
    got = _order(np.asarray(_draw(keys[:1], n, True, False)[1][0]))
    return bool(np.array_equal(got, want))


def c_population_epoch(params, state, *, hyper: dict, data, model, rule, reg_n, shuffle,
                       threads: int):
    """The epoch of every member with the C kernel: ``epoch_fn(params, state, keys) ->
    (params, state, keys, finite (P,))`` on stacked Layers (leading axis P), the stacked
    rule state and ``keys (P, 2)``, as the compiled ``population_epoch``.

    ``params``/``state``: the starting point (the members' shapes, η and μ);
    ``hyper``: the members' ``(P,)`` η, λ, μ; ``reg_n``: the n of λ/n; ``threads``:
    members trained at once. Every member's Epoch is checked here, once for the run."""
    from ...cref import Epoch
    dtype = np.dtype(params[0].w.dtype)
    pop = int(np.shape(hyper["eta"])[0])
    host = jax.tree.map(np.asarray, (params, state))
    scale = None if data.scale is None else float(data.scale)
    base = Epoch(rule, _member(host[0], 0), _member(host[1], 0), np.asarray(data.x_host),
                 np.asarray(data.y), batch_size=data.batch_size, model=model,
                 x_scale=scale, n=reg_n, threads=1, pack_once=True)
    epochs = [base.member(_member(host[1], i), _lmbda(hyper["lmbda"][i], dtype))
              for i in range(pop)]
    workers = max(1, min(threads, pop))
    host_sort = bool(shuffle) and host_sort_reproduces(jax.random.PRNGKey(0)[None], base.n)

    def epoch_fn(params, state, keys):
        keys, orders, drops = _draw(keys, base.n, shuffle, model.has_dropout, host_sort)
        orders, p, s = jax.tree.map(np.asarray, (orders, params, state))

        def train(i):
            st = epochs[i].state
            if isinstance(st, MomentumState):
                st = st._replace(velocity=_member(s.velocity, i))
            return epochs[i](_member(p, i), st, _order(orders[i]),
                             key=None if drops is None else drops[i])
        with ThreadPoolExecutor(workers) as pool:
            out = list(pool.map(train, range(pop)))
        new_p, new_s = _stack(params, [o[0] for o in out]), state
        if isinstance(state, MomentumState):
            new_s = state._replace(velocity=_stack(state.velocity, [o[1].velocity for o in out]))
        finite = np.array([all(np.isfinite(a).all() for a in jax.tree.leaves(o[0]))
                           for o in out])
        return new_p, new_s, keys, finite
    return epoch_fn


def _lmbda(v: float, dtype):
    """A member's λ as the JAX epoch holds it (rounded to the parameters' dtype), or
    None for 0."""
    return None if v == 0 else float(np.asarray(v, dtype))


def _member(tree, i: int):
    """Member ``i`` of stacked host Layers (or of a stacked rule state: η and μ are
    ``(P,)``, the velocity stacked Layers)."""
    return jax.tree.map(lambda a: a[i], tree)


def _stack(like, members: list):
    """P members' host Layers stacked (leading axis P, on the device) into the tree
    structure of ``like`` (the stacked Layers the compiled evaluation was built for)."""
    leaves = zip(*(jax.tree.leaves(m) for m in members))
    return jax.tree.unflatten(jax.tree.structure(like),
                              [jnp.asarray(np.stack(ls)) for ls in leaves])
