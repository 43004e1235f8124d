"""The values a training run is made of, each checked once, when it is made.

As a ``Model`` is one checked value, so are the rest of a run: the training set
(:class:`TrainingData`), the regularisation (:class:`Regularization`), the
patience rules (:class:`Patience`: the book's learning-rate schedule and early
stopping) and the checkpoint (:class:`Checkpoint`). ``jaxnet.fit`` takes them and
checks nothing in them again: what is left to check is only how they fit the
model (:meth:`TrainingData.check_model`: two shape comparisons).

The book's keywords (``eta``, ``lmbda``, ``x_scale``, ``eval_data``,
``early_stop``, ...) stay as fit's documented shorthand: jaxnet.train._shorthand
turns them into these values.
"""

from __future__ import annotations

import numbers
import os
from dataclasses import dataclass, field
from typing import Any, Optional

import numpy as np

from .._core.validate import check_finite, check_positive_scalar, check_reg_strength
from ._identity import check_names


def _examples(x, name) -> tuple[int, int]:
    """``x``: ``(N, n_0)`` with ``N ≥ 1``; returns ``(N, n_0)``."""
    try:
        shape, dt = tuple(x.shape), np.dtype(x.dtype)
    except (AttributeError, TypeError):
        raise TypeError(f"{name}: expected an array, got {type(x).__name__}") from None
    if len(shape) != 2:
        raise ValueError(f"{name}: expected shape (batch, n_0), got {shape}")
    if shape[0] == 0:
        raise ValueError(f"{name}: expected at least one example, got shape {shape}")
    if dt.kind not in "fui":
        raise TypeError(f"{name}: expected a float or unsigned/signed integer dtype, got {dt}")
    return shape


def _labels(labels, n, name) -> tuple:
    """``labels``: ``(n,)`` non-negative integers; returns ``(name, min, max)``."""
    try:
        shape, dt = tuple(labels.shape), np.dtype(labels.dtype)
    except (AttributeError, TypeError):
        raise TypeError(f"{name}: expected an array, got {type(labels).__name__}") from None
    if dt.kind not in "ui":
        raise TypeError(f"{name}: expected integer class labels, got dtype {dt}")
    if shape != (n,):
        raise ValueError(f"{name}: expected shape ({n},), got {shape}")
    lab = np.asarray(labels)
    lo, hi = int(lab.min()), int(lab.max())
    if lo < 0:
        raise ValueError(f"{name}: expected values >= 0 (class labels), got min {lo}, max {hi}")
    return name, lo, hi


@dataclass(frozen=True, eq=False)
class TrainingData:
    """A training set, checked when made: the examples, their labels, the scale of
    integer pixels, and the sets evaluated after each epoch.

    Args:
      x: ``(N, n_0)`` training inputs: float (finite), or integer pixels with
        ``x_scale``.
      labels: ``(N,)`` int class labels, ``>= 0``.
      x_scale: the positive factor that maps integer inputs to floats (``1/256``
        for jaxnet.data images); None for float inputs.
      eval_data: optional ``(x (M, n_0), labels (M,))`` monitored after each epoch,
        in the same input convention as ``x``.
      test_data: optional ``(x, labels)`` evaluated at each new best evaluation
        accuracy (network3's "best validation → corresponding test").

    Every value check (shapes, dtypes, NaN/Inf in float inputs, negative labels) is
    done here, once; :meth:`check_model` compares the two sizes a model fixes.
    """

    x: Any
    labels: Any
    x_scale: Optional[float] = None
    eval_data: Optional[tuple] = None
    test_data: Optional[tuple] = None
    n: int = field(init=False)
    n_in: int = field(init=False)
    label_ranges: tuple = field(init=False)

    def __post_init__(self):
        n, n_in = _examples(self.x, "x")
        tops = [_labels(self.labels, n, "labels")]
        integer = np.dtype(self.x.dtype).kind in "ui"
        if integer and self.x_scale is None:
            raise TypeError(f"x: integer inputs ({np.dtype(self.x.dtype)}) need x_scale, the "
                            "factor that maps them to floats (1/256 for jaxnet.data images)")
        scale = None if self.x_scale is None else check_positive_scalar(self.x_scale, "x_scale")
        if not integer:
            check_finite(self.x, "x")
        for name in ("eval_data", "test_data"):
            pair = getattr(self, name)
            if pair is not None:
                tops.append(_pair(pair, name, n_in, integer))
        object.__setattr__(self, "x_scale", scale)
        object.__setattr__(self, "n", int(n))
        object.__setattr__(self, "n_in", int(n_in))
        object.__setattr__(self, "label_ranges", tuple(tops))

    def check_model(self, model) -> None:
        """The inputs have the model's ``n_0`` features and every label is one of its
        ``n_L`` classes (shape comparisons only: the values were checked when made)."""
        if self.n_in != model.sizes[0]:
            raise ValueError(f"x: expected shape (batch, {model.sizes[0]}), got "
                             f"{tuple(self.x.shape)}")
        for name, lo, hi in self.label_ranges:
            if hi >= model.sizes[-1]:
                raise ValueError(f"{name}: expected values in [0, {model.sizes[-1]}), got "
                                 f"min {lo}, max {hi}")


def _pair(pair, name, n_in, integer) -> int:
    """An evaluation pair ``(x (M, n_0), labels (M,))`` in the training set's input
    convention; returns its labels' ``(name, min, max)``."""
    if not isinstance(pair, (tuple, list)) or len(pair) != 2:
        length = f" of length {len(pair)}" if isinstance(pair, (tuple, list)) else ""
        raise TypeError(f"{name}: expected a pair (x, labels), got "
                        f"{type(pair).__name__}{length}")
    ex, el = pair
    m, cols = _examples(ex, f"{name} x")
    if cols != n_in:
        raise ValueError(f"{name} x: expected shape (batch, {n_in}), got {tuple(ex.shape)}")
    if (np.dtype(ex.dtype).kind in "ui") != integer:
        raise TypeError(f"{name} x: expected {'integer' if integer else 'float'} inputs like x, "
                        f"got {np.dtype(ex.dtype)}")
    if not integer:
        check_finite(ex, f"{name} x")
    return _labels(el, m, f"{name} labels")


def _count(v, name) -> Optional[int]:
    """None or a positive int (a count of epochs)."""
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < 1:
        raise ValueError(f"{name}: expected a positive int (epochs without improvement), "
                         f"got {v!r}")
    return int(v)


@dataclass(frozen=True)
class Regularization:
    """The regularisation term's strength, checked when made (its kind, L2 or L1, is
    the model's ``reg``).

    Args:
      lmbda: λ, a finite number ``>= 0`` (0: none).
      n: the n of λ/n: None (the training set's size N, network2's), ``"batches"``
        (N // batch_size, network3's ½·λ·Σw² per mini-batch) or a positive int.
    """

    lmbda: float
    n: Any = None

    def __post_init__(self):
        check_reg_strength(self.lmbda, 1)       # a finite real >= 0, named "lmbda"
        f = float(np.asarray(self.lmbda))
        n = self.n
        if not (n is None or (isinstance(n, str) and n == "batches") or (
                not isinstance(n, bool) and isinstance(n, numbers.Integral) and n >= 1)):
            raise ValueError(f"n: expected None (the training set's size, network2), "
                             f"'batches' (their count, network3) or a positive int, got {n!r}")
        object.__setattr__(self, "lmbda", f)
        object.__setattr__(self, "n", n if n is None or isinstance(n, str) else int(n))

    def count(self, size: int, batch_size: int) -> int:
        """λ/n's n for a training set of ``size`` examples in mini-batches of ``batch_size``."""
        if self.n is None:
            return size
        return size // batch_size if self.n == "batches" else self.n


@dataclass(frozen=True)
class Patience:
    """What happens after epochs without a new best evaluation accuracy, checked when
    made: the book's learning-rate schedule (``halve_eta_after``: halve η, and stop
    instead of going below η/128) and early stopping (``stop_after``). Each is None
    or a positive number of epochs; both watch the evaluation accuracy."""

    halve_eta_after: Optional[int] = None
    stop_after: Optional[int] = None

    def __post_init__(self):
        object.__setattr__(self, "halve_eta_after", _count(self.halve_eta_after, "schedule"))
        object.__setattr__(self, "stop_after", _count(self.stop_after, "early_stop"))

    @property
    def active(self) -> bool:
        return self.halve_eta_after is not None or self.stop_after is not None


@dataclass(frozen=True)
class Checkpoint:
    """Where and how a run saves its whole state, checked when made.

    Args:
      path: the checkpoint file, saved atomically every ``every`` epochs and at the
        end (parameters, momentum, PRNG key, epoch, history, schedule, and the run's
        identity).
      every: a positive int.
      resume: continue from ``path`` if it exists (it must be this run's: a
        checkpoint of another run is refused naming what differs).
      overwrite: start over even though ``path`` exists (without it or ``resume``,
        an existing checkpoint is an error, before any training).
      names: the names a caller gives the run (the command line's ``--seed``, ...),
        said instead of fingerprints when a resume is refused.
    """

    path: Any
    every: int = 1
    resume: bool = False
    overwrite: bool = False
    names: Optional[dict] = None

    def __post_init__(self):
        if not isinstance(self.path, (str, os.PathLike)):
            raise TypeError(f"checkpoint: expected a file path, got {type(self.path).__name__}")
        if isinstance(self.every, bool) or not isinstance(self.every, numbers.Integral) \
                or self.every < 1:
            raise ValueError(f"checkpoint_every: expected a positive int, got {self.every!r}")
        for name in ("resume", "overwrite"):
            if not isinstance(getattr(self, name), bool):
                raise TypeError(f"{name}: expected True or False, got {getattr(self, name)!r}")
        check_names(self.names)
