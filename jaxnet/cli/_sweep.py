"""``jaxnet sweep``: every combination of seeds, η, λ and μ trained as one population,
optionally split over devices and processes, checkpointed, its results written."""

from __future__ import annotations

import itertools
from pathlib import Path

from .._core.layerspec import describe
from ._common import (
    check_run_memory,
    data_files,
    error,
    load_split,
    outputs_unwritable,
    plot_ready,
    population_or_error,
    same_file,
    setup_jax,
    stopped_status,
)
from ._flags import (
    add_data_flags,
    add_model_flags,
    add_training_flags,
    floats,
    impl_problem,
    lambda_n,
    model_from_args,
    non_negative_float,
    positive,
    threads,
    unit_float,
)
from ._sweep_devices import add_device_flags, check_device_flags, sweep_mesh
from ._sweep_outputs import add_output_flags, diverged_line, report


def add_sweep(sub) -> None:
    sw = sub.add_parser("sweep", help="train a population at once (seeds x eta x lambda x mu)",
                        description="Trains every combination of --seeds, --eta, --lmbda and "
                                    "--momentum as one population (jax.vmap: one compiled "
                                    "program per epoch for all members), optionally split "
                                    "over --devices and processes, then prints each "
                                    "configuration's mean +- std and best accuracy over seeds. "
                                    "A member whose parameters become NaN or Inf stops alone, "
                                    "its status (diverged at epoch K, by eta, lambda, mu and "
                                    "seed) in the table and every output. Exit status: 0 all "
                                    "members ok, 3 some diverged (every output written), 1 all "
                                    "diverged or an error while running, 2 a bad flag.")
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
    sw.add_argument("--impl", choices=("jax", "pallas", "c"), default="jax",
                    help="pallas: every member's epoch in one fused kernel (Dense models); "
                         "c: each member's epoch by the C kernel, members spread over "
                         "--threads (one device)")
    sw.add_argument("--threads", type=threads, default=None,
                    help="members trained at once with --impl c (default: this machine's "
                         "cores; refused with another --impl)")
    sw.add_argument("--checkpoint", type=Path, default=None, metavar="FILE",
                    help="save every member's state here after every --checkpoint-every "
                         "epochs and at the end (atomic); Ctrl-C or SIGTERM then finishes the "
                         "epoch, saves and exits")
    sw.add_argument("--checkpoint-every", type=positive(int), default=1, metavar="N",
                    help="epochs between checkpoints (default 1)")
    sw.add_argument("--resume", action="store_true",
                    help="continue from --checkpoint if it exists (the same sweep: data, "
                         "--eval split, flags, seeds, --init, members per device; another is "
                         "refused, naming the difference)")
    sw.add_argument("--overwrite", action="store_true",
                    help="start over even though --checkpoint exists")
    add_device_flags(sw)
    add_output_flags(sw)


def _population(args, d, split, members):
    """``(model, params, fit keys)``: member seed s uses the keys of ``jaxnet train --seed s``."""
    import jax
    import jax.numpy as jnp

    from ..train import init_population
    n_classes = int(max(d.train.labels.max(), split.labels.max())) + 1
    model = model_from_args(args, d.train.images.shape[1], n_classes)
    check_run_memory(args, model, d, split, members=len(members))
    dtype = jnp.float64 if args.dtype == "float64" else jnp.float32
    pairs = [jax.random.split(jax.random.PRNGKey(s)) for _, s in members]
    params = init_population(jnp.stack([p[0] for p in pairs]), model, dtype=dtype,
                             init=args.init)
    return model, params, jnp.stack([p[1] for p in pairs])


def _check_flags(args):
    """Flag combinations and output paths, before anything is loaded: an exit status or None."""
    if (args.resume or args.overwrite) and args.checkpoint is None:
        return error(f"--{'resume' if args.resume else 'overwrite'} needs --checkpoint FILE", 2)
    if args.resume and args.overwrite:
        return error("--resume and --overwrite: choose one", 2)
    outputs = [("--plot", args.plot), ("--json", args.json), ("--csv", args.csv),
               ("--save-best", args.save_best), ("--checkpoint", args.checkpoint)]
    problem = (check_device_flags(args) or impl_problem(args) or _c_on_devices(args)
               or outputs_unwritable(outputs) or same_file(outputs, data_files(args.data)))
    if problem:
        return error(problem, 2)
    if args.checkpoint is not None and args.checkpoint.exists() and not (
            args.resume or args.overwrite):
        return error(f"--checkpoint {args.checkpoint}: exists; add --resume to continue it or "
                     "--overwrite to start over", 2)
    return None if plot_ready(args) else 1


def _c_on_devices(args) -> str | None:
    """--impl c trains on this host's threads: no --devices or processes."""
    if args.impl == "c" and (args.devices is not None or args.coordinator is not None):
        return ("--impl c trains the members on this host's --threads; --devices and "
                "--coordinator split them with --impl jax")
    return None


def sweep(args) -> int:
    setup_jax(args)
    status = _check_flags(args)
    if status is not None:
        return status
    mesh = sweep_mesh(args)
    if isinstance(mesh, int):
        return mesh
    import jax
    lead = jax.process_index() == 0          # one process prints and writes
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
    if lead:
        where = (f"{jax.default_backend()}" if mesh is None else
                 f"{mesh.size} {jax.default_backend()} devices in {jax.process_count()} "
                 f"process{'es' if jax.process_count() > 1 else ''}")
        print(f"jaxnet sweep: {len(members)} members ({len(configs)} configurations x "
              f"{args.seeds} seeds), {describe(model)}, {model.cost}, {args.activation}, batch "
              f"{args.batch_size}, {args.epochs} epochs, {args.dtype}, {where}, "
              f"precision {args.precision}", flush=True)
    res = _fit(args, model, params, keys, members, d, split, mesh, lead)
    if isinstance(res, int):
        return res
    stopped = stopped_status(res)
    if stopped is not None:
        return stopped
    if not lead:
        return 3 if (res.diverged >= 0).any() else 0
    print(f"compile {res.compile_seconds:.2f} s, {sum(res.epoch_seconds):.1f} s for "
          f"{len(members)} x {len(res.epoch_seconds)} epochs\n")
    return report(args, model, configs, members, res)


def _fit(args, model, params, keys, members, d, split, mesh, lead):
    """The PopulationResult, or an exit status after printing the error."""
    import numpy as np

    from .. import data as jdata
    from ..train import fit_population
    from ._common import run_names
    done = []

    def on_epoch(e, correct):
        done.append(e)
        if lead:
            print(f"Epoch {e}: best member {int(correct.max())} / {len(split)}, median "
                  f"{float(np.median(correct)):.0f}", flush=True)
    def run():
        try:
            return fit_population(
                keys, params, d.train.images, d.train.labels, model=model, epochs=args.epochs,
                eta=[c[0] for c, _ in members], lmbda=[c[1] for c, _ in members],
                momentum=[c[2] for c, _ in members], batch_size=args.batch_size,
                x_scale=jdata.PIXEL_SCALE, eval_data=(split.images, split.labels),
                grad=args.grad, on_epoch=on_epoch, shuffle=args.shuffle, n=lambda_n(args),
                mesh=mesh, checkpoint=args.checkpoint, checkpoint_every=args.checkpoint_every,
                resume=args.resume, overwrite=args.overwrite, impl=args.impl,
                threads=args.threads, names=run_names(args, seeds=args.seeds))
        except FloatingPointError as e:   # every member: name them by their seeds too
            if getattr(e, "diverged", None) is None:
                raise
            raise FloatingPointError(diverged_line(members, e.diverged).replace(
                "members became", "members (all) became")) from None
    return population_or_error(run, done, "the sweep")
