"""The book's network2 JSON: ``{"sizes": [...], "weights": [w as nested lists
(n_out, n_in)], "biases": [b as columns (n_out, 1)], "cost": "QuadraticCost" |
"CrossEntropyCost"}``, exactly these four keys (``network2.save`` /
``network2.load``). network2 knows only sigmoid neurons and those two costs.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from .._core.atomic import atomic_write
from .._core.params import Layer
from .._core.readable import NotRegularFileError, check_regular, open_regular
from .._core.validate import check_dtype, check_params
from ._description import show
from ._params_file import ParamsFileError, check_activation, check_cost, valid_sizes

_NETWORK2_COSTS = {"quadratic": "QuadraticCost", "cross_entropy": "CrossEntropyCost"}
_KEYS = {"sizes", "weights", "biases", "cost"}


def save_network2(path, params, *, cost="quadratic", activation="sigmoid") -> Path:
    """Writes ``params`` in network2.py's JSON layout, loadable by ``network2.load``.

    Args:
      path: destination file.
      params: tuple of Layers (float32 values are written exactly, as float64 numbers).
      cost: ``"quadratic"`` or ``"cross_entropy"`` (network2's two costs).
      activation: must be ``"sigmoid"``, network2's only neuron.

    Raises:
      ValueError: a cost or activation network2 cannot represent.
    """
    sizes, _ = check_params(params)
    cost, activation = check_cost(cost), check_activation(activation)
    if cost not in _NETWORK2_COSTS or activation != "sigmoid":
        raise ValueError(f"network2's format holds sigmoid networks with the quadratic or "
                         f"cross-entropy cost; got cost={cost!r}, activation={activation!r} "
                         "(use save_params)")
    doc = {"sizes": list(sizes),
           "weights": [np.asarray(w, np.float64).tolist() for w, _ in params],
           "biases": [np.asarray(b, np.float64).reshape(-1, 1).tolist() for _, b in params],
           "cost": _NETWORK2_COSTS[cost]}
    path = Path(path)
    with atomic_write(path, "w") as f:
        json.dump(doc, f)
    return path


#: The largest network2 JSON file read (a 784-1000-1000-10 net is ~40 MB of text;
#: Python's parsed lists take ~10x the file's size in memory).
MAX_NETWORK2_BYTES = 256 << 20


def _bad_network2(path, why):
    return ParamsFileError(f"{path}: not a valid network2 file ({why})")


def load_network2(path, *, dtype=None):
    """Reads a file written by network2.py's ``save`` (or :func:`save_network2`).

    Returns:
      ``(params, cost)``: a tuple of Layers of numpy arrays in ``dtype``
      (default: float64 when ``jax_enable_x64`` is on, else float32) and
      ``"quadratic"`` or ``"cross_entropy"``. The activation is sigmoid.

    Raises:
      ParamsFileError (a ValueError): truncated or malformed JSON, a file over
        MAX_NETWORK2_BYTES, missing keys, shapes that do not match ``sizes``,
        numbers that are not finite in ``dtype`` (1e39 in float32 included),
        an unknown cost.
    """
    import jax
    dtype = check_dtype(dtype if dtype is not None
                        else "float64" if jax.config.jax_enable_x64 else "float32")
    path = Path(path)
    try:  # FileNotFoundError stays as it is; a FIFO or a folder is refused, not read
        size = check_regular(path).st_size
    except NotRegularFileError as e:
        raise ParamsFileError(str(e)) from None
    if size > MAX_NETWORK2_BYTES:
        raise _bad_network2(path, f"{size} bytes, more than the {MAX_NETWORK2_BYTES} read")
    try:
        with open_regular(path, "r", encoding="utf-8") as f:
            doc = json.load(f)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError, OSError) as e:
        raise _bad_network2(path, f"unreadable JSON: {type(e).__name__}: {str(e)[:200]}") from None
    if not isinstance(doc, dict):
        raise _bad_network2(path, f"expected a JSON object, got {type(doc).__name__}")
    missing, unknown = _KEYS - set(doc), set(doc) - _KEYS
    if missing:
        raise _bad_network2(path, f"missing keys {sorted(missing)}")
    if unknown:
        raise _bad_network2(path, f"unknown keys {show(sorted(unknown))} (network2 "
                                  f"writes {', '.join(sorted(_KEYS))})")
    sizes = doc["sizes"]
    if not valid_sizes(sizes):
        raise _bad_network2(path, f"bad sizes {show(sizes)}")
    costs = {v: k for k, v in _NETWORK2_COSTS.items()}
    if not isinstance(doc["cost"], str) or doc["cost"] not in costs:
        raise _bad_network2(path, f"unknown cost {str(doc['cost'])[:100]!r}, expected one of "
                                  f"{sorted(costs)}")
    ws, bs = doc["weights"], doc["biases"]
    if not (isinstance(ws, list) and isinstance(bs, list)
            and len(ws) == len(bs) == len(sizes) - 1):
        raise _bad_network2(path, f"expected {len(sizes) - 1} weight and bias arrays")
    params = []
    for l, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        w, b = _numbers(path, l, ws[l]), _numbers(path, l, bs[l])
        if w.shape != (n_out, n_in) or b.shape != (n_out, 1):
            raise _bad_network2(path, f"layer {l}: shapes {w.shape}, {b.shape}, expected "
                                      f"{(n_out, n_in)}, {(n_out, 1)} from sizes {sizes}")
        with np.errstate(over="ignore"):  # a finite float64 beyond float32's range becomes inf
            w, b = w.astype(dtype), b.reshape(-1).astype(dtype)
        if not (np.all(np.isfinite(w)) and np.all(np.isfinite(b))):
            raise _bad_network2(path, f"layer {l}: contains NaN or Inf (or values beyond {dtype}'s "
                                      "range)")
        params.append(Layer(w, b))
    return tuple(params), costs[doc["cost"]]


def _numbers(path, l, nested) -> np.ndarray:
    """Layer ``l``'s nested lists as a float64 array: JSON numbers only (a string such
    as "1.5", a bool, null or an object is refused, not converted)."""
    try:
        a = np.array(nested)
    except (TypeError, ValueError, OverflowError, RecursionError) as e:
        raise _bad_network2(path, f"layer {l}: not a numeric array ({str(e)[:200]})") from None
    if a.dtype.kind not in "iuf":
        raise _bad_network2(path, f"layer {l}: not a numeric array (holds "
                                  f"{'booleans' if a.dtype.kind == 'b' else 'non-numbers'})")
    return a.astype(np.float64)
