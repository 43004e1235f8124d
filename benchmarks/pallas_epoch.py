"""The fused Pallas epoch (issue 24): one network's epoch and populations of 1..4096
members in one launch, beside ``train_epoch`` and ``fit_population`` (XLA).

    python benchmarks/pallas_epoch.py [--members 1,16,256,1024,4096] [--jax-members 1,16,256,1024]
                                      [--precision highest,default] [--examples N] [--repeats 3]
                                      [--peak-tflops T] [--budget S] [--quick] [--out DIR]

784-30-10, quadratic cost, sigmoid, mini-batch 10, float32, the book's training images
(``--quick``: the shipped 5,000-image sample, 2 repeats, members 1,4, and on a CPU
the kernel interpreted: it proves the script works, its numbers mean nothing).
Verifies first: one epoch of ``train_epoch(impl="pallas")`` against
``impl="jax"``, and a population member against its solo run; then times (medians of
``--repeats`` epochs after a compiled warm-up, the first call's compile time apart):

  one network   train_epoch impl="jax" and impl="pallas", seconds an epoch
  populations   jaxnet.pallas_population_epoch (one launch, P members) and
                jaxnet.fit_population's epoch (vmapped XLA) up to --jax-members

and reports member-epochs/s and the share of the device's float32 FMA peak the
arithmetic reaches (95,880 FLOP an example for 784-30-10: forward, BP4 and BP2;
the peak from --peak-tflops or a table of known devices, TF32 rows measured
against the same float32 peak). Results are written after every row (STEM.json,
STEM.md under --out), so a run cut short keeps what finished; --budget S skips the
rows that would end past S seconds (predicted from the previous row's rate).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

from common import RESULTS, save

SIZES = (784, 30, 10)
# float32 (non-tensor) FMA peaks, TFLOP/s, by device kind: NVIDIA's data sheets (SXM).
PEAKS = {"H200": 67.0, "H100": 67.0, "A100": 19.5, "L4": 30.3, "A10": 31.2, "V100": 15.7}
# The verification's tolerance: 500+ float32 steps summed in other orders (~1e-6
# measured on the CPU; TF32 on a GPU ~1e-3): far below a wrong gradient's 1e-1.
VERIFY_RTOL = {"highest": 1e-3, "high": 5e-2, "default": 5e-2}


def flops_per_example(sizes=SIZES) -> int:
    """Forward (2·n_l·n_{l-1} a layer), BP4 (the same) and BP2 (above layer 1)."""
    pairs = [a * b for a, b in zip(sizes[:-1], sizes[1:])]
    return 4 * sum(pairs) + 2 * sum(pairs[1:])


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--members", default=None, help="population sizes (default 1,16,256,1024,4096)")
    ap.add_argument("--jax-members", default=None, help="fit_population sizes (default 1,16,256,1024)")
    ap.add_argument("--precision", default="highest,default")
    ap.add_argument("--examples", type=int, default=None)
    ap.add_argument("--repeats", type=int, default=None)
    ap.add_argument("--peak-tflops", type=float, default=None)
    ap.add_argument("--budget", type=float, default=float("inf"), metavar="S")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args(argv)
    q = args.quick
    members = _ints(args.members or ("1,4" if q else "1,16,256,1024,4096"))
    jax_members = _ints(args.jax_members or ("1,4" if q else "1,16,256,1024"))
    repeats = args.repeats or (2 if q else 3)

    import jax

    from jaxnet import bench, data
    d = data.load_sample() if q else data.load_mnist(progress=False)
    n = min(args.examples or len(d.train), len(d.train))
    x, labels = d.train.images[:n], d.train.labels[:n]
    device = jax.devices()[0].device_kind
    peak = args.peak_tflops or next((v for k, v in PEAKS.items() if k in device), None)
    doc = dict(date=bench.now(), command="python benchmarks/pallas_epoch.py " + " ".join(
        sys.argv[1:] if argv is None else argv), machine=bench.machine(), device=device,
        examples=n, repeats=repeats, peak_tflops=peak, flops_per_example=flops_per_example(),
        rows=[])
    stem = args.out / f"{doc['date'][:10]}-pallas-epoch-{doc['machine']['backend']}"
    t_start = time.perf_counter()
    for precision in args.precision.split(","):
        ctx = _Context(x, labels, precision, repeats, peak, n)
        doc["rows"] += ctx.verify()
        doc["rows"] += ctx.solo()
        _save(stem, doc)
        for kind, sizes in (("pallas", members), ("fit_population", jax_members)):
            rate = None                      # member-epochs/s of the last row: predicts the next
            for p in sizes:
                left = args.budget - (time.perf_counter() - t_start)
                if left <= 0 or (rate and (repeats + 1) * p / rate > left):
                    print(f"budget: skipped {kind} P={p} and above ({precision})", file=sys.stderr)
                    break
                doc["rows"].append(ctx.population(kind, p))
                rate = doc["rows"][-1]["member_epochs_per_s"]
                _save(stem, doc)
    return _save(stem, doc, final=True)


def _ints(s):
    return [int(v) for v in s.split(",")]


class _Context:
    """One precision's runs over the same data."""

    def __init__(self, x, labels, precision, repeats, peak, n):
        import jax
        import jax.numpy as jnp

        import jaxnet
        from jaxnet import data
        self.jax, self.jnp, self.jaxnet = jax, jnp, jaxnet
        self.x, self.labels, self.n = jax.device_put(x), labels, n
        self.y = jnp.asarray(data.one_hot(labels, 10))
        self.precision, self.repeats, self.peak = precision, repeats, peak
        self.model = jaxnet.Model.dense(list(SIZES), precision=precision)
        self.scale = data.PIXEL_SCALE

    def _row(self, what, members, times, compile_s, **extra):
        s = statistics.median(times)
        flops = members * self.n * flops_per_example() / s
        row = dict(what=what, precision=self.precision, members=members, epoch_s=s,
                   min_max=[min(times), max(times)], compile_s=compile_s,
                   member_epochs_per_s=members / s, gflops=flops / 1e9,
                   pct_fp32_peak=None if self.peak is None else 100 * flops / (self.peak * 1e12),
                   **extra)
        print(f"{what:16} {self.precision:8} P={members:<5} {s:.4f} s/epoch, "
              f"{row['member_epochs_per_s']:.1f} member-epochs/s"
              + ("" if row["pct_fp32_peak"] is None else f", {row['pct_fp32_peak']:.2f} % of peak"),
              file=sys.stderr, flush=True)
        return row

    def _timed(self, fn):
        """``(times, first call's seconds)``: a warm-up call (compiles), then repeats."""
        t0 = time.perf_counter()
        self.jax.block_until_ready(fn())
        first = time.perf_counter() - t0
        times = []
        for _ in range(self.repeats):
            t0 = time.perf_counter()
            self.jax.block_until_ready(fn())
            times.append(time.perf_counter() - t0)
        return times, first

    def _params(self, p, seed=0):
        keys = self.jax.random.split(self.jax.random.PRNGKey(seed), p)
        return keys, self.jaxnet.init_population(keys, self.model)

    def verify(self):
        """One epoch by both implementations from the same start and order, and member 1
        of a 3-member launch against its solo run: the largest relative differences."""
        jax, jnp, jaxnet = self.jax, self.jnp, self.jaxnet
        keys, pop = self._params(3)
        orders = jnp.stack([jaxnet.shuffle_order(k, self.n)[1] for k in keys])
        one = jax.tree.map(lambda a: a[1], pop)
        kw = dict(batch_size=10, model=self.model, x_scale=self.scale)
        ends = [jaxnet.train_epoch(one, self.x, self.y, orders[1], eta=3.0, impl=impl, **kw)
                for impl in ("jax", "pallas")]
        popped, _ = jaxnet.pallas_population_epoch(pop, jaxnet.SgdState(jnp.full(3, 3.0)),
                                                   self.x, self.y, orders, **kw)
        member = jax.tree.map(lambda a: a[1], popped)
        rows = []
        for what, a, b in (("verify pallas vs jax epoch", ends[1], ends[0]),
                           ("verify member vs solo", member, ends[1])):
            err = max(float(jnp.max(jnp.abs(u - v)) / jnp.max(jnp.abs(v)))
                      for u, v in zip(jax.tree.leaves(a), jax.tree.leaves(b)))
            ok = err <= VERIFY_RTOL[self.precision]
            print(f"{what} ({self.precision}): max relative difference {err:.2e} "
                  f"{'ok' if ok else 'FAIL'}", file=sys.stderr)
            rows.append(dict(what=what, precision=self.precision, max_rel=err, ok=ok))
        return rows

    def solo(self):
        jax, jaxnet = self.jax, self.jaxnet
        _, pop = self._params(1)
        one = jax.tree.map(lambda a: a[0], pop)
        order = jaxnet.shuffle_order(jax.random.PRNGKey(1), self.n)[1]
        rows = []
        for impl in ("jax", "pallas"):
            times, first = self._timed(lambda impl=impl: jaxnet.train_epoch(
                one, self.x, self.y, order, eta=3.0, batch_size=10, model=self.model,
                x_scale=self.scale, impl=impl))
            rows.append(self._row(f"train_epoch {impl}", 1, times, first - min(times)))
        return rows

    def population(self, kind, p):
        jax, jnp, jaxnet = self.jax, self.jnp, self.jaxnet
        keys, pop = self._params(p)
        etas = jnp.linspace(0.5, 3.0, p, dtype=jnp.float32)
        if kind == "fit_population":
            t0 = time.perf_counter()
            res = jaxnet.fit_population(keys, pop, self.x, self.labels, epochs=1 + self.repeats,
                                        eta=etas, batch_size=10, x_scale=self.scale,
                                        model=self.model)
            return self._row("fit_population", p, res.epoch_seconds[1:], res.compile_seconds,
                             total_s=time.perf_counter() - t0)
        orders = jax.vmap(lambda k: jaxnet.shuffle_order(k, self.n)[1])(keys)  # one each
        state = jaxnet.SgdState(etas)
        times, first = self._timed(lambda: jaxnet.pallas_population_epoch(
            pop, state, self.x, self.y, orders, batch_size=10, model=self.model,
            x_scale=self.scale))
        return self._row("pallas population", p, times, first - min(times))


def _save(stem, doc, final=False) -> int:
    """Writes STEM.json and STEM.md (after every row; the last time also to stdout);
    returns 0, or 1 when a verification failed or a file could not be written."""
    lines = [f"# The fused Pallas epoch, {doc['date'][:10]}", "",
             f"- command: `{doc['command']}`",
             f"- device: {doc['device']}; {doc['machine']['versions']}",
             f"- 784-30-10, batch 10, float32, {doc['examples']:,} images an epoch; medians of "
             f"{doc['repeats']} epochs after a warm-up; {doc['flops_per_example']:,} FLOP an "
             f"example; float32 FMA peak {doc['peak_tflops'] or 'unknown'} TFLOP/s", "",
             "| what | precision | members | s/epoch | member-epochs/s | % fp32 peak | compile s |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    checks = []
    for r in doc["rows"]:
        if "max_rel" in r:
            checks.append(f"- {r['what']} ({r['precision']}): {r['max_rel']:.2e} "
                          f"{'ok' if r['ok'] else 'FAIL'}")
            continue
        pct = "–" if r["pct_fp32_peak"] is None else f"{r['pct_fp32_peak']:.2f}"
        lines.append(f"| {r['what']} | {r['precision']} | {r['members']} | {r['epoch_s']:.4f} "
                     f"| {r['member_epochs_per_s']:.1f} | {pct} | {r['compile_s']:.1f} |")
    md = "\n".join(lines + [""] + checks) + "\n"
    status = save(stem, doc, md, prog="benchmarks/pallas_epoch.py")
    if final:
        print(md)
        status = status or int(not all(r.get("ok", True) for r in doc["rows"]))
    return status


if __name__ == "__main__":
    sys.exit(main())
