"""Checkpoints of fit_population: every member's state, to resume a sweep exactly.

A ``.npz`` archive (no pickle; stored members, written atomically through
jaxnet.io's rescue path, as fit's checkpoints) holding the stacked parameters
``w0, b0, ...`` (leading axis P), the momentum state ``vw0, vb0, ...`` (if any),
the members' PRNG keys ``keys (P, 2)``, the evaluation counts so far ``correct
(epochs done, P)`` (with an evaluation set) and ``meta``: UTF-8 JSON with the
format, the epoch to run next and the sweep's ``config``, which a resume must
match key for key: the model (layers, cost, precision), the dtype, the training
and evaluation data (fingerprinted), every member's η, λ, μ, the fingerprints of
the initial keys and parameters (so another set of seeds is another sweep), and
the sharding that changes results: how many members share a device (None
without a mesh; XLA picks the batched products' kernel by that shape, which may
change a step's last bit: tests/test_population_mesh.py) and how many ways each
mini-batch is split (a 2-D mesh's data axis: the gradients' summation order).
Read with
jaxnet.io's validating ``.npz`` reader: every array's header is checked before
anything is allocated.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from .._core.npz import NpzReader
from .._core.params import Layer
from .._core.rescue import WriteError
from ._checkpoint import CheckpointError, check_config, fingerprint, run_config, write_npz

FORMAT = "jaxnet.population_checkpoint"
VERSION = 1


def population_config(*, model, dtype, x, labels, x_scale, eval_data, keys, params, hyper,
                      **options) -> dict:
    """What a resumed sweep must share with its checkpoint (JSON values).

    ``keys (P, 2)`` and ``params`` (stacked) are the sweep's *initial* keys and
    parameters; ``hyper``: ``{"eta", "lmbda", "momentum"}`` ``(P,)`` arrays;
    ``options``: the other settings (batch size, gradient, shuffle, ...)."""
    leaves = hashlib.sha256("".join(fingerprint(a) for a in _leaves(params)).encode())
    evals = None
    if eval_data is not None:
        evals = hashlib.sha256((fingerprint(eval_data[0]) +
                                fingerprint(eval_data[1])).encode()).hexdigest()
    return run_config(model=model, dtype=dtype, x=x, labels=labels, x_scale=x_scale,
                      members=int(np.shape(keys)[0]), keys_sha256=fingerprint(keys),
                      params_sha256=leaves.hexdigest(), eval_sha256=evals,
                      **{k: [float(v) for v in hyper[k]] for k in ("eta", "lmbda", "momentum")},
                      **options)


def _leaves(params):
    return [a for layer in params for a in layer]


def save_population(path, *, params, velocity, keys, correct, epoch: int, config: dict):
    """Writes a sweep's state to ``path`` atomically.

    Args:
      params: stacked Layers, host arrays with leading axis P; velocity: the same or None.
      keys: ``(P, 2)`` uint32; correct: ``(epoch, P)`` int or None.

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
    epoch)`` as host arrays. Raises CheckpointError naming what is wrong."""
    path = Path(path)
    with NpzReader(path, CheckpointError, "not a readable jaxnet checkpoint") as z:
        meta = z.meta()
        if meta.get("format") != FORMAT or meta.get("version") != VERSION:
            raise CheckpointError(f"{path}: not a population checkpoint of this jaxnet (format "
                                  f"{str(meta.get('format'))[:60]!r}, version "
                                  f"{str(meta.get('version'))[:20]}; expected {FORMAT!r} "
                                  f"{VERSION}): start over with overwrite=True")
        check_config(path, meta.get("config"), config)
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
                         | {f"{v}{w}{l}" for l in range(len(shapes)) for w in "wb"
                            for v in ("", "v")[:1 + momentum]})
        dtype = np.dtype(config["dtype"])
        out = dict(params=_layers(z, "", shapes, p, dtype), velocity=None, epoch=epoch,
                   keys=z.array("keys", np.uint32, (p, 2)), correct=None)
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
