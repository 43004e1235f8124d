"""fit's checkpoints in the loop: when to save, the saver bound to one run, and
signals (Ctrl-C, SIGTERM) deferred to the end of the epoch so it can be saved."""

from __future__ import annotations

import contextlib
import signal
import threading
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from .._core.rules import MomentumState
from ._checkpoint import check_target, load_checkpoint, save_checkpoint
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


@contextlib.contextmanager
def signals_deferred(active: bool):
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
