"""train_epoch at batch 10 before and after a change, in one run (the architecture
issue's speed check: within 5 % of the old figure).

    python benchmarks/refactor_speed.py --before /path/to/old/checkout [--rounds 4]

Each round runs the old and the new jaxnet in fresh processes, alternately (the
old one first in even rounds, second in odd ones), each timing ``--epochs``
epochs of the book's 784-30-10 network on real MNIST (50,000 uint8 images,
η = 3, mini-batches of 10) after a warm-up epoch; the report gives each side's
median over all rounds and their ratio, and that neither recompiled after the
warm-up. Results go to benchmarks/results/DATE-refactor-speed.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

CHILD = r"""
import json, sys, time
import jax, numpy as np
import jaxnet
from jaxnet import data
compiles = [0]
jax.monitoring.register_event_duration_secs_listener(
    lambda e, d, **k: compiles.__setitem__(
        0, compiles[0] + (e == "/jax/core/compile/backend_compile_duration")))
d = data.load_mnist(progress=False)
p = jaxnet.init_params(jax.random.PRNGKey(0), [784, 30, 10])
x, y = jax.device_put(d.train.images), jax.device_put(d.train.y())
n = int(sys.argv[1])
orders = [jax.device_put(np.random.default_rng(i).permutation(50000).astype(np.int32))
          for i in range(n + 1)]
def epoch(o):
    return jax.block_until_ready(jaxnet.train_epoch(p, x, y, o, eta=3.0, batch_size=10,
                                                    x_scale=1 / 256))
epoch(orders[0])
warm = compiles[0]
times = []
for o in orders[1:]:
    t = time.perf_counter(); epoch(o); times.append(time.perf_counter() - t)
print(json.dumps(dict(file=jaxnet.__file__, times=times, recompiles=compiles[0] - warm)))
"""


def run_side(path, epochs):
    env = {**os.environ, "PYTHONPATH": str(path)}
    r = subprocess.run([sys.executable, "-c", CHILD, str(epochs)], capture_output=True,
                       text=True, env=env, cwd=str(path), timeout=900)
    if r.returncode:
        raise SystemExit(f"{path}: {r.stderr[-2000:]}")
    out = json.loads(r.stdout.strip().splitlines()[-1])
    if not out["file"].startswith(str(Path(path).resolve())):
        raise SystemExit(f"{path}: imported {out['file']} instead")
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--before", required=True, type=Path, help="a checkout of the old commit")
    ap.add_argument("--after", type=Path, default=Path(__file__).resolve().parents[1])
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--epochs", type=int, default=10)
    args = ap.parse_args(argv)
    sys.path.insert(0, str(args.after))
    from jaxnet import bench
    sides = {"before": [], "after": []}
    recompiles = {"before": 0, "after": 0}
    for r in range(args.rounds):
        order = ("before", "after") if r % 2 == 0 else ("after", "before")
        for side in order:
            out = run_side(getattr(args, side).resolve(), args.epochs)
            sides[side] += out["times"]
            recompiles[side] += out["recompiles"]
    med = {k: statistics.median(v) for k, v in sides.items()}
    commit = lambda p: subprocess.run(["git", "-C", str(p), "rev-parse", "--short", "HEAD"],  # noqa: E731
                                      capture_output=True, text=True).stdout.strip()
    doc = dict(date=bench.now(), command="python benchmarks/refactor_speed.py " + " ".join(
        sys.argv[1:] if argv is None else argv), machine=bench.machine(),
        before=dict(commit=commit(args.before), median_s=med["before"], times=sides["before"]),
        after=dict(commit=commit(args.after), median_s=med["after"], times=sides["after"]),
        ratio=med["after"] / med["before"], recompiles=recompiles)
    m = doc["machine"]
    md = (f"# train_epoch, 784-30-10, batch 10, real MNIST: before and after, {doc['date'][:10]}\n\n"
          f"- command: `{doc['command']}`\n- machine: {m['processor']}, {m['cores']} cores; "
          f"{m['versions']}\n- {args.rounds} rounds alternating fresh processes, "
          f"{args.epochs} epochs each after a warm-up\n\n"
          f"| side | commit | median s/epoch | min | max |\n| --- | --- | --- | --- | --- |\n"
          + "".join(f"| {k} | {doc[k]['commit']} | {med[k]:.4f} | {min(sides[k]):.4f} | "
                    f"{max(sides[k]):.4f} |\n" for k in ("before", "after"))
          + f"\nafter / before = {doc['ratio']:.3f}; recompilations after the warm-up: "
            f"{recompiles}\n")
    stem = Path(__file__).with_name("results") / f"{doc['date'][:10]}-refactor-speed"
    stem.with_suffix(".json").write_text(json.dumps(doc, indent=1))
    stem.with_suffix(".md").write_text(md)
    print(md)


if __name__ == "__main__":
    main()
