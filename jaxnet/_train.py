"""Mini-batch SGD: one step, one epoch as a single compiled program, the fit loop."""

from __future__ import annotations

import contextlib
import numbers
import signal
import threading
import time
from functools import partial
from pathlib import Path
from typing import Callable, NamedTuple, Optional

import jax
import jax.numpy as jnp
from jax import lax
import numpy as np

from ._autodiff import _autodiff_grad
from ._model import check_activation, check_cost
from ._network import _MODEL_DOC, _REG_DOC, _backprop, _cost, _feedforward, _model_args
from ._params import as_layers
from ._precision import DEFAULT_PRECISION, check_precision
from ._validate import (check_batch_size, check_inputs, check_labels, check_momentum,
                        check_order, check_params, check_positive_scalar, check_targets,
                        check_velocity, check_x_scale)

#: Gradient implementations a training step can use, by name.
GRADIENTS = {"backprop": _backprop, "autodiff": _autodiff_grad}

_STATIC = ("grad", "cost", "activation", "reg", "precision")


def _check_grad(grad):
    if grad not in GRADIENTS:
        raise ValueError(f"grad: expected one of {tuple(GRADIENTS)}, got {grad!r}")


def init_velocity(params):
    """Zero momentum state for :func:`sgd_step` / :func:`train_epoch`: a tuple of
    Layers shaped and typed like ``params``."""
    check_params(params)
    return jax.tree.map(lambda p: np.zeros(np.shape(p), np.dtype(p.dtype)), as_layers(params))


def _step(params, velocity, x, y, eta, mu, grad, model):
    """One update. Without velocity: ``p − η∇C`` (with L2 this is the book's
    ``(1 − ηλ/n)w − η∇C0``). With velocity (the book's momentum):
    ``v' = μv − η∇C``, ``p' = p + v'``, biases included."""
    g = GRADIENTS[grad](params, x, y, **model)
    if velocity is None:
        return jax.tree.map(lambda p, d: p - eta * d, params, g), None
    velocity = jax.tree.map(lambda v, d: mu * v - eta * d, velocity, g)
    return jax.tree.map(lambda p, v: p + v, params, velocity), velocity


def _model(params, cost, activation, lmbda, n, reg, grad, precision):
    """Validated model keywords for the jitted functions: static names and traced λ, n."""
    _check_grad(grad)
    return _model_args(params, cost, activation, lmbda, n, reg, precision)


@partial(jax.jit, static_argnames=_STATIC)
def _sgd_step(params, velocity, x, y, eta, mu, lmbda, n, grad="backprop", cost="quadratic",
              activation="sigmoid", reg="l2", precision=DEFAULT_PRECISION):
    dtype = params[0].w.dtype
    eta = jnp.asarray(eta, dtype)
    mu = None if mu is None else jnp.asarray(mu, dtype)
    model = dict(cost=cost, activation=activation, lmbda=lmbda, n=n, reg=reg, precision=precision)
    return _step(params, velocity, x, y, eta, mu, grad, model)


def sgd_step(params, x, y, eta, *, cost="quadratic", activation="sigmoid", lmbda=None, n=None,
             reg="l2", momentum=0.0, velocity=None, grad: str = "backprop",
             precision=DEFAULT_PRECISION):
    """One mini-batch update ``p − η·∇C`` (the book's ``w − (η/m)·Σ_x ∇C_x``).

    Args:
      params: tuple of ``Layer(w (n_out, n_in), b (n_out,))``.
      x: ``(m, n_0)`` float mini-batch.
      y: ``(m, n_L)`` float targets.
      eta: learning rate η > 0 (a traced scalar: new values do not recompile).{model}{reg}
      momentum: μ in [0, 1]; needs ``velocity``.
      velocity: momentum state (:func:`init_velocity`, then what the last call
        returned); with it the update is ``v' = μv − η∇C, p' = p + v'``.
      grad: ``"backprop"`` (BP1–BP4 by hand) or ``"autodiff"`` (``jax.grad``).

    Returns:
      The updated parameters (same structure, shapes and dtype); with
      ``velocity``, the pair ``(params, velocity)``.
    """
    sizes, _ = check_params(params)
    m = check_inputs(x, sizes[0])
    check_targets(y, m, sizes[-1])
    check_positive_scalar(eta, "eta")
    mu = _check_momentum(momentum, velocity, params)
    model = _model(params, cost, activation, lmbda, n, reg, grad, precision)
    p, v = _sgd_step(as_layers(params), None if velocity is None else as_layers(velocity), x, y,
                     eta, mu, model["lmbda"], model["n"], grad=grad, cost=model["cost"],
                     activation=model["activation"], reg=model["reg"],
                     precision=model["precision"])
    return p if velocity is None else (p, v)


def _check_momentum(momentum, velocity, params):
    check_momentum(momentum)
    if velocity is None:
        if _nonzero(momentum):
            raise ValueError(f"momentum={momentum} needs velocity= (start from "
                             "jaxnet.init_velocity(params))")
        return None
    check_velocity(velocity, params)
    return momentum


def _nonzero(v):
    return isinstance(v, jax.core.Tracer) or float(v) != 0


def _minibatch(x, y, idx, x_scale, dtype, batch_sharding=None):
    """Rows ``idx`` of the training set, converted to the compute dtype.

    ``x`` may be stored compactly (uint8 pixels) and is scaled here, one
    mini-batch at a time, so the epoch never materialises a float copy of the
    training set. With ``batch_sharding`` (data parallelism) the mini-batch's
    rows are split across the mesh's devices; XLA then partitions the
    forward and backward products by rows and sums the gradient across
    devices (an all-reduce), while the replicated parameters stay identical
    on every device.
    """
    xb = jnp.take(x, idx, axis=0).astype(dtype)
    if x_scale is not None:
        xb = xb * x_scale
    yb = jnp.take(y, idx, axis=0).astype(dtype)
    if batch_sharding is not None:
        xb = lax.with_sharding_constraint(xb, batch_sharding)
        yb = lax.with_sharding_constraint(yb, batch_sharding)
    return xb, yb


# How often a progress callback fires during an epoch.
_PROGRESS_REPORTS = 20


@partial(jax.jit, static_argnames=("batch_size", "progress", "batch_sharding") + _STATIC)
def _train_epoch(params, x, y, order, eta, x_scale, *, batch_size, grad="backprop",
                 progress=None, cost="quadratic", activation="sigmoid", reg="l2", lmbda=None,
                 velocity=None, momentum=None, batch_sharding=None,
                 precision=DEFAULT_PRECISION):
    dtype = params[0].w.dtype
    eta = jnp.asarray(eta, dtype)
    if x_scale is not None:
        x_scale = jnp.asarray(x_scale, dtype)
    n = order.shape[0]
    model = dict(cost=cost, activation=activation, reg=reg, lmbda=None, n=None,
                 precision=precision)
    if lmbda is not None:
        model.update(lmbda=jnp.asarray(lmbda, dtype), n=jnp.asarray(n, dtype))
    mu = None if momentum is None else jnp.asarray(momentum, dtype)
    n_full, rem = divmod(n, batch_size)
    n_steps = n_full + (rem > 0)
    every = max(1, n_full // _PROGRESS_REPORTS)

    def body(carry, step_and_idx):
        p, v = carry
        i, idx = step_and_idx
        xb, yb = _minibatch(x, y, idx, x_scale, dtype, batch_sharding)
        p, v = _step(p, v, xb, yb, eta, mu, grad, model)
        if progress is not None:
            lax.cond((i + 1) % every == 0,
                     lambda i: jax.debug.callback(progress, i + 1, n_steps),
                     lambda i: None, i)
        return (p, v), None

    full = order[: n_full * batch_size].reshape(n_full, batch_size)
    (params, velocity), _ = lax.scan(body, (params, velocity), (jnp.arange(n_full), full))
    if rem:
        # The book's last, smaller mini-batch: the remaining `rem` examples.
        xb, yb = _minibatch(x, y, order[n_full * batch_size:], x_scale, dtype,
                            batch_sharding if rem % _mesh_size(batch_sharding) == 0 else None)
        params, velocity = _step(params, velocity, xb, yb, eta, mu, grad, model)
        if progress is not None:
            jax.debug.callback(progress, n_steps, n_steps)
    return params, velocity


def _mesh_size(sharding):
    return 1 if sharding is None else sharding.mesh.size


def _data_parallel(mesh, batch_size, arrays):
    """(batch sharding, arrays replicated on the mesh) for data parallelism."""
    from jax.sharding import NamedSharding, PartitionSpec
    if len(mesh.axis_names) != 1:
        raise ValueError(f"mesh: expected a 1-D mesh (one axis over which mini-batches are "
                         f"split), got axes {mesh.axis_names}")
    if batch_size % mesh.size:
        raise ValueError(f"batch_size: {batch_size} does not split evenly over the mesh's "
                         f"{mesh.size} devices")
    # XLA partitions the epoch itself (GSPMD): the mesh's axis must be Auto, which
    # jax.make_mesh does not give by default in recent JAX; same devices, Auto axis.
    from jax.sharding import AxisType, Mesh
    mesh = Mesh(mesh.devices, mesh.axis_names, axis_types=(AxisType.Auto,))
    replicated = NamedSharding(mesh, PartitionSpec())
    return (NamedSharding(mesh, PartitionSpec(mesh.axis_names[0])),
            [None if a is None else jax.device_put(a, replicated) for a in arrays])


def train_epoch(params, x, y, order, *, eta, batch_size, x_scale=None, cost="quadratic",
                activation="sigmoid", lmbda=None, reg="l2", momentum=0.0, velocity=None,
                grad: str = "backprop", progress: Optional[Callable] = None, mesh=None,
                precision=DEFAULT_PRECISION):
    """One epoch of mini-batch SGD as a single compiled program.

    The examples are visited in ``order``, ``batch_size`` at a time
    (``lax.scan`` over the full mini-batches); when ``batch_size`` does not
    divide ``N``, the last ``N mod batch_size`` examples form a final, smaller
    mini-batch, exactly as network.py does. Shapes depend only on ``N`` and
    ``batch_size``, so new orders, η, λ, μ or parameter values never recompile.

    Args:
      params: tuple of ``Layer(w (n_out, n_in), b (n_out,))``.
      x: ``(N, n_0)`` float inputs, or integer inputs (e.g. uint8 pixels)
        together with ``x_scale``: mini-batch rows are ``x[i] * x_scale``.
      y: ``(N, n_L)`` float targets (one-hot for classification).
      order: ``(N,)`` int, a permutation of ``range(N)``.
      eta: learning rate η > 0.
      batch_size: mini-batch size, ``1 <= batch_size <= N``.
      x_scale: float factor for integer ``x`` (``1/256`` for jaxnet.data's images).{model}
      lmbda: regularisation strength λ ≥ 0; n in λ/n is ``N``, the training-set size.
      reg: ``"l2"`` or ``"l1"``.
      momentum: μ in [0, 1]; needs ``velocity``.
      velocity: momentum state (:func:`init_velocity` at the start).
      grad: ``"backprop"`` (BP1–BP4) or ``"autodiff"`` (``jax.grad``).
      progress: optional hashable callable ``progress(steps_done, n_steps)``,
        called from the host about 20 times an epoch.
      mesh: a 1-D ``jax.sharding.Mesh`` for data parallelism: every mini-batch
        is split across its devices (``batch_size`` must divide evenly), the
        parameters and the data are replicated, and XLA sums the gradients
        across devices. Across hosts, the same call with a mesh over
        ``jax.devices()`` after ``jax.distributed.initialize``.

    Returns:
      The parameters after the epoch, same structure, shapes and dtype; with
      ``velocity``, the pair ``(params, velocity)``.
    """
    sizes, _ = check_params(params)
    n = check_inputs(x, sizes[0], allow_int=True)
    check_x_scale(x, x_scale)
    check_targets(y, n, sizes[-1])
    check_order(order, n)
    check_positive_scalar(eta, "eta")
    batch_size = check_batch_size(batch_size, n)
    mu = _check_momentum(momentum, velocity, params)
    model = _model(params, cost, activation, lmbda, n, reg, grad, precision)
    params = as_layers(params)
    velocity = None if velocity is None else as_layers(velocity)
    batch_sharding = None
    if mesh is not None:
        batch_sharding, (params, velocity, x, y, order) = _data_parallel(
            mesh, batch_size, [params, velocity, x, y, order])
    p, v = _train_epoch(params, x, y, order, eta, x_scale, batch_size=batch_size,
                        grad=grad, progress=progress, cost=model["cost"],
                        activation=model["activation"], reg=model["reg"], lmbda=model["lmbda"],
                        velocity=velocity, momentum=mu, batch_sharding=batch_sharding,
                        precision=model["precision"])
    return p if velocity is None else (p, v)


sgd_step.__doc__ = sgd_step.__doc__.format(model=_MODEL_DOC, reg=_REG_DOC)
train_epoch.__doc__ = train_epoch.__doc__.format(model=_MODEL_DOC)


def _scaled(x, x_scale, dtype):
    x = x.astype(dtype)
    return x if x_scale is None else x * jnp.asarray(x_scale, dtype)


@partial(jax.jit, static_argnames=("cost", "activation", "precision"))
def _evaluate(params, x, labels, x_scale, cost="quadratic", activation="sigmoid",
              precision=DEFAULT_PRECISION):
    x = _scaled(x, x_scale, params[0].w.dtype)
    predicted = jnp.argmax(_feedforward(params, x, cost, activation, precision), axis=1)
    return jnp.sum(predicted == labels.astype(predicted.dtype))


def evaluate(params, x, labels, *, x_scale=None, cost="quadratic", activation="sigmoid",
             precision=DEFAULT_PRECISION):
    """How many examples the network classifies correctly.

    Args:
      params: tuple of Layers.
      x: ``(N, n_0)`` float inputs (or integer with ``x_scale``, as in train_epoch).
      labels: ``(N,)`` int class labels in ``[0, n_L)``.{model}

    Returns:
      A scalar int array: ``Σ [argmax_j a^L_j(x) == label]`` (ties go to the
      lowest j, as ``np.argmax``).
    """
    sizes, _ = check_params(params)
    n = check_inputs(x, sizes[0], allow_int=x_scale is not None)
    check_labels(labels, n, sizes[-1])
    return _evaluate(as_layers(params), x, labels, x_scale, cost=check_cost(cost),
                     activation=check_activation(activation),
                     precision=check_precision(precision))


evaluate.__doc__ = evaluate.__doc__.format(model=_MODEL_DOC)


@partial(jax.jit, static_argnames=("cost", "activation", "reg", "precision"))
def _monitor(params, x, labels, x_scale, lmbda, n, cost="quadratic", activation="sigmoid",
             reg="l2", precision=DEFAULT_PRECISION):
    """(correct, total cost) on a whole data set in one program: the cost is
    network2's ``total_cost`` with the regularisation term over the **training**
    set size ``n`` (network2 divides by the evaluated set's size instead)."""
    dtype = params[0].w.dtype
    xs = _scaled(x, x_scale, dtype)
    y = jax.nn.one_hot(labels, params[-1].w.shape[0], dtype=dtype)
    predicted = jnp.argmax(_feedforward(params, xs, cost, activation, precision), axis=1)
    correct = jnp.sum(predicted == labels.astype(predicted.dtype))
    total = _cost(params, xs, y, cost, activation, lmbda, n, reg, precision)
    return correct, total


def _all_finite(params):
    return jnp.all(jnp.stack([jnp.all(jnp.isfinite(a)) for a in jax.tree.leaves(params)]))


@partial(jax.jit, static_argnames=("batch_size", "progress") + _STATIC)
def _shuffled_epoch(params, velocity, key, x, y, eta, x_scale, lmbda, momentum, *, batch_size,
                    grad, progress, cost, activation, reg, precision=DEFAULT_PRECISION):
    """The fit loop's epoch: shuffle with ``key``, train, check finiteness — one program.

    Returns ``(params, velocity, next_key, all_finite)``; the shuffle is
    ``permutation(split(key)[1], N)``, so epoch e's order is reproducible.
    """
    key, sub = jax.random.split(key)
    order = jax.random.permutation(sub, y.shape[0]).astype(jnp.int32)
    params, velocity = _train_epoch(params, x, y, order, eta, x_scale, batch_size=batch_size,
                                    grad=grad, progress=progress, cost=cost,
                                    activation=activation, reg=reg, lmbda=lmbda,
                                    velocity=velocity, momentum=momentum, precision=precision)
    return params, velocity, key, _all_finite(params)


#: What fit can monitor each epoch (network2's four flags).
MONITORS = ("eval_accuracy", "eval_cost", "train_accuracy", "train_cost")


class EpochRecord(NamedTuple):
    """What the fit loop saw in one epoch.

    Attributes:
      epoch: 0-based, as the book prints it.
      correct: evaluation examples classified correctly (None unless
        ``eval_accuracy`` is monitored).
      total: size of the evaluation data (None without it).
      seconds: wall time of the epoch's training program (excludes monitoring).
      eval_seconds: wall time of the monitoring.
      eta: the learning rate the epoch trained with (the schedule may lower it).
      eval_cost: total cost on the evaluation data (regularisation over the
        training-set size), or None.
      train_correct, train_total: accuracy on the training data, or None.
      train_cost: total cost on the training data, or None.
    """

    epoch: int
    correct: Optional[int]
    total: Optional[int]
    seconds: float
    eval_seconds: float
    eta: float = None
    eval_cost: Optional[float] = None
    train_correct: Optional[int] = None
    train_total: Optional[int] = None
    train_cost: Optional[float] = None

    @property
    def accuracy(self) -> Optional[float]:
        return None if self.correct is None else self.correct / self.total

    @property
    def train_accuracy(self) -> Optional[float]:
        return None if self.train_correct is None else self.train_correct / self.train_total


class FitResult(NamedTuple):
    """``params``: the trained parameters; ``history``: one EpochRecord per
    epoch; ``compile_seconds``: time to compile the epoch and monitoring
    programs; ``velocity``: the momentum state (None without momentum);
    ``stopped``: why training ended before ``epochs`` (None if it did not)."""

    params: tuple
    history: list
    compile_seconds: float
    velocity: Optional[tuple] = None
    stopped: Optional[str] = None


def fit(key, params, x, labels, *, epochs: int = 30, eta: float = 3.0,
        batch_size: int = 10, x_scale=None, eval_data=None, cost="quadratic",
        activation="sigmoid", lmbda=None, reg="l2", momentum=0.0, monitor=None,
        early_stop: Optional[int] = None, schedule: Optional[int] = None,
        grad: str = "backprop", on_epoch: Optional[Callable[[EpochRecord], None]] = None,
        progress: Optional[Callable] = None, checkpoint=None, checkpoint_every: int = 1,
        resume: bool = False, overwrite: bool = False,
        precision=DEFAULT_PRECISION, impl: str = "jax", threads: int = 1) -> FitResult:
    """Mini-batch SGD for ``epochs`` epochs, monitoring after each (network2's SGD).

    Each epoch is one compiled program (compiled once, before the first
    epoch): ``key, k = split(key)``, ``order = permutation(k, N)``, then
    :func:`train_epoch` over ``order``. Monitoring is one compiled program
    per data set (batched forward pass and cost).

    Args:
      key: JAX PRNG key for the shuffles.
      params: initial parameters, tuple of Layers.
      x: ``(N, n_0)`` training inputs: float, or integer with ``x_scale``.
      labels: ``(N,)`` int training labels in ``[0, n_L)``.
      epochs, eta, batch_size: as in the book.
      x_scale: factor for integer inputs (``1/256`` for jaxnet.data images).
      eval_data: optional ``(x_eval (M, n_0), labels_eval (M,))``, same input
        dtype convention as ``x``.{model}
      lmbda, reg: regularisation (n in λ/n is ``N``); see :func:`train_epoch`.
      momentum: μ in [0, 1]; the velocity starts at zero and is returned.
      monitor: any of ``MONITORS`` (default: ``("eval_accuracy",)`` with
        eval_data, else nothing).
      early_stop: stop after this many epochs without a new best evaluation
        accuracy (needs eval_data).
      schedule: the book's learning-rate schedule: after this many epochs
        without a new best evaluation accuracy, halve η; stop instead of
        going below η/128 (needs eval_data).
      grad: ``"backprop"`` or ``"autodiff"``.
      on_epoch: called with each EpochRecord as soon as it is known.
      progress: as in :func:`train_epoch`.
      checkpoint: a file to save the loop's whole state to (parameters,
        momentum, PRNG key, epoch, history, schedule) every
        ``checkpoint_every`` epochs and at the end, atomically. While a
        checkpoint is set, SIGINT (Ctrl-C) and SIGTERM finish the current
        epoch, save, and return with ``stopped`` saying so.
      resume: continue from ``checkpoint`` if it exists (its run must match
        this one: sizes, dtype, data, hyper-parameters, and it must not have
        trained more than ``epochs``; else CheckpointError). The result is
        identical to an uninterrupted run.
      overwrite: start over even though ``checkpoint`` exists (without it or
        ``resume``, an existing checkpoint is a CheckpointError, before any
        training).
      impl: ``"jax"`` (the compiled epoch) or ``"c"``: the same loop, keys,
        shuffles and evaluation with the C kernel's fast epoch
        (jaxnet.cref.train_epoch) in place of the compiled one.
      threads: the C epoch's threads (``impl="c"`` only).

    Returns:
      FitResult(params, history, compile_seconds, velocity, stopped).

    Raises:
      FloatingPointError: if the parameters stop being finite (η too large).
    """
    sizes, dtype = check_params(params)
    n, batch_size = _check_training_set(x, labels, sizes, x_scale, epochs, batch_size)
    check_positive_scalar(eta, "eta")
    model = _model(params, cost, activation, lmbda, n, reg, grad, precision)
    check_momentum(momentum)
    if impl not in ("jax", "c"):
        raise ValueError(f"impl: expected 'jax' or 'c', got {impl!r}")
    monitor = _check_monitor(monitor, eval_data)
    for name, v in (("early_stop", early_stop), ("schedule", schedule),
                    ("checkpoint_every", checkpoint_every)):
        if v is not None:
            if isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < 1:
                raise ValueError(f"{name}: expected a positive int (epochs without "
                                 f"improvement), got {v!r}")
            if name != "checkpoint_every" and "eval_accuracy" not in monitor:
                raise ValueError(f"{name} watches the evaluation accuracy: pass eval_data "
                                 "(and keep 'eval_accuracy' in monitor)")
    if eval_data is not None:
        ex, el = check_eval_data(eval_data, sizes, x_scale)
    if checkpoint is not None:
        from . import _checkpoint
        _checkpoint.check_target(checkpoint, resume=resume, overwrite=overwrite)

    static = dict(cost=model["cost"], activation=model["activation"], reg=model["reg"],
                  precision=model["precision"])
    params = as_layers(params)
    velocity = init_velocity(params) if _nonzero(momentum) else None
    history, stopped = [], None
    best, since_best, eta_now = -1, 0, float(eta)
    start = 0
    if checkpoint is not None:
        config = _checkpoint.run_config(
            sizes=sizes, dtype=dtype, x=x, labels=labels, x_scale=x_scale, eta=float(eta),
            batch_size=batch_size, cost=static["cost"], activation=static["activation"],
            lmbda=float(lmbda or 0), reg=static["reg"], momentum=float(momentum), grad=grad,
            impl=impl, precision=static["precision"], monitor=sorted(monitor), early_stop=early_stop,
            schedule=schedule, eval_size=None if eval_data is None else int(el.shape[0]))
        if resume and Path(checkpoint).exists():
            ck = _checkpoint.load_checkpoint(checkpoint, config, epochs=epochs,
                                             record=EpochRecord)
            params = as_layers(ck["params"])
            velocity = None if ck["velocity"] is None else as_layers(ck["velocity"])
            key, start, history = jnp.asarray(ck["key"]), ck["epoch"], ck["history"]
            best, since_best, eta_now = (ck["schedule_state"][k]
                                         for k in ("best", "since_best", "eta"))
            stopped = ck["schedule_state"]["stopped"]

        def save(next_epoch):
            _checkpoint.save_checkpoint(checkpoint, params=params, velocity=velocity, key=key,
                                        epoch=next_epoch, history=history, config=config,
                                        schedule_state=dict(best=best, since_best=since_best,
                                                            eta=eta_now, stopped=stopped))
    mu = jnp.asarray(momentum, dtype) if velocity is not None else None
    x_host = x
    x = jax.device_put(x)
    labels_dev = jax.device_put(labels)
    # One-hot on the host: no extra XLA program to compile.
    y = jax.device_put(np.eye(sizes[-1], dtype=dtype)[np.asarray(labels)])
    eta_a = jnp.asarray(eta, dtype)
    scale_a = None if x_scale is None else jnp.asarray(x_scale, dtype)
    lm, n_a = model["lmbda"], model["n"]

    # Compile everything once, up front, so the epochs' times are pure run time.
    t0 = time.perf_counter()
    if impl == "c":
        epoch_fn = _c_epoch(x_host, np.asarray(y), batch_size, x_scale, static, lmbda, momentum,
                            threads)
    else:
        epoch_fn = _shuffled_epoch.lower(params, velocity, key, x, y, eta_a, scale_a, lm, mu,
                                         batch_size=batch_size, grad=grad, progress=progress,
                                         **static).compile()
    monitors = {}
    if {"eval_accuracy", "eval_cost"} & monitor:
        monitors["eval"] = (_monitor.lower(params, ex, el, scale_a, lm, n_a, **static).compile(),
                            ex, el)
    if {"train_accuracy", "train_cost"} & monitor:
        monitors["train"] = (_monitor.lower(params, x, labels_dev, scale_a, lm, n_a,
                                            **static).compile(), x, labels_dev)
    compile_seconds = time.perf_counter() - t0

    with _signals_deferred(checkpoint is not None) as signalled:
        for epoch in range(start, epochs if stopped is None else start):
            t0 = time.perf_counter()
            params, velocity, key, finite = jax.block_until_ready(
                epoch_fn(params, velocity, key, x, y, jnp.asarray(eta_now, dtype), scale_a, lm,
                         mu))
            seconds = time.perf_counter() - t0
            if not bool(finite):
                raise FloatingPointError(f"epoch {epoch}: the parameters became NaN or Inf "
                                         f"(eta={eta_now} is probably too large)")
            t0 = time.perf_counter()
            got = {k: (int(c), float(t), int(xx.shape[0]))
                   for k, (fn, xx, ll) in monitors.items()
                   for c, t in [fn(params, xx, ll, scale_a, lm, n_a)]}
            ev, tr = got.get("eval"), got.get("train")
            record = EpochRecord(
                epoch,
                correct=ev[0] if ev and "eval_accuracy" in monitor else None,
                total=ev[2] if ev and "eval_accuracy" in monitor else None,
                seconds=seconds, eval_seconds=time.perf_counter() - t0, eta=eta_now,
                eval_cost=ev[1] if ev and "eval_cost" in monitor else None,
                train_correct=tr[0] if tr and "train_accuracy" in monitor else None,
                train_total=tr[2] if tr and "train_accuracy" in monitor else None,
                train_cost=tr[1] if tr and "train_cost" in monitor else None)
            history.append(record)
            if on_epoch is not None:
                on_epoch(record)
            if record.correct is not None:
                if record.correct > best:
                    best, since_best = record.correct, 0
                else:
                    since_best += 1
            if early_stop is not None and since_best >= early_stop:
                stopped = f"early stop: no better evaluation accuracy in {early_stop} epochs"
            elif schedule is not None and since_best >= schedule:
                if eta_now / 2 < float(eta) / 128:
                    stopped = (f"schedule: eta would fall below eta/128 = {float(eta) / 128:g} "
                               f"after {schedule} epochs without improvement")
                else:
                    eta_now, since_best = eta_now / 2, 0
            last = stopped is not None or epoch + 1 == epochs
            if checkpoint is not None and (signalled or last
                                           or (epoch + 1 - start) % checkpoint_every == 0):
                save(epoch + 1)
            if stopped is not None:
                break
            if signalled:
                name = signal.Signals(signalled[0]).name
                stopped = (f"interrupted by {name} after epoch {epoch}; checkpoint saved to "
                           f"{checkpoint} (resume=True continues)")
                break
    return FitResult(params, history, compile_seconds, velocity, stopped)


@partial(jax.jit, static_argnums=1)
def _shuffle(key, n):
    """``(next key, order)``: the shuffle of _shuffled_epoch, as its own program."""
    key, sub = jax.random.split(key)
    return key, jax.random.permutation(sub, n).astype(jnp.int32)


def _c_epoch(x, y, batch_size, x_scale, static, lmbda, momentum, threads):
    """fit's epoch with the C kernel: the same signature and shuffle as the compiled
    ``_shuffled_epoch``, the epoch itself by jaxnet.cref.train_epoch (fast path)."""
    from . import cref
    x, y = np.asarray(x), np.asarray(y)

    def epoch(params, velocity, key, _x, _y, eta, _scale, _lm, _mu):
        key, order = _shuffle(key, y.shape[0])
        out = cref.train_epoch(params, x, y, np.asarray(order), eta=float(eta),
                               batch_size=batch_size, x_scale=x_scale, cost=static["cost"],
                               activation=static["activation"], lmbda=lmbda, reg=static["reg"],
                               momentum=momentum, velocity=velocity, threads=threads)
        params, velocity = out if velocity is not None else (out, None)
        finite = all(np.all(np.isfinite(a)) for a in jax.tree.leaves(params))
        return (jax.tree.map(jnp.asarray, params),
                None if velocity is None else jax.tree.map(jnp.asarray, velocity), key, finite)
    return epoch


@contextlib.contextmanager
def _signals_deferred(active: bool):
    """While active (and in the main thread): SIGINT and SIGTERM are recorded in the
    yielded list instead of interrupting, so the loop can finish its epoch and save."""
    received = []
    if not active or threading.current_thread() is not threading.main_thread():
        yield received
        return
    old = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    for sig in old:
        signal.signal(sig, lambda signum, frame: received.append(signum))
    try:
        yield received
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)


def _check_training_set(x, labels, sizes, x_scale, epochs, batch_size):
    """Checks a fit loop's data and epoch count; returns ``(N, batch_size)``."""
    n = check_inputs(x, sizes[0], allow_int=True)
    check_x_scale(x, x_scale)
    check_labels(labels, n, sizes[-1])
    if isinstance(epochs, bool) or not isinstance(epochs, numbers.Integral) or epochs < 0:
        raise ValueError(f"epochs: expected a non-negative int, got {epochs!r}")
    return n, check_batch_size(batch_size, n)


def check_eval_data(eval_data, sizes, x_scale):
    """``eval_data``: a pair ``(x (M, n_0), labels (M,))``; returns them on the device."""
    if not isinstance(eval_data, (tuple, list)) or len(eval_data) != 2:
        raise TypeError(f"eval_data: expected a pair (x, labels), got "
                        f"{type(eval_data).__name__}"
                        + (f" of length {len(eval_data)}" if isinstance(eval_data, (tuple, list))
                           else ""))
    ex, el = eval_data
    m = check_inputs(ex, sizes[0], name="eval_data x", allow_int=x_scale is not None)
    check_labels(el, m, sizes[-1], name="eval_data labels")
    return jax.device_put(ex), jax.device_put(el)


def _check_monitor(monitor, eval_data):
    if monitor is None:
        return {"eval_accuracy"} if eval_data is not None else set()
    if isinstance(monitor, str):
        monitor = (monitor,)
    bad = [m for m in monitor if m not in MONITORS]
    if bad:
        raise ValueError(f"monitor: expected names from {MONITORS}, got {bad}")
    if eval_data is None and {"eval_accuracy", "eval_cost"} & set(monitor):
        raise ValueError("monitor: eval_accuracy and eval_cost need eval_data")
    return set(monitor)


fit.__doc__ = fit.__doc__.format(model=_MODEL_DOC)
