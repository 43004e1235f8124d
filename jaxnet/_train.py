"""Mini-batch SGD: one step, one epoch as a single compiled program, the fit loop."""

from __future__ import annotations

import time
from functools import partial
from typing import Callable, NamedTuple, Optional

import jax
import jax.numpy as jnp
from jax import lax
import numpy as np

from ._autodiff import _autodiff_grad
from ._network import _backprop, _feedforward
from ._params import as_layers
from ._validate import (check_batch_size, check_inputs, check_labels, check_order,
                        check_params, check_positive_scalar, check_targets)

#: Gradient implementations a training step can use, by name.
GRADIENTS = {"backprop": _backprop, "autodiff": _autodiff_grad}


def _check_grad(grad):
    if grad not in GRADIENTS:
        raise ValueError(f"grad: expected one of {tuple(GRADIENTS)}, got {grad!r}")


def _step(params, x, y, eta, grad):
    g = GRADIENTS[grad](params, x, y)
    return jax.tree.map(lambda p, d: p - eta * d, params, g)


@partial(jax.jit, static_argnames=("grad",))
def _sgd_step(params, x, y, eta, grad="backprop"):
    eta = jnp.asarray(eta, params[0].w.dtype)
    return _step(params, x, y, eta, grad)


def sgd_step(params, x, y, eta, *, grad: str = "backprop"):
    """One mini-batch update ``p − η·∇C`` (the book's ``w − (η/m)·Σ_x ∇C_x``).

    Args:
      params: tuple of ``Layer(w (n_out, n_in), b (n_out,))``.
      x: ``(m, n_0)`` float mini-batch.
      y: ``(m, n_L)`` float targets.
      eta: learning rate η > 0 (a traced scalar: new values do not recompile).
      grad: ``"backprop"`` (BP1–BP4 by hand) or ``"autodiff"`` (``jax.grad``).

    Returns:
      The updated parameters, same structure, shapes and dtype.
    """
    sizes, _ = check_params(params)
    m = check_inputs(x, sizes[0])
    check_targets(y, m, sizes[-1])
    check_positive_scalar(eta, "eta")
    _check_grad(grad)
    return _sgd_step(as_layers(params), x, y, eta, grad=grad)


def _minibatch(x, y, idx, x_scale, dtype):
    """Rows ``idx`` of the training set, converted to the compute dtype.

    ``x`` may be stored compactly (uint8 pixels) and is scaled here, one
    mini-batch at a time, so the epoch never materialises a float copy of the
    training set.
    """
    xb = jnp.take(x, idx, axis=0).astype(dtype)
    if x_scale is not None:
        xb = xb * x_scale
    return xb, jnp.take(y, idx, axis=0).astype(dtype)


# How often a progress callback fires during an epoch.
_PROGRESS_REPORTS = 20


@partial(jax.jit, static_argnames=("batch_size", "grad", "progress"))
def _train_epoch(params, x, y, order, eta, x_scale, *, batch_size, grad="backprop",
                 progress=None):
    dtype = params[0].w.dtype
    eta = jnp.asarray(eta, dtype)
    if x_scale is not None:
        x_scale = jnp.asarray(x_scale, dtype)
    n = order.shape[0]
    n_full, rem = divmod(n, batch_size)
    n_steps = n_full + (rem > 0)
    every = max(1, n_full // _PROGRESS_REPORTS)

    def body(p, step_and_idx):
        i, idx = step_and_idx
        xb, yb = _minibatch(x, y, idx, x_scale, dtype)
        p = _step(p, xb, yb, eta, grad)
        if progress is not None:
            lax.cond((i + 1) % every == 0,
                     lambda i: jax.debug.callback(progress, i + 1, n_steps),
                     lambda i: None, i)
        return p, None

    full = order[: n_full * batch_size].reshape(n_full, batch_size)
    params, _ = lax.scan(body, params, (jnp.arange(n_full), full))
    if rem:
        # The book's last, smaller mini-batch: the remaining `rem` examples.
        xb, yb = _minibatch(x, y, order[n_full * batch_size:], x_scale, dtype)
        params = _step(params, xb, yb, eta, grad)
        if progress is not None:
            jax.debug.callback(progress, n_steps, n_steps)
    return params


def train_epoch(params, x, y, order, *, eta, batch_size, x_scale=None,
                grad: str = "backprop", progress: Optional[Callable] = None):
    """One epoch of mini-batch SGD as a single compiled program.

    The examples are visited in ``order``, ``batch_size`` at a time
    (``lax.scan`` over the full mini-batches); when ``batch_size`` does not
    divide ``N``, the last ``N mod batch_size`` examples form a final, smaller
    mini-batch, exactly as network.py does. Shapes depend only on ``N`` and
    ``batch_size``, so new orders, η or parameter values never recompile.

    Args:
      params: tuple of ``Layer(w (n_out, n_in), b (n_out,))``.
      x: ``(N, n_0)`` float inputs, or integer inputs (e.g. uint8 pixels)
        together with ``x_scale``: mini-batch rows are ``x[i] * x_scale``.
      y: ``(N, n_L)`` float targets (one-hot for classification).
      order: ``(N,)`` int, a permutation of ``range(N)``.
      eta: learning rate η > 0.
      batch_size: mini-batch size, ``1 <= batch_size <= N``.
      x_scale: float factor for integer ``x`` (``1/256`` for jaxnet.data's images).
      grad: ``"backprop"`` (BP1–BP4) or ``"autodiff"`` (``jax.grad``).
      progress: optional hashable callable ``progress(steps_done, n_steps)``,
        called from the host about 20 times an epoch.

    Returns:
      The parameters after the epoch, same structure, shapes and dtype.
    """
    sizes, _ = check_params(params)
    n = check_inputs(x, sizes[0], allow_int=True)
    if np.dtype(x.dtype).kind in "ui" and x_scale is None:
        raise TypeError(f"x: integer inputs ({x.dtype}) need x_scale, the factor that "
                        "maps them to floats (1/256 for jaxnet.data images)")
    if x_scale is not None:
        check_positive_scalar(x_scale, "x_scale")
    check_targets(y, n, sizes[-1])
    check_order(order, n)
    check_positive_scalar(eta, "eta")
    batch_size = check_batch_size(batch_size, n)
    _check_grad(grad)
    return _train_epoch(as_layers(params), x, y, order, eta, x_scale,
                        batch_size=batch_size, grad=grad, progress=progress)


@jax.jit
def _evaluate(params, x, labels, x_scale):
    x = x.astype(params[0].w.dtype)
    if x_scale is not None:
        x = x * jnp.asarray(x_scale, x.dtype)
    predicted = jnp.argmax(_feedforward(params, x), axis=1)
    return jnp.sum(predicted == labels.astype(predicted.dtype))


def evaluate(params, x, labels, *, x_scale=None):
    """How many examples the network classifies correctly.

    Args:
      params: tuple of Layers.
      x: ``(N, n_0)`` float inputs (or integer with ``x_scale``, as in train_epoch).
      labels: ``(N,)`` int class labels in ``[0, n_L)``.

    Returns:
      A scalar int array: ``Σ [argmax_j a^L_j(x) == label]`` (ties go to the
      lowest j, as ``np.argmax``).
    """
    sizes, _ = check_params(params)
    n = check_inputs(x, sizes[0], allow_int=x_scale is not None)
    check_labels(labels, n, sizes[-1])
    return _evaluate(as_layers(params), x, labels, x_scale)


def _all_finite(params):
    return jnp.all(jnp.stack([jnp.all(jnp.isfinite(a)) for a in jax.tree.leaves(params)]))


@partial(jax.jit, static_argnames=("batch_size", "grad", "progress"))
def _shuffled_epoch(params, key, x, y, eta, x_scale, *, batch_size, grad, progress):
    """The fit loop's epoch: shuffle with ``key``, train, check finiteness — one program.

    Returns ``(params, next_key, all_finite)``; the shuffle is
    ``permutation(split(key)[1], N)``, so epoch e's order is reproducible.
    """
    key, sub = jax.random.split(key)
    order = jax.random.permutation(sub, y.shape[0]).astype(jnp.int32)
    params = _train_epoch(params, x, y, order, eta, x_scale, batch_size=batch_size,
                          grad=grad, progress=progress)
    return params, key, _all_finite(params)


class EpochRecord(NamedTuple):
    """What the fit loop saw in one epoch.

    Attributes:
      epoch: 0-based, as the book prints it.
      correct: examples of the evaluation data classified correctly (None
        without evaluation data).
      total: size of the evaluation data (None without it).
      seconds: wall time of the epoch's training program (excludes evaluation).
      eval_seconds: wall time of the evaluation.
    """

    epoch: int
    correct: Optional[int]
    total: Optional[int]
    seconds: float
    eval_seconds: float

    @property
    def accuracy(self) -> Optional[float]:
        return None if self.total is None else self.correct / self.total


class FitResult(NamedTuple):
    """``params``: the trained parameters; ``history``: one EpochRecord per
    epoch; ``compile_seconds``: time to compile the epoch program."""

    params: tuple
    history: list
    compile_seconds: float


def fit(key, params, x, labels, *, epochs: int = 30, eta: float = 3.0,
        batch_size: int = 10, x_scale=None, eval_data=None, grad: str = "backprop",
        on_epoch: Optional[Callable[[EpochRecord], None]] = None,
        progress: Optional[Callable] = None) -> FitResult:
    """Mini-batch SGD for ``epochs`` epochs, evaluating after each (network.py's SGD).

    Each epoch is one compiled program (compiled once, before the first
    epoch): ``key, k = split(key)``, ``order = permutation(k, N)``, then
    :func:`train_epoch` over ``order``.

    Args:
      key: JAX PRNG key for the shuffles.
      params: initial parameters, tuple of Layers.
      x: ``(N, n_0)`` training inputs: float, or integer with ``x_scale``.
      labels: ``(N,)`` int training labels in ``[0, n_L)``.
      epochs, eta, batch_size: as in the book.
      x_scale: factor for integer inputs (``1/256`` for jaxnet.data images).
      eval_data: optional ``(x_eval (M, n_0), labels_eval (M,))``, same input
        dtype convention as ``x``.
      grad: ``"backprop"`` or ``"autodiff"``.
      on_epoch: called with each EpochRecord as soon as it is known.
      progress: as in :func:`train_epoch`.

    Returns:
      FitResult(params, history, compile_seconds).

    Raises:
      FloatingPointError: if the parameters stop being finite (η too large).
    """
    sizes, dtype = check_params(params)
    n = check_inputs(x, sizes[0], allow_int=True)
    if np.dtype(x.dtype).kind in "ui" and x_scale is None:
        raise TypeError(f"x: integer inputs ({x.dtype}) need x_scale")
    check_labels(labels, n, sizes[-1])
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 0:
        raise ValueError(f"epochs: expected a non-negative int, got {epochs!r}")
    check_positive_scalar(eta, "eta")
    batch_size = check_batch_size(batch_size, n)
    _check_grad(grad)
    if eval_data is not None:
        ex, el = eval_data
        m = check_inputs(ex, sizes[0], name="eval_data x", allow_int=x_scale is not None)
        check_labels(el, m, sizes[-1], name="eval_data labels")
        ex, el = jax.device_put(ex), jax.device_put(el)

    params = as_layers(params)
    x = jax.device_put(x)
    # One-hot on the host: no extra XLA program to compile.
    y = jax.device_put(np.eye(sizes[-1], dtype=dtype)[np.asarray(labels)])
    eta_a = jnp.asarray(eta, dtype)
    scale_a = None if x_scale is None else jnp.asarray(x_scale, dtype)

    # Compile everything once, up front, so the epochs' times are pure run time.
    t0 = time.perf_counter()
    epoch_fn = _shuffled_epoch.lower(params, key, x, y, eta_a, scale_a, batch_size=batch_size,
                                     grad=grad, progress=progress).compile()
    eval_fn = (_evaluate.lower(params, ex, el, scale_a).compile()
               if eval_data is not None else None)
    compile_seconds = time.perf_counter() - t0

    history = []
    for epoch in range(epochs):
        t0 = time.perf_counter()
        params, key, finite = jax.block_until_ready(
            epoch_fn(params, key, x, y, eta_a, scale_a))
        seconds = time.perf_counter() - t0
        if not bool(finite):
            raise FloatingPointError(f"epoch {epoch}: the parameters became NaN or Inf "
                                     f"(eta={eta} is probably too large)")
        correct = total = None
        t0 = time.perf_counter()
        if eval_fn is not None:
            correct = int(eval_fn(params, ex, el, scale_a))
            total = int(el.shape[0])
        record = EpochRecord(epoch, correct, total, seconds, time.perf_counter() - t0)
        history.append(record)
        if on_epoch is not None:
            on_epoch(record)
    return FitResult(params, history, compile_seconds)
