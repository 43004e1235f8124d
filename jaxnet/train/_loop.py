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

from .._core.inputs import check_classes, check_x, scale
from .._core.memory import check_memory
from .._core.validate import check_batch_size
from ..data import one_hot
from ._steps import check_grad


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
    positive int."""
    if n is None:
        return size
    if isinstance(n, str) and n == "batches":
        return size // batch_size
    if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 1:
        raise ValueError(f"n: expected None (the training set's size, network2), 'batches' "
                         f"(their count, network3) or a positive int, got {n!r}")
    return int(n)


def check_epochs(epochs) -> int:
    if isinstance(epochs, bool) or not isinstance(epochs, numbers.Integral) or epochs < 0:
        raise ValueError(f"epochs: expected a non-negative int, got {epochs!r}")
    return int(epochs)


def check_eval_rows(model, eval_data, x_scale, name="eval_data") -> int:
    """``eval_data``: a pair ``(x (M, n_0), labels (M,))``; returns ``M``."""
    if not isinstance(eval_data, (tuple, list)) or len(eval_data) != 2:
        length = f" of length {len(eval_data)}" if isinstance(eval_data, (tuple, list)) else ""
        raise TypeError(f"{name}: expected a pair (x, labels), got "
                        f"{type(eval_data).__name__}{length}")
    ex, el = eval_data
    m = check_x(model, ex, x_scale=x_scale, allow_int=x_scale is not None, name=f"{name} x")
    check_classes(model, el, m, name=f"{name} labels")
    return m


def check_eval_data(model, eval_data, x_scale, name="eval_data"):
    """``eval_data``: a pair ``(x (M, n_0), labels (M,))``, checked; returns them on the
    device."""
    check_eval_rows(model, eval_data, x_scale, name)
    return jax.device_put(eval_data[0]), jax.device_put(eval_data[1])


def prepare(model, params, x, labels, *, x_scale, epochs, batch_size, eval_data,
            grad, members: int = 1) -> TrainingSet:
    """Checks a fit loop's data and counts, and that the run's peak fits the memory
    available for ``members`` networks at once (jaxnet._core.memory), then puts the data
    on the device (the one-hot targets are made on the host: no extra XLA program to
    compile)."""
    n = check_x(model, x, x_scale=x_scale)
    check_classes(model, labels, n)
    check_epochs(epochs)
    batch_size = check_batch_size(batch_size, n)
    check_grad(grad)
    dtype = np.dtype(params[0].w.dtype)
    n_eval = None if eval_data is None else check_eval_rows(model, eval_data, x_scale)
    check_memory(model, dtype, examples=n, batch_size=batch_size, eval_examples=n_eval or 0,
                 members=members, x_itemsize=np.dtype(x.dtype).itemsize)
    ev = None if eval_data is None else tuple(jax.device_put(a) for a in eval_data)
    y = one_hot(labels, model.sizes[-1], dtype)
    return TrainingSet(n, batch_size, jax.device_put(x), x, jax.device_put(y),
                       jax.device_put(labels), scale(x_scale, params), ev)


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
