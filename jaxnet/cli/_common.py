"""What the command-line commands share: loading data, one-line errors, outputs."""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
from pathlib import Path

from ._flags import DATASETS


class Progress:
    """What the command running now has done, for the line an interrupt prints:
    ``epochs``, the epochs reported (a list the fit's on_epoch fills), ``written``,
    the outputs written ``(flag, path)``."""

    def __init__(self):
        self.epochs, self.written = [], []


PROGRESS = Progress()


def reported_epochs() -> list:
    """The running command's list of epochs reported, for its fit's on_epoch to fill."""
    return PROGRESS.epochs


def record_written(flag: str, path) -> None:
    """Notes an output written whole (a report: its folder, once its page is written)."""
    PROGRESS.written.append((flag, path))


@contextlib.contextmanager
def interruptible():
    """A command's whole run: Ctrl-C raises KeyboardInterrupt at once, but never cuts a
    file being written (jaxnet._core.atomic.interrupt: it is completed first); the
    progress starts empty."""
    from .._core.atomic import interrupt
    global PROGRESS
    PROGRESS = Progress()
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    old = signal.signal(signal.SIGINT, lambda signum, frame: interrupt(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, old)


def interrupted(args, e: KeyboardInterrupt) -> int:
    """The one line an interrupted command prints, saying what it kept (the checkpoint,
    the outputs written whole; the others are untouched, but for a report folder's
    page: jaxnet.cli._report), and its exit status: 130 (SIGINT) or 143 (SIGTERM, a
    checkpointed loop's second signal)."""
    name = e.args[0] if e.args and e.args[0] in ("SIGINT", "SIGTERM") else "SIGINT"
    line = f"interrupted by {name}"
    epochs = getattr(args, "epochs", None)
    if PROGRESS.epochs:
        line += f" after {PROGRESS.epochs[-1] + 1} of {epochs} epochs"
    kept = []
    checkpoint = getattr(args, "checkpoint", None)
    if checkpoint is not None and Path(checkpoint).is_file():
        kept.append(f"checkpoint {checkpoint} kept (--resume continues)")
    done = {(flag, Path(path)) for flag, path in PROGRESS.written}
    kept += [f"wrote {flag} {path}" for flag, path in PROGRESS.written
             if flag != "--report" or (flag, Path(path)) == ("--report", Path(args.report))]
    missing = [f"{flag} {path}" for flag in ("--save", "--plot", "--report")
               for path in [getattr(args, flag[2:], None)]
               if path is not None and (flag, Path(path)) not in done]
    if missing:
        kept.append(f"{', '.join(missing)} not written")
    print(f"jaxnet: {line}; {'; '.join(kept) if kept else 'nothing saved'}", file=sys.stderr)
    return 143 if name == "SIGTERM" else 130


def load_data(name: str, progress: bool):
    from .. import data
    if name == "mnist":
        return data.load_mnist(progress=progress)
    if name == "fashion-mnist":
        return data.load_fashion_mnist(validation_size=10_000)
    if name == "sample":
        return data.load_sample()
    folder = Path(name)
    if not folder.is_dir():
        raise data.DataError(f"--data: {name!r} is neither one of {DATASETS} nor a folder")
    return data.load_idx(folder, validation_size=0)


def load_split(args, progress):
    """``(data, the --eval split)``, or the exit status after printing the error."""
    from .. import data as jdata
    try:
        d = load_data(args.data, progress)
    except jdata.DataError as e:
        return error(str(e), 1)
    split = getattr(d, args.eval)
    if split is None:
        return error(f"--eval {args.eval}: data set {args.data!r} has no {args.eval} split", 2)
    return d, split


def plot_ready(args) -> bool:
    """With --plot or --report, matplotlib must import: say so before any training."""
    flag = next((f"--{f}" for f in ("plot", "report") if getattr(args, f, None) is not None),
                None)
    if flag is None:
        return True
    try:
        from ..plot import pyplot
        pyplot()
    except ImportError as e:
        print(f"jaxnet: error: {flag}: {e}", file=sys.stderr)
        return False
    return True


def error(message: str, code: int) -> int:
    """Prints ``jaxnet: error: message`` (one line) and returns the exit status."""
    print(f"jaxnet: error: {message}", file=sys.stderr)
    return code


def population_or_error(run, done: list, what: str):
    """``run()``, a ``fit_population`` call, or an exit status after printing its error
    as a flag would say it: 1 for a diverged run, another sweep's checkpoint or one
    that could not be written (``what``, e.g. "the sweep", names what was rescued);
    2 for a bad argument, which ``fit_population`` finds before it trains (with
    ``done``, the epochs already reported, non-empty it is a bug and raised)."""
    from .._core.rescue import WriteError
    from ..train import CheckpointError
    try:
        return run()
    except (FloatingPointError, CheckpointError) as e:
        return error(str(e).replace("resume=True", "--resume").replace(
            "overwrite=True", "--overwrite"), 1)
    except WriteError as e:
        return error(e.message("--checkpoint", hint=f"{what} after {e.epoch} epochs: add "
                               f"--resume with --checkpoint {e.rescued} to continue"), 1)
    except (ValueError, TypeError) as e:
        if done:
            raise
        return error(str(e), 2)


def stopped_status(res) -> int | None:
    """A population stopped by a signal (after saving): says so and returns 143
    (SIGTERM) or 130 (SIGINT); None when it ran to the end."""
    if not res.stopped:
        return None
    print(f"jaxnet: {res.stopped.replace('resume=True', '--resume')}", file=sys.stderr)
    return 143 if "SIGTERM" in res.stopped else 130


def outputs_unwritable(flags) -> str | None:
    """``(flag, path or None)`` pairs: the first output that could not be written, said
    before any data is loaded or anything trained (jaxnet._core.atomic.unwritable)."""
    from .._core.atomic import unwritable
    for flag, path in flags:
        problem = None if path is None else unwritable(path)
        if problem:
            return f"{flag} {path}: {problem}"
    return None


def write_output(flag, path, write, done: str) -> int:
    """``write(path)`` through jaxnet.io's one rescue path: if that fails at the end of
    a run, the result goes to the current or the temporary folder instead, one line
    says where, and the exit status is 1. A Ctrl-C meanwhile waits until the file is
    written. Returns 0 or 1."""
    from .._core.atomic import whole
    from .._core.rescue import WriteError
    from .._core.rescue import write_or_rescue as rescue
    with whole():        # Ctrl-C waits until it is written and said (jaxnet.cli._common.interrupted)
        try:
            rescue(path, write, what=flag)
        except WriteError as e:
            return error(str(e), 1)
        record_written(flag, path)
        print(f"{done} {path}")
    return 0


#: The IDX files a data folder is read from (jaxnet.data.load_idx), plain or gzipped.
IDX_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
             "t10k-labels-idx1-ubyte")


def data_files(name: str) -> list:
    """``("--data", path)`` for every file ``--data name`` may be read from."""
    from .. import data
    if name == "mnist":
        return [("--data", data.cache_dir() / data.MNIST_CACHE_NAME)]
    if name == "sample":
        from ..data import SAMPLE_PATH
        return [("--data", SAMPLE_PATH)]
    folder = data.FASHION_MNIST_DIR if name == "fashion-mnist" else Path(name)
    return [("--data", folder / f"{stem}{gz}") for stem in IDX_FILES for gz in ("", ".gz")]


def _same_file(a, b) -> bool:
    if os.path.realpath(a) == os.path.realpath(b):  # symlinks and relative paths resolved
        return True
    try:
        return os.path.samefile(a, b)  # hard links (both exist)
    except OSError:
        return False


def same_file(outputs, inputs=()) -> str | None:
    """The one-line problem if two ``outputs`` or an output and one of ``inputs``
    (``(flag, path or None)`` pairs) are one file, else None: said before anything is
    loaded or trained, since the later write would replace the earlier or the input."""
    outputs = [(f, p) for f, p in outputs if p is not None]
    for i, (flag, path) in enumerate(outputs):
        for other, other_path in outputs[i + 1:]:
            if _same_file(path, other_path):
                return (f"{flag} {path} and {other} {other_path} are the same file: give each "
                        "output its own")
        for other, other_path in inputs:
            if other_path is not None and _same_file(path, other_path):
                return (f"{flag} {path} is {other}'s file {other_path}: an output must not "
                        "replace an input")
    return None


def setup_jax(args) -> None:
    """float64 when asked for; the CLI's process-wide compilation cache (the library
    never sets it), its corrupt entries removed and watched for (jaxnet.cli._cache).
    A folder that is not one is left alone here: the command refuses it."""
    import jax
    if args.dtype == "float64":
        jax.config.update("jax_enable_x64", True)
    if str(getattr(args, "compile_cache", "none")) != "none":
        from .. import data as jdata
        from ._cache import cache_folder_problem, repair, watch
        folder = args.compile_cache or jdata.cache_dir() / "xla"
        if cache_folder_problem(folder) is None:
            jax.config.update("jax_compilation_cache_dir", str(folder))
            if "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS" not in os.environ:
                # programs that compile faster are not worth a file; a user's own
                # JAX setting of the threshold wins
                jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)
            repair(folder)
            watch(folder)


def model_flag(args, model) -> str:
    """The flag that described ``model``: ``--layers SPEC`` or ``--sizes N0,N1,...``."""
    if getattr(args, "layers", None):
        return f"--layers {args.layers}"
    return f"--sizes {','.join(map(str, model.sizes))}"


def check_run_memory(args, model, d, split, members: int = 1) -> None:
    """Refuses, before anything big is allocated, a run on ``d`` whose peak (parameters,
    data, a mini-batch, the largest set evaluated at once: jaxnet._core.memory) cannot
    fit the memory available: ValueError naming the model's flag."""
    from .._core.memory import check_memory
    evals = [len(split)]
    if getattr(args, "test_at_best", False) and d.test is not None:
        evals.append(len(d.test))
    if {"train_accuracy", "train_cost"} & set(getattr(args, "monitor", ())):
        evals.append(len(d.train))
    try:
        check_memory(model, args.dtype, examples=len(d.train), members=members,
                     batch_size=min(args.batch_size, len(d.train)), eval_examples=max(evals),
                     x_itemsize=d.train.images.dtype.itemsize)
    except ValueError as e:
        raise ValueError(f"{model_flag(args, model)}: {e}") from None


def run_names(args, **names) -> dict:
    """The names a checkpoint records so that a refused ``--resume`` says the flag
    (``seed: checkpoint 0, this run 1``): ``names`` with ``--init``, ``--eval``, ``--data``."""
    return dict(names, init=args.init, eval=args.eval, data=args.data)
