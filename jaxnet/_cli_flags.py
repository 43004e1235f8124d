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
ACTIVATIONS = ("sigmoid", "tanh", "relu")
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
    """The network: sizes, cost, hidden activation, regularisation kind, precision,
    dtype and initialisation (``model_from_args`` builds the Model)."""
    parser.add_argument("--sizes", type=sizes, default=None, metavar="N0,N1,...",
                        help="layer sizes, input first (default: INPUT,30,10)")
    parser.add_argument("--cost", type=choice(COSTS), default="quadratic", metavar="NAME",
                        help="quadratic (chapter 1), cross-entropy (sigmoid output) or "
                             "log-likelihood (softmax output) (default quadratic)")
    parser.add_argument("--activation", type=choice(ACTIVATIONS), default="sigmoid",
                        metavar="NAME", help="hidden neurons: sigmoid, tanh or relu "
                                             "(default sigmoid)")
    parser.add_argument("--reg", choices=("l2", "l1"), default="l2",
                        help="regularisation of the weights (default l2)")
    add_precision_flag(parser)
    parser.add_argument("--dtype", choices=("float32", "float64"), default="float32")
    parser.add_argument("--init", choices=("large", "scaled"), default="large",
                        help="large: N(0,1) as network.py; scaled: weights N(0,1/n_in) "
                             "(default large)")


def model_from_args(args, sizes):
    """The Model the model flags describe, for layer ``sizes``."""
    from ._model import Model
    return Model.dense(sizes, cost=args.cost, activation=args.activation, reg=args.reg,
                       precision=args.precision)


def add_data_flags(parser) -> None:
    """Which data to train on and which split to report."""
    parser.add_argument("--data", default="mnist", metavar="NAME|FOLDER",
                        help="mnist (the book's, fetched on first use), fashion-mnist (Debian's "
                             "dataset-fashion-mnist), sample (shipped, 5000 training images), "
                             "or a folder of IDX files (default: mnist)")
    parser.add_argument("--eval", choices=("test", "validation"), default="test",
                        help="which split to report each epoch (default test)")


def add_training_flags(parser) -> None:
    """What every training command shares: epochs, mini-batch size, gradient."""
    parser.add_argument("--epochs", type=non_negative_int, default=30,
                        help="epochs (default 30)")
    parser.add_argument("--batch-size", type=positive(int), default=10,
                        help="mini-batch size (default 10)")
    parser.add_argument("--grad", choices=("backprop", "autodiff"), default="backprop",
                        help="gradient: hand-derived BP1-BP4, or jax.grad (default backprop)")
