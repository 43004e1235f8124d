"""``jaxnet explain``: one digit through the five steps of backpropagation, every
symbol's shape and equation, checked three ways (jaxnet.cli._explain)."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

from ._common import error, load_split, setup_jax
from ._flags import add_data_flags, add_model_flags, model_from_args, non_negative_int, seed


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
                   help="a trained network (jaxnet train --save FILE) instead of a random one")
    e.add_argument("--seed", type=seed, default=0,
                   help="PRNG seed of the random network (jaxnet train's first one for the "
                        "same --seed and --dtype) and of the dropout masks (default 0)")
    e.add_argument("--index", type=non_negative_int, default=0, metavar="N",
                   help="which example of the --eval split (default 0: the first)")
    e.add_argument("--json", action="store_true",
                   help="print the whole trace as JSON instead of text")
    e.add_argument("--values", action="store_true",
                   help="with --json: every symbol's values too")
    e.add_argument("--digit", action="store_true",
                   help="draw the input digit with block characters")


def _file_model(args, n_in, n_classes):
    """``(model, params: Layers as the file holds them)`` of ``--params``, or an error
    message (a file for another network or input size than ``n_in``)."""
    from .._core.layerspec import describe
    from ..io import ParamsFileError, load_params, model_from_description
    from ..nn import Model
    flag = f"--params {args.params}"
    try:
        params, meta = load_params(args.params, with_metadata=True)
    except (ParamsFileError, OSError) as e:
        return f"{flag}: {e}"
    model = (model_from_description(meta["model"]) if "model" in meta else
             Model.dense(meta["sizes"], cost=meta["cost"], activation=meta["activation"]))
    model = model.replace(precision=args.precision)
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
        masks = [None if k is None else np.asarray(k)[0]
                 for k in dropout_masks(key_masks, model, 1, dtype)]
    return model, params, masks


def _problem(args) -> str | None:
    """A problem found from the flags alone."""
    if args.values and not args.json:
        return "--values adds every symbol's values to --json's output: add --json"
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
    if args.index >= len(split):
        return error(f"--index {args.index}: the {args.eval} split of --data {args.data} has "
                     f"{len(split)} examples (0..{len(split) - 1})", 2)
    side = math.isqrt(split.images.shape[1])
    if args.digit and side * side != split.images.shape[1]:
        return error(f"--digit draws square images; {split.images.shape[1]} inputs are not one",
                     2)
    made = _network(args, d, split)
    if isinstance(made, int):
        return made
    return _show(args, split, *made, side)


def _show(args, split, model, params, masks, side) -> int:
    """Explains image ``--index`` of ``split`` (``images (N, side·side)`` uint8) and
    prints it; ``params``, ``masks`` as :func:`jaxnet.cli._explain.explain` takes them."""
    import numpy as np

    from .. import data as jdata
    from ._explain import explain
    from ._explain_text import draw_digit, format_text, to_json
    dtype = np.dtype(args.dtype)
    x = split.images[args.index].astype(dtype) * dtype.type(jdata.PIXEL_SCALE)
    label = int(split.labels[args.index])
    y = jdata.one_hot(np.array([label]), model.sizes[-1], dtype)[0]
    result = explain(params, x, y, model=model, masks=masks)
    example = {"data": args.data, "split": args.eval, "index": args.index, "label": label,
               "params": None if args.params is None else str(args.params)}
    if args.json:
        print(json.dumps(to_json(result, values=args.values, example=example)))
    else:
        print(format_text(result, example, draw_digit(x, side) if args.digit else None))
    return 0
