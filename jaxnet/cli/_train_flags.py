"""``jaxnet train``'s flags: the parser, and the problems found from the flags alone,
before any data is read."""

from __future__ import annotations

from pathlib import Path

from ._cache import cache_folder_problem
from ._common import (
    data_files,
    error,
    outputs_unwritable,
    plot_ready,
    same_file,
)
from ._flags import (
    MAX_THREADS,
    add_data_flags,
    add_model_flags,
    add_training_flags,
    impl_problem,
    monitors,
    non_negative_float,
    positive,
    seed,
    threads,
    unit_float,
)
from ._report import report_paths, report_unowned


def add_train(sub) -> None:
    t = sub.add_parser("train", help="train a network (default: the book's chapter-1 run)",
                       description="Mini-batch SGD (network.py and network2.py): the defaults are "
                                   "the book's chapter-1 run; --cost, --activation, --lmbda, "
                                   "--momentum, --early-stop and --schedule add chapter 3.")
    add_data_flags(t)
    add_model_flags(t)
    add_training_flags(t)
    t.add_argument("--eta", type=positive(float), default=3.0, help="learning rate (default 3.0)")
    t.add_argument("--seed", type=seed, default=0,
                   help="PRNG seed for init and shuffles, in [0, 2^32) (default 0)")
    t.add_argument("--impl", choices=("jax", "c", "pallas"), default="jax",
                   help="the epoch: jax (one compiled program), c (the C kernel's fast path) "
                        "or pallas (one fused GPU kernel; interpreted, slowly, without a GPU); "
                        "same keys, shuffles and evaluation (default jax)")
    t.add_argument("--threads", type=threads, default=None,
                   help=f"threads for --impl c, at most {MAX_THREADS} (default 1; with "
                        "--ensemble N: members trained at once, default this machine's "
                        "cores; refused with another --impl)")
    t.add_argument("--cpu-threads", type=threads, default=None, metavar="N",
                   help="XLA:CPU's intra-op threads for the JAX epochs (default: chosen by "
                        "the model and --batch-size: 1 where a step's products are tiny, "
                        "as in the book's chapter-1 network, else every CPU; PJRT_NPROC in the "
                        "environment is kept)")
    t.add_argument("--lmbda", type=non_negative_float, default=0.0, metavar="LAMBDA",
                   help="regularisation strength; the decay is eta*lambda/n with n the "
                        "training-set size (default 0: none)")
    t.add_argument("--momentum", type=unit_float, default=0.0, metavar="MU",
                   help="momentum co-efficient mu in [0, 1] (default 0: plain SGD)")
    t.add_argument("--early-stop", type=positive(int), default=None, metavar="N",
                   help="stop after N epochs without a better accuracy on the --eval split")
    t.add_argument("--schedule", type=positive(int), default=None, metavar="N",
                   help="halve eta after N epochs without a better --eval accuracy; stop "
                        "before it falls below eta/128 (the book's schedule)")
    t.add_argument("--expand", action="store_true",
                   help="train on the book's expanded data: every training image and its "
                        "four one-pixel shifts (5x the images; chapter 6)")
    t.add_argument("--ensemble", type=positive(int), default=1, metavar="N",
                   help="train N networks at once (seeds SEED..SEED+N-1, one vmapped program) "
                        "and report their majority vote (chapter 6; default 1); a member that "
                        "becomes NaN or Inf is left out of the vote (exit status 3)")
    t.add_argument("--test-at-best", action="store_true",
                   help="with --eval validation: evaluate the test split at each new best "
                        "validation accuracy (network3's report)")
    t.add_argument("--monitor", type=monitors, default=("eval_accuracy",), metavar="LIST",
                   help="comma-separated from eval_accuracy, eval_cost, train_accuracy, "
                        "train_cost, or 'all' (network2's four flags; default eval_accuracy)")
    add_outputs(t)


def add_outputs(t) -> None:
    t.add_argument("--save", type=Path, default=None, metavar="FILE",
                   help="write the trained parameters here (atomic)")
    t.add_argument("--save-format", choices=("jaxnet", "network2"), default="jaxnet",
                   help="jaxnet: .npz with metadata; network2: the book's JSON, loadable by "
                        "network2.load (sigmoid, quadratic or cross-entropy only)")
    t.add_argument("--checkpoint", type=Path, default=None, metavar="FILE",
                   help="save the whole training state here after every epoch (atomic); "
                        "Ctrl-C or SIGTERM then finishes the epoch, saves and exits")
    t.add_argument("--resume", action="store_true",
                   help="continue from --checkpoint if it exists; a checkpoint of another run "
                        "(other data, --eval split, --seed, --init or training flags) is "
                        "refused, naming the difference")
    t.add_argument("--overwrite", action="store_true",
                   help="start over even though --checkpoint exists (without --resume or this, "
                        "an existing checkpoint is an error before any training)")
    t.add_argument("--plot", type=Path, default=None, metavar="FILE",
                   help="draw the learning curves (accuracy and cost per epoch, as monitored) "
                        "to this PNG (needs matplotlib: the plot extra)")
    t.add_argument("--report", type=Path, default=None, metavar="DIR",
                   help="after training, write pictures of what the network learned (learning "
                        "curves, each hidden layer's speed of learning, one digit's forward "
                        "pass, w - w_init of the first layer, confusion, mistakes) and an "
                        "index.html showing them to this folder (needs the plot extra)")
    t.add_argument("--progress", choices=("auto", "always", "never"), default="auto",
                   help="progress bars on stderr (auto: when stderr is a terminal)")
    t.add_argument("--compile-cache", type=Path, default=None, metavar="FOLDER",
                   help="JAX's persistent compilation cache, which makes later runs skip "
                        "most compilation (default: CACHE/xla, CACHE as for the data; "
                        "'none' disables it; programs compiled in under 0.5 s are not "
                        "kept unless JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS says "
                        "otherwise); a corrupt entry is removed, said in one line, and "
                        "rewritten")


def check_flags(args):
    """Problems found from the flags alone, before any data is read: an exit status
    (after printing the error) or None."""
    if not plot_ready(args):
        return 1
    if (args.resume or args.overwrite) and args.checkpoint is None:
        return error(f"--{'resume' if args.resume else 'overwrite'} needs --checkpoint FILE", 2)
    if args.resume and args.overwrite:
        return error("--resume and --overwrite: choose one", 2)
    outputs = [("--save", args.save), ("--checkpoint", args.checkpoint), ("--plot", args.plot)]
    outputs += report_paths(args.report) if args.report is not None else []
    cache = args.compile_cache if str(args.compile_cache) != "none" else None
    problem = outputs_unwritable(outputs) or same_file(
        outputs + [("--compile-cache", cache)], data_files(args.data)) or (
        report_unowned(args.report) if args.report is not None else None) or (
        cache_folder_problem(cache) if cache is not None else None) or impl_problem(args)
    if problem:
        return error(problem, 2)
    for flag, value in (("--early-stop", args.early_stop), ("--schedule", args.schedule)):
        if value is not None and "eval_accuracy" not in args.monitor:
            return error(f"{flag} {value} watches the --eval accuracy: keep eval_accuracy in "
                         f"--monitor (now {','.join(args.monitor)})", 2)
    single = [f for f, v in (("--save", args.save), ("--plot", args.plot),
                             ("--report", args.report), ("--early-stop", args.early_stop),
                             ("--schedule", args.schedule), ("--test-at-best", args.test_at_best))
              if v]
    if args.ensemble > 1 and single:
        return error(f"--ensemble {args.ensemble} trains a population; {', '.join(single)} "
                     "apply to one network", 2)
    if args.test_at_best and (args.eval != "validation" or "eval_accuracy" not in args.monitor):
        return error("--test-at-best evaluates the test split at each new best validation "
                     "accuracy: add --eval validation (and keep eval_accuracy in --monitor)", 2)
    if args.checkpoint is not None and args.checkpoint.exists() and not (
            args.resume or args.overwrite):
        return error(f"--checkpoint {args.checkpoint}: exists; add --resume to continue it or "
                     "--overwrite to start over", 2)
    if args.save and args.save_format == "network2" and (
            args.layers or args.dropout or args.cost == "log-likelihood"
            or args.activation != "sigmoid"):
        return error("--save-format network2 holds sigmoid networks (fully connected, no "
                     "dropout) with the quadratic or cross-entropy cost only", 2)
    return None


