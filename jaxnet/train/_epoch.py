"""One step and one epoch of mini-batch training, as pure compiled functions.

Static arguments: the Model, the update rule, the gradient's name, the
mini-batch size (and a progress callback, a sharding). Everything else —
parameters, rule state (η, μ, velocity), data, order, x_scale, the Penalty,
the dropout key — is traced, so new values never recompile. Unvalidated:
jaxnet.train._steps and the fit loops check first. With dropout, step ``i`` of
an epoch draws its masks from ``fold_in(key, i)`` (jaxnet._core.network.unchecked_dropout_masks).
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
from jax import lax

from .._core.chunked import batch_gradient
from .._core.network import unchecked_dropout_masks
from .._core.rules import apply_updates
from .._core.validate import all_finite

#: How often a progress callback fires during an epoch.
PROGRESS_REPORTS = 20
_STATIC = ("model", "rule", "grad", "batch_size", "progress", "sharding")
_SHUFFLED_STATIC = _STATIC + ("shuffle",)

#: XLA compile options of the epoch programs run at the top level (train_epoch, fit).
#: Copy insertion's region analysis sees that the scan's carried parameters and step
#: counter can be updated in place: the chapter-1 step loses its 2 copies, 16 kernels
#: to 14, with the same numbers bit for bit (tests/test_kernels.py). Nested in another
#: program (populations) the epochs are plain ``jax.jit``s: options are top-level only.
EPOCH_OPTIONS = {"xla_cpu_copy_insertion_use_region_analysis": True}


def minibatch(x, y, idx, x_scale, dtype, sharding=None):
    """Rows ``idx`` of the training set, converted to the compute dtype.

    ``x`` may be stored compactly (uint8 pixels) and is scaled here, one
    mini-batch at a time, so the epoch never materialises a float copy of the
    training set. With ``sharding`` (data parallelism) the mini-batch's rows
    are split across the mesh's devices; XLA then partitions the forward and
    backward products by rows and sums the gradient across devices (an
    all-reduce), while the replicated parameters stay identical on every device.
    """
    xb = jnp.take(x, idx, axis=0).astype(dtype)
    if x_scale is not None:
        xb = xb * x_scale
    yb = jnp.take(y, idx, axis=0).astype(dtype)
    if sharding is not None:
        xb = lax.with_sharding_constraint(xb, sharding)
        yb = lax.with_sharding_constraint(yb, sharding)
    return xb, yb


def step(model, rule, grad, params, state, xb, yb, penalty, key=None, masks=None):
    """One update: the gradient of the mini-batch's cost (with dropout ``masks``, or
    masks drawn from ``key``, when the model has dropout), then the rule."""
    if masks is None and key is not None:
        masks = unchecked_dropout_masks(key, model, xb.shape[0], xb.dtype)
    g = batch_gradient(grad, params, xb, yb, penalty, masks, model=model)
    updates, state = rule.update(g, state, params)
    return apply_updates(params, updates), state


step_jit = jax.jit(step, static_argnums=(0, 1, 2))


@partial(jax.jit, static_argnames=_STATIC)
def epoch(params, state, x, y, order, x_scale, penalty, key=None, masks=None, *, model, rule,
          grad, batch_size, progress=None, sharding=None):
    """``(params, state)`` after visiting ``order`` ``batch_size`` rows at a time
    (``lax.scan`` over the full mini-batches, then the book's smaller last one). The
    dropout masks of step ``i`` are drawn from ``fold_in(key, i)``, or are rows
    ``i·batch_size ...`` of ``masks`` (``(N, *input shape)`` per dropout layer)."""
    dtype = params[0].w.dtype
    n_full, rem = divmod(order.shape[0], batch_size)
    every = max(1, n_full // PROGRESS_REPORTS)
    n_steps = n_full + (rem > 0)

    def body(carry, step_and_idx):
        i, idx = step_and_idx
        xb, yb = minibatch(x, y, idx, x_scale, dtype, sharding)
        carry = step(model, rule, grad, *carry, xb, yb, penalty, _fold(key, i),
                     _rows(masks, i * batch_size, batch_size))
        if progress is not None:
            lax.cond((i + 1) % every == 0,
                     lambda i: jax.debug.callback(progress, i + 1, n_steps),
                     lambda i: None, i)
        return carry, None

    full = order[: n_full * batch_size].reshape(n_full, batch_size)
    (params, state), _ = lax.scan(body, (params, state), (jnp.arange(n_full), full))
    if rem:
        # The book's last, smaller mini-batch: the remaining `rem` examples (split over
        # the mesh only when it divides evenly).
        last = sharding if sharding is not None and rem % sharding.mesh.size == 0 else None
        xb, yb = minibatch(x, y, order[n_full * batch_size:], x_scale, dtype, last)
        params, state = step(model, rule, grad, params, state, xb, yb, penalty,
                             _fold(key, n_full), _rows(masks, n_full * batch_size, rem))
        if progress is not None:
            jax.debug.callback(progress, n_steps, n_steps)
    return params, state


_TOP: dict = {}


def top_level(name: str):
    """``epoch`` or ``shuffled_epoch`` (by ``name``) jitted with :data:`EPOCH_OPTIONS`,
    for a call at the top level; the plain one where this JAX or XLA lacks an option
    (asked once, by compiling an identity: call it when JAX may start)."""
    if not _TOP:
        try:
            jax.jit(lambda a: a, compiler_options=EPOCH_OPTIONS).lower(1.0).compile()
            ok = True
        except (TypeError, RuntimeError):   # no compiler_options; "No such compile option"
            ok = False
        for fn, static in ((epoch, _STATIC), (shuffled_epoch, _SHUFFLED_STATIC)):
            _TOP[fn.__name__] = (jax.jit(fn.__wrapped__, static_argnames=static,
                                         compiler_options=EPOCH_OPTIONS) if ok else fn)
    return _TOP[name]


def _fold(key, i):
    return None if key is None else jax.random.fold_in(key, i)


def _rows(masks, start, size: int):
    """Rows ``start .. start + size`` of each given mask (a step's masks), or None."""
    if masks is None:
        return None
    return tuple(None if k is None else lax.dynamic_slice_in_dim(k, start, size)
                 for k in masks)


def shuffle_order(key, n: int):
    """The order of one shuffled epoch, as ``fit`` draws it: ``(next key, order (n,)
    int32)`` with ``order = permutation(split(key)[1], n)``."""
    key, sub = jax.random.split(key)
    return key, jax.random.permutation(sub, n).astype(jnp.int32)


shuffle_jit = jax.jit(shuffle_order, static_argnums=1)


@partial(jax.jit, static_argnames=_SHUFFLED_STATIC)
def shuffled_epoch(params, state, key, x, y, x_scale, penalty, *, model, rule, grad,
                   batch_size, progress=None, sharding=None, shuffle=True):
    """The fit loop's epoch: shuffle with ``key``, train, check finiteness — one
    program. Returns ``(params, state, next key, all finite)``. With dropout the
    masks' key is split from the key after the shuffle's. ``shuffle=False``:
    the mini-batches in the data's own order every epoch, as network3."""
    if shuffle:
        key, order = shuffle_order(key, y.shape[0])
    else:
        order = jnp.arange(y.shape[0], dtype=jnp.int32)
    drop = None
    if model.has_dropout:
        key, drop = jax.random.split(key)
    params, state = epoch(params, state, x, y, order, x_scale, penalty, drop, model=model,
                          rule=rule, grad=grad, batch_size=batch_size, progress=progress,
                          sharding=sharding)
    return params, state, key, all_finite(params)
