"""The fit loop: network2's SGD with monitoring, early stopping, the learning-rate
schedule, checkpoints and signals; every epoch one compiled program."""

from __future__ import annotations

import time
from functools import partial
from typing import Callable, Optional

import jax
import jax.numpy as jnp
import numpy as np

from .._core.inputs import penalty as penalty_value
from .._core.inputs import resolve
from .._core.params import like
from .._core.rules import Momentum, MomentumState, Sgd, SgdState, book_rule, check_rule, with_eta
from ._epoch import shuffle_jit, top_level
from ._evaluate import monitor_jit
from ._history import EpochRecord, FitResult, LoopState, Schedule, check_monitor, record
from ._loop import prepare_data, run_epoch
from ._pallas import check_supported, interpret_mode, pallas_shuffled_epoch
from ._saver import Saver, after_epoch, checkpointing
from ._shorthand import checkpoint_value, patience, regularization, shorthand, training_data

#: fit's epoch implementations: the compiled JAX program, the C kernel's fast path, or
#: the fused Pallas kernel (jaxnet.train._pallas).
IMPLS = ("jax", "c", "pallas")


def fit(key, params, x, labels=None, *, model=None, epochs: int = 30, batch_size: int = 10,
        rule=None, penalty=None, schedule=None, checkpoint=None, monitor=None,
        on_epoch: Optional[Callable[[EpochRecord], None]] = None, impl: str = "jax",
        on_params: Optional[Callable[[int, object], None]] = None, **options) -> FitResult:
    """Mini-batch SGD for ``epochs`` epochs, monitoring after each (network2's SGD).

    Each epoch is one compiled program (compiled once, before the first
    epoch): ``key, k = split(key)``, ``order = permutation(k, N)``, then the
    epoch of :func:`jaxnet.train_epoch_with` over ``order`` with the rule.
    Monitoring is one compiled program per data set. A run is a handful of
    values, each checked once when made (jaxnet.TrainingData, Regularization,
    Patience, Checkpoint, as jaxnet.Model); the book's keywords stay as a
    shorthand for them (below).

    Args:
      key: JAX PRNG key for the shuffles.
      params: initial parameters matching ``model``: a tuple or list of ``(w, b)``
        pairs (jaxnet.Layer, tuple or list); the result's are in the same containers.
      x: a jaxnet.TrainingData; or the ``(N, n_0)`` training inputs (float, or
        integer with ``x_scale``), with ``labels`` and the shorthand below.
      labels: ``(N,)`` int training labels in ``[0, n_L)`` (with array ``x``).
      model: a jaxnet.Model (default: the chapter-1 network of params' sizes).
      epochs, batch_size: as in the book.
      rule: the update rule: a jaxnet rule (``jaxnet.sgd(eta)``,
        ``jaxnet.momentum(eta, mu)``), or an optax GradientTransformation (then
        no ``schedule``, which halves a jaxnet rule's η, no ``checkpoint``, which
        saves jaxnet rules' states, and ``impl="jax"``; records' ``eta`` is NaN).
        Default: the shorthand's ``eta`` and ``momentum``.
      penalty: a jaxnet.Regularization(lmbda, n) (its kind is ``model.reg``), or
        the shorthand's ``lmbda`` and ``n``.
      schedule: a jaxnet.Patience(halve_eta_after, stop_after), or the book's
        int: after this many epochs without a new best evaluation accuracy,
        halve η, and stop instead of going below η/128 (with the shorthand's
        ``early_stop``: stop after that many). Both watch the evaluation accuracy.
      checkpoint: a jaxnet.Checkpoint(path, every, resume, overwrite, names), or a
        path with the shorthand's ``checkpoint_every``, ``resume``, ``overwrite``
        and ``names``. The loop's whole state (parameters, momentum, PRNG key,
        epoch, history, schedule) is saved atomically every ``every`` epochs and
        at the end; while a checkpoint is set, SIGINT (Ctrl-C) and SIGTERM finish
        the current epoch, save, and return with ``stopped`` saying so; a second
        one raises KeyboardInterrupt at once (a save in progress is completed
        first). One run writes a checkpoint at a time: another process's fit on
        it (or on a symbolic link to it) is a CheckpointError naming that
        process's PID, at the start (an ``fcntl.flock`` on ``.NAME.lock`` beside
        the real file, held while the loop runs; the kernel drops it when its
        process dies, so a killed run blocks no resume). A resume
        continues from the file if it exists and must be this run: the
        checkpoint records everything that fixes the trajectory (the initial
        ``key`` and ``params`` and the training, evaluation and test data as
        SHA-256 fingerprints; the model, dtype, η, μ, λ and ``n``,
        ``batch_size``, ``shuffle``, ``monitor``, ``early_stop``, ``schedule``,
        ``grad``, ``impl`` and ``names``), and a resume that differs in any of
        it, or asks for fewer ``epochs`` than it trained, is a one-line
        CheckpointError naming what differs (``"belongs to another run (eta:
        checkpoint 0.5, this run 0.4)"``, ``"initial parameters differ
        (...)"``). A checkpoint of an older jaxnet (format version 3 or less)
        cannot be shown to be this run, and is refused. The result is identical
        to an uninterrupted run. Without ``resume`` or ``overwrite`` (start
        over), an existing checkpoint is a CheckpointError, before any training.
        ``names``: how the caller made ``key``, ``params`` and the data (the
        command line's ``{"seed": 0, "init": "large", "eval": "test", "data":
        "mnist"}``; keys ``seed``, ``seeds``, ``ensemble``, ``init``, ``eval``,
        ``data``), said instead of fingerprints when a resume is refused; a name
        never refuses a resume alone.
      monitor: any of ``MONITORS`` (default: ``("eval_accuracy",)`` with
        evaluation data, else nothing).
      on_epoch: called with each EpochRecord as soon as it is known.
      on_params: called after ``on_epoch`` with the epoch (0-based) and the
        parameters it ended with, in ``params``'s containers (``jaxnet train
        --report`` measures chapter 5's speed of learning with it).
      impl: ``"jax"`` (the compiled epoch), ``"c"``: the same loop, keys,
        shuffles and evaluation with the C kernel's fast epoch
        (jaxnet.cref.train_epoch_with) in place of the compiled one; or
        ``"pallas"``: the same with each epoch one fused Pallas kernel
        (jaxnet.train_epoch's ``impl="pallas"``: Dense models without dropout,
        float32, sgd or momentum; interpreted, slowly, without a GPU).
      **options: the shorthand (any other keyword is a TypeError naming it):
        ``eta`` (3.0) and ``momentum`` (μ in [0, 1], 0.0; the velocity starts at
        zero and is returned) for ``rule``; ``lmbda`` (λ ≥ 0) and ``n`` (None: N,
        network2's; ``"batches"``: N // batch_size, network3's; or a positive int)
        for ``penalty``; ``x_scale`` (``1/256`` for jaxnet.data images),
        ``eval_data`` and ``test_data`` (``(x (M, n_0), labels (M,))``; the test
        set is evaluated at each new best evaluation accuracy, network3's "best
        validation → corresponding test") for the TrainingData; ``early_stop``
        for ``schedule``; ``checkpoint_every``, ``resume``, ``overwrite`` and
        ``names`` for ``checkpoint``; and the loop's options ``grad``
        (``"backprop"`` or ``"autodiff"``), ``threads`` (the C epoch's,
        ``impl="c"`` only), ``shuffle`` (False keeps the data's order every epoch,
        network3; True shuffles every epoch, network.py) and ``progress`` (a
        hashable ``progress(steps_done, n_steps)``, called about 20 times an epoch).

    Returns:
      FitResult(params, history, compile_seconds, velocity, stopped).

    Raises:
      FloatingPointError: if the parameters stop being finite (η too large).
      jaxnet.io.WriteError: a checkpoint could not be written (a full disk): it
        says where a copy went (``rescued``) and carries the trained state
        (``params``, ``history``, ``epoch``).
    """
    o = shorthand(options)
    given = params
    model, params = resolve(params, model)
    train = training_data(x, labels, o)
    data = prepare_data(model, params, train, epochs=epochs, batch_size=batch_size,
                        grad=o["grad"])
    reg, pat = regularization(penalty, o), patience(schedule, o)
    ck = checkpoint_value(checkpoint, o)
    rule, eta = _rule(rule, o["eta"], o["momentum"], schedule=pat.halve_eta_after,
                      checkpoint=ck)
    monitor = _check_options(monitor, train, impl, o["shuffle"], pat)
    reg_n, lmbda = reg.count(data.n, data.batch_size), reg.lmbda or None
    pen = penalty_value(lmbda, reg_n, params)
    loop = LoopState(params, rule.init(params), key, 0, [], Schedule(-1, 0, float(eta)))
    saver = None
    if ck is not None:
        saver = Saver(ck.path, model, params, data, train.x, train.labels, train.x_scale, rule,
                      ck.resume, ck.overwrite,
                      dict(eta=float(eta), batch_size=data.batch_size,
                           lmbda=float(lmbda or 0), momentum=float(getattr(rule, "mu", 0.0)),
                           grad=o["grad"], impl=impl, monitor=sorted(monitor),
                           early_stop=pat.stop_after, schedule=pat.halve_eta_after,
                           shuffle=bool(o["shuffle"]),
                           reg_n="examples" if reg.n is None else reg.n),
                      key=key, eval_data=train.eval_data, test_data=train.test_data,
                      names=ck.names)
        loop = saver.resume(loop, epochs)
    t0 = time.perf_counter()
    epoch_fn = _epoch_fn(impl, data, model, rule, o["grad"], pen, (lmbda, reg_n), o["threads"],
                         o["shuffle"], o["progress"], loop)
    test = None if train.test_data is None else tuple(map(jax.device_put, train.test_data))
    monitors = _compile_monitors(model, loop.params, data, pen, monitor, test)
    compile_seconds = time.perf_counter() - t0
    options = dict(eta0=float(eta), early_stop=pat.stop_after, schedule=pat.halve_eta_after)
    as_jax = partial(jax.tree.map, jnp.asarray)   # impl="c" keeps them on the host
    with checkpointing(saver) as signalled:
        while loop.epoch < epochs and loop.schedule.stopped is None:
            loop = _one_epoch(loop, epoch_fn, data, pen, monitors, monitor, options)
            if on_epoch is not None:
                on_epoch(loop.history[-1])
            if on_params is not None:
                on_params(loop.history[-1].epoch, like(given, as_jax(loop.params)))
            loop = after_epoch(loop, saver, signalled, 1 if ck is None else ck.every, epochs)
    velocity = loop.state.velocity if isinstance(loop.state, MomentumState) else None
    return FitResult(like(given, as_jax(loop.params)), loop.history, compile_seconds,
                     None if velocity is None else like(given, as_jax(velocity)),
                     loop.schedule.stopped)


def _one_epoch(loop, epoch_fn, data, pen, monitors, monitor, options) -> LoopState:
    """Trains one epoch, monitors, records it and advances the schedule."""
    eta, state = loop.schedule.eta, loop.state
    if isinstance(state, (SgdState, MomentumState)):     # the schedule's η (optax: its own)
        state = with_eta(state, eta)
    (params, state, key, _), seconds = run_epoch(epoch_fn, loop.epoch, loop.params, state,
                                                 loop.key, data.x, data.y, data.scale, pen)
    t0 = time.perf_counter()
    got = {k: (int(c), float(t), int(xx.shape[0]))
           for k, (fn, xx, ll) in monitors.items() if k != "test"
           for c, t in [fn(params, xx, ll, data.scale, pen)]}
    rec = record(loop.epoch, seconds, time.perf_counter() - t0, eta, monitor, got)
    if "test" in monitors and rec.correct is not None and rec.correct > loop.schedule.best:
        fn, xx, ll = monitors["test"]
        rec = rec._replace(test_correct=int(fn(params, xx, ll, data.scale, pen)[0]),
                           test_total=int(xx.shape[0]))
    schedule = loop.schedule.after(rec.correct, **options)
    return LoopState(params, state, key, loop.epoch + 1, loop.history + [rec], schedule)


def _rule(rule, eta, momentum, *, schedule, checkpoint):
    """``(the update rule, its η or NaN)``: ``rule`` itself, or the book's shorthand."""
    if rule is None:
        return book_rule(eta, momentum), float(eta)
    check_rule(rule)
    if float(momentum) != 0:
        raise ValueError("momentum: give rule=jaxnet.momentum(eta, mu), or eta and momentum, "
                         "not both")
    if isinstance(rule, (Sgd, Momentum)):
        return rule, float(rule.eta)
    if schedule is not None or checkpoint is not None:
        raise ValueError(f"rule: {'schedule halves' if schedule is not None else 'checkpoint saves'}"
                         f" a jaxnet rule's η and state (jaxnet.sgd, jaxnet.momentum), not "
                         f"{type(rule).__name__}'s")
    return rule, float("nan")


def _check_options(monitor, train, impl, shuffle, pat) -> set:
    """Checks fit's loop options against its values; returns the monitors to compute."""
    monitor = check_monitor(monitor, train.eval_data)
    if pat.active and "eval_accuracy" not in monitor:
        name = "schedule" if pat.halve_eta_after is not None else "early_stop"
        raise ValueError(f"{name} watches the evaluation accuracy: pass eval_data "
                         "(and keep 'eval_accuracy' in monitor)")
    if impl not in IMPLS:
        raise ValueError(f"impl: expected one of {IMPLS}, got {impl!r}")
    if not isinstance(shuffle, bool):
        raise TypeError(f"shuffle: expected True or False, got {shuffle!r}")
    if train.test_data is not None and "eval_accuracy" not in monitor:
        raise ValueError("test_data is evaluated at each new best evaluation accuracy: pass "
                         "eval_data (and keep 'eval_accuracy' in monitor)")
    return monitor


def _compile_monitors(model, params, data, pen, monitor, test=None) -> dict:
    """``{"eval"/"train"/"test": (compiled monitor, x, labels)}`` for what is monitored."""
    out = {}
    if test is not None:
        out["test"] = (monitor_jit.lower(model, params, *test, data.scale, pen).compile(),
                       *test)
    if {"eval_accuracy", "eval_cost"} & monitor:
        ex, el = data.eval
        out["eval"] = (monitor_jit.lower(model, params, ex, el, data.scale, pen).compile(), ex, el)
    if {"train_accuracy", "train_cost"} & monitor:
        out["train"] = (monitor_jit.lower(model, params, data.x, data.labels, data.scale,
                                          pen).compile(), data.x, data.labels)
    return out


def _epoch_fn(impl, data, model, rule, grad, pen, reg, threads, shuffle, progress, loop):
    """fit's compiled epoch, ``(params, state, key, x, y, x_scale, pen) -> (params, state,
    key, finite)``, for ``impl``; ``reg``: ``(λ, n in λ/n)``."""
    if impl == "c":
        return _c_epoch(data, model, rule, reg, threads, shuffle, loop.params, loop.state)
    args = (loop.params, loop.state, loop.key, data.x, data.y, data.scale, pen)
    kw = dict(model=model, rule=rule, grad=grad, batch_size=data.batch_size,
              shuffle=bool(shuffle))
    if impl == "pallas":
        check_supported(model, loop.params[0].w.dtype, rule, grad)
        interpret_mode()                        # says so here, once, when there is no GPU
        return pallas_shuffled_epoch.lower(*args, **kw).compile()
    return top_level("shuffled_epoch").lower(*args, progress=progress, **kw).compile()


def _c_epoch(data, model, rule, reg, threads, shuffle, params, state):
    """fit's epoch with the C kernel: the interface of the compiled ``shuffled_epoch``
    (the same shuffle and dropout key), the epoch itself a jaxnet.cref.Epoch checked
    once, here, for the whole run. The parameters stay on the host between epochs.
    ``reg``: ``(λ, n in λ/n)``."""
    from ..cref import Epoch
    c_epoch = Epoch(rule, params, state, np.asarray(data.x_host), np.asarray(data.y),
                    batch_size=data.batch_size, model=model, lmbda=reg[0], n=reg[1],
                    x_scale=None if data.scale is None else float(data.scale), threads=threads,
                    pack_once=True)
    n = c_epoch.n

    def epoch(params, state, key, _x, _y, _scale, _pen):
        if shuffle:
            key, order = shuffle_jit(key, n)
            order = np.asarray(order, np.int64)
        else:
            order = np.arange(n, dtype=np.int64)
        drop = None
        if model.has_dropout:
            key, drop = jax.random.split(key)
        params, state = c_epoch(params, state, order, key=drop)
        return params, state, key, all(np.isfinite(a).all() for a in jax.tree.leaves(params))
    return epoch
