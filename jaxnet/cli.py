"""The command line: ``jaxnet train`` (also ``python -m jaxnet train``).

``jaxnet train`` with no flags is the book's chapter-1 experiment: a
784-30-10 sigmoid network, quadratic cost, mini-batch SGD with η = 3.0 and
mini-batches of 10 for 30 epochs on the book's MNIST, printing
``Epoch k: correct / 10000`` after each epoch.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

DATASETS = ("mnist", "fashion-mnist", "sample")


def _sizes(text: str) -> list[int]:
    try:
        sizes = [int(s) for s in text.replace(" ", "").split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated ints like 784,30,10 (no empty entries), got {text!r}"
        ) from None
    if len(sizes) < 2 or min(sizes) < 1:
        raise argparse.ArgumentTypeError(f"expected at least two positive sizes, got {text!r}")
    return sizes


def _positive(kind):
    def parse(text):
        try:
            v = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"expected a positive {kind.__name__}, got {text!r}") from None
        if not v > 0 or v != v or v == float("inf"):
            raise argparse.ArgumentTypeError(f"expected a positive {kind.__name__}, got {text!r}")
        return v
    return parse


COSTS = ("quadratic", "cross-entropy", "log-likelihood")
ACTIVATIONS = ("sigmoid", "tanh", "relu")
MONITORS = ("eval_accuracy", "eval_cost", "train_accuracy", "train_cost")


def _choice(choices):
    def parse(text):
        t = text.replace("_", "-").lower()
        if t not in choices:
            raise argparse.ArgumentTypeError(f"expected one of {', '.join(choices)}, got {text!r}")
        return t
    return parse


def _non_negative_float(text):
    try:
        v = float(text)
    except ValueError:
        v = -1.0
    if not (v >= 0 and v != float("inf")):
        raise argparse.ArgumentTypeError(f"expected a finite number >= 0, got {text!r}")
    return v


def _unit_float(text):
    try:
        v = float(text)
    except ValueError:
        v = -1.0
    if not 0 <= v <= 1:
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1], got {text!r}")
    return v


def _monitors(text):
    names = [t.strip() for t in text.split(",") if t.strip()]
    if names == ["all"]:
        return MONITORS
    bad = [n for n in names if n not in MONITORS]
    if bad or not names:
        raise argparse.ArgumentTypeError(f"expected names from {', '.join(MONITORS)} or 'all', "
                                         f"got {text!r}")
    return tuple(names)


def _floats(parse_one):
    def parse(text):
        try:
            return [parse_one(t) for t in text.split(",") if t.strip()] or [parse_one("")]
        except argparse.ArgumentTypeError as e:
            raise argparse.ArgumentTypeError(f"in {text!r}: {e}") from None
    return parse


def _seed(text):
    """A PRNG seed in [0, 2^32): larger ones are truncated by jax.random.PRNGKey
    without float64 (2^32 would silently equal seed 0)."""
    try:
        v = int(text)
    except ValueError:
        v = -1
    if not 0 <= v < 2 ** 32:
        raise argparse.ArgumentTypeError(f"expected an int in [0, 2^32), got {text!r}")
    return v


def _non_negative_int(text):
    try:
        v = int(text)
    except ValueError:
        v = -1
    if v < 0:
        raise argparse.ArgumentTypeError(f"expected a non-negative int, got {text!r}")
    return v


def _add_precision_flag(parser):
    parser.add_argument("--precision", choices=("highest", "high", "default"), default="highest",
                        help="float32 matrix products: highest = true float32 (default); "
                             "default = the platform's fastest (TF32 on NVIDIA GPUs, bfloat16 "
                             "passes on TPU; the same as highest on a CPU)")


class Parser(argparse.ArgumentParser):
    """argparse with a one-line error (no usage block): ``PROG: error: ...``, exit 2."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="jaxnet", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    t = sub.add_parser("train", help="train a network (default: the book's chapter-1 run)",
                       description="Mini-batch SGD (network.py and network2.py): the defaults are the "
                                   "book's chapter-1 run; --cost, --activation, --lmbda, "
                                   "--momentum, --early-stop and --schedule add chapter 3.")
    t.add_argument("--data", default="mnist", metavar="NAME|FOLDER",
                   help="mnist (the book's, fetched on first use), fashion-mnist (Debian's "
                        "dataset-fashion-mnist), sample (shipped, 5000 training images), or a "
                        "folder of IDX files (default: mnist)")
    t.add_argument("--sizes", type=_sizes, default=None, metavar="N0,N1,...",
                   help="layer sizes, input first (default: INPUT,30,10)")
    t.add_argument("--eta", type=_positive(float), default=3.0, help="learning rate (default 3.0)")
    t.add_argument("--epochs", type=_non_negative_int, default=30, help="epochs (default 30)")
    t.add_argument("--batch-size", type=_positive(int), default=10, help="mini-batch size (default 10)")
    t.add_argument("--seed", type=_seed, default=0,
                   help="PRNG seed for init and shuffles, in [0, 2^32) (default 0)")
    t.add_argument("--dtype", choices=("float32", "float64"), default="float32")
    t.add_argument("--init", choices=("large", "scaled"), default="large",
                   help="large: N(0,1) as network.py; scaled: weights N(0,1/n_in) (default large)")
    t.add_argument("--grad", choices=("backprop", "autodiff"), default="backprop",
                   help="gradient: hand-derived BP1-BP4, or jax.grad (default backprop)")
    _add_precision_flag(t)
    t.add_argument("--impl", choices=("jax", "c"), default="jax",
                   help="the epoch: jax (one compiled program) or c (the C kernel's fast path; "
                        "same keys, shuffles and evaluation) (default jax)")
    t.add_argument("--threads", type=_positive(int), default=1,
                   help="threads for --impl c (default 1)")
    t.add_argument("--cost", type=_choice(COSTS), default="quadratic", metavar="NAME",
                   help="quadratic (chapter 1), cross-entropy (sigmoid output) or "
                        "log-likelihood (softmax output) (default quadratic)")
    t.add_argument("--activation", type=_choice(ACTIVATIONS), default="sigmoid", metavar="NAME",
                   help="hidden neurons: sigmoid, tanh or relu (default sigmoid)")
    t.add_argument("--lmbda", type=_non_negative_float, default=0.0, metavar="LAMBDA",
                   help="regularisation strength; the decay is eta*lambda/n with n the "
                        "training-set size (default 0: none)")
    t.add_argument("--reg", choices=("l2", "l1"), default="l2",
                   help="regularisation of the weights (default l2)")
    t.add_argument("--momentum", type=_unit_float, default=0.0, metavar="MU",
                   help="momentum co-efficient mu in [0, 1] (default 0: plain SGD)")
    t.add_argument("--early-stop", type=_positive(int), default=None, metavar="N",
                   help="stop after N epochs without a better accuracy on the --eval split")
    t.add_argument("--schedule", type=_positive(int), default=None, metavar="N",
                   help="halve eta after N epochs without a better --eval accuracy; stop "
                        "before it falls below eta/128 (the book's schedule)")
    t.add_argument("--monitor", type=_monitors, default=("eval_accuracy",), metavar="LIST",
                   help="comma-separated from eval_accuracy, eval_cost, train_accuracy, "
                        "train_cost, or 'all' (network2's four flags; default eval_accuracy)")
    t.add_argument("--eval", choices=("test", "validation"), default="test",
                   help="which split to report each epoch (default test)")
    t.add_argument("--save", type=Path, default=None, metavar="FILE",
                   help="write the trained parameters here (atomic)")
    t.add_argument("--save-format", choices=("jaxnet", "network2"), default="jaxnet",
                   help="jaxnet: .npz with metadata; network2: the book's JSON, loadable by "
                        "network2.load (sigmoid, quadratic or cross-entropy only)")
    t.add_argument("--checkpoint", type=Path, default=None, metavar="FILE",
                   help="save the whole training state here after every epoch (atomic); "
                        "Ctrl-C or SIGTERM then finishes the epoch, saves and exits")
    t.add_argument("--resume", action="store_true",
                   help="continue from --checkpoint if it exists (same data and flags)")
    t.add_argument("--overwrite", action="store_true",
                   help="start over even though --checkpoint exists (without --resume or this, "
                        "an existing checkpoint is an error before any training)")
    t.add_argument("--plot", type=Path, default=None, metavar="FILE",
                   help="draw the learning curves (accuracy and cost per epoch, as monitored) "
                        "to this PNG (needs matplotlib: the plot extra)")
    t.add_argument("--progress", choices=("auto", "always", "never"), default="auto",
                   help="progress bars on stderr (auto: when stderr is a terminal)")
    t.add_argument("--compile-cache", type=Path, default=None, metavar="FOLDER",
                   help="JAX's persistent compilation cache, which makes later runs skip "
                        "most compilation (default: CACHE/xla, CACHE as for the data; "
                        "'none' disables it)")
    sw = sub.add_parser("sweep", help="train a population at once (seeds x eta x lambda x mu)",
                        description="Trains every combination of --seeds, --eta, --lmbda and "
                                    "--momentum as one population (jax.vmap: one compiled "
                                    "program per epoch for all members), then prints each "
                                    "configuration's mean +- std and best accuracy over seeds.")
    for a in t._actions:  # the train flags, with lists where a sweep varies them
        if a.dest in ("help", "save", "save_format", "early_stop", "schedule", "monitor",
                      "progress", "seed", "eta", "lmbda", "momentum", "compile_cache", "plot",
                      "checkpoint", "resume", "overwrite", "impl", "threads"):
            continue
        kw = dict(default=a.default, help=a.help, metavar=a.metavar)
        if a.choices is not None:
            kw["choices"] = a.choices
        if a.type is not None:
            kw["type"] = a.type
        sw.add_argument(*a.option_strings, **kw)
    sw.add_argument("--seeds", type=_positive(int), default=3, help="seeds per configuration "
                    "(0..N-1; default 3)")
    sw.add_argument("--eta", type=_floats(_positive(float)), default=[3.0], metavar="LIST",
                    help="learning rates, comma-separated (default 3.0)")
    sw.add_argument("--lmbda", type=_floats(_non_negative_float), default=[0.0], metavar="LIST",
                    help="regularisation strengths, comma-separated (default 0)")
    sw.add_argument("--momentum", type=_floats(_unit_float), default=[0.0], metavar="LIST",
                    help="momentum co-efficients, comma-separated (default 0)")
    sw.add_argument("--plot", type=Path, default=None, metavar="FILE",
                    help="draw the population's spread per epoch to this PNG (needs matplotlib)")
    sw.add_argument("--json", type=Path, default=None, metavar="FILE",
                    help="write every member's accuracy per epoch here (atomic)")
    c = sub.add_parser("check", help="cross-check backprop, jax.grad and the C kernel",
                       description="Runs the three gradient implementations (and central "
                                   "differences) on real MNIST batches and a random net in "
                                   "float64 and float32, then a whole epoch, and prints every "
                                   "pair's largest difference against its tolerance (float32 "
                                   "tolerances scaled to --precision). Exit status 1 if any "
                                   "exceeds it or the C kernel is missing.")
    _add_precision_flag(c)
    sub.add_parser("bench", add_help=False,
                   help="time jaxnet's epoch paths, each after a gradient check (under a minute)")
    return parser


def _load_data(name: str, progress: bool):
    from . import data
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


def _load_split(args, progress):
    """``(data, the --eval split)``, or the exit status after printing the error."""
    from . import data as jdata
    try:
        d = _load_data(args.data, progress)
    except jdata.DataError as e:
        print(f"jaxnet: error: {e}", file=sys.stderr)
        return 1
    split = getattr(d, args.eval)
    if split is None:
        print(f"jaxnet: error: --eval {args.eval}: data set {args.data!r} has no "
              f"{args.eval} split", file=sys.stderr)
        return 2
    return d, split


def _plot_ready(args) -> bool:
    """With --plot, matplotlib must import: say so before any training."""
    if args.plot is None:
        return True
    try:
        from .plot import _pyplot
        _pyplot()
    except ImportError as e:
        print(f"jaxnet: error: --plot: {e}", file=sys.stderr)
        return False
    return True


def train(args) -> int:
    import jax
    if args.dtype == "float64":
        jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp

    from . import data as jdata
    if str(args.compile_cache) != "none":
        # A process-wide JAX setting: the CLI owns its process, the library never sets it.
        jax.config.update("jax_compilation_cache_dir",
                          str(args.compile_cache or jdata.cache_dir() / "xla"))
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)
    from ._params import init_params
    from ._progress import ProgressBar
    from ._checkpoint import CheckpointError
    from ._serialize import save_network2, save_params
    from ._train import fit
    if not _plot_ready(args):
        return 1
    if (args.resume or args.overwrite) and args.checkpoint is None:
        return _error(f"--{'resume' if args.resume else 'overwrite'} needs --checkpoint FILE", 2)
    if args.resume and args.overwrite:
        return _error("--resume and --overwrite: choose one", 2)
    problem = _outputs_unwritable([("--save", args.save), ("--checkpoint", args.checkpoint),
                                   ("--plot", args.plot)])
    if problem:
        return _error(problem, 2)
    for flag, value in (("--early-stop", args.early_stop), ("--schedule", args.schedule)):
        if value is not None and "eval_accuracy" not in args.monitor:
            return _error(f"{flag} {value} watches the --eval accuracy: keep eval_accuracy in "
                          f"--monitor (now {','.join(args.monitor)})", 2)
    if args.checkpoint is not None and args.checkpoint.exists() and not (
            args.resume or args.overwrite):
        return _error(f"--checkpoint {args.checkpoint}: exists; add --resume to continue it or "
                      "--overwrite to start over", 2)

    show = args.progress == "always" or (args.progress == "auto" and sys.stderr.isatty())
    loaded = _load_split(args, show)
    if isinstance(loaded, int):
        return loaded
    d, split = loaded
    n_in = d.train.images.shape[1]
    n_classes = int(max(d.train.labels.max(), split.labels.max())) + 1
    sizes = args.sizes or [n_in, 30, 10]
    if sizes[0] != n_in or sizes[-1] < n_classes:
        print(f"jaxnet: error: --sizes {','.join(map(str, sizes))}: the data has {n_in} inputs "
              f"and {n_classes} classes, so sizes must start with {n_in} and end with at "
              f"least {n_classes}", file=sys.stderr)
        return 2
    if args.batch_size > len(d.train):
        print(f"jaxnet: error: --batch-size {args.batch_size} exceeds the "
              f"{len(d.train)} training examples", file=sys.stderr)
        return 2

    dtype = jnp.float64 if args.dtype == "float64" else jnp.float32
    key_init, key_fit = jax.random.split(jax.random.PRNGKey(args.seed))
    try:
        params = init_params(key_init, sizes, dtype=dtype, init=args.init)
    except ValueError as e:
        return _error(f"--sizes {','.join(map(str, sizes))}: {e}", 2)
    if args.save and args.save_format == "network2" and (
            args.cost == "log-likelihood" or args.activation != "sigmoid"):
        print("jaxnet: error: --save-format network2 holds sigmoid networks with the quadratic "
              "or cross-entropy cost only", file=sys.stderr)
        return 2
    extras = [f"{k}={v}" for k, v in (("cost", args.cost), ("activation", args.activation))
              if v not in ("quadratic", "sigmoid")]
    if args.lmbda:
        extras.append(f"lmbda={args.lmbda} ({args.reg})")
    if args.momentum:
        extras.append(f"momentum={args.momentum}")
    print(f"jaxnet: {'-'.join(map(str, sizes))} network, eta={args.eta}, batch {args.batch_size}, "
          f"{args.epochs} epochs, {args.dtype}, {', '.join(extras + [''])}"
          f"{len(d.train)} training / {len(split)} "
          f"{args.eval} examples, "
          + ("C kernel (fast path)" if args.impl == "c" else
             f"{jax.default_backend()}, precision {args.precision}"), flush=True)

    bar = ProgressBar() if show else None
    epochs_done = []

    def on_epoch(r):
        epochs_done.append(r.epoch)
        if bar:
            bar.clear()
        parts = []
        if r.correct is not None:
            parts.append(f"{r.correct} / {r.total}")
        if r.eval_cost is not None:
            parts.append(f"{args.eval} cost {r.eval_cost:.4f}")
        if r.train_correct is not None:
            parts.append(f"training {r.train_correct} / {r.train_total}")
        if r.train_cost is not None:
            parts.append(f"training cost {r.train_cost:.4f}")
        if r.eta != args.eta:
            parts.append(f"eta {r.eta:g}")
        print(f"Epoch {r.epoch}: {', '.join(parts) or 'done'}  ({r.seconds:.2f} s)", flush=True)
        if bar and r.epoch + 1 < args.epochs:
            bar.start(f"Epoch {r.epoch + 1}")

    if bar:
        bar.start("Epoch 0")
    t0 = time.perf_counter()
    try:
        result = fit(key_fit, params, d.train.images, d.train.labels, epochs=args.epochs,
                     eta=args.eta, batch_size=args.batch_size, x_scale=jdata.PIXEL_SCALE,
                     eval_data=(split.images, split.labels), cost=args.cost,
                     activation=args.activation, lmbda=args.lmbda, reg=args.reg,
                     momentum=args.momentum, monitor=args.monitor, early_stop=args.early_stop,
                     schedule=args.schedule, grad=args.grad, on_epoch=on_epoch, progress=bar,
                     checkpoint=args.checkpoint, resume=args.resume, overwrite=args.overwrite,
                     precision=args.precision, impl=args.impl, threads=args.threads)
    except (FloatingPointError, CheckpointError, ImportError) as e:  # ImportError: --impl c
        if bar:                                                         # without the extension
            bar.clear()
        return _error(str(e), 1)
    except (ValueError, TypeError) as e:
        if epochs_done:  # fit checks every argument before it trains: this is not one
            raise
        return _error(str(e), 2)
    if result.stopped and result.stopped.startswith("interrupted"):
        if bar:
            bar.clear()
        print(f"jaxnet: {result.stopped}", file=sys.stderr)
        return 143 if "SIGTERM" in result.stopped else 130
    total = time.perf_counter() - t0
    best = max((r.correct for r in result.history if r.correct is not None), default=None)
    if result.stopped:
        print(f"stopped after {len(result.history)} epochs: {result.stopped}")
    print(f"compile {result.compile_seconds:.2f} s, total {total:.2f} s"
          + (f", best {best} / {split.images.shape[0]}" if best is not None else ""))
    status = 0
    if args.save:
        if args.save_format == "network2":
            def write(path):
                save_network2(path, result.params, cost=args.cost)
        else:
            def write(path):
                save_params(path, result.params, cost=args.cost, activation=args.activation,
                            metadata={"eta": args.eta, "epochs": args.epochs,
                                      "batch_size": args.batch_size, "seed": args.seed,
                                      "data": args.data, "init": args.init, "lmbda": args.lmbda,
                                      "reg": args.reg, "momentum": args.momentum})
        status = max(status, _write_or_rescue("--save", args.save, write, "saved parameters to"))
    if args.plot:
        from .plot import plot_history
        status = max(status, _write_or_rescue("--plot", args.plot, lambda path: plot_history(
            result.history, path, title=f"{'-'.join(map(str, sizes))}, {args.cost}, "
                                        f"eta {args.eta}"), "wrote"))
    return status


def _error(message: str, code: int) -> int:
    """Prints ``jaxnet: error: message`` (one line) and returns the exit status."""
    print(f"jaxnet: error: {message}", file=sys.stderr)
    return code


def _outputs_unwritable(flags) -> str | None:
    """``(flag, path or None)`` pairs: the first output that could not be written, said
    before any data is loaded or anything trained (jaxnet._atomic.unwritable)."""
    from ._atomic import unwritable
    for flag, path in flags:
        problem = None if path is None else unwritable(path)
        if problem:
            return f"{flag} {path}: {problem}"
    return None


def _write_or_rescue(flag, path, write, done: str) -> int:
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
        return _error(f"{flag} {path}: could not write it ({why}); the result is in "
                      f"{folder / name} instead", 1)
    return _error(f"{flag} {path}: could not write it ({why}), nor a copy in the current or "
                  "the temporary folder", 1)


def sweep(args) -> int:
    import itertools
    import statistics

    import jax
    if args.dtype == "float64":
        jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp
    import numpy as np

    from . import data as jdata
    from ._population import fit_population, init_population
    if not _plot_ready(args):
        return 1
    problem = _outputs_unwritable([("--plot", args.plot), ("--json", args.json)])
    if problem:
        return _error(problem, 2)
    loaded = _load_split(args, False)
    if isinstance(loaded, int):
        return loaded
    d, split = loaded
    sizes = args.sizes or [d.train.images.shape[1], 30, 10]
    configs = list(itertools.product(args.eta, args.lmbda, args.momentum))
    members = [(c, s) for c in configs for s in range(args.seeds)]
    dtype = jnp.float64 if args.dtype == "float64" else jnp.float32
    # Member seed s uses the same keys as `jaxnet train --seed s`.
    pairs = [jax.random.split(jax.random.PRNGKey(s)) for _, s in members]
    init_keys = jnp.stack([p[0] for p in pairs])
    fit_keys = jnp.stack([p[1] for p in pairs])
    try:
        params = init_population(init_keys, sizes, dtype=dtype, init=args.init)
    except ValueError as e:
        return _error(f"--sizes {','.join(map(str, sizes))}: {e}", 2)
    print(f"jaxnet sweep: {len(members)} members ({len(configs)} configurations x {args.seeds} "
          f"seeds), {'-'.join(map(str, sizes))}, {args.cost}, {args.activation}, batch "
          f"{args.batch_size}, {args.epochs} epochs, {args.dtype}, {jax.default_backend()}, "
          f"precision {args.precision}", flush=True)

    epochs_done = []

    def on_epoch(e, correct):
        epochs_done.append(e)
        print(f"Epoch {e}: best member {int(correct.max())} / {len(split)}, median "
              f"{float(np.median(correct)):.0f}", flush=True)
    try:
        res = fit_population(fit_keys, params, d.train.images, d.train.labels,
                             epochs=args.epochs, eta=[c[0] for c, _ in members],
                             lmbda=[c[1] for c, _ in members],
                             momentum=[c[2] for c, _ in members], batch_size=args.batch_size,
                             x_scale=jdata.PIXEL_SCALE, eval_data=(split.images, split.labels),
                             cost=args.cost, activation=args.activation, reg=args.reg,
                             grad=args.grad, on_epoch=on_epoch, precision=args.precision)
    except FloatingPointError as e:
        return _error(str(e), 1)
    except (ValueError, TypeError) as e:
        if epochs_done:  # fit_population checks every argument before it trains
            raise
        return _error(str(e), 2)
    acc = 100 * np.asarray(res.correct, np.float64) / res.total if res.correct is not None else None
    print(f"compile {res.compile_seconds:.2f} s, {sum(res.epoch_seconds):.1f} s for "
          f"{len(members)} x {args.epochs} epochs\n")
    print(f"| eta | lambda | mu | best {args.eval} accuracy: mean +- std | best | seeds |")
    print("| --- | --- | --- | --- | --- | --- |")
    rows = []
    for c in configs:
        idx = [i for i, (cc, _) in enumerate(members) if cc == c]
        best = [float(acc[:, i].max()) for i in idx] if acc is not None and len(acc) else []
        if best:
            std = statistics.stdev(best) if len(best) > 1 else 0.0
            print(f"| {c[0]:g} | {c[1]:g} | {c[2]:g} | {statistics.mean(best):.2f} +- {std:.2f} % "
                  f"| {max(best):.2f} % | {len(best)} |")
        rows.append(dict(eta=c[0], lmbda=c[1], momentum=c[2], seeds=list(range(args.seeds)),
                         accuracy=[acc[:, i].tolist() for i in idx] if acc is not None else []))
    status = 0
    if args.plot and res.correct is not None:
        from .plot import plot_population
        status = max(status, _write_or_rescue(
            "--plot", args.plot, lambda path: plot_population(res.correct, res.total, path),
            "wrote"))
    if args.json:
        import json

        from ._atomic import atomic_write

        def write(path):
            with atomic_write(path, "w") as f:
                json.dump(dict(sizes=sizes, epochs=args.epochs, batch_size=args.batch_size,
                               cost=args.cost, activation=args.activation, split=args.eval,
                               configurations=rows), f, indent=1)
        status = max(status, _write_or_rescue("--json", args.json, write, "wrote"))
    return status


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["bench"]:  # its own parser: jaxnet.bench.main
        from .bench import main as bench
        return bench(argv[1:])
    args = build_parser().parse_args(argv)
    if args.command == "train":
        return train(args)
    if args.command == "sweep":
        return sweep(args)
    if args.command == "check":
        from ._check import main as check
        return check(args.precision)
    return 2  # unreachable: argparse requires a command


if __name__ == "__main__":
    sys.exit(main())
