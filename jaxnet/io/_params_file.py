"""Saving and loading parameters: jaxnet's own format and the book's network2 JSON.

jaxnet's format: a ``.npz`` archive (written with ``numpy.savez``, read with
``allow_pickle=False``) holding ``w0, b0, w1, b1, ...`` and ``meta``: UTF-8
JSON bytes ``{"format": "jaxnet.params", "version": 1, "sizes": [...],
"dtype": "float32", "cost": "quadratic", "activation": "sigmoid", ...}`` plus
any metadata the caller adds.

network2's format (``network2.save`` / ``network2.load``): JSON
``{"sizes": [...], "weights": [w as nested lists (n_out, n_in)], "biases":
[b as columns (n_out, 1)], "cost": "QuadraticCost" | "CrossEntropyCost"}``.
network2 knows only sigmoid neurons and those two costs.

Every file is written atomically: an existing file is replaced only by a
complete new one.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..nn._activations import check_name
from ..nn._inputs import resolve
from ..nn._model import ACTIVATIONS, COSTS
from ..nn._params import Layer
from ..nn._validate import check_dtype, check_params
from ._atomic import atomic_write
from ._npz import NpzReader

FORMAT = "jaxnet.params"
VERSION = 1


def save_params(path, params, *, cost="quadratic", activation="sigmoid",
                metadata: dict | None = None, model=None) -> Path:
    """Writes ``params`` (a tuple of Layers) to ``path`` atomically.

    Args:
      path: destination file; ``.npz`` is the conventional suffix.
      params: tuple of ``Layer(w (n_out, n_in), b (n_out,))``, finite.
      cost, activation: the model the parameters belong to (stored in the metadata).
      metadata: optional JSON-serialisable dict stored beside the arrays.
      model: a jaxnet.Model the parameters match (any layer kinds, e.g. a conv
        net): its description and every array's shape are stored instead of
        ``cost``/``activation`` (``load_params`` checks the arrays against them).

    Returns:
      The path written.
    """
    if model is None:
        sizes, dtype = check_params(params)
        meta = {"format": FORMAT, "version": VERSION, "sizes": list(sizes),
                "dtype": dtype.name, "cost": check_cost(cost),
                "activation": check_activation(activation)}
    else:
        model, params = resolve(params, model)
        meta = {"format": FORMAT, "version": VERSION, "sizes": list(model.sizes),
                "dtype": np.dtype(params[0].w.dtype).name, "cost": model.cost,
                "activation": model.hidden_activation or "sigmoid",
                "model": model.describe(),
                "shapes": [[list(np.shape(p.w)), list(np.shape(p.b))] for p in params]}
    if metadata:
        clash = set(metadata) & set(meta)
        if clash:
            raise ValueError(f"metadata: keys {sorted(clash)} are reserved")
        meta.update(metadata)
    try:
        meta_bytes = json.dumps(meta, sort_keys=True).encode()
    except TypeError as e:
        raise TypeError(f"metadata: must be JSON-serialisable ({e})") from None
    arrays = {"meta": np.frombuffer(meta_bytes, dtype=np.uint8)}
    for l, (w, b) in enumerate(params):
        arrays[f"w{l}"] = np.asarray(w)
        arrays[f"b{l}"] = np.asarray(b)
    path = Path(path)
    with atomic_write(path) as f:
        np.savez(f, **arrays)
    return path


class ParamsFileError(ValueError):
    """A parameter file (ours or network2's) is truncated, corrupt, crafted, or
    inconsistent with its metadata."""


def _corrupt(path, why):
    return ParamsFileError(f"{path}: not a valid jaxnet parameter file ({why})")


def load_params(path, *, with_metadata: bool = False):
    """Reads parameters written by :func:`save_params`.

    Nothing is decompressed or allocated before the metadata and each array's
    header have been checked (jaxnet.io._npz): reading allocates at most the
    file's size.

    Returns:
      A tuple of Layers holding numpy arrays (``jnp.asarray`` them as needed),
      or ``(params, metadata)`` when ``with_metadata``.

    Raises:
      ParamsFileError (a ValueError): the file is truncated, corrupt, crafted,
        or inconsistent with its metadata.
    """
    path = Path(path)
    with NpzReader(path, ParamsFileError, "not a valid jaxnet parameter file") as z:
        meta = z.meta()
        if meta.get("format") != FORMAT:
            raise _corrupt(path, f"format is {str(meta.get('format'))[:100]!r}")
        if meta.get("version") != VERSION:
            raise _corrupt(path, f"version {str(meta.get('version'))[:20]!r}, this jaxnet "
                                 f"reads {VERSION}")
        sizes, dtype = meta.get("sizes"), meta.get("dtype")
        if not _valid_sizes(sizes):
            raise _corrupt(path, f"bad sizes {str(sizes)[:200]}")
        if dtype not in ("float32", "float64"):
            raise _corrupt(path, f"bad dtype {str(dtype)[:50]!r}")
        # Files from before chapter 3 have no cost/activation: they are the book's chapter 1.
        meta.setdefault("cost", "quadratic")
        meta.setdefault("activation", "sigmoid")
        try:
            check_cost(meta["cost"]), check_activation(meta["activation"])
        except ValueError as e:
            raise _corrupt(path, str(e)[:300]) from None
        shapes = _shapes(path, meta, sizes)
        z.expect_members({"meta"} | {f"{p}{l}" for l in range(len(shapes)) for p in "wb"})
        params = []
        for l, (w_shape, b_shape) in enumerate(shapes):
            w, b = z.array(f"w{l}", dtype, w_shape), z.array(f"b{l}", dtype, b_shape)
            if not (np.all(np.isfinite(w)) and np.all(np.isfinite(b))):
                raise _corrupt(path, f"layer {l}: contains NaN or Inf")
            params.append(Layer(w, b))
    params = tuple(params)
    return (params, meta) if with_metadata else params


def _shapes(path, meta, sizes):
    """Each layer's ``(w shape, b shape)``: stored with a model, else a Dense chain's."""
    if "shapes" not in meta:
        return [((n_out, n_in), (n_out,)) for n_in, n_out in zip(sizes[:-1], sizes[1:])]
    shapes = meta["shapes"]
    ok = (isinstance(shapes, list) and 1 <= len(shapes) <= 10_000 and all(
        isinstance(s, list) and len(s) == 2 and all(
            isinstance(d, list) and 1 <= len(d) <= 4 and
            all(type(n) is int and 0 < n < 2 ** 40 for n in d) for d in s) for s in shapes))
    if not ok:
        raise _corrupt(path, f"bad shapes {str(shapes)[:200]}")
    return [(tuple(w), tuple(b)) for w, b in shapes]


def _valid_sizes(sizes) -> bool:
    """At least two positive ints below 2^40 (anything larger cannot be a real layer)."""
    return (isinstance(sizes, list) and 2 <= len(sizes) <= 10_000
            and all(type(s) is int and 0 < s < 2 ** 40 for s in sizes))


def check_cost(cost) -> str:
    return check_name(cost, COSTS, "cost")


def check_activation(activation) -> str:
    return check_name(activation, ACTIVATIONS, "activation")


_NETWORK2_COSTS = {"quadratic": "QuadraticCost", "cross_entropy": "CrossEntropyCost"}


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
    size = path.stat().st_size  # FileNotFoundError stays as it is
    if size > MAX_NETWORK2_BYTES:
        raise _bad_network2(path, f"{size} bytes, more than the {MAX_NETWORK2_BYTES} read")
    try:
        with open(path, encoding="utf-8") as f:
            doc = json.load(f)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError, OSError) as e:
        raise _bad_network2(path, f"unreadable JSON: {type(e).__name__}: {str(e)[:200]}") from None
    if not isinstance(doc, dict):
        raise _bad_network2(path, f"expected a JSON object, got {type(doc).__name__}")
    missing = {"sizes", "weights", "biases", "cost"} - set(doc)
    if missing:
        raise _bad_network2(path, f"missing keys {sorted(missing)}")
    sizes = doc["sizes"]
    if not _valid_sizes(sizes):
        raise _bad_network2(path, f"bad sizes {str(sizes)[:200]}")
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
        try:
            w = np.array(ws[l], dtype=np.float64)
            b = np.array(bs[l], dtype=np.float64)
        except (TypeError, ValueError, OverflowError, RecursionError) as e:
            raise _bad_network2(path, f"layer {l}: not a numeric array ({str(e)[:200]})") from None
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
