"""``jaxnet train``: check the flags, load the data, fit, save."""

from __future__ import annotations

import math
import sys
import time

from .._core.layerspec import describe
from ._announce import announce, epoch_printer
from ._common import (
    check_run_memory,
    error,
    load_split,
    reported_epochs,
    run_names,
    setup_jax,
    write_output,
)
from ._flags import (
    lambda_n,
    model_from_args,
)
from ._report import write_report
from ._report_teach import Watch, report_monitors
from ._train_flags import check_flags


def setup(args, d, split):
    """``(model, params, fit key)`` for the data, or an exit status. XLA:CPU's threads
    are set here, between the model and its first array."""
    import jax
    import jax.numpy as jnp

    from .._core.model import init_params
    n_in = d.train.images.shape[1]
    n_classes = int(max(d.train.labels.max(), split.labels.max())) + 1
    if args.batch_size > len(d.train):
        return error(f"--batch-size {args.batch_size} exceeds the {len(d.train)} training "
                     "examples", 2)
    try:
        model = model_from_args(args, n_in, n_classes)
        problem = choose_cpu_threads(args, model, args.batch_size * args.ensemble)
        if problem:
            return error(problem, 2)
        check_run_memory(args, model, d, split, members=args.ensemble)  # starts JAX
    except ValueError as e:
        return error(str(e), 2)
    dtype = jnp.float64 if args.dtype == "float64" else jnp.float32
    key_init, key_fit = jax.random.split(jax.random.PRNGKey(args.seed))
    try:
        params = init_params(key_init, model, dtype=dtype, init=args.init)
    except ValueError as e:
        return error(f"{'--layers' if args.layers else '--sizes'} "
                     f"{args.layers or ','.join(map(str, model.sizes))}: {e}", 2)
    return model, params, key_fit


def choose_cpu_threads(args, model, rows):
    """Sets XLA:CPU's intra-op threads: ``--cpu-threads``, else the user's own
    ``PJRT_NPROC`` (kept as it is), else jaxnet.cpu_threads_for(model, rows)
    (``rows``: a step's examples, over every member). Records what the header says
    in ``args.cpu_threads_note``; returns a problem (an explicit ``--cpu-threads``
    after JAX started in this process) or None."""
    import os

    from .._core.threads import THREADS_ENV, backend_started, step_flops
    from ..train import cpu_threads_for, set_cpu_threads
    n = args.cpu_threads or cpu_threads_for(model, rows)
    why = ("--cpu-threads" if args.cpu_threads else
           f"chosen: {step_flops(model, rows) / 1e6:.1f} MFLOP of products a step")
    if not args.cpu_threads and os.environ.get(THREADS_ENV):   # the user's own setting wins
        why = f"{THREADS_ENV} in the environment"
    if backend_started():   # main() called again in one process: the pool is fixed
        if args.cpu_threads:
            return f"--cpu-threads {args.cpu_threads}: JAX already started in this process"
        why = "fixed before this run in this process"
    elif not why.startswith(THREADS_ENV):
        set_cpu_threads(n)
    count = os.environ.get(THREADS_ENV) or len(os.sched_getaffinity(0))
    args.cpu_threads_note = f"{count} XLA:CPU thread{'s' * (str(count) != '1')} ({why})"
    return None


def run_fit(args, model, params, key, d, split, bar, watch=None):
    """The FitResult, or an exit status after printing the error; ``watch``: fit's
    ``on_params`` (``--report``'s speed of learning), or None."""
    from .. import data as jdata
    from .._core.rescue import WriteError
    from ..train import CheckpointError, fit
    done = reported_epochs()
    if bar:
        bar.start("Epoch 0")
        bar.compiling()
    try:
        return fit(key, params, d.train.images, d.train.labels, model=model, epochs=args.epochs,
                   eta=args.eta, batch_size=args.batch_size, x_scale=jdata.PIXEL_SCALE,
                   eval_data=(split.images, split.labels), lmbda=args.lmbda,
                   momentum=args.momentum, monitor=args.monitor, early_stop=args.early_stop,
                   schedule=args.schedule, grad=args.grad,
                   on_epoch=epoch_printer(args, bar, done), progress=bar,
                   checkpoint=args.checkpoint, resume=args.resume, overwrite=args.overwrite,
                   impl=args.impl, threads=args.threads or 1, shuffle=args.shuffle,
                   n=lambda_n(args), test_data=_test_data(args, d),
                   names=run_names(args, seed=args.seed), on_params=watch)
    except (FloatingPointError, CheckpointError, ImportError, WriteError) as e:
        if bar:  # ImportError: --impl c without the extension; WriteError: a full disk
            bar.clear()
        return error(_checkpoint_message(e) if isinstance(e, WriteError) else str(e), 1)
    except (ValueError, TypeError) as e:
        if done:  # fit checks every argument before it trains: this is not one
            raise
        return error(str(e), 2)


def _checkpoint_message(e) -> str:
    """A checkpoint that could not be written: where the run's state went instead."""
    return e.message("--checkpoint", hint=f"the run after {e.epoch} epochs: add --resume "
                     f"with --checkpoint {e.rescued}, or move it to {e.path}, to continue")


def _test_data(args, d):
    """With ``--test-at-best``, the test split is evaluated at each new best
    validation accuracy (network3's report)."""
    if not args.test_at_best:
        return None
    if args.eval != "validation" or d.test is None or "eval_accuracy" not in args.monitor:
        raise ValueError("--test-at-best needs --eval validation (and eval_accuracy in "
                         "--monitor)")
    return d.test.images, d.test.labels


def train(args) -> int:
    setup_jax(args)
    from .. import data as jdata
    from ._progress import ProgressBar
    status = check_flags(args)
    if status is not None:
        return status
    if args.report:
        report_monitors(args)
    show = args.progress == "always" or (args.progress == "auto" and sys.stderr.isatty())
    loaded = load_split(args, show)
    if isinstance(loaded, int):
        return loaded
    d, split = loaded
    if args.expand:
        side = math.isqrt(d.train.images.shape[1])
        if side * side != d.train.images.shape[1]:
            return error(f"--expand shifts square images; {d.train.images.shape[1]} inputs are "
                         "not one", 2)
        d = d._replace(train=jdata.expand(d.train, side, shuffle_seed=args.seed))
    made = setup(args, d, split)
    if isinstance(made, int):
        return made
    model, params, key = made
    announce(args, model, d, split)
    if args.ensemble > 1:
        from ._ensemble import train_ensemble
        return train_ensemble(args, model, d, split)
    bar = ProgressBar() if show else None
    watch = Watch(params, model, d.train.images, d.train.labels, jdata.PIXEL_SCALE) \
        if args.report else None
    t0 = time.perf_counter()
    result = run_fit(args, model, params, key, d, split, bar, watch)
    if isinstance(result, int):
        return result
    if result.stopped and result.stopped.startswith("interrupted"):
        if bar:
            bar.clear()
        print(f"jaxnet: {result.stopped}", file=sys.stderr)
        return 143 if "SIGTERM" in result.stopped else 130
    best = max((r.correct for r in result.history if r.correct is not None), default=None)
    if result.stopped:
        print(f"stopped after {len(result.history)} epochs: {result.stopped}")
    tested = [r for r in result.history if r.test_correct is not None]
    print(f"compile {result.compile_seconds:.2f} s, total {time.perf_counter() - t0:.2f} s"
          + (f", best {best} / {split.images.shape[0]}" if best is not None else "")
          + (f" -> test {tested[-1].test_correct} / {tested[-1].test_total}" if tested else ""))
    return write_outputs(args, model, result, split, watch)


def write_outputs(args, model, result, split, watch=None) -> int:
    from ..io import save_network2, save_params
    status = 0
    if args.save:
        if args.save_format == "network2":
            def write(path):
                save_network2(path, result.params, cost=model.cost)
        else:
            def write(path):
                meta = {k: getattr(args, k) for k in ("eta", "epochs", "batch_size", "seed", "data",
                                                      "init", "lmbda", "momentum", "dropout")}
                save_params(path, result.params, model=model, metadata=meta)
        status = max(status, write_output("--save", args.save, write, "saved parameters to"))
    if args.plot:
        from ..plot import plot_history
        title = f"{describe(model)}, {model.cost}, eta {args.eta}"
        status = max(status, write_output("--plot", args.plot, lambda path: plot_history(
            result.history, path, title=title), "wrote"))
    if args.report:
        status = max(status, write_report(args, model, result, split, watch))
    return status
