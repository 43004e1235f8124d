"""Where the chapter-6 conv epoch's time goes on XLA:CPU: every kernel of the compiled
``jaxnet.train_epoch``, timed by the profiler, grouped by what it computes.

    python benchmarks/conv_profile.py [--batch 100] [--examples 2000] [--top 12]
    PJRT_NPROC=1 python benchmarks/conv_profile.py --batch 1000   # one thread: no overlap

One process: the epoch (network3's row 3 net, ``conv:20:5,pool:2,conv:40:5,pool:2,
fc:100,softmax:10``, η = 0.1, float32, the first ``--examples`` training digits) is
compiled with its optimised HLO dumped (``--xla_dump_to``), run twice, then once under
``jax.profiler.trace``. XLA:CPU records every kernel (thunk) it runs; each is matched
to its HLO instruction and grouped: ``dot`` (Eigen), ``ynn-dot`` (XLA's YNNPACK dot
fusions), and the other fusions by their root operation (``gather``: the patch matrices
and the mini-batch; ``mul``: col2im with σ'; ``stack``: the pooling's routing of δ;
``div``: σ). Printed: milliseconds and share by group, then the ``--top`` kernels with
their output shapes and the times each ran. With two threads the kernels overlap and
the shares are of summed kernel time, not of the wall. Writes nothing.
"""

from __future__ import annotations

import argparse
import collections
import glob
import gzip
import json
import os
import re
import tempfile
from pathlib import Path

SPEC = "conv:20:5,pool:2,conv:40:5,pool:2,fc:100,softmax:10"


def kernel_times(trace_dir: Path) -> dict:
    """``{kernel name: (total µs, calls)}`` of the complete events in a perfetto trace."""
    path = glob.glob(f"{trace_dir}/**/perfetto_trace.json.gz", recursive=True)[0]
    doc = json.load(gzip.open(path))
    events = doc["traceEvents"] if isinstance(doc, dict) else doc
    out: dict = collections.defaultdict(lambda: [0.0, 0])
    for e in events:
        if e.get("ph") == "X":
            out[e["name"]][0] += e["dur"]
            out[e["name"]][1] += 1
    return {k: tuple(v) for k, v in out.items()}


def instructions(hlo: str) -> dict:
    """``{name: (output shape, kind, the op_name's last part)}`` of an HLO text."""
    out = {}
    for line in hlo.splitlines():
        m = re.match(r"\s*(?:ROOT )?%(\S+) = (\S+) ([\w-]+)\(", line)
        if m:
            op = re.search(r'op_name="([^"]*)"', line)
            out[m.group(1)] = (m.group(2), m.group(3), op.group(1).split("/")[-1] if op else "")
    return out


def group(name: str, kind: str, op: str) -> str:
    if kind == "dot":
        return "dot"
    return "ynn-dot" if name.startswith("ynn_fusion") else f"{kind}:{op}"


def profile(batch: int, n: int, dump: Path, trace: Path):
    """Runs the epoch under the profiler; ``(kernels {name: (µs, calls)}, HLO text)``."""
    os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + f" --xla_dump_to={dump}")
    import jax
    import numpy as np

    import jaxnet
    from jaxnet import data
    d = data.load_mnist(progress=False)
    model = jaxnet.parse_layers(SPEC, 784)
    params = jaxnet.init_params(jax.random.PRNGKey(0), model, init="network3")
    y = np.eye(10, dtype=np.float32)[d.train.labels[:n]]
    order = np.random.default_rng(1).permutation(n).astype(np.int32)
    args = [jax.device_put(a) for a in (d.train.images[:n], y, order)]

    def run():
        return jax.block_until_ready(jaxnet.train_epoch(
            params, *args, eta=0.1, batch_size=batch, model=model, x_scale=data.PIXEL_SCALE))
    run()
    run()
    with jax.profiler.trace(str(trace), create_perfetto_trace=True):
        run()
    hlo = max(dump.glob("*jit_epoch*after_optimizations.txt"), key=lambda p: p.stat().st_size)
    return kernel_times(trace), hlo.read_text()


def report(kernels: dict, hlo: str, batch: int, n: int, top: int) -> str:
    info = instructions(hlo)
    rows = sorted(((us, calls, name) + info[name] for name, (us, calls) in kernels.items()
                   if name in info), reverse=True)
    total = sum(r[0] for r in rows)
    by: dict = collections.Counter()
    for us, _, name, _, kind, op in rows:
        by[group(name, kind, op)] += us
    lines = [f"mini-batch {batch}, {n} examples, threads: "
             f"{os.environ.get('PJRT_NPROC', 'default')}; kernel time {total / 1e3:.1f} ms "
             f"= {total / n:.0f} µs an example", "", "| group | ms | share |", "| --- | --- | --- |"]
    lines += [f"| {g} | {us / 1e3:.1f} | {100 * us / total:.1f} % |" for g, us in by.most_common()]
    lines += ["", "| kernel | output | group | ms | runs |", "| --- | --- | --- | --- | --- |"]
    lines += [f"| {name} | {shape} | {group(name, kind, op)} | {us / 1e3:.1f} | {calls} |"
              for us, calls, name, shape, kind, op in rows[:top]]
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--batch", type=int, default=100)
    ap.add_argument("--examples", type=int, default=2000)
    ap.add_argument("--top", type=int, default=12)
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        kernels, hlo = profile(args.batch, args.examples, Path(tmp) / "dump",
                               Path(tmp) / "trace")
    print(report(kernels, hlo, args.batch, args.examples, args.top))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
