"""The command line's flags: value parsers, the flag groups the commands share
(``add_model_flags`` and friends), and the parser of ``jaxnet``."""

from __future__ import annotations

import argparse

DATASETS = ("mnist", "fashion-mnist", "sample")


def sizes(text: str) -> list[int]:
    try:
        sizes = [int(s) for s in text.replace(" ", "").split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated ints like 784,30,10 (no empty entries), got {text!r}"
        ) from None
    if len(sizes) < 2 or min(sizes) < 1:
        raise argparse.ArgumentTypeError(f"expected at least two positive sizes, got {text!r}")
    return sizes


# As the command line spells them (jaxnet.COSTS, with "-" for "_").
COSTS = ("quadratic", "cross-entropy", "log-likelihood")
ACTIVATIONS = ("sigmoid", "tanh", "relu", "linear")
MONITORS = ("eval_accuracy", "eval_cost", "train_accuracy", "train_cost")


def choice(choices):
    def parse(text):
        t = text.replace("_", "-").lower()
        if t not in choices:
            raise argparse.ArgumentTypeError(f"expected one of {', '.join(choices)}, got {text!r}")
        return t
    return parse


def number(kind, ok, expected: str):
    """A parser of one ``kind`` (int or float) for which ``ok(value)`` holds; the error
    says ``expected``."""
    def parse(text):
        try:
            v = kind(text)
        except ValueError:
            v = None
        if v is None or not ok(v):
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}")
        return v
    return parse


def positive(kind):
    """A parser of a positive, finite ``kind`` (int or float)."""
    return number(kind, lambda v: 0 < v < float("inf"), f"a positive {kind.__name__}")


non_negative_float = number(float, lambda v: 0 <= v < float("inf"), "a finite number >= 0")
unit_float = number(float, lambda v: 0 <= v <= 1, "a number in [0, 1]")
#: A PRNG seed in [0, 2^32): larger ones are truncated by jax.random.PRNGKey without
#: float64 (2^32 would silently equal seed 0).
seed = number(int, lambda v: 0 <= v < 2 ** 32, "an int in [0, 2^32)")
non_negative_int = number(int, lambda v: v >= 0, "a non-negative int")
#: The most threads ``--impl c`` may use: jaxnet.cref's documented maximum (its
#: MAX_THREADS; OpenMP is never handed more), checked here too so that the command line
#: refuses a larger count before loading anything, with or without the C extension.
MAX_THREADS = 1024
threads = number(int, lambda v: 1 <= v <= MAX_THREADS, f"an int in [1, {MAX_THREADS}]")


def monitors(text):
    names = [t.strip() for t in text.split(",") if t.strip()]
    if names == ["all"]:
        return MONITORS
    bad = [n for n in names if n not in MONITORS]
    if bad or not names:
        raise argparse.ArgumentTypeError(f"expected names from {', '.join(MONITORS)} or 'all', "
                                         f"got {text!r}")
    return tuple(names)


def floats(parse_one):
    def parse(text):
        try:
            return [parse_one(t) for t in text.split(",") if t.strip()] or [parse_one("")]
        except argparse.ArgumentTypeError as e:
            raise argparse.ArgumentTypeError(f"in {text!r}: {e}") from None
    return parse


class Parser(argparse.ArgumentParser):
    """argparse with a one-line error (no usage block): ``PROG: error: ...``, exit 2."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def add_precision_flag(parser) -> None:
    parser.add_argument("--precision", choices=("highest", "high", "default"), default="highest",
                        help="float32 matrix products: highest = true float32 (default); "
                             "default = the platform's fastest (TF32 on NVIDIA GPUs, bfloat16 "
                             "passes on TPU; the same as highest on a CPU)")


def add_model_flags(parser) -> None:
    """The network: sizes or layers, cost, hidden activation, dropout, regularisation
    kind, precision, dtype and initialisation (``model_from_args`` builds the Model)."""
    shape = parser.add_mutually_exclusive_group()
    shape.add_argument("--sizes", type=sizes, default=None, metavar="N0,N1,...",
                       help="layer sizes of a fully connected net, input first "
                            "(default: INPUT,30,10)")
    shape.add_argument("--layers", default=None, metavar="SPEC",
                       help="layers of any kind (chapter 6), e.g. conv:20:5,pool:2,fc:100,"
                            "softmax:10: conv:F:K (F K×K filters), pool:P (max-pool after a "
                            "conv), fc:N, softmax:N (see jaxnet._core.layerspec)")
    parser.add_argument("--cost", type=choice(COSTS), default=None, metavar="NAME",
                        help="quadratic (chapter 1), cross-entropy (sigmoid output) or "
                             "log-likelihood (softmax output) (default quadratic; "
                             "log-likelihood for --layers ending in softmax)")
    parser.add_argument("--activation", type=choice(ACTIVATIONS), default="sigmoid",
                        metavar="NAME", help="hidden neurons (and conv layers): sigmoid, "
                                             "tanh, relu or linear (default sigmoid)")
    parser.add_argument("--dropout", type=number(float, lambda v: 0 <= v < 1,
                                                 "a probability in [0, 1)"),
                        default=0.0, metavar="P",
                        help="network3's dropout of the inputs of every fully connected "
                             "and softmax layer in training (default 0)")
    parser.add_argument("--reg", choices=("l2", "l1"), default="l2",
                        help="regularisation of the weights (default l2)")
    add_precision_flag(parser)
    parser.add_argument("--dtype", choices=("float32", "float64"), default="float32")
    parser.add_argument("--init", choices=("large", "scaled", "network3"), default="large",
                        help="large: N(0,1) as network.py; scaled: weights N(0,1/n_in) "
                             "(network2); network3: N(0,1/n_out), softmax zero (default large)")


def model_from_args(args, n_in: int, n_classes: int):
    """The Model the model flags describe for ``n_in`` inputs (ValueError naming the
    flag when they do not fit the data)."""
    from .._core.layerspec import parse_layers
    if args.layers is not None:
        try:
            model = parse_layers(args.layers, n_in, activation=args.activation,
                                 dropout=args.dropout, cost=args.cost, reg=args.reg,
                                 precision=args.precision)
        except (ValueError, TypeError) as e:
            raise ValueError(f"--layers {args.layers}: {e}") from None
        flag = f"--layers {args.layers}"
    else:
        spec = ",".join(f"fc:{n}" for n in (args.sizes or [n_in, 30, 10])[1:])
        model = parse_layers(spec, n_in, activation=args.activation, dropout=args.dropout,
                             cost=args.cost, reg=args.reg, precision=args.precision)
        flag = f"--sizes {','.join(map(str, args.sizes or []))}"
        if args.sizes and args.sizes[0] != n_in:
            raise ValueError(f"{flag}: the data has {n_in} inputs, so sizes must start with "
                             f"{n_in}")
    if model.sizes[-1] < n_classes:
        raise ValueError(f"{flag}: the data has {n_classes} classes, so the output layer "
                         f"needs at least {n_classes} neurons")
    return model


def add_data_flags(parser) -> None:
    """Which data to train on and which split to report."""
    parser.add_argument("--data", default="mnist", metavar="NAME|FOLDER",
                        help="mnist (the book's, fetched on first use), fashion-mnist (Debian's "
                             "dataset-fashion-mnist), sample (shipped, 5000 training images), "
                             "or a folder of IDX files (default: mnist)")
    parser.add_argument("--eval", choices=("test", "validation"), default="test",
                        help="which split to report each epoch (default test)")


def add_training_flags(parser) -> None:
    """What every training command shares: epochs, mini-batch size, gradient, the
    order of the mini-batches and the n of λ/n."""
    parser.add_argument("--no-shuffle", dest="shuffle", action="store_false",
                        help="the mini-batches in the data's order every epoch (network3) "
                             "instead of a new shuffle per epoch")
    parser.add_argument("--reg-n", choices=("examples", "batches"), default="examples",
                        help="the n of lambda/n: the training examples (network2, default) "
                             "or the mini-batches (network3)")
    parser.add_argument("--epochs", type=non_negative_int, default=30,
                        help="epochs (default 30)")
    parser.add_argument("--batch-size", type=positive(int), default=10,
                        help="mini-batch size (default 10)")
    parser.add_argument("--grad", choices=("backprop", "autodiff"), default="backprop",
                        help="gradient: hand-derived BP1-BP4, or jax.grad (default backprop)")


def impl_problem(args) -> str | None:
    """A flag that does not apply to ``--impl``: ``--threads`` belongs to the C epoch."""
    if getattr(args, "threads", None) is not None and args.impl != "c":
        return f"--threads {args.threads} applies to --impl c only, not --impl {args.impl}"
    return None


def lambda_n(args):
    """fit's ``n`` for ``--reg-n``: None (N, network2's) or ``"batches"`` (network3's)."""
    return None if args.reg_n == "examples" else args.reg_n
