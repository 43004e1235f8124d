"""One epoch of the book's chapter-1 training, every path side by side, in one run.

    python benchmarks/epoch.py [--repeats 5] [--book-epochs 1] [--out benchmarks/results]

784-30-10, sigmoid, quadratic cost, η = 3.0, mini-batch 10, full MNIST
(50,000 images), float32 unless stated. Each path's gradient is first checked
against ``jaxnet.autodiff_grad`` (float64) and a path that disagrees is not
timed. Times are wall-clock seconds per epoch: the median of ``--repeats``
epochs after a warm-up (compile time reported separately), with min–max. The C
kernel's times include jaxnet.cref's argument checks (a NaN scan of x, the
permutation check), as a user calling it pays them.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import jax  # noqa: E402

jax.config.update("jax_enable_x64", True)
import jax.numpy as jnp  # noqa: E402

import jaxnet  # noqa: E402
from jaxnet import data  # noqa: E402
from peers import network_py, numpy_matrix  # noqa: E402

SIZES = [784, 30, 10]
ETA, BATCH = 3.0, 10
GRAD_RTOL = 1e-10  # float64 gradient agreement required before timing a path


def _check_gradient(name, grad_fn, params64, x, y):
    ref = jaxnet.autodiff_grad(params64, x, y)
    got = grad_fn(params64, x, y)
    worst = max(float(np.max(np.abs(np.asarray(g) - np.asarray(r))) / np.max(np.abs(np.asarray(r))))
                for g, r in zip(jax.tree.leaves(got), jax.tree.leaves(ref)))
    if not worst <= GRAD_RTOL:
        raise SystemExit(f"{name}: gradient disagrees with autodiff_grad (rel {worst:.2e}); not timed")
    return worst


def flops_per_example(sizes):
    """Matrix-product FLOPs of one example's SGD step (2 per multiply-add):
    forward Σ_l n_l·n_{l+1}, BP4 the same again, BP2 Σ_{l≥1} n_l·n_{l+1}
    (no δ for the inputs). Elementwise work (σ, δ products, the update) is
    not counted."""
    prods = [a * b for a, b in zip(sizes[:-1], sizes[1:])]
    return 2 * (2 * sum(prods) + sum(prods[1:]))


PEAK_N = 2048
_NUMPY_PEAK = """
import time, numpy as np
a = np.random.default_rng(0).standard_normal((N, N), dtype=np.float32)
a @ a
ts = []
for _ in range(5):
    t = time.perf_counter(); a @ a; ts.append(time.perf_counter() - t)
print(sorted(ts)[2])
"""


def matmul_peak():
    """float32 GFLOP/s of a 2048³ matrix product: JAX (jit) in this process, and
    NumPy in a subprocess with OPENBLAS_CORETYPE/OPENBLAS_L2_SIZE unset (they
    slow a current OpenBLAS; unset for that command only) and with them as set."""
    import subprocess
    flop = 2 * PEAK_N ** 3
    a = jnp.asarray(np.random.default_rng(0).standard_normal((PEAK_N, PEAK_N), dtype=np.float32))
    f = jax.jit(jnp.dot)
    jax.block_until_ready(f(a, a))
    ts = []
    for _ in range(5):
        t0 = time.perf_counter()
        jax.block_until_ready(f(a, a))
        ts.append(time.perf_counter() - t0)
    out = {"jax": flop / statistics.median(ts) / 1e9}
    code = _NUMPY_PEAK.replace("N, N", f"{PEAK_N}, {PEAK_N}")
    for label, env in (("numpy (OPENBLAS_* unset)",
                        {k: v for k, v in os.environ.items() if not k.startswith("OPENBLAS_")}),
                       ("numpy (environment as set)", dict(os.environ))):
        r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
        out[label] = flop / float(r.stdout) / 1e9 if r.returncode == 0 else None
    return out


def _time(fn, repeats):
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return times


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--book-epochs", type=int, default=1, help="network.py-style epochs to time")
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "results")
    args = ap.parse_args(argv)

    mnist = data.load_mnist(progress=False)
    images, labels = mnist.train.images, mnist.train.labels
    n = len(labels)
    y32 = np.eye(10, dtype=np.float32)[labels]
    x32 = mnist.train.x
    key = jax.random.PRNGKey(0)
    params32 = jaxnet.init_params(key, SIZES)
    params64 = jax.tree.map(lambda a: a.astype(jnp.float64), params32)
    order = np.random.default_rng(0).permutation(n).astype(np.int32)
    xb, yb = x32[:BATCH].astype(np.float64), y32[:BATCH].astype(np.float64)

    def nm_grad(p, x, y):
        gw, gb = numpy_matrix.gradient([np.asarray(l.w) for l in p], [np.asarray(l.b) for l in p], x, y)
        return tuple(jaxnet.Layer(w, b) for w, b in zip(gw, gb))

    def book_grad(p, x, y):
        net = network_py.Network([l.w for l in p], [l.b for l in p])
        nb = [np.zeros(b.shape) for b in net.biases]
        nw = [np.zeros(w.shape) for w in net.weights]
        for xi, yi in network_py.book_format(x, y):
            db, dw = net.backprop(xi, yi)
            nb = [a + d for a, d in zip(nb, db)]
            nw = [a + d for a, d in zip(nw, dw)]
        return tuple(jaxnet.Layer(w / len(x), b.ravel() / len(x)) for w, b in zip(nw, nb))

    from jaxnet import cref
    checks = {
        "jaxnet.backprop": _check_gradient("jaxnet.backprop", jaxnet.backprop, params64, xb, yb),
        "C kernel": _check_gradient("C kernel", cref.backprop, params64, xb, yb),
        "numpy whole-mini-batch": _check_gradient("numpy", nm_grad, params64, xb, yb),
        "network.py per-example": _check_gradient("network.py", book_grad, params64, xb, yb),
    }

    rows = []
    x_dev, y_dev, order_dev = jax.device_put(images), jax.device_put(y32), jax.device_put(order)

    for grad in ("backprop", "autodiff"):
        def run(p=params32, grad=grad):
            return jax.block_until_ready(jaxnet.train_epoch(
                p, x_dev, y_dev, order_dev, eta=ETA, batch_size=BATCH, x_scale=data.PIXEL_SCALE,
                grad=grad))
        t0 = time.perf_counter()
        jaxnet._train._train_epoch.lower(
            params32, x_dev, y_dev, order_dev, ETA, data.PIXEL_SCALE, batch_size=BATCH,
            grad=grad).compile()
        compile_s = time.perf_counter() - t0
        run()  # warm-up (first execution)
        rows.append(dict(path=f"jaxnet.train_epoch (grad={grad})", dtype="float32",
                         compile_s=compile_s, times=_time(run, args.repeats)))

    x64, y64 = x32.astype(np.float64), y32.astype(np.float64)
    for dtype, p, xx, yy in (("float32", params32, x32, y32), ("float64", params64, x64, y64)):
        cref.train_epoch(p, xx[:1000], yy[:1000], np.arange(1000), eta=ETA, batch_size=BATCH)
        rows.append(dict(path="C kernel (jaxnet.cref.train_epoch)", dtype=dtype, compile_s=None,
                         times=_time(lambda p=p, xx=xx, yy=yy: cref.train_epoch(
                             p, xx, yy, order, eta=ETA, batch_size=BATCH), args.repeats)))

    w32 = [np.asarray(l.w) for l in params32]
    b32 = [np.asarray(l.b) for l in params32]
    numpy_matrix.epoch(w32, b32, x32, y32, order[:1000], ETA, BATCH)  # warm-up
    rows.append(dict(path="NumPy whole-mini-batch", dtype="float32", compile_s=None,
                     times=_time(lambda: numpy_matrix.epoch(w32, b32, x32, y32, order, ETA, BATCH),
                                 max(3, args.repeats // 2))))

    book_data = network_py.book_format(x32, y32)
    net = network_py.Network(w32, b32)
    rows.append(dict(path="network.py per-example (NumPy)", dtype="float64", compile_s=None,
                     times=_time(lambda: net.epoch(book_data, order, ETA, BATCH), args.book_epochs)))

    peak = matmul_peak()
    best_peak = max(v for v in peak.values() if v)
    epoch_flop = flops_per_example(SIZES) * n
    for r in rows:
        r["median_s"] = statistics.median(r["times"])
        r["gflops"] = epoch_flop / r["median_s"] / 1e9
        r["pct_of_peak"] = 100 * r["gflops"] / best_peak
        r["min_s"], r["max_s"] = min(r["times"]), max(r["times"])
        r["samples_per_s"] = n / r["median_s"]
    fastest = min(r["median_s"] for r in rows)
    for r in rows:
        r["x_slower_than_fastest"] = r["median_s"] / fastest

    now = datetime.datetime.now(datetime.timezone.utc)
    meta = dict(
        date=now.isoformat(timespec="seconds"), command=" ".join([Path(sys.argv[0]).name] + sys.argv[1:]),
        machine=dict(platform=platform.platform(), processor=_cpu_name(), cores=os.cpu_count()),
        versions=dict(python=platform.python_version(), jax=jax.__version__, numpy=np.__version__),
        env={k: os.environ.get(k) for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "XLA_FLAGS")},
        config=dict(sizes=SIZES, eta=ETA, batch_size=BATCH, n_train=n, repeats=args.repeats),
        matmul_peak_gflops=peak, flops_per_example=flops_per_example(SIZES),
        gradient_checks_rel_err=checks, backend=jax.default_backend())
    result = dict(meta=meta, rows=rows)
    args.out.mkdir(parents=True, exist_ok=True)
    stem = f"{now:%Y-%m-%d}-epoch-{jax.default_backend()}"
    (args.out / f"{stem}.json").write_text(json.dumps(result, indent=1))
    md = _markdown(result)
    (args.out / f"{stem}.md").write_text(md)
    print(md)


def _cpu_name():
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def _markdown(result):
    m = result["meta"]
    lines = [f"# One epoch, 784-30-10, mini-batch 10, η = 3.0, full MNIST ({m['config']['n_train']} images)",
             "",
             f"- date: {m['date']}; command: `python benchmarks/{m['command']}`",
             f"- machine: {m['machine']['processor']}, {m['machine']['cores']} cores, {m['machine']['platform']}",
             f"- versions: {m['versions']}; backend: {m['backend']}; env: {m['env']}",
             "- every path's float64 gradient agreed with jax.grad before timing: "
             + ", ".join(f"{k} {v:.1e}" for k, v in m["gradient_checks_rel_err"].items()),
             f"- float32 matmul peak, {PEAK_N}³, same run: "
             + ", ".join(f"{k} {v:.0f} GFLOP/s" for k, v in m["matmul_peak_gflops"].items() if v),
             f"- GFLOP/s counts matrix products only: 2·(2·Σ n_l n_(l+1) + Σ_(l≥1) n_l n_(l+1)) "
             f"= {m['flops_per_example']:,} FLOP per example; % of the best peak above",
             "",
             "| path | dtype | s / epoch (median) | min–max | compile s | samples/s | GFLOP/s | % peak | × fastest |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in result["rows"]:
        comp = "" if r["compile_s"] is None else f"{r['compile_s']:.2f}"
        lines.append(f"| {r['path']} | {r['dtype']} | {r['median_s']:.3f} | {r['min_s']:.3f}–{r['max_s']:.3f} "
                     f"| {comp} | {r['samples_per_s']:,.0f} | {r['gflops']:.1f} | {r['pct_of_peak']:.0f} "
                     f"| {r['x_slower_than_fastest']:.1f} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
