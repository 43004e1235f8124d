"""fit's shorthand: the book's keywords (``eta``, ``momentum``, ``lmbda``, ``n``,
``x_scale``, ``eval_data``, ``early_stop``, ...) turned into the run's values
(jaxnet.train._values), and a clear error when a keyword and the value that holds
it are both given."""

from __future__ import annotations

from typing import Optional

from ._values import Checkpoint, Patience, Regularization, TrainingData

#: fit's shorthand: the book's keywords (and a few loop options) and their defaults.
SHORTHAND = dict(eta=3.0, momentum=0.0, lmbda=None, n=None, x_scale=None, eval_data=None,
                 test_data=None, early_stop=None, checkpoint_every=1, resume=False,
                 overwrite=False, names=None, grad="backprop", threads=1, shuffle=True,
                 progress=None)


def shorthand(options: dict) -> dict:
    """fit's ``**options`` with every default filled in; an unknown keyword is a
    TypeError naming it and the ones fit takes."""
    unknown = sorted(set(options) - set(SHORTHAND))
    if unknown:
        raise TypeError(f"fit() got an unexpected keyword argument {unknown[0]!r} (its "
                        f"shorthand takes: {', '.join(SHORTHAND)})")
    return {**SHORTHAND, **options}


def training_data(x, labels, o: dict) -> TrainingData:
    """``x`` itself when it is a TrainingData (then no ``labels``, ``x_scale``,
    ``eval_data`` or ``test_data``), else the TrainingData they make."""
    if isinstance(x, TrainingData):
        given = [k for k, v in (("labels", labels), ("x_scale", o["x_scale"]),
                                ("eval_data", o["eval_data"]), ("test_data", o["test_data"]))
                 if v is not None]
        if given:
            raise TypeError(f"{given[0]}: the TrainingData holds it; give one or the other")
        return x
    if labels is None:
        raise TypeError("labels: expected the (N,) int class labels of x (or pass a "
                        "jaxnet.TrainingData as x)")
    return TrainingData(x, labels, o["x_scale"], o["eval_data"], o["test_data"])


def regularization(penalty, o: dict) -> Regularization:
    """``penalty`` (a Regularization), or the one ``lmbda`` (None: 0) and ``n`` make."""
    if penalty is None:
        return Regularization(0.0 if o["lmbda"] is None else o["lmbda"], o["n"])
    if not isinstance(penalty, Regularization):
        raise TypeError(f"penalty: expected a jaxnet.Regularization(lmbda, n), got "
                        f"{type(penalty).__name__}")
    if o["lmbda"] is not None or o["n"] is not None:
        raise TypeError("lmbda: the Regularization holds it (and n); give one or the other")
    return penalty


def patience(schedule, o: dict) -> Patience:
    """``schedule`` (a Patience, or the book's int: halve η after that many epochs
    without improvement) with ``early_stop``."""
    if isinstance(schedule, Patience):
        if o["early_stop"] is not None:
            raise TypeError("early_stop: the Patience holds it (stop_after); give one or "
                            "the other")
        return schedule
    return Patience(schedule, o["early_stop"])


def checkpoint_value(checkpoint, o: dict) -> Optional[Checkpoint]:
    """``checkpoint`` (a Checkpoint, or a path with ``checkpoint_every``, ``resume``,
    ``overwrite`` and ``names``), or None."""
    if isinstance(checkpoint, Checkpoint):
        loose = [k for k, d in (("checkpoint_every", 1), ("resume", False),
                                ("overwrite", False), ("names", None)) if o[k] != d]
        if loose:
            raise TypeError(f"{loose[0]}: the Checkpoint holds it; give one or the other")
        return checkpoint
    made = Checkpoint("-", o["checkpoint_every"], o["resume"], o["overwrite"], o["names"])
    return None if checkpoint is None else Checkpoint(checkpoint, made.every, made.resume,
                                                      made.overwrite, made.names)
