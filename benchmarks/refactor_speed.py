"""Epochs before and after a change, in one run (a refactor's speed check: no slower).

    python benchmarks/refactor_speed.py --before /path/to/old/checkout [--rounds 4]

Each round runs the old and the new jaxnet in fresh processes, alternately (the
old one first in even rounds, second in odd ones), each timing ``--epochs``
epochs after a warm-up epoch, for each case: ``train_epoch`` of the book's
784-30-10 network on real MNIST (50,000 uint8 images, mini-batches of 10),
``fit(impl="c")``'s epochs of the same, and ``train_epoch`` of network3's
two-ConvPool net on 5,000 images. The report gives each side's median over all
rounds, their ratio, and that neither recompiled after the warm-up. Results go
to benchmarks/results/DATE-refactor-speed.{json,md}. The old checkout needs its C
extension built in place for the fit_c case.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

from common import RESULTS, save

CHILD = r"""
import json, sys, time
import jax, numpy as np
import jaxnet
from jaxnet import data
compiles = [0]
jax.monitoring.register_event_duration_secs_listener(
    lambda e, d, **k: compiles.__setitem__(
        0, compiles[0] + (e == "/jax/core/compile/backend_compile_duration")))
case, n = sys.argv[1], int(sys.argv[2])
d = data.load_mnist(progress=False)
if case == "fit_c":   # fit(impl="c"): the seconds of each epoch, as fit records them
    p = jaxnet.init_params(jax.random.PRNGKey(0), [784, 30, 10])
    res = jaxnet.fit(jax.random.PRNGKey(1), p, d.train.images, d.train.labels, epochs=n + 1,
                     eta=3.0, batch_size=10, x_scale=1 / 256, impl="c")
    times = [r.seconds for r in res.history[1:]]
    print(json.dumps(dict(file=jaxnet.__file__, times=times, recompiles=0)))
    raise SystemExit
if case == "epoch":   # the book's 784-30-10 on 50,000 images
    p = jaxnet.init_params(jax.random.PRNGKey(0), [784, 30, 10])
    images, y, model = d.train.images, d.train.y(), None
else:                 # "conv": network3's two ConvPools + FC-100 + softmax, 5,000 images
    model = jaxnet.Model((1, 28, 28), (jaxnet.ConvPool(20, 5, 2, "sigmoid"),
                                       jaxnet.ConvPool(40, 5, 2, "sigmoid"),
                                       jaxnet.Dense(100, "sigmoid"), jaxnet.Dense(10, "softmax")),
                         cost="log_likelihood")
    p = jaxnet.init_params(jax.random.PRNGKey(0), model)
    images, y = d.train.images[:5000], d.train.y()[:5000]
x, y = jax.device_put(images), jax.device_put(y)
N = len(images)
orders = [jax.device_put(np.random.default_rng(i).permutation(N).astype(np.int32))
          for i in range(n + 1)]
def epoch(o):
    return jax.block_until_ready(jaxnet.train_epoch(p, x, y, o, eta=0.1, batch_size=10,
                                                    x_scale=1 / 256, model=model))
epoch(orders[0])
warm = compiles[0]
times = []
for o in orders[1:]:
    t = time.perf_counter(); epoch(o); times.append(time.perf_counter() - t)
print(json.dumps(dict(file=jaxnet.__file__, times=times, recompiles=compiles[0] - warm)))
"""

CASES = {"epoch": "train_epoch, 784-30-10, batch 10, 50,000 images",
         "fit_c": 'fit(impl="c") per epoch, 784-30-10, batch 10, 50,000 images',
         "conv": "train_epoch, two ConvPools + FC-100 + softmax, batch 10, 5,000 images"}


def run_side(path, case, epochs):
    env = {**os.environ, "PYTHONPATH": str(path)}
    r = subprocess.run([sys.executable, "-c", CHILD, case, str(epochs)], capture_output=True,
                       text=True, env=env, cwd=str(path), timeout=900)
    if r.returncode:
        raise SystemExit(f"{path}: {r.stderr[-2000:]}")
    out = json.loads(r.stdout.strip().splitlines()[-1])
    if not out["file"].startswith(str(Path(path).resolve())):
        raise SystemExit(f"{path}: imported {out['file']} instead")
    return out


def _commit(path):
    return subprocess.run(["git", "-C", str(path), "rev-parse", "--short", "HEAD"],
                          capture_output=True, text=True).stdout.strip()


def measure(args, case):
    """``{side: [seconds]}`` and recompiles for one case, alternating fresh processes."""
    sides, recompiles = {"before": [], "after": []}, {"before": 0, "after": 0}
    for r in range(args.rounds):
        for side in (("before", "after") if r % 2 == 0 else ("after", "before")):
            out = run_side(getattr(args, side).resolve(), case, args.epochs)
            sides[side] += out["times"]
            recompiles[side] += out["recompiles"]
    return sides, recompiles


def report(args, doc, results) -> str:
    m = doc["machine"]
    lines = [f"# Before and after a change, {doc['date'][:10]}", "",
             f"- command: `{doc['command']}`", f"- machine: {m['processor']}, {m['cores']} "
             f"cores; {m['versions']}", f"- before {doc['before']}, after {doc['after']}; "
             f"{args.rounds} rounds alternating fresh processes, {args.epochs} epochs each "
             "after a warm-up", "",
             "| case | before median s/epoch | after median s/epoch | after / before | "
             "min–max before | min–max after | recompiles |", "| --- | --- | --- | --- | --- "
             "| --- | --- |"]
    for case, r in results.items():
        b, a = r["before"], r["after"]
        lines.append(f"| {CASES[case]} | {statistics.median(b):.4f} | {statistics.median(a):.4f}"
                     f" | {r['ratio']:.3f} | {min(b):.4f}–{max(b):.4f} | {min(a):.4f}–"
                     f"{max(a):.4f} | {r['recompiles']} |")
    return "\n".join(lines) + "\n"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--before", required=True, type=Path, help="a checkout of the old commit "
                    "(with its C extension built in place)")
    ap.add_argument("--after", type=Path, default=Path(__file__).resolve().parents[1])
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--cases", default=",".join(CASES), help=f"any of {', '.join(CASES)}")
    args = ap.parse_args(argv)
    from jaxnet import bench  # this process's jaxnet: the date and the machine, not timed
    results = {}
    for case in args.cases.split(","):
        sides, recompiles = measure(args, case)
        results[case] = dict(sides, recompiles=recompiles, ratio=statistics.median(
            sides["after"]) / statistics.median(sides["before"]))
    doc = dict(date=bench.now(), command="python benchmarks/refactor_speed.py " + " ".join(
        sys.argv[1:] if argv is None else argv), machine=bench.machine(),
        before=_commit(args.before), after=_commit(args.after), results=results)
    md = report(args, doc, results)
    stem = RESULTS / f"{doc['date'][:10]}-refactor-speed"
    print(md)
    return save(stem, doc, md, prog="benchmarks/refactor_speed.py")


if __name__ == "__main__":
    sys.exit(main())
