"""Checkpoints of the fit loop: everything needed to resume exactly.

A ``.npz`` archive (no pickle; stored members) holding the parameters ``w0,
b0, ...``, the momentum state ``vw0, vb0, ...`` (if any), the PRNG key ``key``
and ``meta``: UTF-8 JSON with the format, the epoch to run next, the
learning-rate schedule's state, the history so far, and the run's ``config``:
its identity (jaxnet.train._identity.run_config), everything that fixes the trajectory, which a
resume must match (:func:`check_config`). Written atomically (temporary
file, fsync, rename), so a crash or a signal mid-write leaves the previous
checkpoint intact; a write that fails (a full disk) puts the state in the
current or the temporary folder instead and raises jaxnet.io.WriteError saying
where (jaxnet._core.rescue). Read with jaxnet._core.npz: every member's header is
checked against the config before anything is allocated; the saved config must
equal this run's key for key and type for type (its model description
included), and every other field of the metadata is checked against its schema,
so a damaged or crafted file is a CheckpointError.
"""

from __future__ import annotations

import json
import math
import numbers
from pathlib import Path

import numpy as np

from .._core.atomic import atomic_write
from .._core.npz import NpzReader
from .._core.params import Layer
from .._core.rescue import WriteError, write_or_rescue
from ._identity import differences, short

FORMAT = "jaxnet.checkpoint"
# 2: the run's config fingerprints the images (and the labels with their dtype and shape).
# 3: the model's description in the config; test accuracy in the history records.
# 4: the run's identity in the config: the initial PRNG key and parameters, the evaluation
#    and test data, and the names a caller gives the run (NAMES: the command line's flags).
VERSION = 4

class CheckpointError(ValueError):
    """A checkpoint is corrupt, belongs to another run (other sizes, dtype, data,
    hyper-parameters), is past the requested epochs, or would be overwritten."""


def check_target(path, *, resume: bool, overwrite: bool):
    """Before training: an existing checkpoint is resumed or explicitly overwritten."""
    path = Path(path)
    if path.is_dir():
        raise CheckpointError(f"checkpoint {path}: is a directory; give a file name")
    if path.exists() and not resume and not overwrite:
        raise CheckpointError(f"checkpoint {path}: exists; pass resume=True (--resume) to "
                              "continue it or overwrite=True (--overwrite) to start over")


def save_checkpoint(path, *, params, velocity, key, epoch, history, config, schedule_state):
    """Writes the loop's state to ``path`` atomically.

    Raises:
      jaxnet.io.WriteError (an OSError): ``path`` could not be written (it is
        untouched); ``rescued`` is the copy written instead (None if none could
        be), and ``params``, ``history`` and ``epoch`` hold the state itself.
    """
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
    try:
        write_npz(path, arrays, meta, f"the run after {epoch} epochs")
    except WriteError as e:  # the trained state itself, should no copy have been written
        e.params, e.history, e.epoch = params, list(history), int(epoch)
        raise


def write_npz(path, arrays: dict, meta: dict, what: str) -> None:
    """``arrays`` and ``meta`` (JSON, stored as the ``"meta"`` bytes) written to ``path``
    as one .npz, atomically, through the rescue path (WriteError says where a copy
    went); ``what`` the checkpoint holds, for that message."""
    arrays = dict(arrays, meta=np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8))

    def write(target):
        with atomic_write(target) as f:
            np.savez(f, **arrays)
    write_or_rescue(path, write, what="checkpoint",
                    hint=f"{what}: resume=True with checkpoint= that file continues it")


def load_checkpoint(path, config, *, shapes, epochs: int, record):
    """Reads a checkpoint and checks it belongs to a run with ``config`` that
    trains ``epochs`` epochs; ``shapes``: each layer's ``Layer(w shape, b shape)``;
    ``record`` is the history's NamedTuple type.

    Returns ``dict(params, velocity, key, epoch, history (list of record),
    schedule_state)``. Raises CheckpointError naming what is wrong."""
    path = Path(path)
    with NpzReader(path, CheckpointError, "not a readable jaxnet checkpoint") as z:
        meta = z.meta()
        if meta.get("format") != FORMAT:
            raise CheckpointError(f"{path}: not a jaxnet checkpoint (format "
                                  f"{str(meta.get('format'))[:100]!r})")
        version = meta.get("version")
        if version != VERSION:
            older = type(version) is int and version < VERSION
            raise CheckpointError(
                f"{path}: checkpoint format version {short(version)}, this jaxnet resumes "
                f"version {VERSION} only" + (": an older one does not record its run's initial "
                                             "key and parameters or its evaluation data, so it "
                                             "cannot be shown to be this run" if older else "")
                + " (start over with overwrite=True)")
        check_config(path, meta.get("config"), config)
        epoch = meta.get("epoch")
        if type(epoch) is not int or epoch < 0:
            raise CheckpointError(f"{path}: bad epoch {short(epoch)}")
        if epoch > epochs:
            raise CheckpointError(f"{path}: has trained {epoch} epochs, more than the {epochs} "
                                  "asked for (ask for at least as many to resume it)")
        momentum = meta.get("momentum_state")
        if not isinstance(momentum, bool):
            raise CheckpointError(f"{path}: bad momentum_state")
        z.expect_members({"meta", "key"} | {f"{v}{p}{l}" for l in range(len(shapes))
                                            for p in "wb" for v in ("", "v")[:1 + momentum]})
        dtype = np.dtype(config["dtype"])
        params, velocity = _layers(z, "", shapes, dtype), None
        if momentum:
            velocity = _layers(z, "v", shapes, dtype)
        key = z.array("key", np.uint32, (2,))
    return dict(params=params, velocity=velocity, key=key, epoch=epoch,
                history=_history(path, meta.get("history"), epoch, record),
                schedule_state=_schedule_state(path, meta.get("schedule_state")))


def check_config(path, saved, config) -> None:
    """The saved run configuration is this run's (:func:`differences` finds none); else
    a one-line CheckpointError naming every difference."""
    if not isinstance(saved, dict):
        raise CheckpointError(f"{path}: no run configuration")
    unknown = sorted(k for k in saved if k not in config)
    if unknown:
        raise CheckpointError(f"{path}: its run configuration holds keys this jaxnet does "
                              f"not write: {short(unknown)}")
    what = differences(saved, config)
    if what:
        raise CheckpointError(f"{path}: belongs to another run ({'; '.join(what)})")


def _layers(z, prefix, shapes, dtype):
    out = []
    for l, (w_shape, b_shape) in enumerate(shapes):
        w = z.array(f"{prefix}w{l}", dtype, tuple(w_shape))
        b = z.array(f"{prefix}b{l}", dtype, tuple(b_shape))
        if not (np.all(np.isfinite(w)) and np.all(np.isfinite(b))):
            raise CheckpointError(f"{z.path}: layer {l} {prefix or 'params'} contains NaN or Inf")
        out.append(Layer(w, b))
    return tuple(out)


def _number(v, kinds=numbers.Real) -> bool:
    """A JSON number of ``kinds``, not NaN, that a float can hold (±inf allowed)."""
    if not isinstance(v, kinds) or isinstance(v, bool):
        return False
    try:
        return not math.isnan(float(v))
    except OverflowError:  # an int past float's range
        return False


def _history(path, history, epoch, record):
    """One ``record`` per trained epoch, each field None or a finite number."""
    if not isinstance(history, list) or len(history) != epoch:
        raise CheckpointError(f"{path}: history does not hold one record per trained epoch")
    out = []
    for i, r in enumerate(history):
        if (not isinstance(r, dict) or set(r) != set(record._fields)
                or not all(v is None or _number(v) for v in r.values())
                or type(r["epoch"]) is not int or r["epoch"] != i):
            raise CheckpointError(f"{path}: history record {i} is malformed")
        out.append(record(**r))
    return out


def _schedule_state(path, state):
    """``{best, since_best, eta, stopped}`` of the early-stop/schedule loop."""
    if (not isinstance(state, dict) or set(state) != {"best", "since_best", "eta", "stopped"}
            or not _number(state["best"], numbers.Integral)
            or not _number(state["since_best"], numbers.Integral)
            or not _number(state["eta"]) or not 0 < state["eta"] < float("inf")
            or not _stop_reason(state["stopped"])):
        raise CheckpointError(f"{path}: malformed schedule state")
    return state


#: How the fit loop's schedule says why it stopped (jaxnet.train._history.Schedule).
STOP_REASONS = ("early stop: ", "schedule: ")


def _stop_reason(stopped) -> bool:
    """None, or a short printable reason the schedule itself gives (a file cannot make
    a resumed run print anything else, or claim it was interrupted)."""
    return stopped is None or (isinstance(stopped, str) and len(stopped) <= 300
                               and stopped.isprintable() and stopped.startswith(STOP_REASONS))
