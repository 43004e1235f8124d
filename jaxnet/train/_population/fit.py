"""Populations: many networks trained at once in one compiled program (``jax.vmap``).

A population of ``P`` members is a stacked pytree: every leaf of the
parameters gains a leading axis ``P`` (``w (P, n_out, n_in)``, ``b (P, n_out)``).
Each member has its own PRNG key (init and shuffles), η, λ and μ; they share
the data, the model and the mini-batch size. Member ``i`` follows exactly the
algorithm of :func:`jaxnet.fit` with ``keys[i]`` and its own hyper-parameters.
The members may be split over the devices of a mesh (jaxnet.train._population.mesh)
and the sweep checkpointed (jaxnet.train._population.checkpoint).
"""

from __future__ import annotations

import time
from functools import partial
from typing import Callable, NamedTuple, Optional

import jax
import jax.numpy as jnp
import numpy as np

from ..._core.costs import Penalty
from ..._core.inputs import resolve
from ..._core.params import as_layers, like
from ..._core.rules import MomentumState
from .._epoch import shuffled_epoch
from .._evaluate import monitor
from .._identity import check_names
from .._loop import prepare, reg_count
from .._pallas import check_supported, population_shuffled_epoch
from .blocks import blocked
from .checkpoint import member_shapes, member_split, population_config
from .cref import c_population_epoch, check_c_options
from .loop import PopulationRun, PopulationSaver, train_population
from .members import (
    best_members,
    check_keys,
    configurations,
    member_hyper,
    member_state,
)
from .mesh import (
    check_split,
    gather,
    member_sharding,
    put_members,
    put_replicated,
    slots,
)


class PopulationResult(NamedTuple):
    """What :func:`fit_population` returns.

    Attributes:
      params, velocity: stacked, leading axis P (velocity None without momentum).
      correct: ``(epochs, P)`` int evaluation counts (None without eval_data), the
        checkpoint's epochs included when resumed.
      total: the evaluation set's size.
      compile_seconds: compiling the epoch and the evaluation.
      epoch_seconds: one per epoch trained by this call.
      configs: ``(P,)`` int, each member's configuration (members with equal η, λ, μ
        share one, numbered in order of first appearance).
      best: ``(C,)`` int, per configuration the member whose final parameters score
        best on eval_data (lowest index on a tie) among those that did not diverge,
        -1 where all of them did; None without eval_data.
      stopped: why training stopped before ``epochs`` (a signal), else None.
      diverged: ``(P,)`` int, the epoch in which each member's parameters became NaN
        or Inf, -1 for a member that trained to the end. A diverged member stopped
        there: its parameters, velocity and ``correct`` are those of its last finite
        state (the end of the epoch before, or its start).
    """

    params: tuple
    velocity: Optional[tuple]
    correct: Optional[np.ndarray]
    total: Optional[int]
    compile_seconds: float
    epoch_seconds: list
    configs: Optional[np.ndarray] = None
    best: Optional[np.ndarray] = None
    stopped: Optional[str] = None
    diverged: Optional[np.ndarray] = None


def _axes(pen):
    return None if pen is None else Penalty(0, None)


@partial(jax.jit, static_argnames=("model", "rule", "grad", "batch_size", "shuffle",
                                   "sharding"))
def population_epoch(params, state, keys, x, y, x_scale, pen, *, model, rule, grad, batch_size,
                     shuffle=True, sharding=None):
    """:func:`jaxnet.train._epoch.shuffled_epoch` for every member at once: ``(params,
    state, keys (P, 2), finite (P,))``; on one device a block of members at a time
    (jaxnet.train._population.blocks: the block's parameters stay in the cache).
    With a MemberSharding the member axis stays split over its devices (and each
    mini-batch over a 2-D mesh's data axis); the finiteness flags are copied to
    every device."""
    def one(p, s, k, pn):
        return shuffled_epoch(p, s, k, x, y, x_scale, pn, model=model, rule=rule, grad=grad,
                              batch_size=batch_size, shuffle=shuffle,
                              sharding=None if sharding is None else sharding.rows)
    if sharding is None:   # a block of members at a time (jaxnet.train._population.blocks)
        lmbda = None if pen is None else pen.lmbda
        return blocked(lambda m, n: one(*m[:3], None if n is None else Penalty(m[3], n)),
                       (params, state, keys, lmbda), None if pen is None else pen.n)
    *out, finite = jax.vmap(one, in_axes=(0, 0, 0, _axes(pen)),
                            spmd_axis_name=sharding.axis)(params, state, keys, pen)
    out = jax.lax.with_sharding_constraint(tuple(out), sharding.members)
    return (*out, jax.lax.with_sharding_constraint(finite, sharding.replicated))


@partial(jax.jit, static_argnums=0, static_argnames=("sharding",))
def population_monitor(model, params, x, labels, x_scale, pen, sharding=None):
    """``(correct (P,), cost (P,))`` of every member on one data set (copied to every
    device with a MemberSharding)."""
    out = jax.vmap(lambda p, pn: monitor(model, p, x, labels, x_scale, pn),
                   in_axes=(0, _axes(pen)))(params, pen)
    return out if sharding is None else jax.lax.with_sharding_constraint(out,
                                                                         sharding.replicated)


def fit_population(keys, params, x, labels, *, model=None, epochs: int = 30, eta=3.0,
                   batch_size: int = 10, x_scale=None, eval_data=None, lmbda=0.0, momentum=0.0,
                   grad: str = "backprop",
                   on_epoch: Optional[Callable[[int, np.ndarray], None]] = None,
                   shuffle: bool = True, n=None, mesh=None, checkpoint=None,
                   checkpoint_every: int = 1, resume: bool = False,
                   overwrite: bool = False, impl: str = "jax", names=None,
                   threads: Optional[int] = None) -> PopulationResult:
    """Trains ``P`` networks at once, one compiled program per epoch for all of them.

    Args:
      keys: ``(P, 2)`` PRNG keys for the members' shuffles (as ``fit``'s key).
      params: stacked parameters, leading axis ``P`` (:func:`init_population`).
      x, labels, model, x_scale, eval_data, batch_size, grad, shuffle, n:
        shared by all members, as in :func:`jaxnet.fit` (``x (N, n_0)``,
        ``labels (N,)``, ``eval_data (x (M, n_0), labels (M,))``).
      eta, lmbda, momentum: a number for every member or ``P`` values.
      epochs: epochs to train (in all, counting a resumed checkpoint's).
      on_epoch: called with ``(epoch, correct (P,))`` after each epoch (with eval_data).
      mesh: a ``jax.sharding.Mesh`` to split the members over: 1-D (its one axis),
        or 2-D with a ``"members"`` axis, each member's mini-batches then split
        over the other axis (``batch_size`` must divide evenly). No communication
        but the results (and, 2-D, each gradient's sum). ``P`` need not divide the
        devices: the members are padded with copies of member 0, which are
        dropped. Across processes: a mesh over ``jax.devices()`` after
        ``jax.distributed.initialize``, every process passing the same arguments.
      checkpoint: a file to save the sweep to (every member's parameters,
        momentum, keys and evaluation counts) every ``checkpoint_every`` epochs
        and at the end, atomically, from process 0. While set, SIGINT (Ctrl-C)
        and SIGTERM finish the epoch, save, and return with ``stopped`` saying so.
      resume: continue from ``checkpoint`` if it exists; it must be this sweep's:
        the same run identity as ``fit``'s (model, dtype, training and evaluation
        data, members' initial keys and parameters, ``names``, batch size,
        gradient, shuffle, n, impl) with every member's η, λ, μ and the sharding
        that changes results: members per device and a 2-D mesh's data split;
        else a one-line CheckpointError naming the difference (the same check as
        ``fit``'s). The result equals an uninterrupted run's bit for bit.
      overwrite: start over although ``checkpoint`` exists (without it or
        ``resume``, an existing checkpoint is a CheckpointError before training).
      impl: ``"jax"``; ``"pallas"``: one fused kernel (Dense, float32, no mesh); or
        ``"c"``: each member's epoch by the C kernel's fast path (jaxnet.cref.Epoch,
        one thread a member) over the same shuffles and dropout keys as ``"jax"``,
        the members spread over ``threads`` host threads; the evaluation is JAX's.
        No mesh; a checkpoint of one impl does not resume another.
      threads: with ``impl="c"``, how many members train at once (a positive int;
        None: the cores this process may use). It does not change the results.
        Only with ``impl="c"``.
      names: as ``fit``'s (the command line's seeds or ensemble, init, evaluation
        split and data), recorded in the checkpoint to name a refused resume.

    Returns:
      PopulationResult, on every process (host-gathered when sharded). Member
      ``i`` equals ``fit(keys[i], params[i], ...)`` with its own η, λ, μ, to
      float rounding: vmap batches the matrix products, and XLA picks their
      kernel by the batch's shape (how many members share a device or a block,
      sharded or not), which may sum in another order. The same members on the same split
      are bit-identical; otherwise the difference is bounded by how much the
      run amplifies a one-ulp change of its start, which a chaotic run such as
      η = 3 cross-entropy raises to ~1e-5 relative in float64 within 100 steps
      on a GPU, ~1e-10 on the CPU (tests/test_population.py,
      tests/test_population_mesh.py).

    A member whose parameters become NaN or Inf stops alone: it is marked in
    ``diverged`` with the epoch, keeps its last finite state, and the others train
    on (a checkpoint records the statuses; a resume keeps them).

    Raises:
      FloatingPointError: every member became NaN or Inf (each named by its η, λ, μ
        and epoch; the exception's ``diverged`` holds the epochs).
      CheckpointError: as ``resume``/``overwrite`` say.
      jaxnet.io.WriteError: a checkpoint could not be written; it says where a copy went.
    """
    keys = check_keys(keys)
    pop = keys.shape[0]
    _check_stacked(params, pop)
    sharding = None if mesh is None else member_sharding(mesh)
    model, member0 = resolve(jax.tree.map(lambda a: a[0], params), model)
    data = prepare(model, member0, x, labels, x_scale=x_scale, epochs=epochs,
                   batch_size=batch_size, eval_data=eval_data, grad=grad,
                   members=slots(pop, sharding) // (sharding.devices if sharding else 1))
    check_split(sharding, data.batch_size)
    _check_options(shuffle, checkpoint_every, resume, overwrite)
    check_names(names)
    hyper = member_hyper(pop, eta, lmbda, momentum)
    given, params = params, as_layers(jax.tree.map(jnp.asarray, params))
    reg_n = reg_count(n, data.n, data.batch_size)
    rule, state, pen = member_state(params, hyper, reg_n)
    if impl not in ("jax", "pallas", "c"):
        raise ValueError(f"impl: expected one of ('jax', 'pallas', 'c'), got {impl!r}")
    threads = check_c_options(impl, threads, mesh)
    if impl == "pallas":
        check_supported(model, params[0].w.dtype, rule, grad, mesh=mesh)
    run, saver = PopulationRun(params, state, keys, 0, [], np.full(pop, -1, np.int64)), None
    total = None if data.eval is None else int(data.eval[1].shape[0])
    if checkpoint is not None:
        config = population_config(
            model=model, dtype=params[0].w.dtype, x=x, labels=labels, x_scale=x_scale,
            eval_data=eval_data, keys=keys, params=params, hyper=hyper, names=names,
            batch_size=data.batch_size, grad=grad, shuffle=shuffle,
            reg_n="examples" if n is None else n, impl=impl, **member_split(pop, sharding))
        saver = PopulationSaver(checkpoint, config, shapes=member_shapes(model),
                                resume=resume, overwrite=overwrite, every=checkpoint_every,
                                pop=pop)
        run = saver.resume(run, epochs, total)
    t0 = time.perf_counter()
    c = None if threads is None else dict(hyper=hyper, reg_n=reg_n, threads=threads)
    run, epoch_fn, eval_fn = _compiled(run, pen, data, pop, sharding, impl, c, model=model,
                                       rule=rule, grad=grad, batch_size=data.batch_size,
                                       shuffle=shuffle)
    compile_seconds = time.perf_counter() - t0
    run, seconds, stopped = train_population(run, epoch_fn, eval_fn, epochs=epochs, pop=pop,
                                             saver=saver, on_epoch=on_epoch, hyper=hyper)
    params, state = run.params, run.state
    if sharding is not None:
        params, state = jax.tree.map(jnp.asarray, gather((params, state), pop))
    correct = np.stack(run.correct) if run.correct else None
    configs = configurations(hyper)
    velocity = state.velocity if isinstance(state, MomentumState) else None
    return PopulationResult(like(given, params), None if velocity is None else like(given, velocity),
                            correct, total, compile_seconds, seconds, configs,
                            best_members(configs, correct, run.diverged), stopped,
                            np.asarray(run.diverged, np.int64))


def _compiled(run, pen, data, pop, sharding, impl, c, **static):
    """The run and the data placed on the mesh (if any), and the compiled ``(epoch of
    every member, evaluation or None)``, closed over the data; ``c``: impl "c"'s
    ``(hyper, reg_n, threads)`` as a dict, else None.

    The one place that runs an epoch of all members: another implementation of the
    epoch takes the place of ``population_epoch`` here."""
    if sharding is not None:
        run = run._replace(params=put_members(run.params, pop, sharding),
                           state=put_members(run.state, pop, sharding),
                           keys=put_members(run.keys, pop, sharding))
        if pen is not None:
            pen = Penalty(put_members(pen.lmbda, pop, sharding), put_replicated(pen.n, sharding))
        data = data._replace(**put_replicated(dict(x=data.x, y=data.y, scale=data.scale,
                                                   eval=data.eval), sharding))
    if impl == "c":
        epoch_fn = c_population_epoch(run.params, run.state, data=data, model=static["model"],
                                      rule=static["rule"], shuffle=static["shuffle"], **c)
    else:
        epoch, extra = ((population_shuffled_epoch, {}) if impl == "pallas"
                        else (population_epoch, {"sharding": sharding}))
        fn = epoch.lower(run.params, run.state, run.keys, data.x, data.y, data.scale, pen,
                         **extra, **static).compile()
        epoch_fn = partial(_epoch_with, fn, data, pen)
    if data.eval is None:
        return run, epoch_fn, None
    ev = population_monitor.lower(static["model"], run.params, *data.eval, data.scale, pen,
                                  sharding=sharding).compile()
    return run, epoch_fn, lambda params: ev(params, *data.eval, data.scale, pen)[0]


def _epoch_with(fn, data, pen, params, state, keys):
    return fn(params, state, keys, data.x, data.y, data.scale, pen)


def _check_stacked(params, pop: int) -> None:
    leaves = jax.tree.leaves(params)
    if not leaves or any(np.ndim(a) < 1 or np.shape(a)[0] != pop for a in leaves):
        raise ValueError(f"params: expected stacked Layers with leading axis {pop} "
                         "(one member per key; see init_population)")


def _check_options(shuffle, checkpoint_every, resume, overwrite) -> None:
    for name, v in (("shuffle", shuffle), ("resume", resume), ("overwrite", overwrite)):
        if not isinstance(v, bool):
            raise ValueError(f"{name}: expected True or False, got {v!r}")
    if (isinstance(checkpoint_every, bool) or not isinstance(checkpoint_every, int)
            or checkpoint_every < 1):
        raise ValueError(f"checkpoint_every: expected a positive int (epochs), got "
                         f"{checkpoint_every!r}")
