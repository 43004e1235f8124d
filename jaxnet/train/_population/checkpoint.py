"""Checkpoints of fit_population: every member's state, to resume a sweep exactly.

A ``.npz`` archive (no pickle; stored members, written atomically through
jaxnet.io's rescue path, as fit's checkpoints) holding the stacked parameters
``w0, b0, ...`` (leading axis P), the momentum state ``vw0, vb0, ...`` (if any),
the members' PRNG keys ``keys (P, 2)``, the evaluation counts so far ``correct
(epochs done, P)`` (with an evaluation set) and ``meta``: UTF-8 JSON with the
format, the epoch to run next and the sweep's ``config``: the run identity of
jaxnet.train._identity.run_config, compared by the same check_config as fit's:
the model (layers, cost, precision), the dtype, the training and evaluation data
(fingerprinted), the fingerprints of the initial keys and parameters (so another
set of seeds is another sweep), the caller's names (the command line's seeds,
init, evaluation split, data), and here every member's η, λ, μ and the sharding
that changes results: how many members share a device (None without a mesh; XLA
picks the batched products' kernel by that shape, which may change a step's last
bit: tests/test_population_mesh.py) and how many ways each mini-batch is split
(a 2-D mesh's data axis: the gradients' summation order). ``diverged (P,)``
holds the epoch in which each member became NaN or Inf (its state frozen since),
-1 for a member still training. Version 1 recorded all of it but the names (and
the test data a population never has): such a checkpoint is resumed, its names
taken as not given; versions 1 and 2 had no ``diverged`` (no member had: a
diverged member stopped the sweep). Read with jaxnet.io's
validating ``.npz`` reader: every array's header is checked before anything is
allocated.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..._core.npz import NpzReader
from ..._core.params import Layer
from ..._core.rescue import WriteError
from .._checkpoint import CheckpointError, check_config, write_npz
from .._identity import NAMES, run_config
from .mesh import slots

FORMAT = "jaxnet.population_checkpoint"
# 2: the caller's names and the (absent) test data in the config, as fit's (version 1
#    had the rest of the identity: it is resumed with them as not given).
# 3: ``diverged``, each member's status (versions 1 and 2: every member training).
VERSION = 3
_UNNAMED = dict.fromkeys((*NAMES, "test_sha256"))


def population_config(*, model, dtype, x, labels, x_scale, eval_data, keys, params, hyper,
                      names=None, **options) -> dict:
    """What a resumed sweep must share with its checkpoint (JSON values): fit's run
    identity (jaxnet.train._identity.run_config) with every member's η, λ, μ.

    ``keys (P, 2)`` and ``params`` (stacked) are the sweep's *initial* keys and
    parameters; ``hyper``: ``{"eta", "lmbda", "momentum"}`` ``(P,)`` arrays;
    ``names``: the caller's (check_names); ``options``: the other settings (batch
    size, gradient, shuffle, ...)."""
    return run_config(model=model, dtype=dtype, x=x, labels=labels, x_scale=x_scale,
                      keys=keys, params=params, eval_data=eval_data, names=names,
                      members=int(np.shape(keys)[0]),
                      **{k: [float(v) for v in hyper[k]] for k in ("eta", "lmbda", "momentum")},
                      **options)


def save_population(path, *, params, velocity, keys, correct, epoch: int, config: dict,
                    diverged=None):
    """Writes a sweep's state to ``path`` atomically.

    Args:
      params: stacked Layers, host arrays with leading axis P; velocity: the same or None.
      keys: ``(P, 2)`` uint32; correct: ``(epoch, P)`` int or None.
      diverged: ``(P,)`` int, the epoch each member became NaN or Inf, -1 for none
        (None: every member training).

    Raises:
      jaxnet.io.WriteError: ``path`` could not be written (it is untouched);
        ``rescued`` says where a copy went; ``params`` and ``epoch`` hold the state.
    """
    arrays = {f"{p}{l}": np.asarray(a) for l, layer in enumerate(params)
              for p, a in zip("wb", layer)}
    if velocity is not None:
        arrays.update({f"v{p}{l}": np.asarray(a) for l, layer in enumerate(velocity)
                       for p, a in zip("wb", layer)})
    arrays["keys"] = np.asarray(keys, np.uint32)
    arrays["diverged"] = (np.full(len(arrays["keys"]), -1, np.int64) if diverged is None
                          else np.asarray(diverged, np.int64))
    if correct is not None:
        arrays["correct"] = np.asarray(correct, np.int64).reshape(epoch, -1)
    meta = dict(format=FORMAT, version=VERSION, epoch=int(epoch), config=config,
                momentum_state=velocity is not None, evaluated=correct is not None)
    try:
        write_npz(path, arrays, meta, f"the sweep after {epoch} epochs")
    except WriteError as e:
        e.params, e.epoch = params, int(epoch)
        raise


def load_population(path, config: dict, *, shapes, epochs: int, total):
    """Reads a sweep's checkpoint and checks it belongs to ``config`` and trains at
    most ``epochs`` epochs. ``shapes``: each layer's ``Layer(w shape, b shape)`` of
    one member; ``total``: the evaluation set's size (None without one).

    Returns ``dict(params, velocity, keys (P, 2), correct (epoch, P) or None,
    epoch, diverged (P,))`` as host arrays. Raises CheckpointError naming what is wrong."""
    path = Path(path)
    with NpzReader(path, CheckpointError, "not a readable jaxnet checkpoint") as z:
        meta = z.meta()
        version = meta.get("version")
        if meta.get("format") != FORMAT or version not in (1, 2, VERSION) or type(version) is not int:
            raise CheckpointError(f"{path}: not a population checkpoint of this jaxnet (format "
                                  f"{str(meta.get('format'))[:60]!r}, version "
                                  f"{str(version)[:20]}; expected {FORMAT!r} "
                                  f"{VERSION}): start over with overwrite=True")
        saved = meta.get("config")
        if version == 1 and isinstance(saved, dict) and not set(_UNNAMED) & set(saved):
            saved = dict(saved, **_UNNAMED)
        check_config(path, saved, config)
        epoch, momentum, evaluated = (meta.get(k) for k in ("epoch", "momentum_state",
                                                            "evaluated"))
        if type(epoch) is not int or epoch < 0:
            raise CheckpointError(f"{path}: bad epoch {str(epoch)[:40]}")
        if epoch > epochs:
            raise CheckpointError(f"{path}: has trained {epoch} epochs, more than the {epochs} "
                                  "asked for (ask for at least as many to resume it)")
        if momentum is not any(config["momentum"]) or evaluated is not (total is not None):
            raise CheckpointError(f"{path}: malformed (momentum state or evaluation counts "
                                  "do not match its configuration)")
        p = config["members"]
        z.expect_members({"meta", "keys"} | ({"correct"} if evaluated else set())
                         | ({"diverged"} if version >= 3 else set())
                         | {f"{v}{w}{l}" for l in range(len(shapes)) for w in "wb"
                            for v in ("", "v")[:1 + momentum]})
        dtype = np.dtype(config["dtype"])
        out = dict(params=_layers(z, "", shapes, p, dtype), velocity=None, epoch=epoch,
                   keys=z.array("keys", np.uint32, (p, 2)), correct=None)
        out["diverged"] = np.full(p, -1, np.int64)
        if version >= 3:
            out["diverged"] = z.array("diverged", np.int64, (p,))
            if not -1 <= out["diverged"].min() <= out["diverged"].max() < epoch:
                raise CheckpointError(f"{path}: member statuses (diverged) outside [-1, "
                                      f"{epoch - 1}]")
            if (out["diverged"] >= 0).all():
                raise CheckpointError(f"{path}: every member diverged: nothing to resume")
        if momentum:
            out["velocity"] = _layers(z, "v", shapes, p, dtype)
        if evaluated:
            out["correct"] = z.array("correct", np.int64, (epoch, p))
            if out["correct"].size and not (0 <= out["correct"].min() <= out["correct"].max()
                                            <= total):
                raise CheckpointError(f"{path}: evaluation counts outside [0, {total}]")
    return out


def _layers(z, prefix, shapes, p, dtype):
    out = []
    for l, (w_shape, b_shape) in enumerate(shapes):
        w = z.array(f"{prefix}w{l}", dtype, (p, *w_shape))
        b = z.array(f"{prefix}b{l}", dtype, (p, *b_shape))
        if not (np.all(np.isfinite(w)) and np.all(np.isfinite(b))):
            raise CheckpointError(f"{z.path}: layer {l} {prefix or 'params'} contains NaN or Inf")
        out.append(Layer(w, b))
    return tuple(out)


def member_split(pop: int, sharding) -> dict:
    """The sharding that changes results (a checkpoint's config): how many members
    share a device (the batched products' shape) and how many ways a mini-batch is
    split (the gradients' summation order)."""
    if sharding is None:   # not partitioned (None: even a 1-device mesh is another program)
        return dict(members_per_device=None, data_shards=1)
    return dict(members_per_device=slots(pop, sharding) // sharding.devices,
                data_shards=sharding.data_shards)


def member_shapes(model) -> list:
    """One member's ``Layer(w shape, b shape)`` per layer."""
    return [layer.param_shapes(s) for layer, s in zip(model.layers, model.shapes)]
