"""Saving and loading parameters in jaxnet's own format (no pickle).

A ``.npz`` archive (written with ``numpy.savez``, read with
``allow_pickle=False``) holding ``w0, b0, w1, b1, ...`` and ``meta``: UTF-8
JSON bytes ``{"format": "jaxnet.params", "version": 1, "sizes": [...],
"dtype": "float32", ...}`` plus any metadata the caller adds. Files are
written atomically: an existing file is replaced only by a complete new one.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np

from ._atomic import atomic_write
from ._params import Layer
from ._validate import check_params

FORMAT = "jaxnet.params"
VERSION = 1


def save_params(path, params, *, metadata: dict | None = None) -> Path:
    """Writes ``params`` (a tuple of Layers) to ``path`` atomically.

    Args:
      path: destination file; ``.npz`` is the conventional suffix.
      params: tuple of ``Layer(w (n_out, n_in), b (n_out,))``, finite.
      metadata: optional JSON-serialisable dict stored beside the arrays.

    Returns:
      The path written.
    """
    sizes, dtype = check_params(params)
    meta = {"format": FORMAT, "version": VERSION, "sizes": list(sizes), "dtype": dtype.name}
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


def _corrupt(path, why):
    return ValueError(f"{path}: not a valid jaxnet parameter file ({why})")


def load_params(path, *, with_metadata: bool = False):
    """Reads parameters written by :func:`save_params`.

    Returns:
      A tuple of Layers holding numpy arrays (``jnp.asarray`` them as needed),
      or ``(params, metadata)`` when ``with_metadata``.

    Raises:
      ValueError: the file is truncated, corrupt, or inconsistent with its metadata.
    """
    path = Path(path)
    try:
        with open(path, "rb") as f, np.load(f, allow_pickle=False) as z:
            data = {k: z[k] for k in z.files}
    except FileNotFoundError:
        raise
    except (zipfile.BadZipFile, ValueError, OSError, EOFError) as e:
        raise _corrupt(path, f"unreadable: {e}") from None
    if "meta" not in data:
        raise _corrupt(path, "no 'meta' entry")
    try:
        meta = json.loads(data["meta"].tobytes().decode())
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise _corrupt(path, f"bad metadata: {e}") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise _corrupt(path, f"format is {meta.get('format') if isinstance(meta, dict) else meta!r}")
    if meta.get("version") != VERSION:
        raise _corrupt(path, f"version {meta.get('version')!r}, this jaxnet reads {VERSION}")
    sizes, dtype = meta.get("sizes"), meta.get("dtype")
    if (not isinstance(sizes, list) or len(sizes) < 2
            or not all(isinstance(s, int) and s > 0 for s in sizes)):
        raise _corrupt(path, f"bad sizes {sizes!r}")
    if dtype not in ("float32", "float64"):
        raise _corrupt(path, f"bad dtype {dtype!r}")
    expected = {"meta"} | {f"{p}{l}" for l in range(len(sizes) - 1) for p in "wb"}
    if set(data) != expected:
        raise _corrupt(path, f"entries {sorted(data)}, expected {sorted(expected)}")
    params = []
    for l, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        w, b = data[f"w{l}"], data[f"b{l}"]
        if w.shape != (n_out, n_in) or b.shape != (n_out,):
            raise _corrupt(path, f"layer {l}: shapes {w.shape}, {b.shape}, "
                                 f"expected {(n_out, n_in)}, {(n_out,)}")
        if w.dtype != dtype or b.dtype != dtype:
            raise _corrupt(path, f"layer {l}: dtype {w.dtype}/{b.dtype}, expected {dtype}")
        if not (np.all(np.isfinite(w)) and np.all(np.isfinite(b))):
            raise _corrupt(path, f"layer {l}: contains NaN or Inf")
        params.append(Layer(w, b))
    params = tuple(params)
    return (params, meta) if with_metadata else params
