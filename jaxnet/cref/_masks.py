"""The dropout masks the C kernel is given: the very masks the JAX step and epoch
draw from the same key (jaxnet.dropout_masks), so C and JAX train the same network.

JAX's PRNG draws them as data: 0/1 values, drawn as float32 (which JAX holds
whatever its x64 flag, and which holds 0 and 1 exactly) and converted to the
parameters' dtype on the host."""

from __future__ import annotations

from functools import partial

import jax
import numpy as np

from .._core.inputs import check_key
from .._core.network import unchecked_dropout_masks
from ..nn import dropout_masks

#: The dtype the masks are drawn in (exact for 0/1; the bits drawn do not depend on it).
_DRAW = np.float32


def step_masks(model, key, m: int, dtype):
    """The masks jaxnet.step_with draws from ``key``: ``(m, *input shape)`` per
    dropout layer, None for the others."""
    del dtype   # converted by the caller
    return dropout_masks(check_key(model, key), model, m, _DRAW)


def epoch_masks(model, key, n: int, batch_size: int, dtype):
    """The masks jaxnet's epoch draws, by position: ``(N, *input shape)`` per dropout
    layer (None for the others), step ``i``'s rows from ``fold_in(key, i)``."""
    n_full, rem = divmod(n, batch_size)
    del dtype   # converted by the caller
    full = _full_steps_masks(key, model, batch_size, n_full)
    last = dropout_masks(jax.random.fold_in(key, n_full), model, rem, _DRAW) if rem else None
    return tuple(None if f is None else np.concatenate(
        [np.asarray(f).reshape((-1,) + f.shape[2:])] + ([np.asarray(last[l])] if rem else []))
        for l, f in enumerate(full))


@partial(jax.jit, static_argnames=("model", "batch_size", "n_full"))
def _full_steps_masks(key, model, batch_size: int, n_full: int):
    """Steps ``0..n_full-1``'s masks, ``(n_full, batch_size, *input shape)`` per dropout
    layer: one compiled loop over the steps, rather than an eager vmap whose every
    primitive is dispatched and compiled on its own (a 50-step conv epoch's masks, loaded
    machine: 2.7 s against 3.5, compilation included); the bits are the same."""
    return jax.lax.map(lambda i: unchecked_dropout_masks(jax.random.fold_in(key, i), model,
                                                         batch_size, _DRAW), np.arange(n_full))
