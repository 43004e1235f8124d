"""Population throughput: P networks in one vmapped program vs the same P runs in turn.

    python benchmarks/population.py [--members 16,64] [--examples 10000] [--repeats 3]
                                    [--sequential-up-to P] [--precision highest]

784-30-10, quadratic cost, mini-batch 10, float32, the first ``--examples``
images of the book's training set. For each P: one epoch of
``jaxnet.fit_population`` (all members at once; median of ``--repeats``
epochs after a compiled warm-up) against P single-network epochs of the
same compiled program ``jaxnet.fit`` runs, one after another (the same
per-member work: each member its own key and η). Reports seconds,
member-epochs per second and the speed-up. Above ``--sequential-up-to``
members the one-after-another time is extrapolated from the largest P
measured (it is linear in P: the same program P times) and marked so.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--members", default="16,64")
    ap.add_argument("--examples", type=int, default=10_000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--sequential-up-to", type=int, default=None, metavar="P",
                    help="time the one-after-another runs only up to P members; extrapolate "
                         "linearly above (default: time them all)")
    ap.add_argument("--precision", default="highest", choices=("highest", "high", "default"))
    ap.add_argument("--out", type=Path, default=HERE / "results")
    args = ap.parse_args(argv)
    members = [int(v) for v in args.members.split(",")]
    if args.sequential_up_to is not None and args.sequential_up_to < min(members):
        ap.error("--sequential-up-to must be at least the smallest --members (nothing to "
                 "extrapolate from)")

    import jax
    import jax.numpy as jnp
    import numpy as np

    import jaxnet
    from jaxnet import bench, data

    d = data.load_mnist(progress=False)
    x, labels = d.train.images[: args.examples], d.train.labels[: args.examples]
    y = jnp.asarray(data.one_hot(labels, 10, np.float32))
    xd = jax.device_put(x)
    scale = jnp.asarray(data.PIXEL_SCALE, jnp.float32)
    rows = []
    for p in members:
        keys = jax.random.split(jax.random.PRNGKey(0), p)
        model = jaxnet.Model.dense([784, 30, 10], precision=args.precision)
        pop = jaxnet.init_population(keys, model)
        etas = np.linspace(0.5, 3.0, p)
        t0 = time.perf_counter()
        res = jaxnet.fit_population(keys, pop, x, labels, epochs=1 + args.repeats, eta=etas,
                                    batch_size=10, x_scale=data.PIXEL_SCALE, model=model)
        total = time.perf_counter() - t0
        pop_times = res.epoch_seconds[1:]  # the first epoch is a warm-up

        # The same P runs one after another: fit's own compiled epoch program.
        if args.sequential_up_to is None or p <= args.sequential_up_to:
            seq = _one_after_another(pop, keys, etas, xd, y, scale, args)
            measured = (p, seq)
            extrapolated = False
        else:  # linear in P: scale the largest measured population's times
            seq = [t * p / measured[0] for t in measured[1]]
            extrapolated = True
        row = dict(members=p, population_epoch_s=statistics.median(pop_times),
                   population_min_max=[min(pop_times), max(pop_times)],
                   sequential_epoch_s=statistics.median(seq), sequential_min_max=[min(seq), max(seq)],
                   sequential_extrapolated=extrapolated,
                   compile_s=res.compile_seconds, fit_population_total_s=total)
        row["speedup"] = row["sequential_epoch_s"] / row["population_epoch_s"]
        row["member_epochs_per_s"] = p / row["population_epoch_s"]
        rows.append(row)
        print(f"P={p}: population {row['population_epoch_s']:.2f} s/epoch, one after another "
              f"{row['sequential_epoch_s']:.2f} s, speed-up {row['speedup']:.2f}x",
              file=sys.stderr, flush=True)
    doc = dict(date=bench.now(), command="python benchmarks/population.py " + " ".join(sys.argv[1:]),
               machine=bench.machine(), examples=args.examples, repeats=args.repeats, rows=rows)
    lines = [f"# Populations (vmap) vs one after another, {doc['date'][:10]}", "",
             f"- command: `{doc['command']}`",
             f"- machine: {doc['machine']['processor']}, {doc['machine']['cores']} cores; "
             f"{doc['machine']['versions']}",
             f"- 784-30-10, mini-batch 10, float32, {args.examples:,} images per epoch; medians of "
             f"{args.repeats} epochs after a warm-up; precision {args.precision}; "
             f"* = one-after-another time extrapolated from P = {args.sequential_up_to}", "",
             "| members | population s/epoch | min–max | one after another s | min–max "
             "| speed-up | member-epochs/s | compile s |",
             "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in rows:
        lines.append(f"| {r['members']} | {r['population_epoch_s']:.3f} "
                     f"| {r['population_min_max'][0]:.3f}–{r['population_min_max'][1]:.3f} "
                     f"| {r['sequential_epoch_s']:.3f}{'*' if r['sequential_extrapolated'] else ''} "
                     f"| {r['sequential_min_max'][0]:.3f}–{r['sequential_min_max'][1]:.3f} "
                     f"| {r['speedup']:.2f}× | {r['member_epochs_per_s']:.1f} | {r['compile_s']:.1f} |")
    md = "\n".join(lines) + "\n"
    args.out.mkdir(parents=True, exist_ok=True)
    stem = args.out / f"{doc['date'][:10]}-population-{doc['machine']['backend']}"
    if args.precision != "highest":
        stem = stem.with_name(stem.name + f"-{args.precision}")
    print(md)
    return save(stem, doc, md)


def _one_after_another(pop, keys, etas, xd, y, scale, args):
    """Seconds per repeat for P single-network epochs run in turn (train_epoch_with,
    each with its own shuffled order, as fit runs them)."""
    import jax
    import jax.numpy as jnp

    import jaxnet
    model = jaxnet.Model.dense([784, 30, 10], precision=args.precision)
    orders = [jaxnet.shuffle_order(k, y.shape[0])[1] for k in keys]

    def one(i):
        member = jax.tree.map(lambda a: a[i], pop)
        state = jaxnet.SgdState(jnp.float32(etas[i]))
        return jaxnet.train_epoch_with(jaxnet.sgd(1.0), member, state, xd, y, orders[i],
                                       batch_size=10, model=model, x_scale=float(scale))
    jax.block_until_ready(one(0))                        # compile
    seq = []
    for _ in range(args.repeats):
        t1 = time.perf_counter()
        for i in range(len(etas)):
            jax.block_until_ready(one(i))
        seq.append(time.perf_counter() - t1)
    return seq




def save(stem, doc, md) -> int:
    """Writes STEM.json and STEM.md through jaxnet.io's rescue path (a full disk: a copy
    elsewhere, one line saying where); returns the exit status, 0 or 1."""
    from jaxnet.io import write_files
    return write_files({stem.with_suffix(".json"): json.dumps(doc, indent=1),
                        stem.with_suffix(".md"): md}, prog="benchmarks/population.py")


if __name__ == "__main__":
    sys.exit(main())
