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

import statistics
import time
from dataclasses import asdict, dataclass, field
from typing import Callable, NamedTuple, Optional

import numpy as np

from ._machine import PEAK_N as PEAK_N
from ._machine import machine as machine
from ._machine import matmul_peak as matmul_peak
from ._machine import now as now

GRAD_RTOL = 1e-10  # float64: every correct path agrees to ~1e-15; 1e-10 leaves room, flags any real bug


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
        from ..data import one_hot
        return one_hot(self.labels, self.sizes[-1], dtype)

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


def check_gradient(impl: Implementation, params64, x, y, rtol: float = GRAD_RTOL) -> float:
    """Largest relative difference of ``impl.gradient`` from jax.grad on (x, y), float64.

    Raises GradientMismatch above ``rtol`` (or on a wrong structure or shape),
    and on a reference gradient that is zero everywhere (nothing to compare)."""
    from ..nn import autodiff_grad
    from ._compare import compare
    ref = autodiff_grad(params64, x, y)
    if not any(np.any(np.asarray(r) != 0) for r in _leaves(ref)):
        raise GradientMismatch("the reference gradient is zero everywhere; choose another batch")
    try:
        got = impl.gradient(params64, x, y)
        if len(_leaves(got)) != len(_leaves(ref)):
            raise ValueError(f"{len(_leaves(got))} arrays where jax.grad gives {len(_leaves(ref))}")
        err = compare(got, ref)[1]
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


_COMPILE_EVENT = "/jax/core/compile/backend_compile_duration"
_compiled = [0.0, False]   # XLA's compile seconds so far; whether the listener is on


def compile_seconds(fn) -> float:
    """Runs ``fn()`` once and returns the seconds XLA spent compiling in it (JAX's
    compile-duration events), so the public API's first call gives the compile time."""
    import jax
    if not _compiled[1]:
        jax.monitoring.register_event_duration_secs_listener(
            lambda event, secs, **_: _compiled.__setitem__(
                0, _compiled[0] + (secs if event == _COMPILE_EVENT else 0.0)))
        _compiled[1] = True
    before = _compiled[0]
    fn()
    return _compiled[0] - before


# --- jaxnet's own implementations -----------------------------------------------------

def _jax_epoch(grad: str, precision: str = "highest") -> Implementation:
    def gradient(p, x, y):
        from ..nn import autodiff_grad, backprop
        return (backprop if grad == "backprop" else autodiff_grad)(p, x, y)

    def prepare(params, task):
        import jax

        from .._core.model import Model
        from ..train import train_epoch
        model = Model.dense(task.sizes, precision=precision)
        dtype = np.dtype(params[0].w.dtype)
        x, y, order = (jax.device_put(a) for a in (task.images, task.targets(dtype), task.order))

        def run():
            jax.block_until_ready(train_epoch(params, x, y, order, eta=task.eta,
                                              batch_size=task.batch_size, x_scale=task.x_scale,
                                              grad=grad, model=model))
        compile_s = compile_seconds(run)
        return run, compile_s
    label = "manual deltas" if grad == "backprop" else "jax.grad"
    if precision != "highest":
        label += f", precision {precision}"
    return Implementation(f"jaxnet train_epoch ({label})", "float32", gradient, prepare)


def _c_epoch(dtype: str, impl: str, threads: int = 1) -> Implementation:
    """The C epoch: the fast path reads the uint8 pixels with x_scale (as train_epoch
    does); the reference, float inputs."""
    from .. import cref  # ImportError when the extension was not built

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
                                 kernel="reference")
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

    from .._core.params import Layer
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

