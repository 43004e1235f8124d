"""Time to the first chapter-6 step: what a learner waits for before the first epoch.

The book's last network (two ConvPools, three Dense layers with dropout 0.5), float32:
network3's initialisation, then one 100-image epoch at mini-batch 10 in JAX and in C,
each in a fresh process, so every figure includes its compilation. ``--tree`` names
checkouts (each first on the child's PYTHONPATH, with its built C extension) to compare
side by side; their rounds alternate. Prints a Markdown table of medians.

    python benchmarks/first_epoch.py --tree /path/before --tree . --rounds 3
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

CHILD = r"""
import json, time
t0 = time.time()
import jax, numpy as np, jaxnet
from jaxnet import cref, data
s = data.load_sample()
x = s.train.images[:100].astype(np.float32) / 256
y = np.eye(10, dtype=np.float32)[s.train.labels[:100]]
model = jaxnet.Model((1, 28, 28), (jaxnet.ConvPool(20, 5, 2, "relu"),
                     jaxnet.ConvPool(40, 5, 2, "relu"), jaxnet.Dense(1000, "relu", dropout=0.5),
                     jaxnet.Dense(1000, "relu", dropout=0.5), jaxnet.Dense(10, "softmax", dropout=0.5)),
                     cost="log_likelihood")
t1 = time.time()
p = jax.block_until_ready(jaxnet.init_params(jax.random.PRNGKey(0), model, init="network3"))
t2 = time.time()
kw = dict(eta=0.03, batch_size=10, model=model, lmbda=0.1, key=jax.random.PRNGKey(1))
jax.block_until_ready(jaxnet.train_epoch(p, x, y, np.arange(100), **kw))
t3 = time.time()
cref.train_epoch(p, x, y, np.arange(100), **kw)
t4 = time.time()
print(json.dumps({"import": t1 - t0, "init_params": t2 - t1, "first JAX epoch": t3 - t2,
                  "first C epoch": t4 - t3}))
"""


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tree", action="append", type=Path, required=True)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    got = {t: [] for t in args.tree}
    for _ in range(args.rounds):
        for t in args.tree:
            env = dict(os.environ, PYTHONPATH=str(t.resolve()))
            r = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True,
                               env=env, cwd="/")
            if r.returncode != 0:
                sys.exit(f"{t}: {r.stderr.strip()[-800:]}")
            got[t].append(json.loads(r.stdout.strip().splitlines()[-1]))
    keys = list(got[args.tree[0]][0])
    print(f"{time.strftime('%Y-%m-%d')}, medians of {args.rounds} fresh processes, s")
    print("| tree | " + " | ".join(keys) + " |")
    print("| --- |" + " --- |" * len(keys))
    for t, rows in got.items():
        print(f"| {t} | " + " | ".join(f"{statistics.median(r[k] for r in rows):.2f}"
                                       for k in keys) + " |")


if __name__ == "__main__":
    main()
