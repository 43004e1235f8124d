"""Benchmark harness: check each implementation's gradient, then time its epoch.

An :class:`Implementation` is a name, a dtype, a ``gradient`` function (used
once, in float64, against :func:`jaxnet.autodiff_grad`) and a ``prepare``
function that returns a zero-argument callable running one epoch. The
harness refuses to time an implementation whose gradient disagrees: its row
says so instead of carrying a time.

``jaxnet bench`` (see :func:`main`) times jaxnet's own paths; the full harness
with the peers (network.py, whole-mini-batch NumPy, PyTorch), scaling, memory
and cold start is ``python benchmarks/run.py`` in the source tree.

Shapes: ``images`` (N, n_in) uint8, ``targets`` (N, n_out) one-hot float,
``order`` (N,) int32 permutation; parameters are ``tuple[Layer]`` with
``w (n_out, n_in)``, ``b (n_out,)``.
"""

from __future__ import annotations

import datetime
import os
import platform
import statistics
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from typing import Callable, NamedTuple, Optional

import numpy as np

GRAD_RTOL = 1e-10  # float64: every correct path agrees to ~1e-15; 1e-10 leaves room, flags any real bug
PEAK_N = 2048       # the matrix product that measures the float32 peak: 2·2048³ FLOP


class GradientMismatch(RuntimeError):
    """An implementation's gradient disagrees with jax.grad; it is not timed."""


class Task(NamedTuple):
    """One epoch's inputs, shared by every implementation in a run."""
    images: np.ndarray     # (N, n_in) uint8
    labels: np.ndarray     # (N,) int
    order: np.ndarray      # (N,) int32, a permutation of range(N)
    sizes: tuple           # layer sizes, input first
    eta: float
    batch_size: int
    x_scale: float         # pixel value = uint8 · x_scale

    def targets(self, dtype) -> np.ndarray:
        """(N, n_out) one-hot in ``dtype``."""
        return np.eye(self.sizes[-1], dtype=dtype)[self.labels]

    def inputs(self, dtype) -> np.ndarray:
        """(N, n_in) pixels scaled to [0, 1) in ``dtype``."""
        dtype = np.dtype(dtype)
        return self.images.astype(dtype) * dtype.type(self.x_scale)


class Implementation(NamedTuple):
    """gradient(params64, x (m, n_in) f64, y (m, n_out) f64) -> tuple[Layer] (mean over m);
    prepare(params in ``dtype``, task) -> (run_one_epoch, compile_seconds or None)."""
    name: str
    dtype: str
    gradient: Callable
    prepare: Callable


@dataclass
class Row:
    name: str
    dtype: str
    sizes: list
    batch_size: int
    n_examples: int
    grad_rel_err: Optional[float] = None
    refused: Optional[str] = None          # why it was not timed
    compile_s: Optional[float] = None
    times: list = field(default_factory=list)
    flops_per_example: int = 0

    @property
    def median_s(self):
        return statistics.median(self.times) if self.times else None

    def summary(self, peak_gflops=None) -> dict:
        d = asdict(self)
        if self.times:
            med = self.median_s
            d.update(median_s=med, min_s=min(self.times), max_s=max(self.times),
                     samples_per_s=self.n_examples / med,
                     gflops=self.flops_per_example * self.n_examples / med / 1e9)
            if peak_gflops:
                d["pct_of_peak"] = 100 * d["gflops"] / peak_gflops
        return d


def flops_per_example(sizes) -> int:
    """FLOPs of the matrix products in one example's SGD step, 2 per multiply-add:
    forward Σ_l n_l·n_(l+1), BP4's weight gradient the same again, and BP2's
    δ propagation Σ_(l≥1) n_l·n_(l+1) (no δ for the inputs). Elementwise work
    (σ, the δ products, the update) is not counted."""
    prods = [a * b for a, b in zip(sizes[:-1], sizes[1:])]
    return 2 * (2 * sum(prods) + sum(prods[1:]))


def _rel_err(got, ref) -> float:
    import jax
    worst = 0.0
    for g, r in zip(jax.tree.leaves(got), jax.tree.leaves(ref), strict=True):
        g, r = np.asarray(g, np.float64), np.asarray(r, np.float64)
        if g.shape != r.shape:
            return float("inf")
        scale = np.max(np.abs(r))
        err = np.max(np.abs(g - r)) / scale if scale > 0 else np.max(np.abs(g))
        worst = max(worst, float(err) if np.isfinite(err) else float("inf"))
    return worst


def check_gradient(impl: Implementation, params64, x, y, rtol: float = GRAD_RTOL) -> float:
    """Largest relative difference of ``impl.gradient`` from jax.grad on (x, y), float64.

    Raises GradientMismatch above ``rtol`` (or on a wrong structure or shape),
    and on a reference gradient that is zero everywhere (nothing to compare)."""
    from ._autodiff import autodiff_grad
    ref = autodiff_grad(params64, x, y)
    if not any(np.any(np.asarray(r) != 0) for r in _leaves(ref)):
        raise GradientMismatch("the reference gradient is zero everywhere; choose another batch")
    try:
        got = impl.gradient(params64, x, y)
        err = _rel_err(got, ref)
    except Exception as e:  # noqa: BLE001 — any failure means the path is not trusted
        raise GradientMismatch(f"{impl.name}: gradient failed: {type(e).__name__}: {e}") from e
    if not err <= rtol:
        raise GradientMismatch(f"{impl.name}: gradient differs from jax.grad by {err:.2e} "
                               f"relative (allowed {rtol:.0e}); not timed")
    return err


def _leaves(tree):
    import jax
    return jax.tree.leaves(tree)


def measure(impl: Implementation, params, task: Task, *, repeats: int, check_batch=None) -> Row:
    """Check the gradient on ``check_batch`` (params64, x, y), then warm up once and time
    ``repeats`` epochs. A refused implementation comes back with ``refused`` set."""
    row = Row(impl.name, impl.dtype, list(task.sizes), task.batch_size, len(task.order),
              flops_per_example=flops_per_example(task.sizes))
    if check_batch is not None:
        try:
            row.grad_rel_err = check_gradient(impl, *check_batch)
        except GradientMismatch as e:
            row.refused = str(e)
            return row
    run, row.compile_s = impl.prepare(params, task)
    run()  # warm-up: first execution, caches, page faults
    for _ in range(repeats):
        t0 = time.perf_counter()
        run()
        row.times.append(time.perf_counter() - t0)
    return row


# --- jaxnet's own implementations -----------------------------------------------------

def _jax_epoch(grad: str, precision: str = "highest") -> Implementation:
    def gradient(p, x, y):
        from ._autodiff import autodiff_grad
        from ._network import backprop
        return (backprop if grad == "backprop" else autodiff_grad)(p, x, y)

    def prepare(params, task):
        import jax

        from ._train import _train_epoch, train_epoch
        dtype = np.dtype(params[0].w.dtype)
        x, y, order = (jax.device_put(a) for a in (task.images, task.targets(dtype), task.order))
        t0 = time.perf_counter()
        _train_epoch.lower(params, x, y, order, task.eta, task.x_scale,
                           batch_size=task.batch_size, grad=grad, precision=precision).compile()
        compile_s = time.perf_counter() - t0

        def run():
            jax.block_until_ready(train_epoch(params, x, y, order, eta=task.eta,
                                              batch_size=task.batch_size, x_scale=task.x_scale,
                                              grad=grad, precision=precision))
        return run, compile_s
    label = "manual deltas" if grad == "backprop" else "jax.grad"
    if precision != "highest":
        label += f", precision {precision}"
    return Implementation(f"jaxnet train_epoch ({label})", "float32", gradient, prepare)


def _c_epoch(dtype: str, impl: str, threads: int = 1) -> Implementation:
    """The C epoch: the fast path reads the uint8 pixels with x_scale (as train_epoch
    does); the reference, float inputs."""
    from . import cref  # ImportError when the extension was not built

    def prepare(params, task):
        import jax
        dt = np.dtype(dtype)
        y = task.targets(dt)
        p = jax.tree.map(lambda a: np.asarray(a, dt), params)
        if impl == "fast":
            def run():
                cref.train_epoch(p, task.images, y, task.order, eta=task.eta,
                                 batch_size=task.batch_size, x_scale=task.x_scale,
                                 threads=threads)
        else:
            x = task.inputs(dt)

            def run():
                cref.train_epoch(p, x, y, task.order, eta=task.eta, batch_size=task.batch_size,
                                 impl="reference")
        return run, None
    label = "fast path, uint8 pixels" if impl == "fast" else "reference"
    return Implementation(f"C kernel ({label}, {dtype})", dtype, cref.backprop, prepare)


def jaxnet_implementations(precisions=("highest",), c_reference=True,
                           threads=(1,)) -> tuple[list[Implementation], list[str]]:
    """jaxnet's paths (the JAX ones at each of ``precisions``; the C fast path at each of
    ``threads``, and its reference), and notes on any that are unavailable."""
    impls = [_jax_epoch(g, p) for p in precisions for g in ("backprop", "autodiff")]
    notes = []
    try:
        impls += [_c_epoch(dt, "fast", t) for dt in ("float32", "float64") for t in threads]
        if c_reference:
            impls.append(_c_epoch("float32", "reference"))
    except ImportError as e:
        notes.append(f"C kernel absent: {e}")
    return impls, notes


# --- the machine ----------------------------------------------------------------------

_NUMPY_PEAK = """
import sys, time, numpy as np
n = int(sys.argv[1])
a = np.random.default_rng(0).standard_normal((n, n), dtype=np.float32)
a @ a
ts = []
for _ in range(5):
    t = time.perf_counter(); a @ a; ts.append(time.perf_counter() - t)
print(sorted(ts)[2])
"""


def matmul_peak(n: int = PEAK_N, precisions=("highest",)) -> dict:
    """float32 GFLOP/s of an n³ matrix product (median of 5): JAX in this process at
    each of ``precisions`` (key ``"jax"`` for highest, ``"jax, precision P"`` for the
    others), and NumPy in subprocesses with OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE unset
    (a machine may set them, slowing OpenBLAS; unset for that command only) and as set."""
    import jax
    import jax.numpy as jnp

    from ._precision import lax_precision
    flop = 2 * n ** 3
    a = jax.device_put(np.random.default_rng(0).standard_normal((n, n), dtype=np.float32))
    out = {}
    for p in precisions:
        f = jax.jit(lambda a, b, p=p: jnp.dot(a, b, precision=lax_precision(p)))
        jax.block_until_ready(f(a, a))
        ts = []
        for _ in range(5):
            t0 = time.perf_counter()
            jax.block_until_ready(f(a, a))
            ts.append(time.perf_counter() - t0)
        out["jax" if p == "highest" else f"jax, precision {p}"] = flop / statistics.median(ts) / 1e9
    for label, env in (("numpy, OPENBLAS_* unset",
                        {k: v for k, v in os.environ.items()
                         if k not in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")}),
                       ("numpy, environment as set", dict(os.environ))):
        r = subprocess.run([sys.executable, "-c", _NUMPY_PEAK, str(n)], capture_output=True,
                           text=True, env=env)
        out[label] = flop / float(r.stdout) / 1e9 if r.returncode == 0 else None
    return out


def machine() -> dict:
    import jax
    cpu = platform.processor()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name")), cpu)
    except OSError:
        pass
    return dict(processor=cpu, cores=os.cpu_count(),
                usable_cores=len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
                platform=platform.platform(), backend=jax.default_backend(),
                devices=[str(d) for d in jax.devices()],
                versions=dict(python=platform.python_version(), jax=jax.__version__,
                              numpy=np.__version__),
                env={k: os.environ.get(k) for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE",
                                                    "XLA_FLAGS", "OMP_NUM_THREADS")})


def now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


# --- tables ---------------------------------------------------------------------------

def table(rows: list[dict]) -> str:
    """Markdown table of Row.summary() dicts; '× fastest' against the fastest timed row."""
    timed = [r for r in rows if r.get("median_s")]
    fastest = min((r["median_s"] for r in timed), default=None)
    out = ["| implementation | dtype | s / epoch (median) | min–max | compile s | samples/s "
           "| GFLOP/s | % peak | × fastest | gradient vs jax.grad |",
           "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in rows:
        grad = "" if r.get("grad_rel_err") is None else f"{r['grad_rel_err']:.0e}"
        if r.get("refused"):
            out.append(f"| {r['name']} | {r['dtype']} | **not timed**: {r['refused']} "
                       f"| | | | | | | {grad} |")
            continue
        comp = "" if r.get("compile_s") is None else f"{r['compile_s']:.2f}"
        pct = f"{r['pct_of_peak']:.0f}" if "pct_of_peak" in r else ""
        out.append(f"| {r['name']} | {r['dtype']} | {r['median_s']:.3f} "
                   f"| {r['min_s']:.3f}–{r['max_s']:.3f} | {comp} | {r['samples_per_s']:,.0f} "
                   f"| {r['gflops']:.1f} | {pct} | {r['median_s'] / fastest:.1f} | {grad} |")
    return "\n".join(out) + "\n"


# --- `jaxnet bench` -------------------------------------------------------------------

def run_table(impls, task: Task, params32, *, repeats: int, check_examples: int = 10,
              peak: Optional[dict] = None) -> list[dict]:
    """Check then time every implementation on ``task``; rows as dicts (see Row.summary)."""
    import jax.numpy as jnp

    from ._params import Layer
    params64 = tuple(Layer(jnp.asarray(l.w, jnp.float64), jnp.asarray(l.b, jnp.float64))
                     for l in params32)
    idx = task.order[:check_examples]
    check = (params64, task.inputs(np.float64)[idx], task.targets(np.float64)[idx])
    best_peak = max((v for v in (peak or {}).values() if v), default=None)
    rows = []
    for impl in impls:
        p = params32 if impl.dtype == "float32" else params64
        row = measure(impl, p, task, repeats=repeats, check_batch=check)
        rows.append(row.summary(best_peak))
    return rows


def main(argv=None) -> int:
    """``jaxnet bench``: jaxnet's paths on the book's epoch, checked then timed."""
    from . import data
    from .cli import Parser
    ap = Parser(prog="jaxnet bench", description=main.__doc__)
    ap.add_argument("--data", choices=("mnist", "sample"), default="mnist")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--batch-size", type=int, default=10)
    ap.add_argument("--json", default=None, metavar="FILE", help="also write the results here")
    ap.add_argument("--no-peak", action="store_true", help="skip the 2048³ matmul peak")
    ap.add_argument("--precision", default="highest", metavar="LIST",
                    help="comma-separated precisions for the JAX paths and the peak, from "
                         "highest, high, default (default: highest)")
    args = ap.parse_args(argv)
    if args.repeats < 1 or args.batch_size < 1:
        ap.error("--repeats and --batch-size must be positive")
    precisions = tuple(p.strip() for p in args.precision.split(",") if p.strip())
    if not precisions or any(p not in ("highest", "high", "default") for p in precisions):
        ap.error(f"--precision: expected names from highest, high, default, got {args.precision!r}")
    if args.json is not None:
        from ._atomic import unwritable
        problem = unwritable(args.json)
        if problem:
            ap.error(f"--json {args.json}: {problem}")
    n = (data.MNIST_SIZES if args.data == "mnist" else data.SAMPLE_SIZES)["train"]
    if args.batch_size > n:
        ap.error(f"--batch-size {args.batch_size} exceeds the {n} training images of {args.data}")
    return bench(args.data, args.repeats, args.batch_size, args.json, peak=not args.no_peak,
                 precisions=precisions)


def bench(data_name, repeats, batch_size, json_path=None, *, peak=True, out=None,
          precisions=("highest",)) -> int:
    out = out or sys.stdout
    import jax
    jax.config.update("jax_enable_x64", True)  # float64 gradient checks and the C float64 row

    from . import data
    from ._params import init_params
    d = data.load_mnist() if data_name == "mnist" else data.load_sample()
    n = len(d.train.labels)
    task = Task(d.train.images, d.train.labels,
                np.random.default_rng(0).permutation(n).astype(np.int32),
                (d.train.images.shape[1], 30, 10), 3.0, batch_size, data.PIXEL_SCALE)
    params32 = init_params(jax.random.PRNGKey(0), list(task.sizes))
    impls, notes = jaxnet_implementations(precisions)
    pk = matmul_peak(precisions=precisions) if peak else None
    rows = run_table(impls, task, params32, repeats=repeats, peak=pk)
    print(f"jaxnet bench: {'-'.join(map(str, task.sizes))}, eta {task.eta}, mini-batch "
          f"{batch_size}, {n} training images ({data_name}); median of {repeats} epochs after "
          f"a warm-up; {machine()['processor']}, backend {jax.default_backend()}", file=out)
    for note in notes:
        print(f"note: {note}", file=out)
    if pk:
        print("float32 matmul peak, 2048³: " + ", ".join(
            f"{k} {v:.0f} GFLOP/s" for k, v in pk.items() if v) + "; % peak is of the best",
            file=out)
    print(f"GFLOP/s counts {flops_per_example(task.sizes):,} FLOP per example "
          "(matrix products only; jaxnet.bench.flops_per_example)\n", file=out)
    print(table(rows), file=out)
    if json_path:
        import json

        from ._atomic import atomic_write
        doc = dict(date=now(), command="jaxnet bench " + " ".join(sys.argv[2:]),
                   machine=machine(), matmul_peak_gflops=pk, notes=notes, rows=rows)
        try:
            with atomic_write(json_path, "w") as f:
                f.write(json.dumps(doc, indent=1))
        except OSError as e:
            print(f"jaxnet bench: error: --json {json_path}: could not write it "
                  f"({e.strerror or e}); the table above is the result", file=sys.stderr)
            return 1
    return 1 if any(r.get("refused") for r in rows) else 0
