"""``jaxnet explain``: one digit through the five steps of backpropagation, every
symbol's shape and equation, checked three ways (jaxnet.cli._explain)."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

from ._common import error, load_split, setup_jax
from ._explain_i18n import languages
from ._flags import (
    add_data_flags,
    add_model_flags,
    model_from_args,
    non_negative_float,
    non_negative_int,
    positive,
    seed,
)


def add_explain(sub) -> None:
    e = sub.add_parser("explain", help="show BP1-BP4 on one digit, each symbol's shape, "
                                       "checked three ways",
                       description="Walks one example (--index N of the --eval split) through "
                                   "the network as `jaxnet train` takes it, or a trained one "
                                   "(--params): x = a1, every z, a, delta and gradient with its "
                                   "shape, equation and summary, and the largest relative "
                                   "difference of each delta and gradient between the "
                                   "hand-derived backprop, jax.grad and the C kernel.")
    add_data_flags(e)
    add_model_flags(e)
    e.set_defaults(dtype="float64")  # differences at rounding level (~1e-16)
    e.add_argument("--params", type=Path, default=None, metavar="FILE",
                   help="a trained network (jaxnet train --save FILE, or network2's JSON) "
                        "instead of a random one")
    e.add_argument("--seed", type=seed, default=0,
                   help="PRNG seed of the random network (jaxnet train's first one for the "
                        "same --seed and --dtype) and of the dropout masks (default 0)")
    e.add_argument("--index", type=non_negative_int, default=0, metavar="N",
                   help="which example of the --eval split (default 0: the first)")
    e.add_argument("--json", action="store_true",
                   help="print the whole trace as JSON instead of text")
    e.add_argument("--values", action="store_true",
                   help="every symbol's values (text: instead of a summary of a vector of "
                        "more than 10 entries; --json: added)")
    e.add_argument("--digit", action="store_true",
                   help="draw the input digit with block characters")
    e.add_argument("--batch", type=positive(int), default=1, metavar="M",
                   help="walk a mini-batch of M examples from --index on, in the book's "
                        "matrix form (default 1: one example)")
    e.add_argument("--eta", type=positive(float), default=3.0,
                   help="learning rate of the update shown last (default 3.0)")
    e.add_argument("--lmbda", type=non_negative_float, default=0.0, metavar="LAMBDA",
                   help="regularisation (--reg) strength, lambda/n with n the training "
                        "examples (default 0)")
    e.add_argument("--lang", default=None, metavar="LANG",
                   help="the language of the steps' names and explanations: "
                        f"{', '.join(languages())} (default: the locale's, else en)")


def _is_json(path) -> bool:
    """Whether ``path`` starts like a JSON object (network2's files), not a zip (ours);
    only a regular file is opened (a FIFO would block: load_params refuses it)."""
    import os
    import stat
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):
            return False
        with open(path, "rb") as f:
            return f.read(64).lstrip()[:1] == b"{"
    except OSError:
        return False          # load_params names the problem


def _file_model(args, n_in, n_classes):
    """``(model, params: Layers as the file holds them)`` of ``--params``, or an error
    message (a file for another network or input size than ``n_in``)."""
    from .._core.layerspec import describe
    from ..io import ParamsFileError, load_network2, load_params, model_from_description
    from ..nn import Model
    flag = f"--params {args.params}"
    try:
        if _is_json(args.params):   # network2.py's save (jaxnet train --save-format network2)
            params, cost = load_network2(args.params, dtype=args.dtype)
            meta = {"sizes": [params[0].w.shape[1]] + [p.w.shape[0] for p in params],
                    "cost": cost, "activation": "sigmoid"}
        else:
            params, meta = load_params(args.params, with_metadata=True)
    except (ParamsFileError, OSError) as e:
        return f"{flag}: {e}"
    model = (model_from_description(meta["model"]) if "model" in meta else
             Model.dense(meta["sizes"], cost=meta["cost"], activation=meta["activation"]))
    model = model.replace(precision=args.precision, reg=args.reg)  # the update's penalty
    if model.sizes[0] != n_in:
        return (f"{flag}: the network takes {model.sizes[0]} inputs; --data {args.data} has "
                f"{n_in}")
    if args.sizes or args.layers or args.cost:
        try:
            flags = model_from_args(args, n_in, n_classes)
        except ValueError as e:
            return str(e)
        if flags != model:
            return (f"{flag} holds a {describe(model)} {model.cost} network; the model flags "
                    f"describe {describe(flags)} {flags.cost}: drop them or make them match")
    if model.sizes[-1] < n_classes:
        return (f"{flag}: the network has {model.sizes[-1]} outputs; --data {args.data} has "
                f"{n_classes} classes")
    return model, params


def _network(args, d, split):
    """``(model, params in --dtype, masks or None)`` or an exit status."""
    import jax
    import numpy as np

    from ..nn import Layer, dropout_masks, init_params
    n_in = d.train.images.shape[1]
    n_classes = int(max(d.train.labels.max(), split.labels.max())) + 1
    dtype = np.dtype(args.dtype)
    key_init, key_masks = jax.random.split(jax.random.PRNGKey(args.seed))  # train's split
    if args.params is not None:
        made = _file_model(args, n_in, n_classes)
        if isinstance(made, str):
            return error(made, 2)
        model, params = made
        params = tuple(Layer(np.asarray(p.w, dtype), np.asarray(p.b, dtype)) for p in params)
    else:
        try:
            model = model_from_args(args, n_in, n_classes)
            params = init_params(key_init, model, dtype=dtype, init=args.init)
        except ValueError as e:
            return error(str(e), 2)
    masks = None
    if model.has_dropout:
        masks = [None if k is None else np.asarray(k)[0] if args.batch == 1 else np.asarray(k)
                 for k in dropout_masks(key_masks, model, args.batch, dtype)]
    return model, params, masks


def _problem(args) -> str | None:
    """A problem found from the flags alone."""
    from ._explain_i18n import translator
    if args.lang is not None:
        try:
            translator(args.lang)
        except ValueError as e:
            return f"--lang: {e}"
    if args.reg == "l1" and not args.lmbda:
        return "--reg l1 changes the update only with a --lmbda above 0: add --lmbda"
    return None


def explain_command(args) -> int:
    setup_jax(args)
    problem = _problem(args)
    if problem:
        return error(problem, 2)
    loaded = load_split(args, sys.stderr.isatty())
    if isinstance(loaded, int):
        return loaded
    d, split = loaded
    if args.index + args.batch > len(split):
        what = (f"--index {args.index}" if args.batch == 1 else
                f"--index {args.index} --batch {args.batch}")
        return error(f"{what}: the {args.eval} split of --data {args.data} has "
                     f"{len(split)} examples (0..{len(split) - 1})", 2)
    side = math.isqrt(split.images.shape[1])
    if args.digit and side * side != split.images.shape[1]:
        return error(f"--digit draws square images; {split.images.shape[1]} inputs are not one",
                     2)
    made = _network(args, d, split)
    if isinstance(made, int):
        return made
    return _show(args, split, *made, side, len(d.train))


def _show(args, split, model, params, masks, side, n_train) -> int:
    """Explains images ``--index`` … ``--index + --batch − 1`` of ``split`` (``images
    (N, side·side)`` uint8) and prints them; ``params``, ``masks`` as
    :func:`jaxnet.cli._explain.explain` takes them (one example's)."""
    import numpy as np

    from .. import data as jdata
    from ._explain import explain
    from ._explain_text import draw_digit
    dtype = np.dtype(args.dtype)
    rows = slice(args.index, args.index + args.batch)
    x = split.images[rows].astype(dtype) * dtype.type(jdata.PIXEL_SCALE)
    labels = split.labels[rows].astype(int)
    y = jdata.one_hot(labels, model.sizes[-1], dtype)
    if args.batch == 1:
        x, y = x[0], y[0]
    result = explain(params, x, y, model=model, masks=masks, eta=args.eta,
                     lmbda=args.lmbda, n=n_train)
    example = {"data": args.data, "split": args.eval, "index": args.index,
               "label": int(labels[0]) if args.batch == 1 else labels.tolist(),
               "params": None if args.params is None else str(args.params)}
    if args.json:
        print(json.dumps(result.to_json(values=args.values, example=example)))
    else:
        digit = draw_digit(x if args.batch == 1 else x[0], side) if args.digit else None
        print(result.text(args.lang, values=args.values, example=example, digit=digit))
    return 0
