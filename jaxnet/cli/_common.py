"""What the command-line commands share: loading data, one-line errors, outputs."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

from ._flags import DATASETS


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
    """With --plot, matplotlib must import: say so before any training."""
    if args.plot is None:
        return True
    try:
        from ..plot import pyplot
        pyplot()
    except ImportError as e:
        print(f"jaxnet: error: --plot: {e}", file=sys.stderr)
        return False
    return True


def error(message: str, code: int) -> int:
    """Prints ``jaxnet: error: message`` (one line) and returns the exit status."""
    print(f"jaxnet: error: {message}", file=sys.stderr)
    return code


def outputs_unwritable(flags) -> str | None:
    """``(flag, path or None)`` pairs: the first output that could not be written, said
    before any data is loaded or anything trained (jaxnet.io._atomic.unwritable)."""
    from ..io._atomic import unwritable
    for flag, path in flags:
        problem = None if path is None else unwritable(path)
        if problem:
            return f"{flag} {path}: {problem}"
    return None


def write_or_rescue(flag, path, write, done: str) -> int:
    """``write(path)``; if that still fails at the end of a run, write the result to the
    current folder or the temporary folder instead and say where. Returns 0 or 1."""
    try:
        write(path)
        print(f"{done} {path}")
        return 0
    except OSError as e:
        why = e.strerror or str(e)
    name = f"jaxnet-rescued-{os.getpid()}-{Path(path).name or 'output'}"
    for folder in (Path.cwd(), Path(tempfile.gettempdir())):
        try:
            write(folder / name)
        except OSError:
            continue
        return error(f"{flag} {path}: could not write it ({why}); the result is in "
                     f"{folder / name} instead", 1)
    return error(f"{flag} {path}: could not write it ({why}), nor a copy in the current or "
                 "the temporary folder", 1)


def setup_jax(args) -> None:
    """float64 when asked for; the CLI's process-wide compilation cache (the library
    never sets it)."""
    import jax
    if args.dtype == "float64":
        jax.config.update("jax_enable_x64", True)
    if str(getattr(args, "compile_cache", "none")) != "none":
        from .. import data as jdata
        jax.config.update("jax_compilation_cache_dir",
                          str(args.compile_cache or jdata.cache_dir() / "xla"))
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)
