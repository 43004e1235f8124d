"""The C kernel's two layers side by side with train_epoch, the NumPy peer and the
C kernel as it was before its fast path, in one run.

    python benchmarks/c_kernel.py [--repeats 5] [--out benchmarks/results]

1. **book** — 784-30-10, mini-batch 10, η = 3.0, float32, the 50,000 MNIST
   training images in one shuffled order: the fast path (uint8 pixels, and
   float inputs), the readable reference, ``jaxnet.train_epoch`` and the
   whole-mini-batch NumPy peer (timed in subprocesses, once with the
   machine's ``OPENBLAS_CORETYPE``/``OPENBLAS_L2_SIZE`` as set and once with
   both unset, for that command only). Medians after a warm-up.
2. **wide** — 784-1000-10, mini-batch 1000, on the first 10,000 images: the
   fast path on 1 and 2 threads, ``train_epoch``, and the kernel of commit
   ad0447b (its sources and its own cffi builder taken from git, built into a
   temporary folder), in GFLOP/s.

Agreement is the tests' job (tests/test_cref_fast.py): float32 epochs at
η = 3 amplify rounding, so this script only times. Writes ``results/DATE-c-kernel.{md,json}``.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from common import RESULTS, save, timed

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
OLD_COMMIT = "ad0447b"
#: What OLD_COMMIT's kernel is built from: its sources and its own cffi builder.
OLD_FILES = ("csrc/jaxnet_ref.h", "csrc/jaxnet_ref.c", "csrc/jaxnet_ref_impl.h",
             "jaxnet/_cref_build.py")

# Run with benchmarks/ as the working directory: `python -c` puts it first on the path.
NUMPY_WORKER = """
import time, statistics, numpy as np
from peers import numpy_matrix
d = np.load({data!r})
w, b = [d["w0"], d["w1"]], [d["b0"], d["b1"]]
x, y, order = d["x"], d["y"], d["order"]
ts = []
for _ in range({repeats} + 1):
    t = time.perf_counter()
    numpy_matrix.epoch(w, b, x, y, order, 3.0, 10)
    ts.append(time.perf_counter() - t)
print(statistics.median(ts[1:]))
"""


def old_kernel():
    """The C kernel of OLD_COMMIT: OLD_FILES from git into a temporary folder, built
    there by that commit's own builder (cffi API mode, -O3 -march=native as today's)
    and loaded from it; None without git history or a compiler."""
    tmp = Path(tempfile.mkdtemp(prefix="jaxnet-old-c-"))
    for name in OLD_FILES:
        r = subprocess.run(["git", "-C", str(ROOT), "show", f"{OLD_COMMIT}:{name}"],
                           capture_output=True, text=True)
        if r.returncode != 0:
            return None
        (tmp / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp / name).write_text(r.stdout)
    r = subprocess.run([sys.executable, OLD_FILES[-1]], cwd=tmp, capture_output=True, text=True)
    built = sorted((tmp / "jaxnet").glob("_cref*.so"))
    if r.returncode != 0 or not built:
        print(f"the kernel of {OLD_COMMIT} did not build: {r.stderr[-1000:]}", file=sys.stderr)
        return None
    import importlib.util
    spec = importlib.util.spec_from_file_location("_cref", built[0])
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def old_epoch(mod, params, x, y, order, eta, batch_size):
    """One epoch of the old kernel (float32): its train_epoch on host copies."""
    ffi, lib = mod.ffi, mod.lib
    w = [np.array(l.w, np.float32) for l in params]
    b = [np.array(l.b, np.float32) for l in params]
    sizes = np.array([w[0].shape[1]] + [a.shape[0] for a in w], np.int64)
    n = ffi.new("size_t *")
    lib.jn_work_size(n, ffi.from_buffer("int64_t[]", sizes), len(w), batch_size)
    work = np.empty(n[0], np.float32)
    ptr = lambda arrs: ffi.new("float *[]", [ffi.cast("float *", ffi.from_buffer(a)) for a in arrs])
    buf = lambda a: ffi.from_buffer("float[]", a)  # typed: holds a for the call
    rc = lib.jn_train_epoch_f32(ptr(w), ptr(b), ffi.NULL, ffi.NULL, buf(x), buf(y),
                                ffi.from_buffer("int64_t[]", order), eta, ffi.NULL,
                                ffi.from_buffer("int64_t[]", sizes), len(w), len(order),
                                batch_size, buf(work), work.size)
    assert rc == 0, rc
    from jaxnet import Layer
    return tuple(Layer(a, c) for a, c in zip(w, b))


def numpy_peer(params, x, y, order, repeats):
    """The NumPy epoch in subprocesses: (environment as set, OPENBLAS_* unset)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "task.npz")
        np.savez(path, w0=np.asarray(params[0].w), w1=np.asarray(params[1].w),
                 b0=np.asarray(params[0].b), b1=np.asarray(params[1].b), x=x, y=y, order=order)
        code = NUMPY_WORKER.format(data=path, repeats=repeats)
        out = {}
        unset = {k: v for k, v in os.environ.items()
                 if k not in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")}
        for label, env in (("as set", dict(os.environ)), ("OPENBLAS_* unset", unset)):
            r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                               env=env, cwd=HERE)
            out[label] = float(r.stdout) if r.returncode == 0 else None
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args(argv)

    import jax
    jax.config.update("jax_enable_x64", True)
    import jaxnet
    from jaxnet import bench, cref, data

    d = data.load_mnist(progress=False)
    order = np.random.default_rng(0).permutation(50_000).astype(np.int64)
    x8, x, y = d.train.images, d.train.x, d.train.y()
    rows = []

    def add(section, name, seconds, times, examples, flops):
        rows.append(dict(section=section, name=name, median_s=seconds, times=times,
                         gflops=flops * examples / seconds / 1e9))
        print(f"{section}: {name}: {seconds:.4f} s", file=sys.stderr, flush=True)

    # 1. the book's epoch
    p = jaxnet.init_params(jax.random.PRNGKey(0), [784, 30, 10])
    f = bench.flops_per_example((784, 30, 10))
    xd, yd, od = jax.device_put(x8), jax.device_put(y), jax.device_put(order.astype(np.int32))
    jax_run = lambda: jax.block_until_ready(jaxnet.train_epoch(
        p, xd, yd, od, eta=3.0, batch_size=10, x_scale=data.PIXEL_SCALE))
    runs = {
        "C fast path (uint8 pixels)": lambda: cref.train_epoch(
            p, x8, y, order, eta=3.0, batch_size=10, x_scale=data.PIXEL_SCALE),
        "C fast path (float32 inputs)": lambda: cref.train_epoch(
            p, x, y, order, eta=3.0, batch_size=10),
        "C reference": lambda: cref.train_epoch(p, x, y, order, eta=3.0, batch_size=10,
                                                kernel="reference"),
        "jaxnet.train_epoch": jax_run,
    }
    for name, run in runs.items():
        reps = 1 if name == "C reference" else args.repeats
        _, s, t = timed(run, reps)
        add("book", name, s, t, 50_000, f)
    for label, s in numpy_peer(p, x, y, order, 3).items():
        if s:
            add("book", f"NumPy peer ({label})", s, [s], 50_000, f)
    old = old_kernel()
    if old is not None:
        run = lambda: old_epoch(old, p, x, y, order, 3.0, 10)
        _, s, t = timed(run, args.repeats)
        add("book", f"C kernel of {OLD_COMMIT}", s, t, 50_000, f)

    # 2. a wide net, large mini-batches
    n = 10_000
    pw = jaxnet.init_params(jax.random.PRNGKey(1), [784, 1000, 10])
    fw = bench.flops_per_example((784, 1000, 10))
    ow = order[order < n]
    xw8, xw, yw = x8[:n], x[:n], y[:n]
    xd, yd, od = jax.device_put(xw8), jax.device_put(yw), jax.device_put(ow.astype(np.int32))
    jax_wide = lambda: jax.block_until_ready(jaxnet.train_epoch(
        pw, xd, yd, od, eta=0.1, batch_size=1000, x_scale=data.PIXEL_SCALE))
    wide = {"jaxnet.train_epoch": jax_wide}
    for threads in (1, 2):
        wide[f"C fast path, {threads} thread(s)"] = (
            lambda t=threads: cref.train_epoch(pw, xw8, yw, ow, eta=0.1, batch_size=1000,
                                               x_scale=data.PIXEL_SCALE, threads=t))
    if old is not None:
        wide[f"C kernel of {OLD_COMMIT}"] = lambda: old_epoch(old, pw, xw, yw, ow, 0.1, 1000)
    for name, run in wide.items():
        _, s, t = timed(run, max(2, args.repeats // 2))
        add("wide", name, s, t, n, fw)

    doc = dict(date=bench.now(), command="python benchmarks/c_kernel.py " + " ".join(
        sys.argv[1:]), machine=bench.machine(), parallel=cref.parallel(), rows=rows)
    stem = args.out / f"{doc['date'][:10]}-c-kernel"
    print(markdown(doc))
    return save(stem, doc, markdown(doc), prog="benchmarks/c_kernel.py")


def markdown(doc) -> str:
    m = doc["machine"]
    lines = [f"# The C kernel's two layers, {doc['date'][:10]}", "",
             f"- command: `{doc['command']}`",
             f"- machine: {m['processor']}, {m['cores']} cores; {m['platform']}; "
             f"{m['versions']}; OpenMP in the extension: {doc['parallel']}",
             "- medians after a warm-up; GFLOP/s count the dense matrix products "
             "(jaxnet.bench.flops_per_example), though the C paths skip zero inputs", ""]
    for section, title in (("book", "784-30-10, mini-batch 10, float32, 50,000 images"),
                           ("wide", "784-1000-10, mini-batch 1000, float32, 10,000 images")):
        rs = [r for r in doc["rows"] if r["section"] == section]
        base = next((r["median_s"] for r in rs if r["name"].startswith("C fast path")), None)
        lines += [f"## {title}", "", "| path | s / epoch | GFLOP/s | × the fast path's time |",
                  "| --- | --- | --- | --- |"]
        for r in rs:
            lines.append(f"| {r['name']} | {r['median_s']:.4f} | {r['gflops']:.1f} "
                         f"| {r['median_s'] / base:.2f} |")
        lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
