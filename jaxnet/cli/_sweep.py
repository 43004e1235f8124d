"""``jaxnet sweep``: every combination of seeds, η, λ and μ trained as one population."""

from __future__ import annotations

import itertools
import statistics
from pathlib import Path

from ..nn._layerspec import describe
from ._common import (
    check_run_memory,
    data_files,
    error,
    load_split,
    outputs_unwritable,
    plot_ready,
    same_file,
    setup_jax,
    write_or_rescue,
)
from ._flags import (
    add_data_flags,
    add_model_flags,
    add_training_flags,
    floats,
    lambda_n,
    model_from_args,
    non_negative_float,
    positive,
    unit_float,
)


def add_sweep(sub) -> None:
    sw = sub.add_parser("sweep", help="train a population at once (seeds x eta x lambda x mu)",
                        description="Trains every combination of --seeds, --eta, --lmbda and "
                                    "--momentum as one population (jax.vmap: one compiled "
                                    "program per epoch for all members), then prints each "
                                    "configuration's mean +- std and best accuracy over seeds.")
    add_data_flags(sw)
    add_model_flags(sw)
    add_training_flags(sw)
    sw.add_argument("--seeds", type=positive(int), default=3, help="seeds per configuration "
                    "(0..N-1; default 3)")
    sw.add_argument("--eta", type=floats(positive(float)), default=[3.0], metavar="LIST",
                    help="learning rates, comma-separated (default 3.0)")
    sw.add_argument("--lmbda", type=floats(non_negative_float), default=[0.0], metavar="LIST",
                    help="regularisation strengths, comma-separated (default 0)")
    sw.add_argument("--momentum", type=floats(unit_float), default=[0.0], metavar="LIST",
                    help="momentum co-efficients, comma-separated (default 0)")
    sw.add_argument("--plot", type=Path, default=None, metavar="FILE",
                    help="draw the population's spread per epoch to this PNG (needs matplotlib)")
    sw.add_argument("--json", type=Path, default=None, metavar="FILE",
                    help="write every member's accuracy per epoch here (atomic)")


def _population(args, d, split, members):
    """``(model, params, fit keys)``: member seed s uses the keys of ``jaxnet train --seed s``."""
    import jax
    import jax.numpy as jnp

    from ..train._population import init_population
    n_classes = int(max(d.train.labels.max(), split.labels.max())) + 1
    model = model_from_args(args, d.train.images.shape[1], n_classes)
    check_run_memory(args, model, d, split, members=len(members))
    dtype = jnp.float64 if args.dtype == "float64" else jnp.float32
    pairs = [jax.random.split(jax.random.PRNGKey(s)) for _, s in members]
    params = init_population(jnp.stack([p[0] for p in pairs]), model, dtype=dtype,
                             init=args.init)
    return model, params, jnp.stack([p[1] for p in pairs])


def sweep(args) -> int:
    setup_jax(args)
    import jax
    import numpy as np

    from .. import data as jdata
    from ..train._population import fit_population
    if not plot_ready(args):
        return 1
    outputs = [("--plot", args.plot), ("--json", args.json)]
    problem = outputs_unwritable(outputs) or same_file(outputs, data_files(args.data))
    if problem:
        return error(problem, 2)
    loaded = load_split(args, False)
    if isinstance(loaded, int):
        return loaded
    d, split = loaded
    configs = list(itertools.product(args.eta, args.lmbda, args.momentum))
    members = [(c, s) for c in configs for s in range(args.seeds)]
    try:
        model, params, keys = _population(args, d, split, members)
    except ValueError as e:
        return error(str(e) if str(e).startswith("--") else
                     f"{'--layers' if args.layers else '--sizes'}: {e}", 2)
    print(f"jaxnet sweep: {len(members)} members ({len(configs)} configurations x {args.seeds} "
          f"seeds), {describe(model)}, {model.cost}, {args.activation}, batch "
          f"{args.batch_size}, {args.epochs} epochs, {args.dtype}, {jax.default_backend()}, "
          f"precision {args.precision}", flush=True)
    done = []

    def on_epoch(e, correct):
        done.append(e)
        print(f"Epoch {e}: best member {int(correct.max())} / {len(split)}, median "
              f"{float(np.median(correct)):.0f}", flush=True)
    try:
        res = fit_population(keys, params, d.train.images, d.train.labels, model=model,
                             epochs=args.epochs, eta=[c[0] for c, _ in members],
                             lmbda=[c[1] for c, _ in members],
                             momentum=[c[2] for c, _ in members], batch_size=args.batch_size,
                             x_scale=jdata.PIXEL_SCALE, eval_data=(split.images, split.labels),
                             grad=args.grad, on_epoch=on_epoch, shuffle=args.shuffle,
                             n=lambda_n(args))
    except FloatingPointError as e:
        return error(str(e), 1)
    except (ValueError, TypeError) as e:
        if done:  # fit_population checks every argument before it trains
            raise
        return error(str(e), 2)
    print(f"compile {res.compile_seconds:.2f} s, {sum(res.epoch_seconds):.1f} s for "
          f"{len(members)} x {args.epochs} epochs\n")
    return _report(args, model, configs, members, res)


def _report(args, model, configs, members, res) -> int:
    """The table of configurations, then --plot and --json."""
    import numpy as np
    acc = (100 * np.asarray(res.correct, np.float64) / res.total
           if res.correct is not None else None)
    print(f"| eta | lambda | mu | best {args.eval} accuracy: mean +- std | best | seeds |")
    print("| --- | --- | --- | --- | --- | --- |")
    rows = []
    for c in configs:
        idx = [i for i, (cc, _) in enumerate(members) if cc == c]
        best = [float(acc[:, i].max()) for i in idx] if acc is not None and len(acc) else []
        if best:
            std = statistics.stdev(best) if len(best) > 1 else 0.0
            print(f"| {c[0]:g} | {c[1]:g} | {c[2]:g} | {statistics.mean(best):.2f} +- "
                  f"{std:.2f} % | {max(best):.2f} % | {len(best)} |")
        rows.append(dict(eta=c[0], lmbda=c[1], momentum=c[2], seeds=list(range(args.seeds)),
                         accuracy=[acc[:, i].tolist() for i in idx] if acc is not None else []))
    status = 0
    if args.plot and res.correct is not None:
        from ..plot import plot_population
        status = max(status, write_or_rescue(
            "--plot", args.plot, lambda path: plot_population(res.correct, res.total, path),
            "wrote"))
    if args.json:
        import json

        from ..io._atomic import atomic_write

        def write(path):
            with atomic_write(path, "w") as f:
                json.dump(dict(sizes=list(model.sizes), epochs=args.epochs,
                               batch_size=args.batch_size, cost=model.cost,
                               activation=args.activation, split=args.eval,
                               configurations=rows), f, indent=1)
        status = max(status, write_or_rescue("--json", args.json, write, "wrote"))
    return status
