"""Checks against a model: the one place public functions validate their arguments.

Every public function calls these before anything is traced, so a bad
argument is reported by name with the expected and the actual value; the
pure functions they then call (jaxnet._core.network, jaxnet.train._epoch) check nothing.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from .costs import Penalty
from .model import Model
from .params import as_layers, layer_sizes
from .validate import (
    check_inputs,
    check_labels,
    check_param_values,
    check_params,
    check_reg_strength,
    check_targets,
    check_x_scale,
)


def resolve(params, model=None):
    """``(model, params as a tuple of Layers)`` after checking ``params`` fit ``model``.

    Without a model, ``params`` must be a Dense chain and the model is the
    book's chapter-1 network of its sizes (``Model.dense(sizes)``: quadratic
    cost, sigmoid neurons).
    """
    if model is None:
        check_params(params)
        return Model.dense(layer_sizes(params)), as_layers(params)
    if not isinstance(model, Model):
        raise TypeError(f"model: expected a jaxnet.Model (e.g. Model.dense(sizes, ...)), "
                        f"got {type(model).__name__}")
    check_param_values(params, len(model.layers))
    params = as_layers(params)
    for l, (layer, shape) in enumerate(zip(model.layers, model.shapes)):
        expected = layer.param_shapes(shape)
        for part, want in zip(("w", "b"), expected):
            got = tuple(np.shape(getattr(params[l], part)))
            if got != tuple(want):
                raise ValueError(f"params[{l}].{part}: expected shape {tuple(want)} for "
                                 f"layers[{l}] {layer} on input {shape}, got {got}")
    return model, params


def check_x(model, x, *, x_scale=None, allow_int=True, name="x", finite=True) -> int:
    """``x``: ``(N, n_0)`` rows, float, or integer (e.g. uint8 pixels) with ``x_scale``,
    the positive factor that maps them to floats (when ``allow_int``); float rows
    finite unless ``finite=False`` (a caller that checks values itself). Returns ``N``."""
    n = check_inputs(x, model.sizes[0], name=name, allow_int=allow_int, finite=finite)
    if allow_int:
        check_x_scale(x, x_scale, name)
    return n


def check_y(model, y, n: int, name="y") -> None:
    """``y``: ``(n, n_L)`` float targets."""
    check_targets(y, n, model.sizes[-1], name=name)


def check_classes(model, labels, n: int, name="labels") -> None:
    """``labels``: ``(n,)`` int class labels in ``[0, n_L)``."""
    check_labels(labels, n, model.sizes[-1], name=name)


def check_masks(model, masks, m: int, params):
    """``masks``: None, or one entry per layer: a 0/1 array ``(m, *input shape)`` for a
    layer with dropout, None for the others (jaxnet.dropout_masks makes them).
    Returns them in the parameters' dtype."""
    check_mask_shapes(model, masks, m)
    if masks is None:
        return None
    return tuple(None if k is None else jnp.asarray(k, params[0].w.dtype) for k in masks)


def check_mask_shapes(model, masks, m: int) -> None:
    """:func:`check_masks`'s checks without converting anything (the C kernel takes
    host arrays, and an epoch's masks can be gigabytes)."""
    if masks is None:
        return
    if not isinstance(masks, (tuple, list)) or len(masks) != len(model.layers):
        raise TypeError(f"masks: expected one entry per layer ({len(model.layers)}), got "
                        f"{type(masks).__name__}")
    for l, (mask, layer, shape) in enumerate(zip(masks, model.layers, model.shapes)):
        if not getattr(layer, "dropout", 0):
            if mask is not None:
                raise ValueError(f"masks[{l}]: layers[{l}] has no dropout, so None, got a mask")
            continue
        if mask is None or tuple(np.shape(mask)) != (m,) + shape:
            raise ValueError(f"masks[{l}]: expected a 0/1 array of shape {(m,) + shape} for "
                             f"layers[{l}] {layer}, got "
                             f"{None if mask is None else tuple(np.shape(mask))}")


def check_key(model, key):
    """A model with dropout needs a PRNG key for its masks; one without takes none."""
    if model.has_dropout and key is None:
        raise ValueError("key: the model has dropout; pass key= (a PRNG key for the masks)")
    if key is not None and not model.has_dropout:
        return None
    if key is not None and (np.shape(key) != (2,) or np.dtype(key.dtype) != np.uint32):
        raise ValueError(f"key: expected a PRNG key (jax.random.PRNGKey(seed)), got shape "
                         f"{np.shape(key)} dtype {getattr(key, 'dtype', None)}")
    return key


def penalty(lmbda, n, params):
    """A Penalty in the parameters' dtype, or None when λ is None or 0 (``n``:
    the training-set size in λ/n, required with λ > 0)."""
    lmbda, n = check_reg_strength(lmbda, n)
    if lmbda is None:
        return None
    dtype = params[0].w.dtype
    return Penalty(jnp.asarray(lmbda, dtype), jnp.asarray(n, dtype))


def scale(x_scale, params):
    """``x_scale`` as an array in the parameters' dtype (None stays None)."""
    return None if x_scale is None else jnp.asarray(x_scale, params[0].w.dtype)
