"""The command line: ``jaxnet train``, ``sweep``, ``explain``, ``check`` and ``bench``
(also ``python -m jaxnet ...``).

``jaxnet train`` with no flags is the book's chapter-1 experiment: a
784-30-10 sigmoid network, quadratic cost, mini-batch SGD with η = 3.0 and
mini-batches of 10 for 30 epochs on the book's MNIST, printing
``Epoch k: correct / 10000`` after each epoch.
"""

from __future__ import annotations

import os
import sys

from ._bench import add_arguments as add_bench_arguments
from ._common import interrupted, interruptible
from ._explain_cli import add_explain
from ._flags import Parser, add_precision_flag
from ._sweep import add_sweep
from ._train_flags import add_train


def build_parser() -> Parser:
    parser = Parser(prog="jaxnet", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    add_train(sub)
    add_sweep(sub)
    c = sub.add_parser("check", help="cross-check backprop, jax.grad and the C kernel",
                       description="Runs the three gradient implementations (and central "
                                   "differences) on real MNIST batches and a random net in "
                                   "float64 and float32, then a whole epoch, and prints every "
                                   "pair's largest difference against its tolerance (float32 "
                                   "tolerances scaled to --precision). Exit status 1 if any "
                                   "exceeds it or the C kernel is missing.")
    add_precision_flag(c)
    b = sub.add_parser("bench", help="time jaxnet's epoch paths, each after a gradient check "
                                     "(under a minute)",
                       description="jaxnet's paths on the book's epoch, checked then timed")
    add_bench_arguments(b)
    b.set_defaults(bench_parser=b)
    add_explain(sub)
    return parser


def main(argv=None) -> int:
    """Runs one command; its exit status. Ctrl-C is one line saying what was kept
    (jaxnet.cli._common.interrupted) and the status 130, never a traceback; run as
    the ``jaxnet`` command (``argv`` None) the process then exits at once, without
    waiting for the epoch still running on XLA's threads (an output being written
    was completed first)."""
    parser = build_parser()
    args = parser.parse_args(sys.argv[1:] if argv is None else list(argv))
    with interruptible():
        try:
            return _command(args)
        except KeyboardInterrupt as e:
            status = interrupted(args, e)
    if argv is None:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(status)
    return status


def _command(args) -> int:
    if args.command == "train":
        from ._train import train
        return train(args)
    if args.command == "sweep":
        from ._sweep import sweep
        return sweep(args)
    if args.command == "check":
        from ..bench import cross_check
        return 0 if cross_check(args.precision) else 1
    if args.command == "explain":
        from ._explain_cli import explain_command
        return explain_command(args)
    from ._bench import run_bench
    return run_bench(args, args.bench_parser)


if __name__ == "__main__":
    sys.exit(main())
