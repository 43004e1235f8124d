"""A model's description read from a file, checked before anything is built.

:meth:`jaxnet.Model.describe` writes JSON such as ``{"input_shape": [1, 28, 28],
"cost": "log_likelihood", "reg": "l2", "precision": "highest", "layers":
[{"kind": "ConvPool", "filters": 20, "kernel": 5, "pool": 2, "activation":
"relu"}, {"kind": "Dense", "n_out": 10, "activation": "softmax", "dropout":
0.0}]}``. :func:`model_from_description` reads it back against a fixed schema:
every key required, no other key, every value of its JSON type (an int is not
a float, a bool is not an int), every int within :data:`MAX_INT`, every name
one of jaxnet's. A layer's ``kind`` selects a class from :data:`LAYER_KINDS`
by dictionary lookup: nothing read from a file is ever evaluated or imported.
"""

from __future__ import annotations

import math

from .._core.activations import OUTPUT
from .._core.convpool import ConvPool
from .._core.dense import Dense
from .._core.model import COSTS, REGULARIZATIONS, Model
from .._core.precision import PRECISIONS

#: The largest int a description may hold (neurons, filters, kernel and pool sides,
#: input dimensions): 2^24 neurons of one layer already need 2^24 weights per input.
MAX_INT = 1 << 24
#: The most layers and input dimensions a description may hold.
MAX_LAYERS, MAX_INPUT_DIMS = 1000, 4


def show(value) -> str:
    """``value`` for a one-line message: its repr, at most 60 characters."""
    r = repr(value)
    return r if len(r) <= 60 else r[:57] + "..."


def _int(where, value) -> int:
    if type(value) is not int or not 1 <= value <= MAX_INT:
        raise ValueError(f"{where}: expected an int in [1, {MAX_INT}], got {show(value)}")
    return value


def _probability(where, value) -> float:
    if type(value) not in (int, float) or not 0 <= value < 1:
        raise ValueError(f"{where}: expected a number in [0, 1), got {show(value)}")
    return float(value)


def _name(choices):
    def check(where, value) -> str:
        if type(value) is not str or value not in choices:
            raise ValueError(f"{where}: expected one of {', '.join(choices)}, got "
                             f"{show(value)}")
        return value
    return check


#: Layer kinds by the name Model.describe gives them: the class and each field's check.
LAYER_KINDS = {
    "Dense": (Dense, {"n_out": _int, "activation": _name(OUTPUT), "dropout": _probability}),
    "ConvPool": (ConvPool, {"filters": _int, "kernel": _int, "pool": _int,
                            "activation": _name(OUTPUT)}),
}


def _key(key) -> str:
    """A key as it may be shown in a message (a hostile one only as a short repr)."""
    return key if type(key) is str and key.isidentifier() and len(key) <= 40 else show(key)


def _fields(where, doc, checks) -> dict:
    """``doc`` (a JSON object) holding exactly the keys of ``checks``, each checked."""
    if type(doc) is not dict:
        raise ValueError(f"{where}: expected an object, got {type(doc).__name__}")
    unknown = [k for k in doc if k not in checks]
    if unknown:
        raise ValueError(f"{where}.{_key(unknown[0])}: not a field (expected "
                         f"{', '.join(checks)})")
    missing = [k for k in checks if k not in doc]
    if missing:
        raise ValueError(f"{where}.{missing[0]}: missing")
    return {k: check(f"{where}.{k}", doc[k]) for k, check in checks.items()}


def _layer(where, doc):
    """One layer: its ``kind`` first (which fields it has), then those fields."""
    if type(doc) is not dict:
        raise ValueError(f"{where}: expected an object (a layer's fields), got "
                         f"{type(doc).__name__}")
    if "kind" not in doc:
        raise ValueError(f"{where}.kind: missing")
    kind = doc["kind"]
    if type(kind) is not str or kind not in LAYER_KINDS:
        raise ValueError(f"{where}.kind: expected one of {', '.join(LAYER_KINDS)}, got "
                         f"{show(kind)}")
    cls, checks = LAYER_KINDS[kind]
    fields = _fields(where, doc, {"kind": lambda _, v: v, **checks})
    del fields["kind"]
    return cls(**fields)


def _input_shape(where, value) -> tuple:
    if type(value) is not list or not 1 <= len(value) <= MAX_INPUT_DIMS:
        raise ValueError(f"{where}: expected a list of 1 to {MAX_INPUT_DIMS} ints, got "
                         f"{show(value)}")
    shape = tuple(_int(f"{where}[{i}]", n) for i, n in enumerate(value))
    if math.prod(shape) > MAX_INT:
        raise ValueError(f"{where}: {math.prod(shape)} inputs, more than {MAX_INT}")
    return shape


def _layers(where, value) -> tuple:
    if type(value) is not list or not 1 <= len(value) <= MAX_LAYERS:
        raise ValueError(f"{where}: expected a list of 1 to {MAX_LAYERS} layers, got "
                         f"{show(value) if type(value) is not list else '[]'}")
    return tuple(_layer(f"{where}[{i}]", doc) for i, doc in enumerate(value))


def model_from_description(description, where: str = "model") -> Model:
    """The Model a :meth:`jaxnet.Model.describe` description names, checked field by field.

    Args:
      description: the parsed JSON object.
      where: how messages name the description (``"model"``).

    Returns:
      A jaxnet.Model equal to the one described (``describe()`` gives the
      description back).

    Raises:
      ValueError: naming the first field that is missing, unknown, of another
        type, out of bounds, not one of jaxnet's names, or inconsistent with the
        others (e.g. a kernel larger than its input), e.g.
        ``model.layers[0].filters: expected an int in [1, 16777216], got 1000000000``.
    """
    fields = _fields(where, description, {
        "input_shape": _input_shape, "cost": _name(COSTS), "reg": _name(REGULARIZATIONS),
        "precision": _name(PRECISIONS), "layers": _layers})
    try:
        return Model(**fields)
    except (ValueError, TypeError) as e:
        raise ValueError(f"{where}: {str(e)[:300]}") from None
