"""Saving and loading parameters in jaxnet's own format (the book's network2 JSON:
jaxnet.io._network2).

A ``.npz`` archive (written with ``numpy.savez``, read without pickle) holding
``w0, b0, w1, b1, ...`` and ``meta``: UTF-8 JSON bytes ``{"format":
"jaxnet.params", "version": 1, "sizes": [...], "dtype": "float32", "cost":
"quadratic", "activation": "sigmoid", ...}`` plus any metadata the caller adds.
A model of any layer kinds adds ``"model"`` (:meth:`jaxnet.Model.describe`)
and ``"shapes"`` (each layer's ``[w shape, b shape]``).

Reading trusts nothing: the description is checked against its schema
(jaxnet.io._description) and against ``sizes``, ``cost``, ``activation``,
``shapes`` and every array's header before an array is read.

Every file is written atomically: an existing file is replaced only by a
complete new one.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from .._core.activations import check_name
from .._core.atomic import atomic_write
from .._core.inputs import resolve
from .._core.model import ACTIVATIONS, COSTS
from .._core.npz import NpzReader
from .._core.params import Layer
from .._core.validate import check_params
from ._description import model_from_description
from ._description import show as _show

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
      model: a jaxnet.Model the parameters match (Dense and ConvPool layers, the
        kinds :func:`load_params` reads back): its description and every array's
        shape are stored (``load_params`` checks the arrays against them).

    Returns:
      The path written.

    Raises:
      ValueError: a model load_params could not read back (a layer kind of
        another package), reserved metadata keys.
      TypeError: metadata that is not JSON.
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
        try:  # never write a file load_params would refuse
            model_from_description(meta["model"])
        except ValueError as e:
            raise ValueError(f"model: load_params could not read it back ({e})") from None
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
    header have been checked (jaxnet._core.npz): reading allocates at most the
    file's size. A model's description must pass its schema
    (:func:`model_from_description`) and agree with ``sizes``, ``cost``,
    ``activation``, ``shapes`` and the arrays.

    Returns:
      A tuple of Layers holding numpy arrays (``w (n_out, n_in)``, ``b (n_out,)``
      for a Dense layer, ``w (filters, C, k, k)``, ``b (filters,)`` for a
      ConvPool), or ``(params, metadata)`` when ``with_metadata``: the
      metadata's ``"model"``, if any, is the checked description.

    Raises:
      ParamsFileError (a ValueError): the file is truncated, corrupt, crafted,
        or inconsistent with its metadata; the message names the field.
    """
    path = Path(path)
    with NpzReader(path, ParamsFileError, "not a valid jaxnet parameter file") as z:
        meta = z.meta()
        shapes = _check_meta(path, meta)
        z.expect_members({"meta"} | {f"{p}{l}" for l in range(len(shapes)) for p in "wb"})
        params = []
        for l, (w_shape, b_shape) in enumerate(shapes):
            w, b = z.array(f"w{l}", meta["dtype"], w_shape), z.array(f"b{l}", meta["dtype"],
                                                                       b_shape)
            if not (np.all(np.isfinite(w)) and np.all(np.isfinite(b))):
                raise _corrupt(path, f"layer {l}: contains NaN or Inf")
            params.append(Layer(w, b))
    params = tuple(params)
    return (params, meta) if with_metadata else params


def _check_meta(path, meta) -> list:
    """Checks the reserved fields of ``meta`` (filling in a chapter-1 file's defaults);
    returns each layer's ``(w shape, b shape)``."""
    if meta.get("format") != FORMAT:
        raise _corrupt(path, f"format is {str(meta.get('format'))[:100]!r}")
    if meta.get("version") != VERSION:
        raise _corrupt(path, f"version {str(meta.get('version'))[:20]!r}, this jaxnet "
                             f"reads {VERSION}")
    sizes, dtype = meta.get("sizes"), meta.get("dtype")
    if not valid_sizes(sizes):
        raise _corrupt(path, f"bad sizes {_show(sizes)}")
    if dtype not in ("float32", "float64"):
        raise _corrupt(path, f"bad dtype {str(dtype)[:50]!r}")
    # Files from before chapter 3 have no cost/activation: they are the book's chapter 1.
    meta.setdefault("cost", "quadratic")
    meta.setdefault("activation", "sigmoid")
    if "model" not in meta:  # a Dense chain of ``sizes``
        if "shapes" in meta:
            raise _corrupt(path, "shapes without the model they belong to")
        for key, choices in (("cost", COSTS), ("activation", ACTIVATIONS)):
            if type(meta[key]) is not str or meta[key] not in choices:
                raise _corrupt(path, f"{key}: expected one of {', '.join(choices)}, got "
                                     f"{_show(meta[key])}")
        return [((n_out, n_in), (n_out,)) for n_in, n_out in zip(sizes[:-1], sizes[1:])]
    try:
        model = model_from_description(meta["model"])
    except ValueError as e:
        raise _corrupt(path, str(e)) from None
    meta["model"] = model.describe()
    return _agree(path, meta, model)


def _agree(path, meta, model) -> list:
    """The layers' shapes from ``model``, after ``meta``'s shapes, sizes, cost and
    activation were found to say the same."""
    shapes = [(tuple(s.w), tuple(s.b)) for s in
              (layer.param_shapes(x) for layer, x in zip(model.layers, model.shapes))]
    stored = meta.get("shapes")
    if type(stored) is not list or len(stored) != len(shapes):
        raise _corrupt(path, f"shapes: expected {len(shapes)} [w shape, b shape] pairs for the "
                             f"model's layers, got {_show(stored)}")
    for l, (got, want) in enumerate(zip(stored, shapes)):
        if got != [list(want[0]), list(want[1])]:
            raise _corrupt(path, f"shapes[{l}] {_show(got)} do not match layers[{l}] of "
                                 f"the model ({list(want[0])}, {list(want[1])})")
    meta["shapes"] = [[list(w), list(b)] for w, b in shapes]
    checks = (("sizes", list(model.sizes)), ("cost", model.cost),
              ("activation", model.hidden_activation or "sigmoid"))
    for key, want in checks:
        if meta[key] != want:
            raise _corrupt(path, f"{key} {_show(meta[key])} do not match the model's "
                                 f"{want}")
    return shapes


def valid_sizes(sizes) -> bool:
    """At least two positive ints below 2^40 (anything larger cannot be a real layer)."""
    return (isinstance(sizes, list) and 2 <= len(sizes) <= 10_000
            and all(type(s) is int and 0 < s < 2 ** 40 for s in sizes))


def check_cost(cost) -> str:
    return check_name(cost, COSTS, "cost")


def check_activation(activation) -> str:
    return check_name(activation, ACTIVATIONS, "activation")
