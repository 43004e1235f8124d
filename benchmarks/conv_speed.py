"""One epoch of chapter 6's two-ConvPool network on the CPU: jaxnet's JAX path, its
C kernel and PyTorch, side by side in one run.

    python benchmarks/conv_speed.py [--repeats 3] [--examples 50000] [--out benchmarks/results]
    python benchmarks/conv_speed.py --table --examples 10000 [--before /work/main]
        [--torch-modes default,max-autotune-no-cudagraphs]

1. **epoch** — network3's row 3 (``conv:20:5,pool:2,conv:40:5,pool:2,fc:100,softmax:10``,
   sigmoid, η = 0.1, λ = 0, mini-batch 10, float32) over the book's MNIST training
   images in one shuffled order, from the same network3 initialisation:
   ``jaxnet.train_epoch`` (one compiled ``lax.scan``; its first call, compile
   included, is reported apart), ``jaxnet.cref.train_epoch`` (the C fast path,
   csrc/jaxnet_net_fast.h, one and two threads; the readable reference,
   csrc/jaxnet_net.h, one thread) and the PyTorch peer (``benchmarks/peers/torch_conv.py``,
   eager, ``torch.optim.SGD``, torch's default threads). Medians of ``--repeats``
   epochs after a warm-up; training GFLOP/s against the machine's measured float32
   matmul peak. Every path starts from the same parameters; their trained
   parameters are compared (float32 epochs: rounding, not a test). Before any
   timing, one float64 step of each path is checked against ``jaxnet.sgd_step``
   (a path off by more than ``STEP_RTOL`` is not timed).
2. **float64** — the same epoch in float64 by JAX, the C fast path and PyTorch
   (medians, and each against its own float32 time), and the relative difference of
   JAX's and C's updates (the tests check 5,000 digits to 1e-10).
3. **batch sweep** — every path's per-example time at mini-batches 10, 100 and
   1000 on the first 10,000 images: where the time goes when the batch is small.
4. **memory** — each path's epoch at mini-batches 10 and 1000 in a fresh process:
   its peak resident set (VmHWM, reset just before the epoch, so the data and the
   imports count once, in the baseline) and the baseline it grew from.

5. **table** (``--table``, alone) — the issue-32 table: µs per example at mini-batches
   10, 100 and 1000 over the first ``--examples`` digits for the JAX epoch, the C fast
   path (2 threads), PyTorch eager and every torch.compile form and mode asked for
   (``peers/torch_conv.py``: the model or the whole step compiled, NCHW or channels-last;
   its compile time apart, and its first two steps checked against
   ``jaxnet.train_epoch``'s before it is timed), ``--repeats`` rounds with every path
   once a round; each against the same run's sgemm peak, and JAX's speed-up over the
   fastest torch.compile form. ``--before TREE`` times another checkout's JAX epoch
   (e.g. main's, before a change) in a child process, a round at a time.

For one core, run it under ``taskset -c 0`` (XLA, OpenMP and torch then share one).

Writes ``results/DATE-conv-speed.{md,json}``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np
from common import RESULTS, save, timed, updates_diff

PROG = "benchmarks/conv_speed.py"
SPEC = "conv:20:5,pool:2,conv:40:5,pool:2,fc:100,softmax:10"
ETA = 0.1


def training_flops(model) -> int:
    """FLOPs of one example's training step: the forward products, ∂C/∂w of every
    layer and ∂C/∂a of every layer but the first (2 FLOPs a multiply-add)."""
    import jaxnet
    macs = []
    for layer, shape in zip(model.layers, model.shapes):
        if isinstance(layer, jaxnet.ConvPool):
            c, h, w = shape
            k = layer.kernel
            macs.append(layer.filters * c * k * k * (h - k + 1) * (w - k + 1))
        else:
            macs.append(layer.n_out * int(np.prod(shape)))
    return 2 * (3 * sum(macs) - macs[0])


def paths(model, params, x8, labels, order, batch_size, dtype=np.float32):
    """{name: a function that runs one epoch from ``params`` and returns the params}:
    JAX, the C kernel, and PyTorch when it is installed (the ``bench`` extra)."""
    import jax

    import jaxnet
    from jaxnet import cref, data
    y = np.eye(10, dtype=dtype)[labels]
    xd, yd, od = jax.device_put(x8), jax.device_put(y), jax.device_put(order.astype(np.int32))
    kw = dict(eta=ETA, batch_size=batch_size, model=model, x_scale=data.PIXEL_SCALE)
    out = {
        "jaxnet, JAX (XLA CPU)": lambda: jax.block_until_ready(
            jaxnet.train_epoch(params, xd, yd, od, **kw)),
        "jaxnet, C fast path (1 thread)": lambda: cref.train_epoch(params, x8, y, order,
                                                                   threads=1, **kw),
        "jaxnet, C fast path (2 threads)": lambda: cref.train_epoch(params, x8, y, order,
                                                                    threads=2, **kw),
        "jaxnet, C reference (1 thread)": lambda: cref.train_epoch(
            params, x8, y, order, threads=1, kernel="reference", **kw),
    }
    try:
        import torch
    except ImportError:
        print("  PyTorch is not installed (pip install '.[bench]'): no PyTorch row",
              file=sys.stderr)
        return out
    from peers import torch_conv
    xt = torch.tensor(x8.reshape(-1, 1, 28, 28).astype(dtype) * dtype(data.PIXEL_SCALE))
    lt, ot = torch.tensor(labels.astype(np.int64)), torch.tensor(order.astype(np.int64))
    torch_dtype = torch.float32 if dtype == np.float32 else torch.float64
    out[f"PyTorch {torch.__version__} eager ({torch.get_num_threads()} threads)"] = lambda: \
        torch_conv.params_of(torch_conv.epoch(torch_conv.model(model, params, torch_dtype),
                                              xt, lt, ot, ETA, batch_size))
    return out


#: A path whose one float64 step differs from jaxnet.sgd_step's by more than this
#: (relative, on the updates) is not timed: the same sums in another order give ~1e-15.
STEP_RTOL = 1e-10


def part_step_check(model, d):
    """One float64 step on 10 real digits by every path against jaxnet.sgd_step:
    ``{path: relative difference of the updates}``."""
    import jax

    import jaxnet
    from jaxnet import cref, data
    jax.config.update("jax_enable_x64", True)
    params = jaxnet.init_params(jax.random.PRNGKey(1), model, dtype="float64", init="network3")
    x = d.train.images[:10].astype(np.float64) * data.PIXEL_SCALE
    labels = d.train.labels[:10]
    y = np.eye(10)[labels]
    ref = jaxnet.sgd_step(params, x, y, ETA, model=model)
    out = {f"jaxnet, C {k}": updates_diff(
        cref.sgd_step(params, x, y, ETA, model=model, kernel=k), ref, params)
        for k in ("fast", "reference")}
    try:
        import torch
        from peers import torch_conv
        net = torch_conv.model(model, params, torch.float64)
        xt = torch.tensor(x.reshape(-1, 1, 28, 28))
        torch_conv.epoch(net, xt, torch.tensor(labels.astype(np.int64)), torch.arange(10), ETA,
                         10)
        out["PyTorch"] = updates_diff(torch_conv.params_of(net), ref, params)
    except ImportError:
        pass
    jax.config.update("jax_enable_x64", False)
    return out


def part_epoch(model, d, n, repeats, flops, refused=()):
    import jax

    import jaxnet
    params = jaxnet.init_params(jax.random.PRNGKey(0), model, init="network3")
    order = np.random.default_rng(0).permutation(n)
    x8, labels = d.train.images[:n], d.train.labels[:n]
    rows, trained = [], {}
    for name, run in paths(model, params, x8, labels, order, 10).items():
        if any(name.startswith(r) for r in refused):
            print(f"  {name}: not timed (its float64 step disagrees)", file=sys.stderr)
            continue
        first, med, times = timed(lambda name=name, run=run: trained.__setitem__(name, run()), repeats)
        rows.append(dict(path=name, first_s=first, median_s=med, times=times,
                         gflops=flops * n / med / 1e9))
        print(f"  {name}: {med:.2f} s/epoch (first {first:.2f} s)", file=sys.stderr, flush=True)
    ref = trained[rows[0]["path"]]
    for r in rows[1:]:
        r["updates_vs_jax"] = updates_diff(trained[r["path"]], ref, params)
    return rows


def part_float64(model, d, n, repeats, refused=()):
    """The float32 epoch's paths (the readable C reference, C's two threads and the
    ``refused`` left out) in float64: medians, and JAX's and C's updates against
    each other."""
    import jax

    import jaxnet
    jax.config.update("jax_enable_x64", True)
    params = jaxnet.init_params(jax.random.PRNGKey(0), model, dtype="float64", init="network3")
    order = np.random.default_rng(0).permutation(n)
    ps = paths(model, params, d.train.images[:n], d.train.labels[:n], order, 10, np.float64)
    rows, trained = [], {}
    for name, run in ps.items():
        if "reference" in name or name.startswith("jaxnet, C fast path (2") or any(
                name.startswith(r) for r in refused):
            continue
        first, med, times = timed(lambda name=name, run=run: trained.__setitem__(name, run()),
                                  repeats)
        rows.append(dict(path=name, first_s=first, median_s=med, times=times))
        print(f"  float64, {name}: {med:.2f} s/epoch", file=sys.stderr, flush=True)
    jax.config.update("jax_enable_x64", False)
    jx, c = trained[rows[0]["path"]], trained[rows[1]["path"]]
    return dict(examples=n, rows=rows, updates_rel_diff=updates_diff(c, jx, params))


#: The paths part_memory measures, each in a process of its own (a name's prefix
#: in paths(); PyTorch's name carries its version).
MEMORY_PATHS = ("jaxnet, JAX", "jaxnet, C fast path (1", "jaxnet, C reference", "PyTorch")


def rss_child(key, batch_size, n):
    """In a fresh process: the first path named ``key...`` runs one epoch at
    ``batch_size``; prints its peak resident set and the baseline, in KiB."""
    import resource

    import jax

    import jaxnet
    from jaxnet import data, parse_layers
    d = data.load_mnist(progress=False)
    model = parse_layers(SPEC, 784)
    params = jaxnet.init_params(jax.random.PRNGKey(0), model, init="network3")
    order = np.random.default_rng(0).permutation(n)
    ps = paths(model, params, d.train.images[:n], d.train.labels[:n], order, batch_size)
    name = next(k for k in ps if k.startswith(key))

    def status(field):
        text = Path("/proc/self/status").read_text()
        return int(next(v for v in text.splitlines() if v.startswith(field)).split()[1])
    try:   # Linux: "5" resets VmHWM, so the peak is the epoch's, not the data's (a kernel
        fd = os.open("/proc/self/clear_refs", os.O_WRONLY)   # control, not a result file)
        try:
            os.write(fd, b"5")
        finally:
            os.close(fd)
        base, peak = status("VmRSS:"), lambda: status("VmHWM:")
    except OSError:   # elsewhere the process's peak so far (bytes on macOS, else KiB)
        unit = 1024 if sys.platform == "darwin" else 1
        base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // unit
        peak = lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // unit  # noqa: E731
    ps[name]()
    print(json.dumps(dict(path=name, batch_size=batch_size, base_kib=base, peak_kib=peak())))


def part_memory(n):
    """Every MEMORY_PATHS path at mini-batches 10 and 1000, each in a fresh process."""
    import subprocess
    out = []
    for bs in (10, 1000):
        for key in MEMORY_PATHS:
            r = subprocess.run([sys.executable, __file__, "--rss-child", key, str(bs), str(n)],
                               capture_output=True, text=True)
            if r.returncode != 0:
                print(f"  memory, {key}, batch {bs}: failed: {r.stderr.strip()[-300:]}",
                      file=sys.stderr)
                continue
            out.append(json.loads(r.stdout.strip().splitlines()[-1]))
            print(f"  memory, batch {bs}, {out[-1]['path']}: peak "
                  f"{out[-1]['peak_kib'] / 1024:.0f} MiB", file=sys.stderr, flush=True)
    return out


def part_sweep(model, d, n, flops):
    import jax

    import jaxnet
    params = jaxnet.init_params(jax.random.PRNGKey(0), model, init="network3")
    order = np.random.default_rng(1).permutation(n)
    out = []
    for bs in (10, 100, 1000):
        ps = paths(model, params, d.train.images[:n], d.train.labels[:n], order, bs)
        for name in [k for k in ps if "reference" not in k]:
            _, med, _ = timed(ps[name], 1)
            out.append(dict(path=name, batch_size=bs, us_per_example=1e6 * med / n,
                            gflops=flops * n / med / 1e9))
            print(f"  batch {bs}, {name}: {1e6 * med / n:.0f} µs/example", file=sys.stderr,
                  flush=True)
    return out


# --- The issue-32 table: µs per example at mini-batches 10, 100, 1000, every path in one
# run, rounds interleaved, against the same run's sgemm peak (``--table``). ---

TABLE_BATCHES = (10, 100, 1000)
#: A torch.compile form is timed only when its float32 epoch over the first ``2 · batch``
#: digits (from the same start, in order) updates the parameters as jaxnet.train_epoch
#: does to within this many times PyTorch eager's own float32 difference from it (eager is
#: checked in float64 by part_step_check): float32 rounding sets the scale (on 2026-12-07,
#: 4e-4 to 6e-2 for two steps of the compiled forms, the same for both forms: p − p0 of
#: a leaf whose update is small), a wrong gradient or update is O(1).
TORCH_CHECK_FACTOR = 10
#: ... or to within this, whatever eager's difference.
TORCH_CHECK_RTOL = 1e-4


def jax_epochs(model, params, x8, labels, order, batches):
    """{batch: a function running one ``jaxnet.train_epoch`` from ``params``}."""
    import jax

    import jaxnet
    from jaxnet import data
    y = np.eye(10, dtype=np.float32)[labels]
    xd, yd, od = jax.device_put(x8), jax.device_put(y), jax.device_put(order.astype(np.int32))
    return {bs: (lambda bs=bs: jax.block_until_ready(jaxnet.train_epoch(
        params, xd, yd, od, eta=ETA, batch_size=bs, model=model, x_scale=data.PIXEL_SCALE)))
        for bs in batches}


def table_child(n, batches, rounds):
    """In a fresh process (``--table-child``, another tree's jaxnet on PYTHONPATH): the
    JAX epoch's µs per example at each batch, one JSON line per round."""
    import jax

    import jaxnet
    from jaxnet import data, parse_layers
    d = data.load_mnist(progress=False)
    model = parse_layers(SPEC, 784)
    params = jaxnet.init_params(jax.random.PRNGKey(0), model, init="network3")
    order = np.random.default_rng(1).permutation(n)
    runs = jax_epochs(model, params, d.train.images[:n], d.train.labels[:n], order, batches)
    for run in runs.values():
        run()
    for _ in range(rounds):
        print(json.dumps({bs: _seconds(run) * 1e6 / n for bs, run in runs.items()}), flush=True)


def _seconds(run):
    import time
    t0 = time.perf_counter()
    run()
    return time.perf_counter() - t0


def before_round(tree, n, batches):
    """One round of the JAX epoch by the jaxnet of ``tree`` (e.g. main's checkout) in a
    child process with that tree first on its PYTHONPATH: ``{batch: µs per example}``."""
    import subprocess
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(tree), str(Path(__file__).parent)]))
    r = subprocess.run([sys.executable, __file__, "--table-child", str(n),
                        ",".join(map(str, batches)), "1"], env=env, capture_output=True,
                       text=True, cwd=str(tree))
    if r.returncode != 0:
        raise RuntimeError(f"the before tree's epoch failed: {r.stderr.strip()[-500:]}")
    return {int(k): v for k, v in json.loads(r.stdout.strip().splitlines()[-1]).items()}


def torch_paths(model, params, x8, labels, order, forms, modes, batches):
    """``({name: {batch: run}}, {name: {batch: compile s}}, {name: {batch: check}})``:
    PyTorch eager and each torch.compile ``form``/``mode``, each compiled and checked
    against jaxnet.train_epoch's float32 trajectory (TORCH_CHECK_RTOL) before timing."""
    import torch
    from peers import torch_conv

    import jaxnet
    from jaxnet import data
    xt = torch.tensor(x8.reshape(-1, 1, 28, 28).astype(np.float32) * np.float32(data.PIXEL_SCALE))
    lt, ot = torch.tensor(labels.astype(np.int64)), torch.tensor(order.astype(np.int64))
    threads = torch.get_num_threads()
    runs = {f"PyTorch {torch.__version__} eager ({threads} threads)": {
        bs: (lambda bs=bs: torch_conv.epoch(torch_conv.model(model, params), xt, lt, ot, ETA, bs))
        for bs in batches}}
    compile_s, checks, want, eager = {}, {}, {}, {}
    for bs in batches:    # eager's float32 distance from jaxnet over the same two steps
        k = 2 * bs
        want[bs] = jaxnet.train_epoch(params, x8[:k], np.eye(10, dtype=np.float32)[labels[:k]],
                                      np.arange(k), eta=ETA, batch_size=bs, model=model,
                                      x_scale=data.PIXEL_SCALE)
        eager[bs] = updates_diff(torch_conv.params_of(torch_conv.epoch(
            torch_conv.model(model, params), xt[:k], lt[:k], torch.arange(k), ETA, bs)),
            want[bs], params)
    for form, mode in [(f, m) for m in modes for f in forms]:
        name = f"torch.compile {form}, mode={mode} ({threads} threads)"
        runs[name], compile_s[name], checks[name] = {}, {}, {}
        for bs in batches:
            k = 2 * bs
            net = torch_conv.model(model, params)
            train = torch_conv.compiled_trainer(net, ETA, form, mode)
            compile_s[name][bs] = _seconds(lambda t=train, k=k, bs=bs: t(xt[:k], lt[:k],
                                                                        torch.arange(k), bs))
            checks[name][bs] = updates_diff(torch_conv.params_of(net), want[bs], params)
            print(f"  {name}, batch {bs}: compiled in {compile_s[name][bs]:.1f} s, "
                  f"two steps vs jaxnet {checks[name][bs]:.1e} (eager {eager[bs]:.1e})",
                  file=sys.stderr, flush=True)
            if checks[name][bs] <= max(TORCH_CHECK_RTOL, TORCH_CHECK_FACTOR * eager[bs]):
                runs[name][bs] = lambda t=train, bs=bs: t(xt, lt, ot, bs)
    checks["PyTorch eager"] = eager
    return runs, compile_s, checks


def part_table(model, d, n, rounds, flops, before=None, forms=(), modes=("default",)):
    """Every path's epoch over the first ``n`` digits at TABLE_BATCHES, ``rounds`` rounds,
    each round every path once (interleaved): ``{"us": {path: {batch: [µs/example]}},
    "compile_s", "checks"}``; ``before``: another tree whose JAX epoch is timed too."""
    import jax

    import jaxnet
    params = jaxnet.init_params(jax.random.PRNGKey(0), model, init="network3")
    order = np.random.default_rng(1).permutation(n)
    x8, labels = d.train.images[:n], d.train.labels[:n]
    y = np.eye(10, dtype=np.float32)[labels]
    kw = dict(eta=ETA, model=model, x_scale=jaxnet.data.PIXEL_SCALE)
    runs = {"jaxnet, JAX (XLA CPU)": jax_epochs(model, params, x8, labels, order,
                                                TABLE_BATCHES)}
    try:
        from jaxnet import cref
        runs["jaxnet, C fast path (2 threads)"] = {bs: (lambda bs=bs: cref.train_epoch(
            params, x8, y, order, threads=2, batch_size=bs, **kw)) for bs in TABLE_BATCHES}
    except ImportError as e:
        print(f"  no C row: {e}", file=sys.stderr)
    compile_s, checks = {}, {}
    try:
        more, compile_s, checks = torch_paths(model, params, x8, labels, order, forms, modes,
                                              TABLE_BATCHES)
        runs.update(more)
    except ImportError:
        print("  PyTorch is not installed: no PyTorch rows", file=sys.stderr)
    us = {name: {bs: [] for bs in r} for name, r in runs.items()}
    if before is not None:
        us[f"jaxnet, JAX, before ({before})"] = {bs: [] for bs in TABLE_BATCHES}
    for r in runs.values():               # warm-up (JAX compiles here)
        for run in r.values():
            run()
    for k in range(rounds):
        for name, r in runs.items():
            for bs, run in r.items():
                us[name][bs].append(_seconds(run) * 1e6 / n)
        if before is not None:
            for bs, v in before_round(before, n, TABLE_BATCHES).items():
                us[f"jaxnet, JAX, before ({before})"][bs].append(v)
        print(f"  round {k + 1}: " + "; ".join(
            f"{name.split(' (')[0]} " + "/".join(f"{v[-1]:.0f}" for v in per.values())
            for name, per in us.items()), file=sys.stderr, flush=True)
    return dict(examples=n, rounds=rounds, us=us, compile_s=compile_s, checks=checks,
                flops_per_example=flops)


def table_markdown(t, peak):
    """The table of :func:`part_table`: medians, % of ``peak`` GFLOP/s, JAX / fastest
    torch.compile form per batch."""
    import statistics
    med = {name: {int(bs): statistics.median(v) for bs, v in per.items() if v}
           for name, per in t["us"].items()}
    share = lambda us: 100 * t["flops_per_example"] / (us * 1e-6) / 1e9 / peak  # noqa: E731
    head = " | ".join(f"mb {bs}" for bs in TABLE_BATCHES)
    lines = [f"| path (µs per example, median of {t['rounds']}; % of the sgemm peak) | {head} |",
             "| --- |" + " --- |" * len(TABLE_BATCHES)]
    for name, per in med.items():
        lines.append(f"| {name} | " + " | ".join(
            f"{per[bs]:.0f} ({share(per[bs]):.0f} %)" if bs in per else "not timed"
            for bs in TABLE_BATCHES) + " |")
    compiled = {n: per for n, per in med.items() if n.startswith("torch.compile")}
    jx = med["jaxnet, JAX (XLA CPU)"]
    if compiled:
        best = {bs: min([(per[bs], n) for n, per in compiled.items() if bs in per],
                        default=(float("nan"), "none passed its check (not timed)"))
                for bs in TABLE_BATCHES}
        lines.append(f"| physical limit at the peak ({peak:.0f} GFLOP/s) | " + " | ".join(
            f"{t['flops_per_example'] / peak / 1e3:.0f}" for _ in TABLE_BATCHES) + " |")
        lines += ["", "| fastest torch.compile form | " + head + " |",
                  "| --- |" + " --- |" * len(TABLE_BATCHES),
                  "| form | " + " | ".join(best[bs][1].split(" (")[0].replace(
                      "torch.compile ", "") for bs in TABLE_BATCHES) + " |",
                  "| JAX speed-up over it (its time / JAX's) | " + " | ".join(
                      f"{best[bs][0] / jx[bs]:.2f}x" for bs in TABLE_BATCHES) + " |"]
        lines += ["", "torch.compile, first call (compile and two checked steps, s) and its "
                  "two steps against jaxnet.train_epoch's (updates, relative):", "",
                  "| form | " + head + " |", "| --- |" + " --- |" * len(TABLE_BATCHES)]
        lines += [f"| {n.split(' (')[0]} | " + " | ".join(
            f"{t['compile_s'][n][bs]:.1f} s, {t['checks'][n][bs]:.0e}" for bs in TABLE_BATCHES)
            + " |" for n in t["compile_s"]]
    return "\n".join(lines) + "\n"


def markdown(doc):
    e = doc["epoch"]
    lines = [f"# Chapter 6 on the CPU: one epoch of the two-ConvPool net ({doc['date'][:10]})", "",
             f"- command: `{doc['command']}`",
             f"- machine: {doc['machine']['processor']}, {doc['machine']['cores']} cores; "
             f"versions {doc['machine']['versions']}",
             *([f"- conditions: {doc['note']}"] if doc.get("note") else []),
             f"- network: `{SPEC}`, sigmoid, η = {ETA}, mini-batch 10, float32, "
             f"{doc['examples']:,} MNIST training images, one shuffled order; "
             f"{doc['flops_per_example'] / 1e6:.2f} MFLOP per example's training step",
             "- measured float32 matmul peak (2048³): " + ", ".join(
                 f"{k} {v:.0f} GFLOP/s" for k, v in doc["peak"].items() if v)
             + " (\"% of peak\" below: of JAX's, on the cores this run had)", "",
             "| path | s/epoch (median) | first epoch (compile incl.) | GFLOP/s | % of peak "
             "| × JAX time | updates vs JAX (rel.) |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    peak = doc["peak"].get("jax") or max(v for v in doc["peak"].values() if v)
    for r in e:
        diff = f"{r['updates_vs_jax']:.1e}" if "updates_vs_jax" in r else "—"
        lines.append(f"| {r['path']} | {r['median_s']:.2f} | {r['first_s']:.2f} | "
                     f"{r['gflops']:.1f} | {100 * r['gflops'] / peak:.0f} % | "
                     f"{r['median_s'] / e[0]['median_s']:.2f} | {diff} |")
    if doc.get("step_check"):
        lines += ["", "Before timing, one float64 step on 10 digits against `jaxnet.sgd_step` "
                  f"(updates, relative; a path above {STEP_RTOL:.0e} is not timed): "
                  + ", ".join(f"{k} {v:.1e}" for k, v in doc["step_check"].items()) + "."]
    f = doc.get("float64")
    if f:
        f32 = {r["path"]: r["median_s"] for r in e}
        lines += ["", f"float64, the same epoch over {f['examples']:,} images (JAX's and C's "
                  f"updates differ by {f['updates_rel_diff']:.1e}, relative):", "",
                  "| path | s/epoch (median) | first epoch | × its float32 time |",
                  "| --- | --- | --- | --- |"]
        lines += [f"| {r['path']} | {r['median_s']:.2f} | {r['first_s']:.2f} | "
                  + (f"{r['median_s'] / f32[r['path']]:.2f} |" if r["path"] in f32 else "— |")
                  for r in f["rows"]]
    if doc.get("sweep"):
        lines += ["", f"Per-example time by mini-batch size (first {min(10000, doc['examples']):,} "
                  "images, one epoch):",
                  "", "| path | batch | µs/example | GFLOP/s | % of peak |",
                  "| --- | --- | --- | --- | --- |"]
        lines += [f"| {r['path']} | {r['batch_size']} | {r['us_per_example']:.0f} | "
                  f"{r['gflops']:.1f} | {100 * r['gflops'] / peak:.0f} % |" for r in doc["sweep"]]
    if doc.get("memory"):
        lines += ["", f"Memory: one epoch over the first {min(10000, doc['examples']):,} images "
                  "in a fresh process (the peak resident set, reset after the imports and "
                  "the data, which the baseline holds):", "",
                  "| path | batch | peak RSS (MiB) | baseline (MiB) | epoch's own (MiB) |",
                  "| --- | --- | --- | --- | --- |"]
        lines += [f"| {r['path']} | {r['batch_size']} | {r['peak_kib'] / 1024:.0f} | "
                  f"{r['base_kib'] / 1024:.0f} | {(r['peak_kib'] - r['base_kib']) / 1024:.0f} |"
                  for r in doc["memory"]]
    return "\n".join(lines) + "\n"


#: torch.compile forms the table tries by default (peers/torch_conv.py FORMS).
TORCH_FORMS = ("model", "step", "model-channels-last", "step-channels-last")


def table_main(args, doc, model, d, flops):
    """``--table``: part_table, printed and saved as results/DATE-conv-speed[-SUFFIX]."""
    doc["table"] = part_table(model, d, args.examples, args.repeats, flops, args.before and
                              str(args.before), args.torch_forms.split(","),
                              args.torch_modes.split(","))
    peak = doc["peak"].get("jax") or max(v for v in doc["peak"].values() if v)
    md = "\n".join([
        f"# Chapter 6 on the CPU: µs per example by mini-batch ({doc['date'][:10]})", "",
        f"- command: `{doc['command']}`",
        f"- machine: {doc['machine']['processor']}, {doc['machine']['cores']} cores; "
        f"versions {doc['machine']['versions']}",
        *([f"- conditions: {doc['note']}"] if doc.get("note") else []),
        f"- network: `{SPEC}`, sigmoid, η = {ETA}, float32, the first {args.examples:,} MNIST "
        f"training images in one shuffled order; {flops / 1e6:.2f} MFLOP per example's "
        "training step",
        "- measured float32 matmul peak (2048³): " + ", ".join(
            f"{k} {v:.0f} GFLOP/s" for k, v in doc["peak"].items() if v)
        + " (% of peak below: of JAX's)", "", table_markdown(doc["table"], peak)])
    print(md)
    stem = args.out / f"{doc['date'][:10]}-conv-speed{'-' + args.suffix if args.suffix else ''}"
    return save(stem, doc, md, prog=PROG)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--examples", type=int, default=50000)
    ap.add_argument("--no-float64", action="store_true")
    ap.add_argument("--no-sweep", action="store_true")
    ap.add_argument("--no-memory", action="store_true")
    ap.add_argument("--rss-child", nargs=3, metavar=("PATH", "BATCH", "N"),
                    help=argparse.SUPPRESS)   # part_memory's own processes
    ap.add_argument("--table-child", nargs=3, metavar=("N", "BATCHES", "ROUNDS"),
                    help=argparse.SUPPRESS)   # before_round's own processes
    ap.add_argument("--table", action="store_true",
                    help="only the table: µs/example at mini-batches 10, 100, 1000 of every "
                         "path (JAX, C 2 threads, PyTorch eager and torch.compile) in "
                         "interleaved rounds, against the same run's sgemm peak")
    ap.add_argument("--before", type=Path, default=None, metavar="TREE",
                    help="with --table: also time the JAX epoch of this checkout's jaxnet "
                         "(e.g. /work/main), a round at a time in a child process")
    ap.add_argument("--torch-forms", default=",".join(TORCH_FORMS),
                    help="with --table: torch.compile forms (peers/torch_conv.py FORMS)")
    ap.add_argument("--torch-modes", default="default",
                    help="with --table: torch.compile modes, e.g. "
                         "default,max-autotune-no-cudagraphs")
    ap.add_argument("--out", type=Path, default=RESULTS)
    ap.add_argument("--note", default="", help="conditions to record (e.g. taskset, load)")
    ap.add_argument("--suffix", default="", help="results/DATE-conv-speed-SUFFIX.{md,json} "
                                                 "(e.g. 1core for a taskset -c 0 run)")
    ap.add_argument("--render", type=Path, default=None, metavar="JSON",
                    help="only rewrite the .md of an earlier run's .json")
    args = ap.parse_args(argv)
    if args.rss_child:
        rss_child(args.rss_child[0], int(args.rss_child[1]), int(args.rss_child[2]))
        return 0
    if args.table_child:
        n, batches, rounds = args.table_child
        table_child(int(n), [int(b) for b in batches.split(",")], int(rounds))
        return 0
    if args.render:
        doc = json.loads(args.render.read_text())
        return save(args.render.with_suffix(""), doc, markdown(doc), prog=PROG, replace=True)
    from jaxnet import bench, data, parse_layers
    d = data.load_mnist(progress=False)
    model = parse_layers(SPEC, 784)
    flops = training_flops(model)
    doc = dict(date=bench.now(), command="python benchmarks/conv_speed.py " + " ".join(
        sys.argv[1:] if argv is None else argv), machine=bench.machine(),
        examples=args.examples, flops_per_example=flops, peak=bench.matmul_peak(),
        note=args.note)
    if args.table:
        return table_main(args, doc, model, d, flops)
    doc["step_check"] = part_step_check(model, d)
    refused = [k for k, v in doc["step_check"].items() if not v <= STEP_RTOL]
    doc["epoch"] = part_epoch(model, d, args.examples, args.repeats, flops, refused)
    if not args.no_float64:
        doc["float64"] = part_float64(model, d, args.examples, args.repeats, refused)
    if not args.no_sweep:
        doc["sweep"] = part_sweep(model, d, min(10000, args.examples), flops)
    if not args.no_memory:
        doc["memory"] = part_memory(min(10000, args.examples))
    args.out.mkdir(parents=True, exist_ok=True)
    stem = args.out / f"{doc['date'][:10]}-conv-speed{'-' + args.suffix if args.suffix else ''}"
    md = markdown(doc)
    print(md)
    return save(stem, doc, md, prog=PROG)


if __name__ == "__main__":
    sys.exit(main())
