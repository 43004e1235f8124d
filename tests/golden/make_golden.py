"""Writes tests/golden/golden.npz: a "golden state" (llm.c's idea) for a fixed net and batch.

    PYTHONPATH=benchmarks python tests/golden/make_golden.py

Everything in it comes from benchmarks/book/network.py, the NumPy transcription
of the book's per-example algorithm, in float64; nothing from jaxnet (the
PYTHONPATH is the tests' own, pyproject's ``pythonpath``). A 4-layer
net (so BP2 runs twice) with half of the inputs exactly 0, like MNIST.
"""

from pathlib import Path

import numpy as np
from book import network

SIZES = [8, 6, 5, 3]
BATCH = 4
ETA = 3.0
SEED = 20261127


def main():
    rng = np.random.default_rng(SEED)
    weights = [rng.standard_normal((o, i)) for i, o in zip(SIZES[:-1], SIZES[1:])]
    biases = [rng.standard_normal((o, 1)) for o in SIZES[1:]]
    x = np.where(rng.uniform(size=(BATCH, SIZES[0])) < 0.5, 0.0, rng.uniform(size=(BATCH, SIZES[0])))
    y = np.eye(SIZES[-1])[rng.integers(0, SIZES[-1], BATCH)]
    t = network.trace(weights, biases, x, y)
    new_w, new_b = network.update_mini_batch(weights, biases, x, y, ETA)
    arrays = {"sizes": np.array(SIZES), "eta": np.array(ETA), "x": x, "y": y}
    for l in range(len(weights)):
        arrays[f"w{l}"], arrays[f"b{l}"] = weights[l], biases[l].ravel()
        arrays[f"z{l + 1}"], arrays[f"delta{l + 1}"] = t["z"][l], t["delta"][l]
        arrays[f"gw{l}"], arrays[f"gb{l}"] = t["gw"][l], t["gb"][l].ravel()
        arrays[f"w{l}_after"], arrays[f"b{l}_after"] = new_w[l], new_b[l].ravel()
    for l in range(len(weights) + 1):
        arrays[f"a{l}"] = t["a"][l]
    out = Path(__file__).with_name("golden.npz")
    np.savez(out, **arrays)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
