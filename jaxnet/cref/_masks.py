"""The dropout masks the C kernel is given: the very masks the JAX step and epoch
draw from the same key (jaxnet.dropout_masks), so C and JAX train the same network."""

from __future__ import annotations

import jax
import numpy as np

from ..nn._inputs import check_key
from ..nn._network import dropout_masks


def step_masks(model, key, m: int, dtype):
    """The masks jaxnet.step_with draws from ``key``: ``(m, *input shape)`` per
    dropout layer, None for the others."""
    return dropout_masks(model, check_key(model, key), m, np.dtype(dtype))


def epoch_masks(model, key, n: int, batch_size: int, dtype):
    """The masks jaxnet's epoch draws, by position: ``(N, *input shape)`` per dropout
    layer (None for the others), step ``i``'s rows from ``fold_in(key, i)``."""
    n_full, rem = divmod(n, batch_size)
    full = jax.vmap(lambda i: dropout_masks(model, jax.random.fold_in(key, i), batch_size,
                                            dtype))(np.arange(n_full))
    last = dropout_masks(model, jax.random.fold_in(key, n_full), rem, dtype) if rem else None
    return tuple(None if f is None else np.concatenate(
        [np.asarray(f).reshape((-1,) + f.shape[2:])] + ([np.asarray(last[l])] if rem else []))
        for l, f in enumerate(full))
