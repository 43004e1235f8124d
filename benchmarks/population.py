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

With ``--devices 1,2,4`` it also times the sharded case: the same populations with
the member axis split over the first D devices (``fit_population(mesh=...)``,
padded to a multiple of D), each first checked against the one-device run, then
reported as member-epochs per second and the speed-up over one device.
``--force-cpu-devices N`` makes the CPU show N devices (XLA_FLAGS, set before
JAX starts; on a 2-core CPU more than 2 only shows the overhead). ``--only-sharded``
skips the one-after-another comparison.

    python benchmarks/population.py --members 64 --devices 1,2,4 \
        --force-cpu-devices 4 --only-sharded --examples 2000
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

from common import RESULTS, save

# float32, η up to 3 (chaotic members amplify a step's one-ulp change, and the
# products' kernel depends on the members per device): the sharded run's parameters
# may differ from the one-device run's by this much, relative, after a few epochs.
SHARDED_RTOL = 1e-2


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--members", default="16,64")
    ap.add_argument("--examples", type=int, default=10_000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--sequential-up-to", type=int, default=None, metavar="P",
                    help="time the one-after-another runs only up to P members; extrapolate "
                         "linearly above (default: time them all)")
    ap.add_argument("--precision", default="highest", choices=("highest", "high", "default"))
    ap.add_argument("--out", type=Path, default=RESULTS)
    ap.add_argument("--devices", default=None, metavar="LIST",
                    help="also time the members split over the first D devices, each D")
    ap.add_argument("--force-cpu-devices", type=int, default=None, metavar="N",
                    help="let the CPU show N devices (XLA_FLAGS)")
    ap.add_argument("--only-sharded", action="store_true",
                    help="skip the one-after-another comparison (needs --devices)")
    args = ap.parse_args(argv)
    members = [int(v) for v in args.members.split(",")]
    if args.sequential_up_to is not None and args.sequential_up_to < min(members):
        ap.error("--sequential-up-to must be at least the smallest --members (nothing to "
                 "extrapolate from)")
    if args.only_sharded and not args.devices:
        ap.error("--only-sharded needs --devices")
    if args.force_cpu_devices:   # before JAX starts
        os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " --xla_force_host_"
                                   f"platform_device_count={args.force_cpu_devices}").strip()

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
    for p in members if not args.only_sharded else []:
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
    if args.only_sharded:
        lines = lines[:4] + [f"- 784-30-10, mini-batch 10, float32, {args.examples:,} images per "
                             f"epoch; medians of {args.repeats} epochs after a warm-up; "
                             f"precision {args.precision}"]
    if args.devices:
        doc["sharded"] = _sharded(args, members, x, labels)
        if doc["sharded"] is None:
            return 1
        lines += _sharded_table(doc["sharded"])
    md = "\n".join(lines) + "\n"
    args.out.mkdir(parents=True, exist_ok=True)
    stem = args.out / f"{doc['date'][:10]}-population-{doc['machine']['backend']}"
    if args.precision != "highest":
        stem = stem.with_name(stem.name + f"-{args.precision}")
    if args.devices:
        stem = stem.with_name(stem.name + "-sharded")
    print(md)
    return save(stem, doc, md, prog="benchmarks/population.py")


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




def _sharded(args, members, x, labels):
    """One row per (P, D): the population's epoch with its members split over D
    devices, checked against D = 1 first; None (after saying why) if a check fails."""
    import jax
    import numpy as np

    import jaxnet
    from jaxnet import data
    devices = [int(v) for v in args.devices.split(",")]
    if max(devices) > len(jax.devices()):
        print(f"--devices {args.devices}: only {len(jax.devices())} devices visible "
              "(--force-cpu-devices N on a CPU)", file=sys.stderr)
        return None
    rows = []
    for p in members:
        keys = jax.random.split(jax.random.PRNGKey(0), p)
        model = jaxnet.Model.dense([784, 30, 10], precision=args.precision)
        pop = jaxnet.init_population(keys, model)
        reference = None
        for d in devices:
            mesh = None if d == 1 else jax.make_mesh((d,), ("members",),
                                                     devices=jax.devices()[:d])
            res = jaxnet.fit_population(keys, pop, x, labels, epochs=1 + args.repeats,
                                        eta=np.linspace(0.5, 3.0, p), batch_size=10,
                                        x_scale=data.PIXEL_SCALE, model=model, mesh=mesh)
            leaves = [np.asarray(a) for a in jax.tree.leaves(res.params)]
            reference = reference or leaves
            diff = max(float(np.max(np.abs(a - b)) / np.max(np.abs(b)))
                       for a, b in zip(leaves, reference))
            if diff > SHARDED_RTOL:
                print(f"P={p} on {d} devices: parameters differ from one device's by {diff:.1e}"
                      f" > {SHARDED_RTOL:.0e}", file=sys.stderr)
                return None
            t = statistics.median(res.epoch_seconds[1:])
            rows.append(dict(members=p, devices=d, epoch_s=t, member_epochs_per_s=p / t,
                             compile_s=res.compile_seconds, rel_diff_vs_one_device=diff))
            rows[-1]["speedup"] = rows[-1]["member_epochs_per_s"] / next(
                r["member_epochs_per_s"] for r in rows if r["members"] == p)
            print(f"P={p} on {d} devices: {t:.3f} s/epoch, {p / t:.1f} member-epochs/s",
                  file=sys.stderr, flush=True)
    return rows


def _sharded_table(rows) -> list:
    lines = ["", "Sharded: the member axis split over D devices (fit_population(mesh=...)).", "",
             "| members | devices | s/epoch | member-epochs/s | vs 1 device | compile s "
             "| max rel. diff vs 1 device |", "| --- | --- | --- | --- | --- | --- | --- |"]
    for r in rows:
        lines.append(f"| {r['members']} | {r['devices']} | {r['epoch_s']:.3f} "
                     f"| {r['member_epochs_per_s']:.1f} | {r['speedup']:.2f}x "
                     f"| {r['compile_s']:.1f} | {r['rel_diff_vs_one_device']:.1e} |")
    return lines


if __name__ == "__main__":
    sys.exit(main())
