"""Checkpoints of the fit loop: everything needed to resume exactly.

A ``.npz`` archive (no pickle; read with ``allow_pickle=False``) holding the
parameters ``w0, b0, ...``, the momentum state ``vw0, vb0, ...`` (if any),
the PRNG key ``key`` and ``meta``: UTF-8 JSON with the format, the epoch to
run next, the learning-rate schedule's state, the history so far, and the
run's ``config`` (sizes, dtype, data size and every hyper-parameter) that a
resume must match. Written atomically (temporary file, fsync, rename), so a
crash or a signal mid-write leaves the previous checkpoint intact.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np

from ._atomic import atomic_write
from ._params import Layer

FORMAT = "jaxnet.checkpoint"
VERSION = 1


class CheckpointError(ValueError):
    """A checkpoint is corrupt, or belongs to another run (other sizes, dtype, ...)."""


def save_checkpoint(path, *, params, velocity, key, epoch, history, config, schedule_state):
    arrays = {}
    for l, (w, b) in enumerate(params):
        arrays[f"w{l}"], arrays[f"b{l}"] = np.asarray(w), np.asarray(b)
    if velocity is not None:
        for l, (w, b) in enumerate(velocity):
            arrays[f"vw{l}"], arrays[f"vb{l}"] = np.asarray(w), np.asarray(b)
    arrays["key"] = np.asarray(key)
    meta = dict(format=FORMAT, version=VERSION, epoch=int(epoch), config=config,
                schedule_state=schedule_state, history=[r._asdict() for r in history],
                momentum_state=velocity is not None)
    arrays["meta"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    with atomic_write(Path(path)) as f:
        np.savez(f, **arrays)


def load_checkpoint(path, config):
    """Reads a checkpoint and checks it belongs to a run with ``config``.

    Returns ``dict(params, velocity, key, epoch, history (list of dicts),
    schedule_state)``. Raises CheckpointError naming what is wrong."""
    path = Path(path)
    try:
        with open(path, "rb") as f, np.load(f, allow_pickle=False) as z:
            data = {k: z[k] for k in z.files}
        meta = json.loads(data["meta"].tobytes().decode())
    except FileNotFoundError:
        raise
    except (zipfile.BadZipFile, ValueError, OSError, EOFError, KeyError, UnicodeDecodeError) as e:
        raise CheckpointError(f"{path}: not a readable jaxnet checkpoint ({e})") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT or meta.get("version") != VERSION:
        raise CheckpointError(f"{path}: not a jaxnet checkpoint (format "
                              f"{meta.get('format') if isinstance(meta, dict) else meta!r})")
    saved = meta.get("config", {})
    diff = {k: (saved.get(k), v) for k, v in config.items() if saved.get(k) != v}
    if diff:
        what = "; ".join(f"{k}: checkpoint {a!r}, this run {b!r}" for k, (a, b) in diff.items())
        raise CheckpointError(f"{path}: belongs to another run ({what})")
    sizes, dtype = config["sizes"], np.dtype(config["dtype"])
    params, velocity = [], [] if meta.get("momentum_state") else None
    for l, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        for prefix, out in (("", params), ("v", velocity)):
            if out is None:
                continue
            w, b = data.get(f"{prefix}w{l}"), data.get(f"{prefix}b{l}")
            if w is None or b is None or w.shape != (n_out, n_in) or b.shape != (n_out,) \
                    or w.dtype != dtype or b.dtype != dtype:
                raise CheckpointError(f"{path}: layer {l} {prefix or 'params'} missing or not "
                                      f"{dtype} of shapes {(n_out, n_in)}, {(n_out,)}")
            if not (np.all(np.isfinite(w)) and np.all(np.isfinite(b))):
                raise CheckpointError(f"{path}: layer {l} contains NaN or Inf")
            out.append(Layer(w, b))
    key = data.get("key")
    if key is None or key.dtype != np.uint32 or key.shape != (2,):
        raise CheckpointError(f"{path}: bad PRNG key")
    epoch = meta.get("epoch")
    if not isinstance(epoch, int) or epoch < 0 or not isinstance(meta.get("history"), list):
        raise CheckpointError(f"{path}: bad epoch or history")
    return dict(params=tuple(params), velocity=None if velocity is None else tuple(velocity),
                key=key, epoch=epoch, history=meta["history"],
                schedule_state=meta.get("schedule_state"))
