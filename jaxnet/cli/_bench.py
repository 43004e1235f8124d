"""``jaxnet bench``: jaxnet's epoch paths on the book's run, each checked, then timed."""

from __future__ import annotations

import sys

import numpy as np

from ..bench import (
    Task,
    flops_per_example,
    jaxnet_implementations,
    machine,
    matmul_peak,
    now,
    run_table,
    table,
)


def add_arguments(ap) -> None:
    """``jaxnet bench``'s flags, on its subparser."""
    ap.add_argument("--data", choices=("mnist", "sample"), default="mnist")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--batch-size", type=int, default=10)
    ap.add_argument("--json", default=None, metavar="FILE", help="also write the results here")
    ap.add_argument("--no-peak", action="store_true", help="skip the 2048³ matmul peak")
    ap.add_argument("--precision", default="highest", metavar="LIST",
                    help="comma-separated precisions for the JAX paths and the peak, from "
                         "highest, high, default (default: highest)")


def run_bench(args, ap) -> int:
    """Checks ``args`` (errors through ``ap``), then runs :func:`bench`."""
    from .. import data
    if args.repeats < 1 or args.batch_size < 1:
        ap.error("--repeats and --batch-size must be positive")
    precisions = tuple(p.strip() for p in args.precision.split(",") if p.strip())
    if not precisions or any(p not in ("highest", "high", "default") for p in precisions):
        ap.error(f"--precision: expected names from highest, high, default, got {args.precision!r}")
    if args.json is not None:
        from .._core.atomic import unwritable
        problem = unwritable(args.json)
        if problem:
            ap.error(f"--json {args.json}: {problem}")
    n = (data.MNIST_SIZES if args.data == "mnist" else data.SAMPLE_SIZES)["train"]
    if args.batch_size > n:
        ap.error(f"--batch-size {args.batch_size} exceeds the {n} training images of {args.data}")
    return bench(args.data, args.repeats, args.batch_size, args.json, peak=not args.no_peak,
                 precisions=precisions)


def bench(data_name, repeats, batch_size, json_path=None, *, peak=True, out=None,
          precisions=("highest",)) -> int:
    out = out or sys.stdout
    import jax
    jax.config.update("jax_enable_x64", True)  # float64 gradient checks and the C float64 row

    from .. import data
    from .._core.model import init_params
    d = data.load_mnist() if data_name == "mnist" else data.load_sample()
    n = len(d.train.labels)
    task = Task(d.train.images, d.train.labels,
                np.random.default_rng(0).permutation(n).astype(np.int32),
                (d.train.images.shape[1], 30, 10), 3.0, batch_size, data.PIXEL_SCALE)
    params32 = init_params(jax.random.PRNGKey(0), list(task.sizes))
    impls, notes = jaxnet_implementations(precisions)
    pk = matmul_peak(precisions=precisions) if peak else None
    rows = run_table(impls, task, params32, repeats=repeats, peak=pk)
    print(f"jaxnet bench: {'-'.join(map(str, task.sizes))}, eta {task.eta}, mini-batch "
          f"{batch_size}, {n} training images ({data_name}); median of {repeats} epochs after "
          f"a warm-up; {machine()['processor']}, backend {jax.default_backend()}", file=out)
    for note in notes:
        print(f"note: {note}", file=out)
    if pk:
        print("float32 matmul peak, 2048³: " + ", ".join(
            f"{k} {v:.0f} GFLOP/s" for k, v in pk.items() if v) + "; % peak is of the best",
            file=out)
    print(f"GFLOP/s counts {flops_per_example(task.sizes):,} FLOP per example "
          "(matrix products only; jaxnet.bench.flops_per_example)\n", file=out)
    print(table(rows), file=out)
    if json_path:
        import json

        from .._core.atomic import atomic_write
        from ._common import write_output
        doc = dict(date=now(), command="jaxnet bench " + " ".join(sys.argv[2:]),
                   machine=machine(), matmul_peak_gflops=pk, notes=notes, rows=rows)

        def write(path):
            with atomic_write(path, "w") as f:
                f.write(json.dumps(doc, indent=1))
        if write_output("--json", json_path, write, "wrote"):
            return 1
    return 1 if any(r.get("refused") for r in rows) else 0
