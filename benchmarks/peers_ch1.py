"""Chapter 1's network against the peers a user would pick instead, each checked
against ``jaxnet.train_epoch``'s trajectory before it is timed, in one run.

    python benchmarks/peers_ch1.py [--repeats 3] [--book-repeats 1] [--skip book]
                                   [--examples 50000] [--out benchmarks/results]

784-30-10, sigmoid, quadratic cost, mini-batch 10, η = 3, one epoch of the book's
50,000 training images (jaxnet.data.load_mnist()), one shuffled order, one start
(``init_params(PRNGKey(0))``) for every path:

- ``jaxnet.train_epoch`` (the public call, uint8 pixels with ``x_scale``, as
  ``jaxnet train`` runs it): the reference trajectory;
- whole-mini-batch NumPy (``peers/numpy_matrix.py``, float32);
- network.py as the book runs it (``book/network.py``, per example, float64);
- PyTorch eager (``peers/torch_cpu.py``, float32);
- Equinox + optax, a ``jit``'d ``lax.scan`` epoch (``peers/equinox_optax.py``);
- PyTorch ``torch.compile`` in each of ``peers/torch_compiled.FORMS`` (the step
  compiled in modes default, reduce-overhead and max-autotune-no-cudagraphs, and
  10 steps a graph), its compile time reported apart.

Each path is first checked: an epoch of the first CHECK_EXAMPLES images (its own
order, the same start) whose parameters must equal train_epoch's to TRAJ_RTOL
(float32) or BOOK_RTOL (network.py's float64); one that differs is not timed.
Then ``--repeats`` rounds time every path in turn (network.py in the first
``--book-repeats`` rounds only): median seconds per epoch, GFLOP/s
(``jaxnet.bench.flops_per_example``) and its share of the float32 matrix-product
peak measured in the same run (``jaxnet.bench.matmul_peak``, the higher of JAX's and
NumPy's 2048³ products). Absent packages are named and skipped.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np
from common import RESULTS, save, torch_threads

#: Examples of the checked epoch: the first CHECK_EXAMPLES images, in their own shuffled
#: order (500 steps), so the check measures the paths' agreement rather than how far a
#: 5,000-step run at η = 3 amplifies float32 rounding.
CHECK_EXAMPLES = 5_000
# float32 against float32: every path sums its products in its own order (one
# rounding, ~6e-8 relative, a product); 500 steps at η = 3 amplify that to 2.4e-6
# (NumPy), 4.4e-6 (torch eager), Equinox bit for bit (measured, loaded 2-core EPYC);
# a wrong order, η or mini-batch is ≥ 1e-2.
TRAJ_RTOL = 1e-4
# network.py computes in float64: train_epoch's float32 rounding is the difference,
# 2.6e-6 over the same 500 steps; still far below a wrong step's ≥ 1e-2.
BOOK_RTOL = 1e-3
SIZES = (784, 30, 10)
ETA, BATCH = 3.0, 10


class Task:
    """The shared epoch of the first ``examples`` images: ``x (N, 784) uint8``,
    ``xf (N, 784) float32`` (scaled), ``y (N, 10) float32``, ``order (N,) int32``,
    ``start`` [(w, b)] float32 NumPy."""

    def __init__(self, examples: int):
        import jax

        from jaxnet import data, init_params
        d = data.load_mnist(progress=False)
        self.x, labels = d.train.images[:examples], d.train.labels[:examples]
        self.scale = data.PIXEL_SCALE
        self.xf = self.x.astype(np.float32) * np.float32(self.scale)
        self.y = data.one_hot(labels, 10, np.float32)
        self.order = np.random.default_rng(0).permutation(examples).astype(np.int32)
        self.start = [(np.asarray(w), np.asarray(b))
                      for w, b in init_params(jax.random.PRNGKey(0), list(SIZES))]


def _jaxnet(t: Task):
    import jax

    import jaxnet
    start = [jaxnet.Layer(*jax.device_put(p)) for p in t.start]
    x, y, order = jax.device_put((t.x, t.y, t.order))

    def run():
        out = jaxnet.train_epoch(start, x, y, order, eta=ETA, batch_size=BATCH,
                                 x_scale=t.scale)
        return [(np.asarray(w), np.asarray(b)) for w, b in out]
    return run


def _numpy(t: Task):
    from peers import numpy_matrix

    def run():
        w, b = numpy_matrix.epoch([w for w, _ in t.start], [b for _, b in t.start], t.xf,
                                  t.y, t.order, ETA, BATCH)
        return list(zip(w, b))
    return run


def _book(t: Task):
    from book import network
    data = network.book_format(t.xf.astype(np.float64), t.y.astype(np.float64))

    def run():
        net = network.Network([w for w, _ in t.start], [b for _, b in t.start])
        net.epoch(data, t.order, ETA, BATCH)
        return [(w, b.ravel()) for w, b in zip(net.weights, net.biases)]
    return run


def _torch_run(t: Task, epoch_fn):
    """``run()``: reset a torch_cpu net to the start, ``epoch_fn(net, x, y, order)``."""
    import torch
    from peers import torch_cpu
    net = torch_cpu.model([w for w, _ in t.start], [b for _, b in t.start])
    params = list(net.parameters())
    start = [torch.from_numpy(a) for p in t.start for a in p]
    x, y = torch.from_numpy(t.xf), torch.from_numpy(t.y)
    order = torch.from_numpy(t.order.astype(np.int64))
    run_epoch = epoch_fn(net)

    def run():
        with torch.no_grad():
            for p, s in zip(params, start):
                p.copy_(s)
        run_epoch(x, y, order)
        out = [p.detach().numpy().copy() for p in params]
        return list(zip(out[0::2], out[1::2]))
    return run


def _torch_eager(t: Task):
    from peers import torch_cpu
    return _torch_run(t, lambda net: lambda x, y, o: torch_cpu.epoch(net, x, y, o, ETA, BATCH))


def _torch_compiled(form: str, mode: str):
    def make(t: Task):
        from peers import torch_compiled
        return _torch_run(t, lambda net: (lambda run: lambda x, y, o: run(x, y, o, ETA, BATCH))(
            torch_compiled.compiled_epoch(net, form, mode)))
    return make


def _equinox(t: Task):
    import jax
    import jax.numpy as jnp
    from peers import equinox_optax as eo
    model = eo.MLP([w for w, _ in t.start], [b for _, b in t.start])
    x, y, order = jax.device_put((t.xf, t.y, t.order))
    eta = jnp.float32(ETA)

    def run():
        out = jax.block_until_ready(eo.epoch(model, x, y, order, eta, BATCH))
        return [(np.asarray(w), np.asarray(b)) for w, b in eo.layers(out)]
    return run


def paths(skip) -> tuple[dict, list]:
    """``({name: (make, rtol)}, notes on the absent)``; train_epoch first."""
    out = {"jaxnet.train_epoch": (_jaxnet, 0.0),
           "NumPy whole-mini-batch (float32)": (_numpy, TRAJ_RTOL)}
    if "book" not in skip:
        out["network.py per-example (float64)"] = (_book, BOOK_RTOL)
    notes = []
    try:
        import torch
        from peers import torch_compiled
        out[f"PyTorch {torch.__version__} eager"] = (_torch_eager, TRAJ_RTOL)
        for name, form, mode in torch_compiled.FORMS:
            out[f"torch.compile, {name}"] = (_torch_compiled(form, mode), TRAJ_RTOL)
    except ImportError as e:
        notes.append(f"PyTorch absent ({e})")
    try:
        import equinox
        import optax
        out[f"Equinox {equinox.__version__} + optax {optax.__version__}, jit'd scan"] = (
            _equinox, TRAJ_RTOL)
    except ImportError as e:
        notes.append(f"Equinox + optax absent ({e})")
    return out, notes


def rel(out, ref) -> float:
    """max over the layers' w and b of max|out − ref| / max|ref|."""
    return max(float(np.max(np.abs(np.asarray(a, np.float64) - b)) / np.max(np.abs(b)))
               for o, r in zip(out, ref) for a, b in zip(o, r))


def checked(args, t: Task, check: Task):
    """``(runs {name: run}, rows {name: partial row}, notes)``: every path's epoch of
    ``check`` compared with train_epoch's, then, if it agrees, its first epoch of
    ``t`` (compile included)."""
    found, notes = paths(args.skip)
    runs, rows, ref = {}, {}, None
    for name, (make, rtol) in found.items():
        print(f"  check: {name} ...", file=sys.stderr, flush=True)
        try:
            out = make(check)()
            ref = ref if ref is not None else [(np.asarray(w, np.float64),
                                                np.asarray(b, np.float64)) for w, b in out]
            diff = rel(out, ref)
            if not diff <= rtol:
                notes.append(f"{name}: differs from train_epoch by {diff:.1e} > {rtol:.0e}, "
                             "not timed")
                continue
            t0 = time.perf_counter()
            run = make(t)
            run()
        except Exception as e:             # a form this torch cannot compile here
            notes.append(f"{name}: failed ({type(e).__name__}: {str(e)[:120]})")
            continue
        runs[name] = run
        rows[name] = dict(path=name, first_s=time.perf_counter() - t0, rel_diff=diff, rtol=rtol)
    return runs, rows, notes


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--book-repeats", type=int, default=1)
    ap.add_argument("--examples", type=int, default=50_000)
    ap.add_argument("--skip", default="", help="comma-separated: book")
    ap.add_argument("--torch-threads", type=int, default=None, metavar="N",
                    help="torch.set_num_threads(N) (default: torch's own; on a loaded machine "
                         "torch's spinning threads slow it 20x or more, and 1 does not)")
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args(argv)
    torch_threads(args.torch_threads)
    args.skip = set(filter(None, args.skip.split(",")))
    from jaxnet import bench
    t = Task(args.examples)
    check = Task(min(args.examples, CHECK_EXAMPLES))
    runs, rows, notes = checked(args, t, check)
    times = {k: [] for k in runs}
    for r in range(args.repeats):
        for k, run in runs.items():
            if k.startswith("network.py") and r >= args.book_repeats:
                continue
            t0 = time.perf_counter()
            run()
            times[k].append(time.perf_counter() - t0)
    peak_all = bench.matmul_peak()
    peak = max(v for v in peak_all.values() if v)
    flop = bench.flops_per_example(SIZES) * args.examples
    for k, ts in times.items():
        s = statistics.median(ts)
        rows[k].update(epoch_s=s, min_max=[min(ts), max(ts)], gflops=flop / s / 1e9,
                       peak_share=flop / s / 1e9 / peak,
                       compile_s=max(0.0, rows[k]["first_s"] - s))
    doc = dict(date=bench.now(), command="python benchmarks/peers_ch1.py " + " ".join(sys.argv[1:]),
               machine=bench.machine(), examples=args.examples, repeats=args.repeats,
               peak_gflops=peak_all, rows=list(rows.values()), notes=notes)
    md = markdown(doc, peak)
    print(md)
    return save(args.out / f"{doc['date'][:10]}-peers-ch1", doc, md, prog="benchmarks/peers_ch1.py")


def markdown(doc, peak) -> str:
    m = doc["machine"]
    lines = [f"# Chapter 1's network and its peers, {doc['date'][:10]}", "",
             f"- command: `{doc['command']}`",
             f"- machine: {m['processor']}, {m['cores']} cores; {m['versions']}",
             f"- 784-30-10, quadratic cost, mini-batch 10, η 3, {doc['examples']:,} images; "
             f"medians of {doc['repeats']} rounds (every path in turn each round) after a "
             f"checked epoch of the first {min(doc['examples'], CHECK_EXAMPLES):,} images; "
             f"float32 matrix-product peak {peak:.0f} GFLOP/s "
             f"({', '.join(f'{k} {v:.0f}' for k, v in doc['peak_gflops'].items() if v)})"]
    lines += [f"- {n}" for n in doc["notes"]] + [
        "", "| path | s/epoch | min–max | GFLOP/s | share of the sgemm peak | compile s "
        "| checked: rel. diff vs train_epoch (tolerance) |", "| --- | --- | --- | --- | --- | --- | --- |"]
    for r in doc["rows"]:
        if "epoch_s" not in r:
            continue
        lines.append(f"| {r['path']} | {r['epoch_s']:.3f} | {r['min_max'][0]:.3f}–"
                     f"{r['min_max'][1]:.3f} | {r['gflops']:.1f} | {100 * r['peak_share']:.1f} % "
                     f"| {r['compile_s']:.1f} | {r['rel_diff']:.1e} ({r['rtol']:.0e}) |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
