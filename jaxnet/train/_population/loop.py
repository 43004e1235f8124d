"""fit_population's loop: the epochs, the evaluation after each, the checkpoint when
due, Ctrl-C/SIGTERM deferred to the end of the epoch so it can be saved, and members
that became NaN or Inf stopped alone: marked with the epoch, their state frozen at
its last finite value, the others trained on."""

from __future__ import annotations

import signal
from pathlib import Path
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from ..._core.rules import MomentumState
from .._checkpoint import check_target
from .._loop import run_epoch
from .._saver import check_free, checkpointing
from .checkpoint import load_population, save_population
from .members import all_diverged
from .mesh import any_process, gather


class PopulationRun(NamedTuple):
    """A sweep's state between epochs.

    Attributes:
      params: stacked Layers, leading axis ``slots`` (P, or P padded for a mesh).
      state: the stacked rule state (SgdState or MomentumState), leading axis ``slots``.
      keys: ``(slots, 2)`` uint32, the members' next keys.
      epoch: epochs trained.
      correct: one ``(P,)`` int array of evaluation counts per epoch trained.
      diverged: ``(P,)`` int, the epoch in which each member became NaN or Inf (its
        state frozen since), -1 while it trains.
    """

    params: tuple
    state: object
    keys: object
    epoch: int
    correct: list
    diverged: np.ndarray


class PopulationSaver:
    """A sweep's checkpoint: its file, the sweep's config, saving (from process 0) and
    resuming (every process reads the file)."""

    def __init__(self, path, config: dict, *, shapes, resume: bool, overwrite: bool,
                 every: int, pop: int):
        check_target(path, resume=resume, overwrite=overwrite)
        self.seen = check_free(path) if jax.process_index() == 0 else None
        self.path, self.config, self.shapes = Path(path), config, shapes
        self.resume_ok, self.every, self.pop, self.start = resume, every, pop, 0

    def resume(self, run: PopulationRun, epochs: int, total) -> PopulationRun:
        """``run`` continued from the checkpoint (if resuming and it exists)."""
        if not (self.resume_ok and self.path.exists()):
            return run
        ck = load_population(self.path, self.config, shapes=self.shapes, epochs=epochs,
                             total=total)
        as_jax = lambda t: jax.tree.map(jnp.asarray, t)   # noqa: E731
        state = run.state
        if ck["velocity"] is not None:
            state = state._replace(velocity=as_jax(ck["velocity"]))
        self.start = ck["epoch"]
        correct = [] if ck["correct"] is None else list(ck["correct"])
        return PopulationRun(as_jax(ck["params"]), state, jnp.asarray(ck["keys"]),
                             ck["epoch"], correct, ck["diverged"])

    def due(self, epoch: int, epochs: int) -> bool:
        return epoch == epochs or (epoch - self.start) % self.every == 0

    def save(self, run: PopulationRun) -> None:
        """Gathers the members' state (every process takes part) and writes it from
        process 0."""
        velocity = run.state.velocity if isinstance(run.state, MomentumState) else None
        params, velocity, keys = gather((run.params, velocity, run.keys), self.pop)
        correct = None
        if self.config["eval_sha256"] is not None:
            correct = np.array(run.correct, np.int64).reshape(run.epoch, self.pop)
        if jax.process_index() == 0:
            save_population(self.path, params=params, velocity=velocity, keys=keys,
                            correct=correct, epoch=run.epoch, config=self.config,
                            diverged=run.diverged)


def train_population(run: PopulationRun, epoch_fn, eval_fn, *, epochs: int, pop: int,
                     saver, on_epoch, hyper: dict):
    """Trains ``run`` up to ``epochs`` epochs.

    ``epoch_fn(params, state, keys)``: one epoch of every member, ``(params, state,
    keys, finite (slots,))``; ``eval_fn(params)``: ``(slots,)`` evaluation counts, or
    None; ``hyper``: the members' η, λ, μ (to name them). A member whose parameters
    became NaN or Inf is marked in ``run.diverged`` and keeps its state of the epoch
    before (so nothing it computes later reaches the others, the evaluation or a
    file). Returns ``(run, seconds per epoch, why it stopped early or None)``; raises
    FloatingPointError naming the members once every one has diverged."""
    seconds, stopped = [], None
    with checkpointing(saver, lock=jax.process_index() == 0) as signalled:
        while run.epoch < epochs:
            (params, state, keys, finite), s = run_epoch(
                lambda *a: _first(epoch_fn(*a), pop), run.epoch, run.params, run.state,
                run.keys)
            seconds.append(s)
            diverged = np.where((run.diverged < 0) & ~finite, run.epoch, run.diverged)
            if (diverged >= 0).all():
                raise all_diverged(hyper, diverged)
            if (diverged >= 0).any():
                params, state, keys = _keep(diverged < 0, (params, state, keys),
                                            (run.params, run.state, run.keys))
            correct = run.correct
            if eval_fn is not None:
                correct = correct + [np.asarray(eval_fn(params))[:pop]]
                if on_epoch is not None:
                    on_epoch(run.epoch, correct[-1])
            run = PopulationRun(params, state, keys, run.epoch + 1, correct, diverged)
            stop = saver is not None and any_process(bool(signalled))
            if saver is not None and (stop or saver.due(run.epoch, epochs)):
                saver.save(run)
            if stop:
                name = (signal.Signals(signalled[0]).name if signalled
                        else "a signal to another process")
                stopped = (f"interrupted by {name} after epoch {run.epoch - 1}; checkpoint "
                           f"saved to {saver.path} (resume=True continues)")
                break
    return run, seconds, stopped


def _first(out, pop: int):
    """An epoch's outputs with the finiteness of the first ``pop`` members only (the
    padding's copies are dropped)."""
    *rest, finite = out
    return (*rest, np.asarray(finite)[:pop])


def _keep(alive: np.ndarray, new, old):
    """``new``'s members where ``alive (P,)``, else ``old``'s; every leaf ``(slots,
    ...)``, the padding following member 0. Placed as ``new`` was (a mesh's split), so
    the compiled epoch takes it as before."""
    slots = jax.tree.leaves(new)[0].shape[0]
    mask = np.concatenate([alive, np.repeat(alive[:1], slots - len(alive))])
    kept = _select(mask, new, old)
    return jax.device_put(kept, jax.tree.map(lambda a: a.sharding, new))


@jax.jit
def _select(mask, new, old):
    return jax.tree.map(lambda n, o: jnp.where(mask.reshape(mask.shape + (1,) * (n.ndim - 1)),
                                               n, o), new, old)
