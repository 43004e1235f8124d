"""The command line: ``jaxnet train`` (also ``python -m jaxnet train``).

``jaxnet train`` with no flags is the book's chapter-1 experiment: a
784-30-10 sigmoid network, quadratic cost, mini-batch SGD with η = 3.0 and
mini-batches of 10 for 30 epochs on the book's MNIST, printing
``Epoch k: correct / 10000`` after each epoch.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

DATASETS = ("mnist", "fashion-mnist", "sample")


def _sizes(text: str) -> list[int]:
    try:
        sizes = [int(s) for s in text.replace(" ", "").split(",") if s]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated ints like 784,30,10, got {text!r}") from None
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


def _non_negative_int(text):
    try:
        v = int(text)
    except ValueError:
        v = -1
    if v < 0:
        raise argparse.ArgumentTypeError(f"expected a non-negative int, got {text!r}")
    return v


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="jaxnet", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    t = sub.add_parser("train", help="train a network (default: the book's chapter-1 run)",
                       description="Mini-batch SGD on a sigmoid network with the quadratic cost.")
    t.add_argument("--data", default="mnist", metavar="NAME|FOLDER",
                   help="mnist (the book's, fetched on first use), fashion-mnist (Debian's "
                        "dataset-fashion-mnist), sample (shipped, 5000 training images), or a "
                        "folder of IDX files (default: mnist)")
    t.add_argument("--sizes", type=_sizes, default=None, metavar="N0,N1,...",
                   help="layer sizes, input first (default: INPUT,30,10)")
    t.add_argument("--eta", type=_positive(float), default=3.0, help="learning rate (default 3.0)")
    t.add_argument("--epochs", type=_non_negative_int, default=30, help="epochs (default 30)")
    t.add_argument("--batch-size", type=_positive(int), default=10, help="mini-batch size (default 10)")
    t.add_argument("--seed", type=int, default=0, help="PRNG seed for init and shuffles (default 0)")
    t.add_argument("--dtype", choices=("float32", "float64"), default="float32")
    t.add_argument("--init", choices=("large", "scaled"), default="large",
                   help="large: N(0,1) as network.py; scaled: weights N(0,1/n_in) (default large)")
    t.add_argument("--grad", choices=("backprop", "autodiff"), default="backprop",
                   help="gradient: hand-derived BP1-BP4, or jax.grad (default backprop)")
    t.add_argument("--eval", choices=("test", "validation"), default="test",
                   help="which split to report each epoch (default test)")
    t.add_argument("--save", type=Path, default=None, metavar="FILE",
                   help="write the trained parameters here (.npz, jaxnet's format, atomic)")
    t.add_argument("--progress", choices=("auto", "always", "never"), default="auto",
                   help="progress bars on stderr (auto: when stderr is a terminal)")
    t.add_argument("--compile-cache", type=Path, default=None, metavar="FOLDER",
                   help="JAX's persistent compilation cache, which makes later runs skip "
                        "most compilation (default: CACHE/xla, CACHE as for the data; "
                        "'none' disables it)")
    sub.add_parser("check", help="cross-check backprop, jax.grad and the C kernel",
                   description="Runs the three gradient implementations (and central "
                               "differences) on real MNIST batches and a random net in float64 "
                               "and float32, then a whole epoch, and prints every pair's largest "
                               "difference against its tolerance. Exit status 1 if any exceeds "
                               "it or the C kernel is missing.")
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
    from ._serialize import save_params
    from ._train import fit

    show = args.progress == "always" or (args.progress == "auto" and sys.stderr.isatty())
    try:
        d = _load_data(args.data, show)
    except jdata.DataError as e:
        print(f"jaxnet: error: {e}", file=sys.stderr)
        return 1
    split = getattr(d, args.eval)
    if split is None:
        print(f"jaxnet: error: --eval {args.eval}: data set {args.data!r} has no "
              f"{args.eval} split", file=sys.stderr)
        return 2
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
    params = init_params(key_init, sizes, dtype=dtype, init=args.init)
    print(f"jaxnet: {'-'.join(map(str, sizes))} network, eta={args.eta}, batch {args.batch_size}, "
          f"{args.epochs} epochs, {args.dtype}, {len(d.train)} training / {len(split)} "
          f"{args.eval} examples, {jax.default_backend()}", flush=True)

    bar = ProgressBar() if show else None

    def on_epoch(r):
        if bar:
            bar.clear()
        print(f"Epoch {r.epoch}: {r.correct} / {r.total}  ({r.seconds:.2f} s)", flush=True)
        if bar and r.epoch + 1 < args.epochs:
            bar.start(f"Epoch {r.epoch + 1}")

    if bar:
        bar.start("Epoch 0")
    t0 = time.perf_counter()
    try:
        result = fit(key_fit, params, d.train.images, d.train.labels, epochs=args.epochs,
                     eta=args.eta, batch_size=args.batch_size, x_scale=jdata.PIXEL_SCALE,
                     eval_data=(split.images, split.labels), grad=args.grad,
                     on_epoch=on_epoch, progress=bar)
    except FloatingPointError as e:
        print(f"jaxnet: error: {e}", file=sys.stderr)
        return 1
    total = time.perf_counter() - t0
    best = max((r.correct for r in result.history), default=None)
    print(f"compile {result.compile_seconds:.2f} s, total {total:.2f} s"
          + (f", best {best} / {split.images.shape[0]}" if best is not None else ""))
    if args.save:
        save_params(args.save, result.params,
                    metadata={"eta": args.eta, "epochs": args.epochs,
                              "batch_size": args.batch_size, "seed": args.seed,
                              "data": args.data, "init": args.init})
        print(f"saved parameters to {args.save}")
    return 0


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "train":
        return train(args)
    if args.command == "check":
        from ._check import main as check
        return check()
    return 2  # unreachable: argparse requires a command


if __name__ == "__main__":
    sys.exit(main())
