"""What the fit loops share: the checked, device-resident training set, and a timed epoch.

jaxnet.fit and jaxnet.fit_population both start with :func:`prepare` and run
every epoch through :func:`run_epoch`.
"""

from __future__ import annotations

import numbers
import time
from typing import NamedTuple, Optional

import jax
import numpy as np

from .._core.inputs import scale
from .._core.memory import check_memory
from .._core.validate import check_batch_size
from ..data import one_hot
from ._steps import check_grad
from ._values import Regularization, TrainingData


class TrainingSet(NamedTuple):
    """A fit loop's data, checked and on the device.

    Attributes:
      n: the number of training examples ``N``; batch_size: checked.
      x: ``(N, n_0)`` inputs on the device (as given: float, or integer with scale);
      x_host: the same, as given (the C epoch reads it).
      y: ``(N, n_L)`` one-hot targets in the parameters' dtype, on the device.
      labels: ``(N,)`` on the device.
      scale: x_scale as an array in the parameters' dtype, or None.
      eval: ``(x_eval (M, n_0), labels_eval (M,))`` on the device, or None.
    """

    n: int
    batch_size: int
    x: jax.Array
    x_host: object
    y: jax.Array
    labels: jax.Array
    scale: Optional[jax.Array]
    eval: Optional[tuple]


def reg_count(n, size: int, batch_size: int) -> int:
    """λ/n's n in a fit loop: ``size`` (N) for None (network2), ``size // batch_size``
    for ``"batches"`` (network3: the number of mini-batches), or ``n`` itself, a
    positive int (checked as jaxnet.Regularization checks it)."""
    return Regularization(0.0, n).count(size, batch_size)


def check_epochs(epochs) -> int:
    if isinstance(epochs, bool) or not isinstance(epochs, numbers.Integral) or epochs < 0:
        raise ValueError(f"epochs: expected a non-negative int, got {epochs!r}")
    return int(epochs)


def prepare(model, params, x, labels, *, x_scale, epochs, batch_size, eval_data,
            grad, members: int = 1) -> TrainingSet:
    """:func:`prepare_data` of the jaxnet.TrainingData that ``x``, ``labels``,
    ``x_scale`` and ``eval_data`` make (checked there, once)."""
    return prepare_data(model, params, TrainingData(x, labels, x_scale, eval_data),
                        epochs=epochs, batch_size=batch_size, grad=grad, members=members)


def prepare_data(model, params, train: TrainingData, *, epochs, batch_size, grad,
                 members: int = 1) -> TrainingSet:
    """A checked training set fitted to ``model`` (two shape comparisons: its values
    were checked when it was made), the counts checked, and the run's peak checked
    against the memory available for ``members`` networks at once
    (jaxnet._core.memory); then the data on the device (the one-hot targets are made
    on the host: no extra XLA program to compile)."""
    train.check_model(model)
    n = train.n
    check_epochs(epochs)
    batch_size = check_batch_size(batch_size, n)
    check_grad(grad)
    dtype = np.dtype(params[0].w.dtype)
    ev = train.eval_data
    check_memory(model, dtype, examples=n, batch_size=batch_size,
                 eval_examples=0 if ev is None else int(ev[0].shape[0]), members=members,
                 x_itemsize=np.dtype(train.x.dtype).itemsize)
    ev = None if ev is None else tuple(jax.device_put(a) for a in ev)
    y = one_hot(train.labels, model.sizes[-1], dtype)
    return TrainingSet(n, batch_size, jax.device_put(train.x), train.x, jax.device_put(y),
                       jax.device_put(train.labels), scale(train.x_scale, params), ev)


def run_epoch(fn, epoch: int, *args):
    """``(fn(*args), seconds)`` for an epoch function returning ``(..., finite)`` last;
    raises FloatingPointError naming the epoch when one network's ``finite`` is False.
    A population's ``finite (P,)`` is its caller's to judge: its members diverge alone
    (jaxnet.train._population.loop)."""
    t0 = time.perf_counter()
    out = jax.block_until_ready(fn(*args))
    seconds = time.perf_counter() - t0
    finite = np.asarray(out[-1])
    if finite.ndim == 0 and not finite:
        raise FloatingPointError(f"epoch {epoch}: the parameters became NaN or Inf "
                                 f"(eta is probably too large)")
    return out, seconds
