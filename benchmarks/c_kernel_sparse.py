"""The Dense chains' C fast path: its dense and sparse first layer on 1 and 2
threads, and the sparse one over the training set packed once (as
``fit(impl="c")`` runs it, the packing timed apart), beside the whole-mini-batch
NumPy peer, in one run, with the machine's same-run sgemm peak.

    python benchmarks/c_kernel_sparse.py [--rounds 7] [--out benchmarks/results]

The book's net (784-30-10, sigmoid, quadratic cost, η = 3, float32) over the
50,000 MNIST training images in one shuffled order, uint8 pixels scaled in C
(``x_scale = 1/256``): mini-batch 10 (the book's) and 100. Each round runs
every path once, in turn (so a busy moment of the machine hits all of them
alike); the table gives the medians over the rounds after one warm-up round,
the process's CPU seconds beside them (less shaken by a loaded machine), each
path's share of the float32 matrix-product peak measured in the same run
(the best of ``jaxnet.bench.matmul_peak``'s JAX and NumPy figures; the FLOPs
are the dense products', ``jaxnet.bench.flops_per_example``, though the sparse
layer skips zero pixels), and NumPy's time over each C path's. The NumPy peer
(benchmarks/peers/numpy_matrix.py) runs in this process on float32 rows.

Before timing, each C path's epoch is checked against the dense one-thread
epoch: the same numbers exactly (tests/test_cref_fast.py checks it too).
Writes ``results/DATE-c-kernel-sparse.{md,json}``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np
from common import RESULTS, save
from peers import numpy_matrix

SIZES = (784, 30, 10)
ETA = 3.0
#: (label, kernel, threads): the C paths, each timed at every mini-batch size.
C_PATHS = (("C dense, 1 thread", "fast-dense", 1), ("C dense, 2 threads", "fast-dense", 2),
           ("C sparse, 1 thread", "fast", 1), ("C sparse, 2 threads", "fast", 2))
#: (label, threads): the sparse fast path over the training set packed once (a
#: jaxnet.cref.Epoch with pack_once, as fit(impl="c") builds it), its packing timed apart.
PACKED = (("C sparse, packed once, 1 thread", 1), ("C sparse, packed once, 2 threads", 2))
NUMPY = "NumPy whole-mini-batch"


def paths(params, x8, x, y, order, batch, packing):
    """{label: a function running one epoch at mini-batch ``batch``}; the seconds each
    packed path's packing took go into ``packing``."""
    import jaxnet
    from jaxnet import cref, data
    run = {label: (lambda k=kernel, t=threads: cref.train_epoch(
        params, x8, y, order, eta=ETA, batch_size=batch, x_scale=data.PIXEL_SCALE, kernel=k,
        threads=t)) for label, kernel, threads in C_PATHS}
    for label, threads in PACKED:
        t0 = time.perf_counter()
        e = cref.Epoch(jaxnet.sgd(ETA), params, None, x8, y, batch_size=batch,
                       x_scale=data.PIXEL_SCALE, threads=threads, pack_once=True)
        packing[label] = time.perf_counter() - t0
        run[label] = lambda e=e: e(e.params, e.state, order)[0]
    w = [np.asarray(layer.w) for layer in params]
    b = [np.asarray(layer.b) for layer in params]
    run[NUMPY] = lambda: numpy_matrix.epoch(w, b, x, y, order, ETA, batch)
    return run


def check(run):
    """Each C path's epoch equals the dense one-thread epoch exactly."""
    import jax
    base = jax.tree.leaves(run[C_PATHS[0][0]]())
    for label in [p[0] for p in C_PATHS[1:]] + [p[0] for p in PACKED]:
        same = all(np.array_equal(a, b) for a, b in zip(jax.tree.leaves(run[label]()), base))
        if not same:
            raise SystemExit(f"c_kernel_sparse.py: {label} differs from {C_PATHS[0][0]}")


def rounds(run, n_rounds):
    """{label: (wall seconds of each round, process CPU seconds of each round)},
    every path once per round in turn; the first round is a warm-up and is
    dropped. The CPU seconds (all threads) are less shaken by a loaded machine
    than the wall-clock ones for one thread; for two they add the spinning."""
    times = {label: ([], []) for label in run}
    for _ in range(n_rounds + 1):
        for label, f in run.items():
            t0, c0 = time.perf_counter(), time.process_time()
            f()
            times[label][0].append(time.perf_counter() - t0)
            times[label][1].append(time.process_time() - c0)
    return {label: (ts[1:], cs[1:]) for label, (ts, cs) in times.items()}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--batches", type=int, nargs="+", default=[10, 100])
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args(argv)

    import jax

    import jaxnet
    from jaxnet import bench, cref, data

    d = data.load_mnist(progress=False)
    x8, y = d.train.images, d.train.y().astype(np.float32)
    x = d.train.x.astype(np.float32)
    order = np.random.default_rng(0).permutation(len(x8)).astype(np.int64)
    params = jaxnet.init_params(jax.random.PRNGKey(0), list(SIZES))
    peak = bench.matmul_peak()
    best = max(v for v in peak.values() if v)
    flop = bench.flops_per_example(SIZES) * len(x8)
    rows = []
    for batch in args.batches:
        packing = {}
        run = paths(params, x8, x, y, order, batch, packing)
        check(run)
        for label, (ts, cs) in rounds(run, args.rounds).items():
            s = statistics.median(ts)
            rows.append(dict(batch=batch, name=label, median_s=s, times=ts,
                             packing_s=packing.get(label),
                             cpu_median_s=statistics.median(cs), cpu_times=cs,
                             peak_share=flop / s / 1e9 / best))
            print(f"mini-batch {batch}: {label}: {s:.4f} s", file=sys.stderr, flush=True)
    doc = dict(date=bench.now(), command="python benchmarks/c_kernel_sparse.py " + " ".join(
        sys.argv[1:] if argv is None else argv), machine=bench.machine(),
        parallel=cref.parallel(), peak_gflops=peak, rows=rows)
    md = markdown(doc)
    print(md)
    return save(args.out / f"{doc['date'][:10]}-c-kernel-sparse", doc, md,
                prog="benchmarks/c_kernel_sparse.py")


def markdown(doc) -> str:
    m, best = doc["machine"], max(v for v in doc["peak_gflops"].values() if v)
    peaks = ", ".join(f"{k} {v:.0f}" for k, v in doc["peak_gflops"].items() if v)
    lines = [f"# The C fast path's dense and sparse first layer, 1 and 2 threads, "
             f"{doc['date'][:10]}", "",
             f"- command: `{doc['command']}`",
             f"- machine: {m['processor']}, {m['cores']} cores; {m['platform']}; "
             f"{m['versions']}; OpenMP in the extension: {doc['parallel']}",
             f"- float32 matrix-product peak, same run (GFLOP/s): {peaks}; the share "
             f"below is of the best, {best:.0f}",
             "- 784-30-10, η = 3, float32, the 50,000 MNIST training images, uint8 "
             "pixels for C; medians of the rounds (every path once per round, in turn, "
             "after a warm-up round); each C path checked first to give the dense "
             "one-thread epoch's numbers exactly; \"packed once\": the training set's "
             "rows packed for the sparse first layer before the epochs (`cref.Epoch("
             "pack_once=True)`, as `fit(impl=\"c\")` does), that packing's seconds in "
             "the last column, not in the epoch's", ""]
    for batch in sorted({r["batch"] for r in doc["rows"]}):
        rs = [r for r in doc["rows"] if r["batch"] == batch]
        numpy_s = next(r["median_s"] for r in rs if r["name"] == NUMPY)
        lines += [f"## mini-batch {batch}", "",
                  "| path | s / epoch | CPU s / epoch (all threads) | share of the peak "
                  "| NumPy / this | packing once, s |",
                  "| --- | --- | --- | --- | --- | --- |"]
        lines += [f"| {r['name']} | {r['median_s']:.4f} | {r.get('cpu_median_s', float('nan')):.4f} "
                  f"| {100 * r['peak_share']:.1f} % | {numpy_s / r['median_s']:.1f} "
                  f"| {'' if r.get('packing_s') is None else format(r['packing_s'], '.3f')} |"
                  for r in rs]
        lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
