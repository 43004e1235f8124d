"""fit's checkpoints in the loop: when to save, the saver bound to one run, one
writer per checkpoint (a lock held for the loop), and signals (Ctrl-C, SIGTERM)
deferred to the end of the epoch so it can be saved (a second one stops at once)."""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from .._core.atomic import interrupt
from .._core.lock import FileLock
from .._core.rules import MomentumState
from ._checkpoint import CheckpointError, check_target, load_checkpoint, save_checkpoint
from ._history import EpochRecord, LoopState, Schedule
from ._identity import run_config


def after_epoch(loop, saver, signalled, every, epochs) -> LoopState:
    """Saves the checkpoint when due (or on a signal); a signal then stops the loop."""
    if saver is None:
        return loop
    if (signalled or loop.schedule.stopped is not None or loop.epoch == epochs
            or (loop.epoch - saver.start) % every == 0):
        saver.save(loop)
    if signalled and loop.schedule.stopped is None:
        name = signal.Signals(signalled[0]).name
        why = (f"interrupted by {name} after epoch {loop.epoch - 1}; checkpoint saved to "
               f"{saver.path} (resume=True continues)")
        loop = loop._replace(schedule=loop.schedule._replace(stopped=why))
    return loop


class Saver:
    """The fit loop's checkpoint: its file, the run's config (its identity: the initial
    ``key`` and ``params``, the data, ``names`` and ``hyper``), saving and resuming."""

    def __init__(self, path, model, params, data, x, labels, x_scale, rule, resume, overwrite,
                 hyper, *, key, eval_data, test_data, names):
        check_target(path, resume=resume, overwrite=overwrite)
        self.seen = check_free(path)
        self.path, self.resume_ok, self.rule, self.start = Path(path), resume, rule, 0
        self.dtype = np.dtype(params[0].w.dtype)
        self.shapes = [layer.param_shapes(s) for layer, s in zip(model.layers, model.shapes)]
        self.config = run_config(model=model, dtype=self.dtype, x=x, labels=labels,
                                             x_scale=x_scale, keys=key, params=params,
                                             eval_data=eval_data, test_data=test_data,
                                             names=names, **hyper)

    def resume(self, loop: LoopState, epochs: int) -> LoopState:
        if not (self.resume_ok and self.path.exists()):
            return loop
        ck = load_checkpoint(self.path, self.config, shapes=self.shapes,
                                         epochs=epochs, record=EpochRecord)
        s = ck["schedule_state"]
        state = loop.state
        if ck["velocity"] is not None:
            state = state._replace(velocity=jax.tree.map(jnp.asarray, ck["velocity"]))
        self.start = ck["epoch"]
        return LoopState(jax.tree.map(jnp.asarray, ck["params"]), state, jnp.asarray(ck["key"]),
                         ck["epoch"], ck["history"],
                         Schedule(s["best"], s["since_best"], s["eta"], s["stopped"]))

    def save(self, loop: LoopState) -> None:
        velocity = loop.state.velocity if isinstance(loop.state, MomentumState) else None
        save_checkpoint(self.path, params=loop.params, velocity=velocity,
                                    key=loop.key, epoch=loop.epoch, history=loop.history,
                                    config=self.config,
                                    schedule_state=loop.schedule._asdict())


def _version(path):
    """What the checkpoint at ``path`` is now: ``(device, inode, size, mtime)`` or None
    (an atomic write replaces the file, so a save by anyone changes it)."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns


def check_free(path):
    """At the start of a run: no other process holds ``path``'s lock (else a one-line
    CheckpointError naming its PID). Returns the checkpoint's version now, which
    :func:`checkpointing` checks is still there when it takes the lock for the loop."""
    FileLock(path, CheckpointError).release()
    return _version(path)


@contextlib.contextmanager
def checkpointing(saver, *, lock: bool = True):
    """The fit loop's window: while ``saver`` (a Saver or PopulationSaver, or None)
    saves, its checkpoint's lock is held (``lock``: this process writes it) and
    signals are deferred (:func:`signals_deferred`); both let go at the end, also on
    an exception. A checkpoint another process wrote since the run's start (between
    :func:`check_free` and now) is a CheckpointError: this run read the older one."""
    if saver is None or not lock:
        with signals_deferred(saver is not None) as received:
            yield received
        return
    with FileLock(saver.path, CheckpointError):
        if _version(saver.path) != saver.seen:
            raise CheckpointError(f"checkpoint {saver.path}: written by another process since "
                                  "this run started; run again to resume from it")
        with signals_deferred(True) as received:
            yield received


@contextlib.contextmanager
def signals_deferred(active: bool):
    """While active (and in the main thread): SIGINT and SIGTERM are recorded in the
    yielded list instead of interrupting, so the loop can finish its epoch and save;
    a second one stops at once (KeyboardInterrupt; a checkpoint being written is
    completed first: jaxnet._core.atomic.interrupt)."""
    received = []
    if not active or threading.current_thread() is not threading.main_thread():
        yield received
        return

    def handler(signum, frame):
        received.append(signum)
        if len(received) > 1:
            interrupt(signum)
    old = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    for sig in old:
        signal.signal(sig, handler)
    try:
        yield received
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)
