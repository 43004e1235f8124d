"""A run's identity: everything that fixes its trajectory, as JSON values a
checkpoint records and a resume must match (fit's and fit_population's alike).

The model, the dtype, the data (fingerprinted), the initial PRNG keys and
parameters (fingerprinted), every hyper-parameter, and the names a caller gives
the run (the command line's ``--seed``, ``--init``, ...). :func:`differences`
says where two identities differ, in the words a refusal uses.
"""

from __future__ import annotations

import hashlib
import json

import numpy as np

#: Names a caller may give a run (the command line's ``--seed``, ``--init``, ...), each
#: with the identity fields it determines. A name is never compared alone: a resume
#: whose name differs while those fields are equal is the same run (the same bytes:
#: ``--data`` moved to another folder), and one whose fields differ is refused naming
#: the name instead of the fingerprints it explains.
_MEMBERS = ("members", "keys_sha256", "params_sha256", "eta", "lmbda", "momentum")
NAMES = {"seed": ("keys_sha256", "params_sha256"),        # jaxnet train: init and fit keys
         "seeds": _MEMBERS,                               # jaxnet sweep --seeds
         "ensemble": _MEMBERS,                            # jaxnet train --ensemble
         "init": ("params_sha256",),
         "eval": ("eval_sha256", "test_sha256"),          # the evaluation split
         "data": ("n", "images_sha256", "labels_sha256", "eval_sha256", "test_sha256")}

#: The identity's fingerprints (SHA-256), as a refusal says them.
DIGESTS = {"keys_sha256": "initial PRNG keys", "params_sha256": "initial parameters",
           "images_sha256": "training images", "labels_sha256": "training labels",
           "eval_sha256": "evaluation data", "test_sha256": "test data"}


def fingerprint(a) -> str:
    """SHA-256 of an array's dtype, shape and bytes (the training data's identity)."""
    a = np.ascontiguousarray(np.asarray(a))
    h = hashlib.sha256(f"{a.dtype.str}{a.shape}".encode())
    h.update(a)
    return h.hexdigest()


def tree_sha256(params) -> str:
    """SHA-256 over the fingerprints of a tuple of Layers' arrays, in order."""
    return hashlib.sha256("".join(fingerprint(a) for layer in params
                                  for a in layer).encode()).hexdigest()


def pair_sha256(pair):
    """SHA-256 over the fingerprints of an ``(x, labels)`` pair, or None without one."""
    if pair is None:
        return None
    return hashlib.sha256((fingerprint(pair[0]) + fingerprint(pair[1])).encode()).hexdigest()


def check_names(names) -> dict:
    """``names``: None or a dict from keys of :data:`NAMES` to None, a str or an int;
    returns every name, None where not given."""
    if names is None:
        names = {}
    if not isinstance(names, dict):
        raise TypeError(f"names: expected a dict or None, got {type(names).__name__}")
    unknown = sorted(map(str, set(names) - set(NAMES)))
    if unknown:
        raise ValueError(f"names: expected keys from {tuple(NAMES)}, got {short(unknown)}")
    for k, v in names.items():
        if not (v is None or isinstance(v, str) or type(v) is int):
            raise TypeError(f"names: {k} must be None, a str or an int, got {short(v)}")
    return {k: names.get(k) for k in NAMES}


def run_config(*, model, dtype, x, labels, x_scale, keys, params, eval_data, test_data=None,
               names=None, **hyper) -> dict:
    """The run's identity: everything that fixes its trajectory, which a resumed run
    must share with the checkpoint (JSON values).

    The model (its layers, cost, regularisation kind, precision), the dtype, the
    training data ``x (N, n_0)``, ``labels (N,)``, ``eval_data`` and ``test_data``
    (``(x (M, n_0), labels (M,))`` or None) fingerprinted, the initial PRNG ``keys``
    (``(2,)`` for fit, ``(P, 2)`` for a population) and parameters ``params`` (Layers)
    fingerprinted, the caller's ``names`` (:func:`check_names`) and every other
    hyper-parameter (``hyper``: JSON values: η, μ, λ and its n, the batch size, the
    schedule, shuffling, the gradient, the implementation, ...)."""
    return dict(sizes=list(model.sizes), **model.describe(), dtype=np.dtype(dtype).name,
                n=int(np.shape(labels)[0]),
                images_sha256=fingerprint(x), labels_sha256=fingerprint(labels),
                x_scale=None if x_scale is None else float(x_scale),
                keys_sha256=fingerprint(keys), params_sha256=tree_sha256(params),
                eval_sha256=pair_sha256(eval_data), test_sha256=pair_sha256(test_data),
                **check_names(names), **hyper)


def _json(v) -> str:
    return json.dumps(v, sort_keys=True)


def differences(saved: dict, config: dict) -> list:
    """Where two run identities (:func:`run_config`, the saved one first) differ, as a
    refusal says it: ``"eta: checkpoint 0.5, this run 0.4"``, ``"initial parameters
    differ (params_sha256: checkpoint 3f2a..., this run 9c01...)"``. Values are equal as
    JSON (so ``3.0`` is not ``3`` and ``true`` is not ``1``); a name (:data:`NAMES`)
    counts only through the fields it determines, and is said instead of them."""
    diff = [k for k, v in config.items() if k not in saved or _json(saved[k]) != _json(v)]
    named = [k for k in NAMES if k in diff and any(f in diff for f in NAMES[k])]
    implied = {f for k in named for f in NAMES[k]}
    rest = [k for k in diff if k not in NAMES and k not in implied]
    return [_difference(k, saved.get(k), config[k]) for k in named + rest]


def _difference(k, saved, this) -> str:
    if k in DIGESTS:
        return f"{DIGESTS[k]} differ ({k}: checkpoint {_digest(saved)}, this run {_digest(this)})"
    return f"{k}: checkpoint {short(saved)}, this run {short(this)}"


def _digest(v) -> str:
    return f"{v[:12]}..." if isinstance(v, str) and len(v) == 64 and v.isalnum() else short(v)


def short(v) -> str:
    r = repr(v)
    return r if len(r) <= 80 else r[:77] + "..."
