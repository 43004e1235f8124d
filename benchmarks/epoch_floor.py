"""The chapter-1 epoch against XLA:CPU's per-kernel floor (issue 32, item 1), in one run.

    python benchmarks/epoch_floor.py --before /path/to/old/checkout [--rounds 3]

The book's 784-30-10 sigmoid net, quadratic cost, mini-batch 10, η 3, one epoch of
the 50,000 real MNIST training images (jaxnet.data.load_mnist()), float32. Every
alternative runs in a fresh process (XLA's thread count is fixed when JAX starts),
alternating in each round, timing ``--epochs`` epochs after a warm-up:

- ``train_epoch`` on uint8 pixels (x_scale 1/256) and on float32 pixels (the public
  call's input checks included), new code and ``--before``'s, each under XLA's default
  threads and under one (``PJRT_NPROC=1``); the kernels of its compiled loop body
  (jaxnet.bench.loop_body_kernels of an ``--xla_dump_to`` dump);
- ``fit``'s epochs as ``jaxnet train`` runs them (uint8 pixels, a shuffle a epoch, the
  threads jaxnet.cpu_threads_for advises): the command line's own epoch;
- the NumPy whole-mini-batch peer (benchmarks/peers/numpy_matrix.py), first checked
  against train_epoch's float32 trajectory from the same start and order.

The report gives medians over all rounds and each figure's share of the same run's
float32 matrix-product peak (jaxnet.bench.matmul_peak, the larger of JAX's and NumPy's),
and the CPU seconds an epoch used over all its threads (``time.process_time``): on a
loaded machine a one-thread process gets one thread's share of the cores, so its wall
time there says little, and the CPU time says what the threads cost.
Results go to benchmarks/results/DATE-epoch-floor.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from common import RESULTS, save

HERE = Path(__file__).resolve().parent

CHILD = r"""
import json, os, sys, time
import numpy as np
case, n = sys.argv[1], int(sys.argv[2])
import jax, jax.numpy as jnp
import jaxnet
if case == "fit":   # as `jaxnet train` does, before JAX starts
    jaxnet.set_cpu_threads(jaxnet.cpu_threads_for(jaxnet.Model.dense((784, 30, 10)), 10))
from jaxnet import data
d = data.load_mnist(progress=False)
p0 = jaxnet.init_params(jax.random.PRNGKey(0), [784, 30, 10], dtype=jnp.float32)
orders = [np.random.default_rng(i).permutation(50000).astype(np.int32) for i in range(n + 1)]
y = jax.device_put(d.train.y().astype(np.float32))
out = dict(file=jaxnet.__file__, pool=sum(
    open(f"/proc/self/task/{t}/comm").read().strip() == "tf_XLAEigen"
    for t in os.listdir("/proc/self/task")) if os.path.isdir("/proc/self/task") else None)
if case == "fit":
    res = jaxnet.fit(jax.random.PRNGKey(1), p0, d.train.images, d.train.labels, epochs=n + 1,
                     eta=3.0, batch_size=10, x_scale=data.PIXEL_SCALE, monitor=())
    out["times"] = [r.seconds for r in res.history[1:]]
elif case == "numpy":
    from peers import numpy_matrix
    x = d.train.images.astype(np.float32) * np.float32(data.PIXEL_SCALE)
    yn = d.train.y().astype(np.float32)
    w0 = [np.asarray(l.w) for l in p0]; b0 = [np.asarray(l.b) for l in p0]
    few = orders[0][:1000]   # 100 steps: float32 trajectories part slowly after that
    ref = jaxnet.train_epoch(p0, jax.device_put(x[few]), y[few], np.arange(1000, dtype=np.int32),
                             eta=3.0, batch_size=10)
    w, b = numpy_matrix.epoch([a.copy() for a in w0], [a.copy() for a in b0], x[few], yn[few],
                              np.arange(1000), 3.0, 10)
    out["check"] = max(float(np.abs(np.asarray(r.w) - a).max() / np.abs(np.asarray(r.w)).max())
                       for r, a in zip(ref, w))
    times, cpu = [], []
    for o in orders[1:]:
        t, c = time.perf_counter(), time.process_time()
        numpy_matrix.epoch(w, b, x, yn, o, 3.0, 10)
        times.append(time.perf_counter() - t); cpu.append(time.process_time() - c)
    out["times"], out["cpu"] = times, cpu
else:
    x = d.train.images if case == "u8" else d.train.images.astype(np.float32) / 256
    x = jax.device_put(x)
    scale = data.PIXEL_SCALE if case == "u8" else None
    def epoch(o):
        return jax.block_until_ready(jaxnet.train_epoch(p0, x, y, o, eta=3.0, batch_size=10,
                                                        x_scale=scale))
    epoch(orders[0])
    times, cpu = [], []
    for o in orders[1:]:
        t, c = time.perf_counter(), time.process_time()
        epoch(o)
        times.append(time.perf_counter() - t); cpu.append(time.process_time() - c)
    out["times"], out["cpu"] = times, cpu
print(json.dumps(out))
"""


def run_child(code: Path, case: str, epochs: int, threads, dump: bool) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("PJRT_NPROC", "NPROC", "XLA_FLAGS")}
    env["PYTHONPATH"] = os.pathsep.join([str(code), str(HERE)])
    if threads is not None:
        env["PJRT_NPROC"] = str(threads)
    with tempfile.TemporaryDirectory() as folder:
        if dump:
            env["XLA_FLAGS"] = f"--xla_dump_to={folder} --xla_dump_hlo_as_text"
        r = subprocess.run([sys.executable, "-c", CHILD, case, str(epochs)],
                           capture_output=True, text=True, env=env,
                           cwd=tempfile.gettempdir(), timeout=1200)
        if r.returncode:
            raise SystemExit(f"{code} {case}: {r.stderr[-2000:]}")
        out = json.loads(r.stdout.strip().splitlines()[-1])
        if dump:   # the compiled epoch's loop body, as XLA dumped it after optimisation
            from jaxnet.bench import loop_body_kernels
            out["kernels"] = [loop_body_kernels(f.read_text()) for f in sorted(
                Path(folder).glob("*jit_epoch*after_optimizations.txt"))]
    if not out["file"].startswith(str(code)):
        raise SystemExit(f"{code}: imported {out['file']} instead")
    return out


def alternatives(args):
    """``(label, code folder, case, threads)`` for every alternative timed."""
    new, old = args.after.resolve(), args.before.resolve() if args.before else None
    rows = []
    for side, code in (("new", new), ("before", old)):
        if code is None:
            continue
        for case, what in (("u8", "uint8 pixels"), ("f32", "float32 pixels")):
            for threads in (None, 1):
                rows.append((f"train_epoch, {what}, {side}, "
                             f"{'1 thread' if threads else 'default threads'}",
                             code, case, threads))
    rows.append(("fit's epoch as `jaxnet train` runs it (new, jaxnet.cpu_threads_for's threads)",
                 new, "fit", None))
    rows.append(("NumPy whole-mini-batch (peers/numpy_matrix.py)", new, "numpy", None))
    return rows


def measure(args):
    rows = alternatives(args)
    results = {label: dict(times=[], cpu=[], kernels=None, pool=None, check=None)
               for label, *_ in rows}
    for r in range(args.rounds):
        for label, code, case, threads in (rows if r % 2 == 0 else rows[::-1]):
            out = run_child(code, case, args.epochs, threads, dump=(r == 0 and case != "fit"
                                                                    and case != "numpy"))
            res = results[label]
            res["times"] += out["times"]
            res["cpu"] += out.get("cpu", [])
            res["pool"] = out["pool"]
            res["kernels"] = out.get("kernels") or res["kernels"]
            res["check"] = out.get("check", res["check"])
            print(f"round {r}: {label}: {statistics.median(out['times']):.4f} s/epoch",
                  flush=True)
    return results


def report(doc) -> str:
    m, peak = doc["machine"], doc["peak_gflops"]
    flop = doc["flop_per_epoch"]
    lines = [f"# The chapter-1 epoch and the per-kernel floor, {doc['date'][:10]}", "",
             f"- command: `{doc['command']}`",
             f"- machine: {m['processor']}, {m['cores']} cores; {m['versions']}",
             f"- new {doc['after']}, before {doc['before']}; {doc['rounds']} rounds of fresh "
             f"processes, alternating, {doc['epochs']} epochs each after a warm-up",
             f"- the same run's float32 matrix-product peak: {peak:.0f} GFLOP/s "
             f"({doc['peaks']})", f"- {doc['load']}", "",
             "| alternative | median s/epoch | min–max | share of peak | CPU s/epoch (all "
             "threads) | XLA pool threads | loop-body kernels |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    for label, r in doc["results"].items():
        med = statistics.median(r["times"])
        kern = "; ".join(f"{sum(k.values())} ({', '.join(f'{n} {v}' for v, n in k.items())})"
                         for k in r["kernels"]) if r["kernels"] else ""
        check = f" (checked: {r['check']:.1e} from train_epoch)" if r["check"] is not None else ""
        lines.append(f"| {label}{check} | {med:.4f} | {min(r['times']):.4f}–"
                     f"{max(r['times']):.4f} | {100 * flop / med / 1e9 / peak:.1f} % | "
                     f"{statistics.median(r['cpu']) if r['cpu'] else float('nan'):.4f} | "
                     f"{r['pool'] if r['pool'] is not None else ''} | {kern} |")
    return "\n".join(lines) + "\n"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--before", type=Path, default=None,
                    help="a checkout of the old commit, for the old step (optional)")
    ap.add_argument("--after", type=Path, default=HERE.parent)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args(argv)
    from jaxnet import bench
    results = measure(args)
    peaks = bench.matmul_peak()
    commit = lambda p: p and subprocess.run(  # noqa: E731
        ["git", "-C", str(p), "rev-parse", "--short", "HEAD"], capture_output=True,
        text=True).stdout.strip()
    doc = dict(date=bench.now(), command="python benchmarks/epoch_floor.py " + " ".join(
        sys.argv[1:] if argv is None else argv), machine=bench.machine(), rounds=args.rounds,
        epochs=args.epochs, after=commit(args.after),
        before=(commit(args.before) or str(args.before)) if args.before else None,
        peaks={k: round(v, 1) for k, v in peaks.items() if v},
        peak_gflops=max(v for v in peaks.values() if v), load="load average "
        + " ".join(f"{v:.1f}" for v in os.getloadavg()) + " at the end",
        flop_per_epoch=bench.flops_per_example((784, 30, 10)) * 50000, results=results)
    md = report(doc)
    print(md)
    return save(args.out / f"{doc['date'][:10]}-epoch-floor", doc, md,
                prog="benchmarks/epoch_floor.py")


if __name__ == "__main__":
    raise SystemExit(main())
