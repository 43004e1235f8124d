"""Every implementation side by side, checked then timed, in one run.

    python benchmarks/run.py [--repeats 5] [--skip scaling,memory,cold] [--out benchmarks/results]

Sections, all on full MNIST (the book's 50,000 training images) with the
book's model (sigmoid, quadratic cost, η = 3.0):

1. **epoch** — 784-30-10, mini-batch 10: jaxnet's ``train_epoch`` (manual
   deltas and jax.grad, float32), the C kernel's fast path (float32, float64,
   uint8 pixels) and its readable reference (float32), and the
   peers: whole-mini-batch NumPy (float32, ``peers/``), network.py as the
   book runs it (per-example, float64, ``book/``), PyTorch on the CPU (float32; absent
   without torch, and the table says so). Each one's float64 gradient is
   checked against ``jaxnet.autodiff_grad`` first and a path that disagrees
   is not timed. Median of ``--repeats`` epochs after a warm-up (network.py:
   ``--book-repeats``), compile time apart, GFLOP/s from
   ``jaxnet.bench.flops_per_example`` against the float32 matmul peak measured
   in the same run.
2. **scaling** — mini-batch 10/100/1000 × hidden 30/100/1000 × threads 1/2
   for the JAX, C, NumPy and PyTorch paths, each in a subprocess pinned to that
   many cores (``sched_setaffinity``; OpenBLAS/OpenMP/torch threads set to
   match), timed on the first ``--scaling-examples`` of the shuffled set and
   reported as samples/s and s per 50,000-example epoch.
3. **memory** — peak resident set (``wait4``'s ru_maxrss) of a subprocess that
   loads full MNIST and trains one epoch, per implementation.
4. **cold** — wall time and peak memory of the whole book experiment
   (``jaxnet train``, 30 epochs, data cached) without and with JAX's
   persistent compile cache, beside the network.py-style peer doing the same.

Writes ``results/DATE-bench-BACKEND.{json,md,png}`` (the PNG needs matplotlib,
the ``plot`` extra; without it the run says so and writes the rest).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import RESULTS, save

HERE = Path(__file__).resolve().parent
PROG = "benchmarks/run.py"
BATCHES = (10, 100, 1000)
HIDDEN = (30, 100, 1000)
SCALING_PATHS = ("jax", "c32", "numpy", "torch")


def _pin(threads: int):
    """Before numpy/jax/torch load: run on ``threads`` cores with matching pool sizes."""
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, set(sorted(os.sched_getaffinity(0))[:threads]))


def _thread_env(threads: int) -> dict:
    env = dict(os.environ)
    for k in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        env[k] = str(threads)
    return env


# --- implementations ------------------------------------------------------------------

def implementations(names=None, threads=1):
    """{short name: Implementation} for every path available here (the C fast path on
    ``threads`` threads), and notes on absent ones."""
    import numpy as np
    from book import network
    from peers import numpy_matrix

    from jaxnet import Layer, bench

    jimpls, notes = bench.jaxnet_implementations(threads=(threads,))
    out = dict(zip(("jax", "jax-grad", "c32", "c64", "c-ref")[:len(jimpls)], jimpls))

    def lists(p, dtype):
        return [np.asarray(l.w, dtype) for l in p], [np.asarray(l.b, dtype) for l in p]

    def as_layers(gw, gb):
        return tuple(Layer(w, b) for w, b in zip(gw, gb))

    def numpy_prepare(params, task):
        w, b = lists(params, np.float32)
        x, y = task.inputs(np.float32), task.targets(np.float32)
        return (lambda: numpy_matrix.epoch(w, b, x, y, task.order, task.eta, task.batch_size)), None

    out["numpy"] = bench.Implementation(
        "NumPy whole-mini-batch (peer)", "float32",
        lambda p, x, y: as_layers(*numpy_matrix.gradient(*lists(p, np.float64), x, y)),
        numpy_prepare)

    def book_gradient(p, x, y):
        gb, gw = network.mean_gradient(*lists(p, np.float64), x, y)
        return as_layers(gw, [b.ravel() for b in gb])

    def book_prepare(params, task):
        net = network.Network(*lists(params, np.float64))
        data = network.book_format(task.inputs(np.float64), task.targets(np.float64))
        return (lambda: net.epoch(data, task.order, task.eta, task.batch_size)), None

    out["book"] = bench.Implementation("network.py per-example (peer)", "float64",
                                       book_gradient, book_prepare)
    try:
        import torch
        from peers import torch_cpu
    except ImportError as e:
        notes.append(f"PyTorch absent ({e}); install the bench extra (pip install '.[bench]') "
                     "for its rows")
    else:
        def torch_prepare(params, task):
            net = torch_cpu.model(*lists(params, np.float32))
            x = torch.from_numpy(task.inputs(np.float32))
            y = torch.from_numpy(task.targets(np.float32))
            order = torch.from_numpy(task.order.astype(np.int64))
            return (lambda: torch_cpu.epoch(net, x, y, order, task.eta, task.batch_size)), None

        out["torch"] = bench.Implementation(
            f"PyTorch {torch.__version__} CPU (peer)", "float32",
            lambda p, x, y: as_layers(*torch_cpu.gradient(*lists(p, np.float64), x, y)),
            torch_prepare)
    if names is not None:
        out = {k: v for k, v in out.items() if k in names}
    return out, notes


def _task(sizes, batch_size, n=None):
    import numpy as np

    from jaxnet import bench, data
    d = data.load_mnist(progress=False)
    order = np.random.default_rng(0).permutation(len(d.train.labels)).astype(np.int32)
    images, labels = d.train.images, d.train.labels
    if n is not None:  # the first n of the shuffled set, in a fresh order over them
        images, labels = images[order[:n]], labels[order[:n]]
        order = np.random.default_rng(1).permutation(n).astype(np.int32)
    return bench.Task(images, labels, order, tuple(sizes), 3.0, batch_size, data.PIXEL_SCALE)


def _params(sizes):
    import jax

    from jaxnet import init_params
    return init_params(jax.random.PRNGKey(0), list(sizes))


# --- sections -------------------------------------------------------------------------

def section_epoch(args, peak):
    from jaxnet import bench
    impls, notes = implementations()
    task = _task((784, 30, 10), 10)
    params = _params(task.sizes)
    rows = []
    for key, impl in impls.items():
        reps = args.book_repeats if key == "book" else args.repeats
        print(f"  epoch: {impl.name} ...", file=sys.stderr, flush=True)
        rows += bench.run_table([impl], task, params, repeats=reps, peak=peak)
    return dict(rows=rows, notes=notes)


def worker_scaling(args):
    """Subprocess: every scaling configuration at ``args.worker_scaling`` threads; JSON on stdout."""
    threads = args.worker_scaling
    _pin(threads)
    import jax
    jax.config.update("jax_enable_x64", True)
    try:
        import torch
        torch.set_num_threads(threads)
    except ImportError:
        pass
    from jaxnet import bench
    impls, notes = implementations(SCALING_PATHS, threads=threads)
    rows = []
    for hidden in HIDDEN:
        params = _params((784, hidden, 10))
        for batch in BATCHES:
            task = _task((784, hidden, 10), batch, args.scaling_examples)
            for key, impl in impls.items():
                print(f"  scaling: {threads} thread(s), hidden {hidden}, batch {batch}, "
                      f"{impl.name} ...", file=sys.stderr, flush=True)
                for r in bench.run_table([impl], task, params, repeats=args.scaling_repeats):
                    r.update(threads=threads, hidden=hidden, path=key)
                    if r.get("samples_per_s"):
                        r["s_per_50k_epoch"] = 50_000 / r["samples_per_s"]
                    rows.append(r)
    json.dump(dict(rows=rows, notes=notes), sys.stdout)


def worker_memory(args):
    """Subprocess: load full MNIST, train one epoch with one implementation."""
    import jax
    jax.config.update("jax_enable_x64", True)
    impls, _ = implementations([args.worker_memory])
    task = _task((784, 30, 10), 10)
    params = _params(task.sizes)
    if args.worker_memory == "baseline":
        return
    impl = impls[args.worker_memory]
    if impl.dtype == "float64":
        params = jax.tree.map(lambda a: a.astype("float64"), params)
    run, _ = impl.prepare(params, task)
    run()


_MAXRSS = ("import os, sys, json, time; t = time.perf_counter(); pid = os.fork()\n"
           "if pid == 0:\n    os.execvp(sys.argv[1], sys.argv[1:])\n"
           "_, status, ru = os.wait4(pid, 0); wall = time.perf_counter() - t\n"
           "print(json.dumps(dict(rc=os.waitstatus_to_exitcode(status), wall=wall, "
           "maxrss_mib=ru.ru_maxrss / 1024)), file=sys.stderr)\n"
           "sys.exit(os.waitstatus_to_exitcode(status))")


def measured(cmd, env=None) -> dict:
    """Run ``cmd``; its wall time and peak RSS (wait4 ru_maxrss of that process alone)."""
    p = subprocess.run([sys.executable, "-c", _MAXRSS, *map(str, cmd)], capture_output=True,
                       text=True, env=env, cwd=tempfile.gettempdir())
    stats = json.loads(p.stderr.strip().splitlines()[-1])
    if p.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, cmd))} failed ({p.returncode}):\n"
                           f"{p.stderr[-2000:]}")
    stats["stdout_tail"] = p.stdout.strip().splitlines()[-2:]
    return stats


def section_memory(args):
    impls, _ = implementations()
    rows = []
    baseline = ("baseline: Python, NumPy, JAX (and torch) imported, MNIST loaded, no training",
                "")
    for key, (name, dtype) in [("baseline", baseline)] + [
            (k, (i.name, i.dtype)) for k, i in impls.items() if k != "book"]:
        # network.py's peak is the cold-start run's (it trains without this harness's imports)
        print(f"  memory: {name} ...", file=sys.stderr, flush=True)
        s = measured([sys.executable, HERE / "run.py", "--worker-memory", key])
        rows.append(dict(name=name, dtype=dtype, maxrss_mib=s["maxrss_mib"]))
    return rows


def section_cold(args):
    from jaxnet import data
    cache = data.cache_dir() / data.MNIST_CACHE_NAME
    rows = []
    with tempfile.TemporaryDirectory() as xla:
        for label, flag in (("jaxnet train, no persistent compile cache", "none"),
                            ("jaxnet train, empty persistent compile cache (first run)", xla),
                            ("jaxnet train, warm persistent compile cache (second run)", xla)):
            print(f"  cold: {label} ...", file=sys.stderr, flush=True)
            s = measured([sys.executable, "-m", "jaxnet", "train", "--progress", "never",
                          "--compile-cache", flag])
            rows.append(dict(name=label, epochs=30, wall_s=s["wall"], maxrss_mib=s["maxrss_mib"],
                             output=s["stdout_tail"]))
    print("  cold: jaxnet train --impl c ...", file=sys.stderr, flush=True)
    s = measured([sys.executable, "-m", "jaxnet", "train", "--progress", "never",
                  "--compile-cache", "none", "--impl", "c"])
    rows.append(dict(name="jaxnet train --impl c (the C kernel's fast path)", epochs=30,
                     wall_s=s["wall"], maxrss_mib=s["maxrss_mib"], output=s["stdout_tail"]))
    print("  cold: network.py peer ...", file=sys.stderr, flush=True)
    s = measured([sys.executable, HERE / "book" / "network.py", cache,
                  "--epochs", args.book_cold_epochs])
    rows.append(dict(name="network.py-style peer (NumPy, per-example)", epochs=args.book_cold_epochs,
                     wall_s=s["wall"], maxrss_mib=s["maxrss_mib"], output=s["stdout_tail"]))
    return rows


def section_scaling(args):
    rows, notes = [], []
    ncores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    for threads in sorted({1, min(2, ncores)}):
        p = subprocess.run([sys.executable, HERE / "run.py", "--worker-scaling", str(threads),
                            "--scaling-examples", str(args.scaling_examples),
                            "--scaling-repeats", str(args.scaling_repeats)],
                           stdout=subprocess.PIPE, env=_thread_env(threads), text=True)
        if p.returncode != 0:
            raise RuntimeError(f"scaling worker ({threads} threads) failed")
        out = json.loads(p.stdout)
        rows += out["rows"]
        notes += [n for n in out["notes"] if n not in notes]
    return dict(rows=rows, notes=notes)


# --- report ---------------------------------------------------------------------------

def markdown(doc) -> str:
    from jaxnet import bench
    m = doc["machine"]
    lines = [f"# jaxnet benchmarks, {doc['date'][:10]}", "",
             f"- command: `{doc['command']}`",
             f"- machine: {m['processor']}, {m['cores']} cores ({m['usable_cores']} usable), "
             f"{m['platform']}, backend {m['backend']}",
             f"- versions: {m['versions']}; environment: {m['env']}",
             "- float32 matmul peak, 2048³, this run: " + ", ".join(
                 f"{k} {v:.0f} GFLOP/s" for k, v in doc["matmul_peak_gflops"].items() if v)
             + "; % peak is of the best of these",
             "- GFLOP/s counts matrix products only, 2 FLOP per multiply-add: "
             "2·(2·Σ_l n_l·n_(l+1) + Σ_(l≥1) n_l·n_(l+1)) per example (forward, BP4, BP2) "
             "= 95,880 for 784-30-10"]
    for n in doc.get("notes", []):
        lines.append(f"- note: {n}")
    if "epoch" in doc:
        lines += ["", "## One epoch: 784-30-10, mini-batch 10, η = 3.0, 50,000 images", "",
                  f"Median of {doc['args']['repeats']} epochs after a warm-up "
                  f"(network.py: {doc['args']['book_repeats']}), all cores.", "",
                  bench.table(doc["epoch"]["rows"])]
        lines += ratios(doc)
    if "scaling" in doc:
        lines += ["", f"## Scaling: samples/s (s per 50,000-example epoch), first "
                      f"{doc['args']['scaling_examples']:,} shuffled images, median of "
                      f"{doc['args']['scaling_repeats']} after a warm-up", ""]
        lines += scaling_table(doc["scaling"]["rows"])
    if "memory" in doc:
        lines += ["", "## Peak resident memory (load full MNIST, train one epoch)", "",
                  "Each in a fresh process; the baseline row is what the harness's imports and "
                  "the data cost before any training (network.py's peak is in the cold-start "
                  "table: it runs without the harness).", "",
                  "| implementation | dtype | peak RSS MiB |", "| --- | --- | --- |"]
        lines += [f"| {r['name']} | {r['dtype']} | {r['maxrss_mib']:.0f} |" for r in doc["memory"]]
    if "cold" in doc:
        lines += ["", "## Cold start: the whole book experiment (data cached), wall clock", "",
                  "| run | epochs | wall s | peak RSS MiB | last line |", "| --- | --- | --- | --- | --- |"]
        lines += [f"| {r['name']} | {r['epochs']} | {r['wall_s']:.1f} | {r['maxrss_mib']:.0f} "
                  f"| {r['output'][-1] if r['output'] else ''} |" for r in doc["cold"]]
    return "\n".join(lines) + "\n"


def ratios(doc):
    rows = {r["name"]: r for r in doc["epoch"]["rows"] if r.get("median_s")}
    ours = [r for n, r in rows.items() if n.startswith(("jaxnet", "C kernel")) and r["dtype"] == "float32"]
    if not ours:
        return []
    best = min(ours, key=lambda r: r["median_s"])
    out = ["", f"Fastest jaxnet float32 path: {best['name']}, {best['median_s']:.3f} s/epoch.", ""]
    for peer in ("network.py", "NumPy", "PyTorch"):
        r = next((r for n, r in rows.items() if n.startswith(peer)), None)
        if r:
            out.append(f"- {r['name']}: {r['median_s']:.3f} s → jaxnet is "
                       f"{r['median_s'] / best['median_s']:.1f}× faster")
    return out


def scaling_table(rows):
    names = list(dict.fromkeys(r["name"] for r in rows))
    threads = sorted({r["threads"] for r in rows})
    out = ["| hidden | batch | " + " | ".join(f"{n}, {t} thr" for n in names for t in threads) + " |",
           "| --- | --- | " + " | ".join("---" for _ in names for _ in threads) + " |"]
    for h in HIDDEN:
        for b in BATCHES:
            cells = []
            for n in names:
                for t in threads:
                    r = next((r for r in rows if r["name"] == n and r["threads"] == t
                              and r["hidden"] == h and r["batch_size"] == b), None)
                    if r is None:
                        cells.append("")
                    elif r.get("refused"):
                        cells.append("not timed: gradient")
                    else:
                        cells.append(f"{r['samples_per_s']:,.0f} ({r['s_per_50k_epoch']:.2f} s, "
                                     f"{r['gflops']:.0f} GF/s)")
            out.append(f"| {h} | {b} | " + " | ".join(cells) + " |")
    return out


def plot(doc) -> bytes | str:
    """Seconds per epoch by implementation and batch size (log-log), one panel per hidden
    width: the PNG's bytes, or why there is none."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return "matplotlib absent (pip install '.[plot]'); no PNG written"
    rows = doc["scaling"]["rows"]
    tmax = max(r["threads"] for r in rows)
    fig, axes = plt.subplots(1, len(HIDDEN), figsize=(4.2 * len(HIDDEN), 3.8), sharey=True)
    for ax, h in zip(axes, HIDDEN):
        for name in dict.fromkeys(r["name"] for r in rows):
            pts = sorted((r["batch_size"], r["s_per_50k_epoch"]) for r in rows
                         if r["name"] == name and r["hidden"] == h and r["threads"] == tmax
                         and r.get("s_per_50k_epoch"))
            if pts:
                ax.plot(*zip(*pts), marker="o", label=name)
        if h == 30 and "epoch" in doc:
            book = next((r for r in doc["epoch"]["rows"] if r["name"].startswith("network.py")
                         and r.get("median_s")), None)
            if book:
                ax.plot([10], [book["median_s"]], marker="s", color="k", ls="",
                        label="network.py per-example (peer)")
        ax.set(xscale="log", yscale="log", xlabel="mini-batch size",
               title=f"784-{h}-10, {tmax} thread(s)")
        ax.grid(True, which="both", alpha=0.3)
    axes[0].set_ylabel("seconds per 50,000-example epoch")
    axes[-1].legend(fontsize=7)
    fig.suptitle(f"jaxnet benchmarks {doc['date'][:10]}, {doc['machine']['processor']}", fontsize=9)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    return buf.getvalue()


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeats", type=int, default=5, help="timed epochs per path (≥ 3)")
    ap.add_argument("--book-repeats", type=int, default=3, help="timed network.py epochs (≥ 3)")
    ap.add_argument("--book-cold-epochs", type=int, default=30)
    ap.add_argument("--scaling-examples", type=int, default=10_000)
    ap.add_argument("--scaling-repeats", type=int, default=3)
    ap.add_argument("--skip", default="", help="comma-separated: epoch,scaling,memory,cold")
    ap.add_argument("--out", type=Path, default=RESULTS)
    ap.add_argument("--worker-scaling", type=int, default=None, help=argparse.SUPPRESS)
    ap.add_argument("--worker-memory", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker_scaling:
        return worker_scaling(args)
    if args.worker_memory:
        return worker_memory(args)
    if min(args.repeats, args.book_repeats, args.scaling_repeats) < 3:
        ap.error("medians need at least 3 timed epochs")
    skip = set(filter(None, args.skip.split(",")))

    import jax
    jax.config.update("jax_enable_x64", True)
    from jaxnet import bench, data
    data.load_mnist(progress=False)  # fetch and verify once, before anything is timed
    doc = dict(date=bench.now(), command="python benchmarks/run.py " + " ".join(sys.argv[1:]),
               machine=bench.machine(), args=vars(args) | dict(out=str(args.out)), notes=[])
    try:
        import torch
        doc["machine"]["versions"]["torch"] = torch.__version__
    except ImportError:
        pass
    print("measuring the matmul peak ...", file=sys.stderr, flush=True)
    doc["matmul_peak_gflops"] = bench.matmul_peak()
    stem = args.out / f"{doc['date'][:10]}-bench-{doc['machine']['backend']}"
    t0 = time.perf_counter()
    for name, fn in (("epoch", section_epoch), ("scaling", section_scaling),
                     ("memory", section_memory), ("cold", section_cold)):
        if name in skip:
            continue
        print(f"{name} ...", file=sys.stderr, flush=True)
        doc[name] = fn(args, doc["matmul_peak_gflops"]) if name == "epoch" else fn(args)
        if isinstance(doc[name], dict):
            doc["notes"] += [n for n in doc[name].get("notes", []) if n not in doc["notes"]]
        # after every section: a failure later keeps what was measured
        if save(stem, doc, markdown(doc), prog=PROG):
            return 1
    doc["harness_seconds"] = time.perf_counter() - t0
    png = plot(doc) if "scaling" in doc else None
    if isinstance(png, str):
        doc["notes"].append(png)
    md = markdown(doc)
    print(md)
    return save(stem, doc, md, prog=PROG, png=png if isinstance(png, bytes) else None)


if __name__ == "__main__":
    sys.exit(main())
