"""Population throughput: P networks in one program against the peers, in one run.

    python benchmarks/population.py [--members 1,8,64,256] [--examples 10000]
                                    [--repeats 3] [--precision highest]

784-30-10, quadratic cost, mini-batch 10, float32, the first ``--examples``
images of the book's training set, each member its own η (0.5 to 3), seed and
order. For each P, every path trains one epoch of every member from the same
start: ``jaxnet.fit_population`` (all members in one compiled program), a loop
of ``jaxnet.train_epoch`` calls (one member after another),
``jaxnet.fit_population(impl="c")`` (each member's epoch by the C kernel, the
members over the machine's cores; the whole call timed), a ``vmap``'d
Equinox + optax population and a ``torch.compile``'d
``torch.func.vmap(grad(functional_call))`` population (benchmarks/population_peers.py;
each absent without its package, and the table says so). Each peer is first
checked against ``fit_population``'s members (population_peers.PEER_RTOL; the C
kernel's row: C_RTOL, its float32 tolerance against JAX) and not
timed if it differs (the table's notes say so). Then ``--repeats`` rounds time every path in turn (the
first call, compile included, apart); reported as the median seconds per epoch
(``fit_population``'s: its ``epoch_seconds``, the compiled epoch; the call's
checks and set-up, paid once a sweep, apart), member-epochs per second and
``fit_population``'s speed over each path.

With ``--devices 1,2,4`` it also times the sharded case: the same populations with
the member axis split over the first D devices (``fit_population(mesh=...)``,
padded to a multiple of D), each first checked against the one-device run, then
reported as member-epochs per second and the speed-up over one device.
``--force-cpu-devices N`` makes the CPU show N devices (XLA_FLAGS, set before
JAX starts; on a 2-core CPU more than 2 only shows the overhead). ``--only-sharded``
skips the peers.

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

from common import RESULTS, save, torch_threads

# float32, η up to 3 (chaotic members amplify a step's one-ulp change, and the
# products' kernel depends on the members per device): the sharded run's parameters
# may differ from the one-device run's by this much, relative, after a few epochs.
SHARDED_RTOL = 1e-2


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--members", default="1,8,64,256")
    ap.add_argument("--examples", type=int, default=10_000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--precision", default="highest", choices=("highest", "high", "default"))
    ap.add_argument("--out", type=Path, default=RESULTS)
    ap.add_argument("--devices", default=None, metavar="LIST",
                    help="also time the members split over the first D devices, each D")
    ap.add_argument("--force-cpu-devices", type=int, default=None, metavar="N",
                    help="let the CPU show N devices (XLA_FLAGS)")
    ap.add_argument("--only-sharded", action="store_true",
                    help="skip the peers (needs --devices)")
    ap.add_argument("--torch-threads", type=int, default=None, metavar="N",
                    help="torch.set_num_threads(N) (default: torch's own; on a loaded machine "
                         "torch's spinning threads slow it 20x or more, and 1 does not)")
    args = ap.parse_args(argv)
    torch_threads(args.torch_threads)
    members = [int(v) for v in args.members.split(",")]
    if args.only_sharded and not args.devices:
        ap.error("--only-sharded needs --devices")
    if args.force_cpu_devices:   # before JAX starts
        os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " --xla_force_host_"
                                   f"platform_device_count={args.force_cpu_devices}").strip()

    from jaxnet import bench, data

    d = data.load_mnist(progress=False)
    x, labels = d.train.images[: args.examples], d.train.labels[: args.examples]
    rows, notes = [], []
    if not args.only_sharded:
        rows, notes = _peer_rows(args, members, x, labels)
    doc = dict(date=bench.now(), command="python benchmarks/population.py " + " ".join(sys.argv[1:]),
               machine=bench.machine(), examples=args.examples, repeats=args.repeats, rows=rows,
               notes=notes)
    lines = [f"# Populations against their peers, {doc['date'][:10]}", "",
             f"- command: `{doc['command']}`",
             f"- machine: {doc['machine']['processor']}, {doc['machine']['cores']} cores; "
             f"{doc['machine']['versions']}",
             f"- 784-30-10, mini-batch 10, float32, {args.examples:,} images per epoch, each "
             f"member its own η, seed and order; medians of {args.repeats} rounds (every path "
             f"in turn each round) after a checked, compiling first call; precision "
             f"{args.precision}"] + [f"- {n}" for n in notes]
    lines += _peer_table(rows) if rows else []
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


def _fit_population(m, model, seconds: list):
    """``run()`` for fit_population: one epoch of every member from the start (its
    compiled program cached after the first call); appends the epoch's own seconds
    (``epoch_seconds``: the call's checks and set-up apart, which a sweep pays once,
    not every epoch) to ``seconds``."""
    import numpy as np

    import jaxnet

    def run():
        res = jaxnet.fit_population(m.keys, m.pop, m.x, m.labels, epochs=1, eta=m.etas,
                                    batch_size=10, x_scale=m.scale, model=model)
        seconds.append(res.epoch_seconds[0])
        return [(np.asarray(layer.w), np.asarray(layer.b)) for layer in res.params]
    return run


def _peer_rows(args, members, x, labels):
    """One row per (P, path), every path checked, then timed in rounds; ``(rows,
    notes)``, the notes naming the absent peers and any that disagreed (not timed)."""
    from population_peers import checked_times, peers
    from population_peers import members as make_members

    import jaxnet
    available, notes = peers()
    model = jaxnet.Model.dense([784, 30, 10], precision=args.precision)
    rows = []
    for p in members:
        m = make_members(p, x, labels, model)
        fit_s = []
        runs = {"jaxnet.fit_population": _fit_population(m, model, fit_s)}
        t0 = time.perf_counter()
        ref = runs["jaxnet.fit_population"]()
        first = {"jaxnet.fit_population": (0.0, time.perf_counter() - t0)}
        for peer in available:
            runs[peer.name] = peer.make(m)
            diff, f, times = checked_times(runs[peer.name], ref, 0, peer.rtol)
            if times is None:
                notes.append(f"P={p}: {peer.name} differs from fit_population by {diff:.1e} "
                             f"> {peer.rtol:.0e}: not timed")
                print(notes[-1], file=sys.stderr)
                del runs[peer.name]
                continue
            first[peer.name] = (diff, f)
        times = {k: [] for k in runs}
        for _ in range(args.repeats):
            for k, run in runs.items():
                t0 = time.perf_counter()
                run()
                times[k].append(fit_s[-1] if k == "jaxnet.fit_population"
                                else time.perf_counter() - t0)
        base = statistics.median(times["jaxnet.fit_population"])
        for k, ts in times.items():
            t = statistics.median(ts)
            rows.append(dict(members=p, path=k, epoch_s=t, min_max=[min(ts), max(ts)],
                             member_epochs_per_s=p / t, vs_fit_population=t / base,
                             first_call_s=first[k][1], rel_diff=first[k][0]))
            print(f"P={p} {k}: {t:.3f} s/epoch, {p / t:.1f} member-epochs/s",
                  file=sys.stderr, flush=True)
    return rows, notes


def _peer_table(rows) -> list:
    lines = ["", "| members | path | s/epoch | min–max | member-epochs/s | fit_population's "
             "speed over it | first call s (compile) | max rel. diff vs fit_population |",
             "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in rows:
        lines.append(f"| {r['members']} | {r['path']} | {r['epoch_s']:.3f} "
                     f"| {r['min_max'][0]:.3f}–{r['min_max'][1]:.3f} "
                     f"| {r['member_epochs_per_s']:.1f} | {r['vs_fit_population']:.2f}× "
                     f"| {r['first_call_s']:.1f} | {r['rel_diff']:.1e} |")
    return lines


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
