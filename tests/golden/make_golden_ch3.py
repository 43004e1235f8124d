"""Writes tests/golden/golden_ch3.npz: golden states for chapter 3's features.

    PYTHONPATH=benchmarks python tests/golden/make_golden_ch3.py

From benchmarks/book/network2.py, the NumPy transcription of network2
(float64); nothing from jaxnet (the PYTHONPATH is the tests' own, pyproject's
``pythonpath``). For each configuration below: the mean gradient of the
regularised cost on one batch, and the parameters after two updates on it
(the second one feels the momentum of the first).
"""

from pathlib import Path

import numpy as np
from book import network2

SIZES = [8, 6, 5, 3]
BATCH = 4
SEED = 20261128
N_TRAIN = 50
CONFIGS = {
    "ce_tanh_l2_momentum": dict(cost="cross_entropy", activation="tanh", reg="l2", lmbda=5.0,
                                momentum=0.9, eta=0.5),
    "ll_relu_l1": dict(cost="log_likelihood", activation="relu", reg="l1", lmbda=2.0,
                       momentum=None, eta=0.25),
    "quad_sigmoid_momentum": dict(cost="quadratic", activation="sigmoid", reg="l2", lmbda=0.0,
                                  momentum=0.5, eta=3.0),
}


def main():
    rng = np.random.default_rng(SEED)
    weights = [rng.standard_normal((o, i)) for i, o in zip(SIZES[:-1], SIZES[1:])]
    biases = [rng.standard_normal(o) for o in SIZES[1:]]
    x = np.where(rng.uniform(size=(BATCH, SIZES[0])) < 0.5, 0.0, rng.uniform(size=(BATCH, SIZES[0])))
    y = np.eye(SIZES[-1])[rng.integers(0, SIZES[-1], BATCH)]
    arrays = {"sizes": np.array(SIZES), "x": x, "y": y, "n_train": np.array(N_TRAIN)}
    for l in range(len(weights)):
        arrays[f"w{l}"], arrays[f"b{l}"] = weights[l], biases[l]
    for name, c in CONFIGS.items():
        net = network2.Network(weights, biases, cost=c["cost"], activation=c["activation"])
        gb, gw = net.gradient(x, y, lmbda=c["lmbda"], n=N_TRAIN, reg=c["reg"])
        vel = None
        if c["momentum"]:
            vel = ([np.zeros_like(w) for w in net.weights], [np.zeros_like(b) for b in net.biases])
        for _ in range(2):
            vel = net.update_mini_batch(x, y, c["eta"], lmbda=c["lmbda"], n=N_TRAIN, reg=c["reg"],
                                        **(dict(momentum=c["momentum"], velocity=vel)
                                           if c["momentum"] else {}))
        for l in range(len(weights)):
            arrays[f"{name}/gw{l}"], arrays[f"{name}/gb{l}"] = gw[l], gb[l].ravel()
            arrays[f"{name}/w{l}_after2"] = net.weights[l]
            arrays[f"{name}/b{l}_after2"] = net.biases[l].ravel()
    out = Path(__file__).with_name("golden_ch3.npz")
    np.savez(out, **arrays)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
