"""Argument checks shared by the public functions.

Every check runs in Python before JAX traces anything, so a bad argument is
reported by name with the expected and the actual value, never as an error
from deep inside XLA. Shape and dtype checks work on tracers too (shapes are
static); value checks (NaN/Inf, a permutation) run only on concrete arrays,
that is when the public function is called outside ``jax.jit``.
"""

from __future__ import annotations

import numbers
import operator

import jax
import numpy as np

from .finite import all_finite as all_finite
from .finite import check_finite as check_finite
from .params import check_container

FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def _is_concrete(a) -> bool:
    return not isinstance(a, jax.core.Tracer)


def _shape_dtype(a, name):
    try:
        return tuple(a.shape), np.dtype(a.dtype)
    except (AttributeError, TypeError):
        raise TypeError(f"{name}: expected an array, got {type(a).__name__}") from None


def check_sizes(sizes) -> tuple[int, ...]:
    """``sizes``: a sequence of at least two positive ints."""
    if isinstance(sizes, (str, bytes)) or not hasattr(sizes, "__len__"):
        raise TypeError(f"sizes: expected a sequence of ints, got {sizes!r}")
    out = []
    for i, s in enumerate(sizes):
        if isinstance(s, bool) or not isinstance(s, numbers.Integral):
            raise TypeError(f"sizes[{i}]: expected a positive int, got {s!r}")
        if s < 1:
            raise ValueError(f"sizes[{i}]: expected a positive int, got {s}")
        out.append(operator.index(s))
    if len(out) < 2:
        raise ValueError(f"sizes: expected at least 2 layer sizes (input and output), got {list(sizes)!r}")
    return tuple(out)


def check_shape(shape, name) -> tuple[int, ...]:
    """``shape``: a non-empty sequence of positive ints (one example's shape)."""
    if isinstance(shape, (str, bytes)) or not hasattr(shape, "__len__") or len(shape) == 0:
        raise TypeError(f"{name}: expected a non-empty sequence of positive ints, got {shape!r}")
    for i, s in enumerate(shape):
        if isinstance(s, bool) or not isinstance(s, numbers.Integral) or s < 1:
            raise ValueError(f"{name}[{i}]: expected a positive int, got {s!r}")
    return tuple(int(s) for s in shape)


def check_dtype(dtype) -> np.dtype:
    """A float dtype that JAX can hold without silent truncation."""
    try:
        dt = np.dtype(dtype)
    except TypeError:
        raise TypeError(f"dtype: expected float32 or float64, got {dtype!r}") from None
    if dt not in FLOAT_DTYPES:
        raise TypeError(f"dtype: expected float32 or float64, got {dt}")
    if dt == np.float64 and not jax.config.jax_enable_x64:
        raise TypeError("dtype: float64 needs jax.config.update('jax_enable_x64', True) "
                        "before any array is created")
    return dt


def check_param_values(params, n_layers=None, name="params") -> np.dtype:
    """``params``: a non-empty tuple or list of ``(w, b)`` pairs
    (jaxnet._core.params.check_container) of float arrays of one dtype, finite
    (``n_layers`` of them when given). Returns the dtype; shapes are the model's to check."""
    check_container(params, name)
    if n_layers is not None and len(params) != n_layers:
        raise ValueError(f"{name}: expected {n_layers} layers (one per model layer), "
                         f"got {len(params)}")
    dtype = None
    for l, (w, b) in enumerate(params):
        for arr, part in ((w, "w"), (b, "b")):
            _, d = _shape_dtype(arr, f"{name}[{l}].{part}")
            if d not in FLOAT_DTYPES:
                raise TypeError(f"{name}[{l}].{part}: expected float32 or float64, got {d}")
            if dtype is None:
                dtype = d
            elif d != dtype:
                raise TypeError(f"{name}[{l}].{part}: expected dtype {dtype} like the other "
                                f"parameters, got {d}")
            check_finite(arr, f"{name}[{l}].{part}")
    return dtype


def check_params(params, name="params") -> tuple[tuple[int, ...], np.dtype]:
    """``params``: a Dense chain, ``(w (n_out, n_in), b (n_out,))`` per layer with each
    ``n_in`` the previous ``n_out``. Returns the layer sizes and the common float dtype."""
    check_container(params, name)
    for l, (w, b) in enumerate(params):
        ws, _ = _shape_dtype(w, f"{name}[{l}].w")
        bs, _ = _shape_dtype(b, f"{name}[{l}].b")
        if len(ws) != 2:
            raise ValueError(f"{name}[{l}].w: expected shape (n_out, n_in), got {ws}")
        if bs != (ws[0],):
            raise ValueError(f"{name}[{l}].b: expected shape ({ws[0]},) to match w {ws}, got {bs}")
        if l > 0 and ws[1] != np.shape(params[l - 1][0])[0]:
            raise ValueError(f"{name}[{l}].w: expected n_in = {np.shape(params[l - 1][0])[0]} "
                             f"(the previous layer's n_out), got shape {ws}")
    dtype = check_param_values(params, name=name)
    sizes = [np.shape(params[0][0])[1]] + [np.shape(w)[0] for w, _ in params]
    if 0 in sizes:
        raise ValueError(f"{name}: layer sizes must be positive, got {tuple(sizes)}")
    return tuple(sizes), dtype


def check_inputs(x, n_in, name="x", allow_int=False, finite=True) -> int:
    """``x``: ``(batch, n_in)`` float (or integer when ``allow_int``), finite unless
    ``finite=False`` (for a caller that checks values itself). Returns batch."""
    shape, dt = _shape_dtype(x, name)
    if len(shape) != 2 or shape[1] != n_in:
        raise ValueError(f"{name}: expected shape (batch, {n_in}), got {shape}")
    if shape[0] == 0:
        raise ValueError(f"{name}: expected at least one example, got shape {shape}")
    if dt.kind == "f":
        if finite:
            check_finite(x, name)
    elif not (allow_int and dt.kind in "ui"):
        kinds = "a float or unsigned/signed integer" if allow_int else "a float"
        raise TypeError(f"{name}: expected {kinds} dtype, got {dt}")
    return shape[0]


def check_targets(y, batch, n_out, name="y"):
    """``y``: ``(batch, n_out)`` float, e.g. one-hot."""
    shape, dt = _shape_dtype(y, name)
    if dt.kind != "f":
        raise TypeError(f"{name}: expected float targets of shape ({batch}, {n_out}) "
                        f"(one-hot for labels: jaxnet.data.one_hot), got dtype {dt}")
    if shape != (batch, n_out):
        raise ValueError(f"{name}: expected shape ({batch}, {n_out}), got {shape}")
    check_finite(y, name)


def _check_int_vector(a, n, name, what, why):
    shape, dt = _shape_dtype(a, name)
    if dt.kind not in "ui":
        raise TypeError(f"{name}: expected {what}, got dtype {dt}")
    if shape != (n,):
        raise ValueError(f"{name}: expected shape ({n},){why}, got {shape}")


def check_labels(labels, batch, n_classes, name="labels"):
    """``labels``: ``(batch,)`` integers in ``[0, n_classes)``."""
    _check_int_vector(labels, batch, name, "integer class labels", "")
    if _is_concrete(labels):
        lab = np.asarray(labels)
        if lab.size and (lab.min() < 0 or lab.max() >= n_classes):
            raise ValueError(f"{name}: expected values in [0, {n_classes}), got "
                             f"min {lab.min()}, max {lab.max()}")


def check_order(order, n, name="order"):
    """``order``: ``(n,)`` integers, a permutation of ``range(n)``."""
    _check_int_vector(order, n, name, "an integer permutation",
                      f" (a permutation of the {n} examples)")
    if _is_concrete(order):
        o = np.asarray(order)
        if o.min() < 0 or o.max() >= n:
            raise ValueError(f"{name}: expected values in [0, {n}), got min {o.min()}, max {o.max()}")
        counts = np.bincount(o, minlength=n)
        if counts.max() != 1:
            dup = int(np.argmax(counts))
            raise ValueError(f"{name}: expected a permutation of range({n}), but {dup} "
                             f"appears {counts[dup]} times")


def _real(v, name, expected):
    """A concrete real number (a Python or numpy scalar, or a 0-d numeric array) as a float.
    Strings and bools are refused: ``float("3")`` would pass here and fail inside JAX."""
    kind = getattr(np.asarray(v) if hasattr(v, "dtype") else v, "dtype", None)
    ok = (np.dtype(kind).kind in "fiu" and np.ndim(v) == 0) if kind is not None else (
        isinstance(v, numbers.Real) and not isinstance(v, bool))
    if not ok:
        raise TypeError(f"{name}: expected {expected}, got {type(v).__name__} {v!r}"[:300])
    return float(v)


def check_positive_scalar(v, name):
    """A positive finite number; returns it as a float (None for a tracer)."""
    if _is_concrete(v):
        f = _real(v, name, "a positive number")
        if not np.isfinite(f) or f <= 0:
            raise ValueError(f"{name}: expected a positive finite number, got {f}")
        return f
    return None


def check_x_scale(x, x_scale, name="x"):
    """Integer inputs ``x`` need ``x_scale``, the factor that maps them to floats; a
    given ``x_scale`` must be a positive number. Returns it as a float (None when
    absent or traced)."""
    if np.dtype(x.dtype).kind in "ui" and x_scale is None:
        raise TypeError(f"{name}: integer inputs ({np.dtype(x.dtype)}) need x_scale, the factor "
                        "that maps them to floats (1/256 for jaxnet.data images)")
    return None if x_scale is None else check_positive_scalar(x_scale, "x_scale")


def check_batch_size(batch_size, n):
    if isinstance(batch_size, bool) or not isinstance(batch_size, numbers.Integral):
        raise TypeError(f"batch_size: expected a positive int, got {batch_size!r}")
    if not 1 <= batch_size <= n:
        raise ValueError(f"batch_size: expected 1 <= batch_size <= {n} (the number of "
                         f"examples), got {batch_size}")
    return int(batch_size)


def check_reg_strength(lmbda, n):
    """``(lmbda, n)`` for a regularised cost, or ``(None, None)`` when λ is None or 0.

    λ must be finite and ≥ 0; with λ > 0, ``n`` (the training-set size in λ/n)
    must be a positive int."""
    if lmbda is None:
        return None, None
    if _is_concrete(lmbda):
        f = _real(lmbda, "lmbda", "a non-negative number")
        if not np.isfinite(f) or f < 0:
            raise ValueError(f"lmbda: expected a finite number >= 0, got {f}")
        if f == 0:
            return None, None
    if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 1:
        raise ValueError(f"n: regularisation (lmbda={lmbda}) needs n, the training-set size "
                         f"in lambda/n, as a positive int; got {n!r}")
    return lmbda, int(n)


def check_dropout(p, name="dropout") -> float:
    """A dropout probability in [0, 1)."""
    f = _real(p, name, "a probability in [0, 1)")
    if not 0 <= f < 1:
        raise ValueError(f"{name}: expected a probability in [0, 1), got {f}")
    return f


def check_momentum(mu):
    """μ in [0, 1] (0: plain SGD; the book's momentum co-efficient)."""
    if _is_concrete(mu):
        f = _real(mu, "momentum", "a number in [0, 1]")
        if not 0 <= f <= 1:
            raise ValueError(f"momentum: expected a number in [0, 1], got {f}")


def check_velocity(velocity, params):
    """The momentum state must mirror ``params``: same structure, shapes and dtype."""
    ps, vs = jax.tree.structure(params), jax.tree.structure(velocity)
    if ps != vs:
        raise ValueError(f"velocity: expected the same structure as params ({ps}), got {vs}")
    for i, (p, v) in enumerate(zip(jax.tree.leaves(params), jax.tree.leaves(velocity))):
        shape, dtype = _shape_dtype(v, "velocity")
        if shape != np.shape(p) or dtype != np.dtype(p.dtype):
            raise ValueError(f"velocity leaf {i}: expected shape {np.shape(p)} and dtype "
                             f"{np.dtype(p.dtype)} like params, got {shape} {dtype}")
        check_finite(v, f"velocity leaf {i}")
