"""Chapter 5's speed of learning: ‖∂C/∂b^l‖ of each hidden layer, at initialisation
and after every epoch of training, for 784-30-30-10, 784-30-30-30-10 and
784-30-30-30-30-10.

    python benchmarks/learning_speed.py [--epochs 500] [--seeds 3] [--images 1000]
                                        [--out benchmarks/results]

The book's setup (its fig/generate_gradient.py): network2 with its default
initialisation (w ~ N(0, 1/n_in), b ~ N(0, 1)) and the cross-entropy cost; the
first 1,000 training images; the speed of layer l is the norm of ∂C/∂b^l, the
gradient of the mean cost over those images (the mean of the examples' δ^l);
one "epoch" is one gradient-descent step on all 1,000 at once (a mini-batch of
1,000, η = 0.1, λ = 5.0 over n = 1,000), 500 of them. The speeds are measured
before the first step (initialisation) and after every step. The book's figures
at initialisation (chapter 5's text, one run): 0.07, 0.31; 0.012, 0.060, 0.283;
0.003, 0.017, 0.070, 0.285 ("the first hidden layer learns roughly 100 times
slower than the fourth").

Writes DATE-learning-speed.json (every seed's speeds after every epoch), .md
(mean over seeds at initialisation and at the end, and the ratio of the last
hidden layer's speed to the first's) and, with matplotlib, .png (seed 0's curves,
as the book's plots).
"""

from __future__ import annotations

import argparse
import io
import statistics
import sys

import numpy as np
from common import RESULTS, save

PROG = "benchmarks/learning_speed.py"
NETWORKS = ([784, 30, 30, 10], [784, 30, 30, 30, 10], [784, 30, 30, 30, 30, 10])
# the book's speeds at initialisation, hidden layer 1 first (chapter 5's text)
BOOK = {2: [0.07, 0.31], 3: [0.012, 0.060, 0.283], 4: [0.003, 0.017, 0.070, 0.285]}
ETA, LMBDA = 0.1, 5.0


def hidden_speeds(params, x, y, model) -> list:
    """‖∂C/∂b^l‖ for each hidden layer l (the output layer left out): ``x (N, n_0)``
    float inputs, ``y (N, n_L)`` one-hot targets; C the mean cost over the N
    examples, unregularised (λ does not touch the biases)."""
    import jaxnet
    grads = jaxnet.backprop(params, x, y, model=model)
    return [float(np.linalg.norm(np.asarray(g[1], np.float64))) for g in grads[:-1]]


def speeds_during_training(key, sizes, x, y, *, epochs, eta=ETA, lmbda=LMBDA,
                           dtype="float32") -> list:
    """The hidden layers' speeds at initialisation and after each of ``epochs``
    full-batch steps (one mini-batch of all N examples, η, λ over N): a list of
    ``epochs + 1`` lists. network2's default initialisation from ``key``."""
    import jax.numpy as jnp

    import jaxnet
    model = jaxnet.Model.dense(sizes, cost="cross_entropy")
    params = jaxnet.init_params(key, model, init="scaled", dtype=dtype)
    x, y = jnp.asarray(x, dtype), jnp.asarray(y, dtype)
    order = jnp.arange(len(x))
    out = [hidden_speeds(params, x, y, model)]
    for _ in range(epochs):
        params = jaxnet.train_epoch(params, x, y, order, eta=eta, batch_size=len(x),
                                    model=model, lmbda=lmbda, n=len(x))
        out.append(hidden_speeds(params, x, y, model))
    return out


def summarise(runs) -> list:
    rows = []
    for sizes in NETWORKS:
        rs = [r for r in runs if r["sizes"] == sizes]
        if not rs:
            continue
        hidden = len(sizes) - 2
        init = [statistics.mean(r["speeds"][0][l] for r in rs) for l in range(hidden)]
        final = [statistics.mean(r["speeds"][-1][l] for r in rs) for l in range(hidden)]
        ratios = [r["speeds"][0][-1] / r["speeds"][0][0] for r in rs]
        final_ratios = [r["speeds"][-1][-1] / r["speeds"][-1][0] for r in rs]
        rows.append(dict(sizes=sizes, seeds=len(rs), init=init, final=final,
                         init_ratio_mean=statistics.mean(ratios),
                         init_ratio_min=min(ratios), init_ratio_max=max(ratios),
                         final_ratio_mean=statistics.mean(final_ratios),
                         book_init=BOOK[hidden],
                         book_init_ratio=BOOK[hidden][-1] / BOOK[hidden][0]))
    return rows


def markdown(doc) -> str:
    fmt = lambda v: ", ".join(f"{s:.3g}" for s in v)   # noqa: E731
    m = doc["machine"]
    lines = [f"# Chapter 5: the speed of learning of each hidden layer ({doc['date'][:10]})", "",
             f"- command: `{doc['command']}`",
             f"- machine: {m['processor']}, {m['cores']} cores; versions {m['versions']}",
             f"- {doc['images']} training images, {doc['epochs']} epochs of one full-batch "
             f"step each (η = {ETA}, λ = {LMBDA}), network2's default init, cross-entropy; "
             f"{doc['dtype']}; speed = ‖∂C/∂b^l‖, hidden layer 1 first; means over seeds",
             "", "| network | seeds | at init | book at init | last/first at init (min–max) "
             "| book | after the last epoch | last/first there |",
             "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in doc["summary"]:
        lines.append(
            f"| {'-'.join(map(str, r['sizes']))} | {r['seeds']} | {fmt(r['init'])} "
            f"| {fmt(r['book_init'])} | {r['init_ratio_mean']:.1f} ({r['init_ratio_min']:.1f}–"
            f"{r['init_ratio_max']:.1f}) | {r['book_init_ratio']:.1f} | {fmt(r['final'])} "
            f"| {r['final_ratio_mean']:.1f} |")
    return "\n".join(lines) + "\n"


def plot(doc):
    """Seed 0's curves, one panel per network, log scale as the book's (PNG bytes),
    or None without matplotlib."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    runs = [r for r in doc["runs"] if r["seed"] == 0]
    fig, axes = plt.subplots(1, len(runs), figsize=(5 * len(runs), 4), squeeze=False)
    for ax, r in zip(axes[0], runs):
        s = np.asarray(r["speeds"])
        for l in range(s.shape[1]):
            ax.plot(np.arange(len(s)), s[:, l], label=f"hidden layer {l + 1}")
        ax.set_yscale("log")
        ax.set_xlabel("epochs of training")
        ax.set_title(f"speed of learning: {'-'.join(map(str, r['sizes']))}")
        ax.grid(True)
        ax.legend(loc="upper right")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=80)
    plt.close(fig)
    return buf.getvalue()


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--epochs", type=int, default=500)
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--images", type=int, default=1000)
    ap.add_argument("--dtype", choices=("float32", "float64"), default="float32")
    ap.add_argument("--out", default=str(RESULTS))
    args = ap.parse_args(argv)

    import jax
    if args.dtype == "float64":
        jax.config.update("jax_enable_x64", True)
    from pathlib import Path

    from jaxnet import bench, data
    d = data.load_mnist(progress=False)
    x = np.asarray(d.train.images[:args.images], np.float32) * data.PIXEL_SCALE
    y = data.one_hot(d.train.labels[:args.images])
    runs = []
    doc = dict(date=bench.now(), command=" ".join(["python", PROG, *sys.argv[1:]]),
               machine=bench.machine(), images=args.images, epochs=args.epochs,
               dtype=args.dtype, eta=ETA, lmbda=LMBDA, runs=runs)
    for sizes in NETWORKS:
        for seed in range(args.seeds):
            speeds = speeds_during_training(jax.random.PRNGKey(seed), sizes, x, y,
                                            epochs=args.epochs, dtype=args.dtype)
            # four significant digits keep the file small (9 runs × 501 epochs)
            runs.append(dict(sizes=sizes, seed=seed,
                             speeds=[[float(f"{v:.4g}") for v in e] for e in speeds]))
            print(f"{'-'.join(map(str, sizes))} seed {seed}: at init "
                  f"{[round(s, 4) for s in speeds[0]]}, after {args.epochs} epochs "
                  f"{[round(s, 4) for s in speeds[-1]]}", file=sys.stderr, flush=True)
    doc["summary"] = summarise(runs)
    md = markdown(doc)
    stem = Path(args.out) / f"{doc['date'][:10]}-learning-speed"
    if save(stem, doc, md, prog=PROG, png=plot(doc)):
        return 1
    print(md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
