"""Reproduce the book's accuracy tables (chapters 1, 3, 5 and 6) with jaxnet.fit.

    python benchmarks/book_tables.py [--seeds 3] [--only ch1-30,...] [--out benchmarks/results]
                                     [--checkpoint DIR]

Each configuration is trained once per seed (seeds 0..N-1; the seed picks the
initial weights and the shuffles) on the book's 50,000 training images,
monitoring accuracy after every epoch on the split the book reports (test or
validation, kept apart as the book does). The book quotes the best epoch of a
run ("95.42 percent" is the best of three runs' peaks), so the table gives,
over seeds, the mean ± std and the best of each run's peak accuracy, the
mean final-epoch accuracy, and, for runs monitored on validation data, the
mean test accuracy of the final parameters. float32 unless ``--dtype float64``.

Chapter 5 (``ch5-*``) is network2 with its default initialisation (``"scaled"``,
w ~ N(0, 1/n_in)) and one to four hidden layers of 30; chapter 5's speed of learning
per layer is ``benchmarks/learning_speed.py``.

Chapter 6 (``ch6-*``) runs network3's loop: its initialisation, mini-batches
in a fixed order, λ divided by the number of mini-batches, the validation
accuracy after every epoch and the test accuracy at each new best; the book
quotes that test accuracy, so "peak" is the test accuracy at the best
validation epoch for these rows. One seed is what the book ran
(``--seeds 1``). ``ch6-ensemble`` trains five of the dropout row's networks at once
(``fit_population``) and reports their majority vote on the test set after the
last epoch. On this 2-core CPU the two-ConvPool net takes ~10 s an epoch on
50,000 images (``benchmarks/conv_speed.py``); ``JAXNET_GPU_CHECK_CH6=rows
benchmarks/gpu_check.sh`` runs rows on a GPU. Results are rewritten after every
run, so a run cut short keeps the rows that finished.

``--checkpoint DIR`` makes the chapter-6 rows resumable (the others ignore it):
each run saves ``DIR/ROW-seedS-DTYPE.npz`` after every epoch and, on SIGTERM or
Ctrl-C, after the epoch under way, then stops (exit 1, the row left out); the
same command again continues from it, bit for bit as one uninterrupted run, and a
finished run's checkpoint gives its row back at the cost of one evaluation.
A row's ``seconds`` then add up the calls that trained its epochs
(``DIR/ROW-seedS-DTYPE.seconds.json``, the time at the end of each epoch), and
``resumed_from_epoch`` says where this call began.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

from common import RESULTS, save

PROG = "benchmarks/book_tables.py"
CONV2 = "conv:20:5,pool:2,conv:40:5,pool:2"

# name: (sizes, fit keywords, init, split the book reports, the book's figure, where)
CONFIGS = {
    "ch1-30": ([784, 30, 10], dict(epochs=30, eta=3.0), "large", "test", 95.42,
               "ch. 1, network.py, best of 3 runs"),
    "ch1-100": ([784, 100, 10], dict(epochs=30, eta=3.0), "large", "test", 96.59,
                "ch. 1, network.py"),
    "ch3-ce-30": ([784, 30, 10], dict(epochs=30, eta=0.5, cost="cross_entropy"), "large", "test",
                  95.49, "ch. 3, cross-entropy"),
    "ch3-ce-l2-30": ([784, 30, 10], dict(epochs=30, eta=0.5, cost="cross_entropy", lmbda=5.0),
                     "large", "test", 96.49, "ch. 3, regularisation"),
    "ch3-ce-l2-100": ([784, 100, 10], dict(epochs=60, eta=0.1, cost="cross_entropy", lmbda=5.0),
                      "large", "validation", 98.04, "ch. 3, regularisation, 60 epochs"),
    # chapter 5: network2 (its default init, N(0, 1/n_in)), deeper and deeper
    **{f"ch5-{'-'.join(['30'] * k)}": ([784] + [30] * k + [10],
                                       dict(epochs=30, eta=0.1, cost="cross_entropy", lmbda=5.0),
                                       "scaled", "validation", book, f"ch. 5, {k} hidden")
       for k, book in ((1, 96.48), (2, 96.90), (3, 96.57), (4, 96.53))},
    # chapter 6: network3 (layers as jaxnet train --layers takes them)
    "ch6-fc100": ("fc:100,softmax:10", dict(epochs=60, eta=0.1), "network3", "validation",
                  97.80, "ch. 6, sigmoid FC + softmax"),
    "ch6-conv1": ("conv:20:5,pool:2,fc:100,softmax:10", dict(epochs=60, eta=0.1), "network3",
                  "validation", 98.78, "ch. 6, + one ConvPool"),
    "ch6-conv2": (CONV2 + ",fc:100,softmax:10", dict(epochs=60, eta=0.1), "network3",
                  "validation", 99.06, "ch. 6, two ConvPools"),
    "ch6-relu": (CONV2 + ",fc:100,softmax:10", dict(epochs=60, eta=0.03, lmbda=0.1,
                                                    activation="relu"),
                 "network3", "validation", 99.23, "ch. 6, ReLU, λ = 0.1"),
    "ch6-expanded": (CONV2 + ",fc:100,softmax:10", dict(epochs=60, eta=0.03, lmbda=0.1,
                                                        activation="relu", expand=True),
                     "network3", "validation", 99.37, "ch. 6, expanded data"),
    "ch6-extra-fc": (CONV2 + ",fc:100,fc:100,softmax:10",
                     dict(epochs=60, eta=0.03, lmbda=0.1, activation="relu", expand=True),
                     "network3", "validation", 99.43, "ch. 6, an extra FC-100"),
    "ch6-dropout": (CONV2 + ",fc:1000,fc:1000,softmax:10",
                    dict(epochs=40, eta=0.03, lmbda=0.1, activation="relu", expand=True,
                         dropout=0.5),
                    "network3", "validation", 99.60, "ch. 6, two FC-1000 with dropout 0.5"),
    "ch6-ensemble": (CONV2 + ",fc:1000,fc:1000,softmax:10",
                     dict(epochs=40, eta=0.03, lmbda=0.1, activation="relu", expand=True,
                          dropout=0.5, ensemble=5),
                     "network3", "validation", 99.67, "ch. 6, an ensemble of five of those"),
}


def describe(sizes, kw, init):
    if isinstance(sizes, str):
        parts = [sizes, kw.get("activation", "sigmoid"), f"η={kw['eta']}"]
        parts += [f"{k}={kw[k]}" for k in ("lmbda", "dropout") if kw.get(k)]
        parts += ["expanded data"] if kw.get("expand") else []
        if kw.get("ensemble"):
            return ", ".join(parts + [f"{kw['epochs']} epochs, majority vote of "
                                      f"{kw['ensemble']} on test after the last epoch"])
        return ", ".join(parts + [f"{kw['epochs']} epochs, test at best validation"])
    parts = ["-".join(map(str, sizes)), kw.get("cost", "quadratic"), f"η={kw['eta']}"]
    if kw.get("lmbda"):
        parts.append(f"λ={kw['lmbda']}")
    parts += [f"{init} init", f"{kw['epochs']} epochs"]
    return ", ".join(parts)


def run_one(name, seed, d, dtype="float32", checkpoint=None):
    """One run of ``name`` (see CONFIGS) with ``seed``; ``checkpoint`` (a folder or None)
    is used by the chapter-6 rows only."""
    import jax

    import jaxnet
    from jaxnet import data
    sizes, kw, init, split, _, _ = CONFIGS[name]
    if isinstance(sizes, str):
        ckpt = None if checkpoint is None else Path(checkpoint) / f"{name}-seed{seed}-{dtype}.npz"
        return run_network3(name, seed, d, dtype, ckpt)
    k_init, k_fit = jax.random.split(jax.random.PRNGKey(seed))
    params = jaxnet.init_params(k_init, sizes, init=init, dtype=dtype)
    ev = getattr(d, split)
    t0 = time.perf_counter()
    kw = dict(kw)
    model = jaxnet.Model.dense(sizes, cost=kw.pop("cost", "quadratic"))
    res = jaxnet.fit(k_fit, params, d.train.images, d.train.labels, batch_size=10, model=model,
                     x_scale=data.PIXEL_SCALE, eval_data=(ev.images, ev.labels), **kw)
    acc = [100 * r.accuracy for r in res.history]
    out = dict(config=name, seed=seed, dtype=dtype, split=split, accuracy=acc, peak=max(acc),
               peak_epoch=acc.index(max(acc)), final=acc[-1], seconds=time.perf_counter() - t0)
    if split == "validation":
        out["final_test"] = 100 * int(jaxnet.evaluate(
            res.params, d.test.images, d.test.labels, x_scale=data.PIXEL_SCALE,
            model=model)) / len(d.test)
    return out


def run_network3(name, seed, d, dtype="float32", checkpoint=None):
    """A chapter-6 row: network3's loop; "peak" is the test accuracy at the best
    validation epoch (the figure the book quotes). ``checkpoint``: a file to save to
    after every epoch and resume from (None: neither)."""
    import jax

    import jaxnet
    from jaxnet import data, parse_layers
    spec, kw, init, _, _, _ = CONFIGS[name]
    kw = dict(kw)
    model = parse_layers(spec, 784, activation=kw.pop("activation", "sigmoid"),
                         dropout=kw.pop("dropout", 0.0))
    # the book's expand_mnist.py shuffles the expanded set once; network3 keeps that order
    train = data.expand(d.train, shuffle_seed=seed) if kw.pop("expand", False) else d.train
    if kw.get("ensemble"):
        return run_ensemble(name, seed, d, dtype, model, train, kw, checkpoint)
    k_init, k_fit = jax.random.split(jax.random.PRNGKey(seed))
    params = jaxnet.init_params(k_init, model, init=init, dtype=dtype)
    clock = Clock(checkpoint)

    def on_epoch(r):
        clock.epoch_done(r.epoch)
        print(f"  {name} epoch {r.epoch}: validation {r.correct}, test {r.test_correct}",
              file=sys.stderr, flush=True)

    res = jaxnet.fit(k_fit, params, train.images, train.labels, model=model, batch_size=10,
                     x_scale=data.PIXEL_SCALE, shuffle=False, n="batches",
                     eval_data=(d.validation.images, d.validation.labels),
                     test_data=(d.test.images, d.test.labels), **kw, on_epoch=on_epoch,
                     **_resumable(checkpoint))
    if res.stopped and res.stopped.startswith("interrupted"):   # not an early stop
        raise Stopped(res.stopped)
    acc = [100 * r.accuracy for r in res.history]
    best = acc.index(max(acc))
    tested = [r for r in res.history[:best + 1] if r.test_correct is not None][-1]
    test = 100 * tested.test_correct / tested.test_total
    return dict(config=name, seed=seed, dtype=dtype, split="test at best validation",
                accuracy=acc, peak=test, peak_epoch=best, best_validation=max(acc),
                final=test, examples=len(train), **clock.seconds(len(acc)))


def run_ensemble(name, seed, d, dtype, model, train, kw, checkpoint=None):
    """The book's last row: ``kw["ensemble"]`` members (member i: the keys of seed
    ``100·seed + i``) trained at once (fit_population), then their majority vote on
    the test set after the last epoch; "peak" is the vote's test accuracy.
    ``checkpoint``: as run_network3's (the whole population in one file)."""
    import jax
    import jax.numpy as jnp

    import jaxnet
    from jaxnet import data
    size = kw.pop("ensemble")
    pairs = [jax.random.split(jax.random.PRNGKey(100 * seed + i)) for i in range(size)]
    params = jaxnet.init_population(jnp.stack([p[0] for p in pairs]), model, dtype=dtype,
                                    init="network3")
    clock = Clock(checkpoint)

    def on_epoch(e, c):
        clock.epoch_done(e)
        print(f"  {name} epoch {e}: members' validation {c.tolist()}", file=sys.stderr,
              flush=True)

    res = jaxnet.fit_population(
        jnp.stack([p[1] for p in pairs]), params, train.images, train.labels, model=model,
        batch_size=10, x_scale=data.PIXEL_SCALE, shuffle=False, n="batches",
        eval_data=(d.validation.images, d.validation.labels), **kw, on_epoch=on_epoch,
        **_resumable(checkpoint))
    if res.stopped and res.stopped.startswith("interrupted"):   # not an early stop
        raise Stopped(res.stopped)
    votes = int(jaxnet.evaluate_ensemble(res.params, d.test.images, d.test.labels,
                                         model=model, x_scale=data.PIXEL_SCALE))
    acc = [100 * float(max(c)) / len(d.validation) for c in res.correct]
    test = 100 * votes / len(d.test)
    return dict(config=name, seed=seed, dtype=dtype, split="ensemble vote on test",
                accuracy=acc, peak=test, peak_epoch=len(acc) - 1, final=test,
                examples=len(train), members=size, **clock.seconds(len(acc)))


class Stopped(Exception):
    """A resumable run stopped by a signal after saving its checkpoint."""


def _resumable(checkpoint) -> dict:
    """fit's and fit_population's keywords for saving to ``checkpoint`` after every
    epoch and continuing from it (none without one)."""
    if checkpoint is None:
        return {}
    return dict(checkpoint=checkpoint, checkpoint_every=1, resume=True)


class Clock:
    """The wall seconds of a run that may span several calls, each resuming the
    checkpoint the one before saved.

    The calls before timed the checkpoint's epochs; they left the seconds at the end
    of each epoch in ``CHECKPOINT.seconds.json`` (rewritten after every epoch, from
    on_epoch, which comes before that epoch's checkpoint: an entry past the
    checkpoint's epochs, from a call killed in between, is dropped). An entry is None
    where an earlier call's time was not recorded (the file was lost)."""

    def __init__(self, checkpoint=None):
        self.path = None if checkpoint is None else Path(checkpoint).with_suffix(".seconds.json")
        self.earlier = self._read()
        self.start = None      # the epoch this call began with (the checkpoint's epochs)
        self.ends = []         # seconds at the end of each epoch, the earlier calls' first
        self.t0 = time.perf_counter()

    def _read(self) -> list:
        if self.path is None:
            return []
        try:
            ends = json.loads(self.path.read_text())["epoch_ends"]
            return [None if s is None else float(s) for s in ends]
        except (OSError, ValueError, KeyError, TypeError):   # none yet, or unreadable
            return []

    def _before(self, start):
        """The earlier calls' seconds for the first ``start`` epochs (None: unknown)."""
        if start == 0:
            return 0.0
        return self.earlier[start - 1] if len(self.earlier) >= start else None

    def epoch_done(self, epoch: int) -> None:
        """Records the end of ``epoch`` (0-based, as on_epoch gives it)."""
        if self.start is None:
            self.start = epoch
            self.ends = (self.earlier + [None] * epoch)[:epoch]
        before = self._before(self.start)
        self.ends.append(None if before is None else before + time.perf_counter() - self.t0)
        if self.path is not None:
            from jaxnet.io import write_files
            write_files({self.path: json.dumps(dict(epoch_ends=self.ends))},
                        prog=PROG)

    def seconds(self, epochs: int) -> dict:
        """A row's ``seconds`` for a run of ``epochs`` epochs in all (a finished checkpoint
        read back: the calls' that trained it, not this one's), and where this call
        began when it resumed (``resumed_from_epoch``)."""
        start = epochs - (0 if self.start is None else len(self.ends) - self.start)
        before = self._before(start)
        now = time.perf_counter() - self.t0
        if before is None:
            out = dict(seconds=now, seconds_note="this call's only: the earlier calls' were "
                                                 "not recorded")
        elif start == epochs:
            out = dict(seconds=before)
        else:
            out = dict(seconds=before + now)
        if start:
            out["resumed_from_epoch"] = start
        return out


def summarise(runs):
    rows = []
    for name, (sizes, kw, init, split, book, where) in CONFIGS.items():
        rs = [r for r in runs if r["config"] == name]
        if not rs:
            continue
        peaks = [r["peak"] for r in rs]
        row = dict(config=name, what=describe(sizes, kw, init), split=split, book=book,
                   where=where, seeds=len(rs), peak_mean=statistics.mean(peaks),
                   peak_std=statistics.stdev(peaks) if len(peaks) > 1 else 0.0,
                   peak_best=max(peaks), final_mean=statistics.mean(r["final"] for r in rs))
        if split == "validation" and "final_test" in rs[0]:
            row["final_test_mean"] = statistics.mean(r["final_test"] for r in rs)
        row["within_noise"] = row["peak_mean"] >= book - 0.3
        rows.append(row)
    return rows


def markdown(doc):
    lines = [f"# The book's tables, reproduced ({doc['date'][:10]})", "",
             f"- command: `{doc['command']}`",
             f"- machine: {doc['machine']['processor']}, {doc['machine']['cores']} cores; "
             f"versions {doc['machine']['versions']}",
             f"- dtype: {doc['runs'][0]['dtype'] if doc['runs'] else ''}",
             "- peak = best epoch of a run (as the book quotes); mean ± std and best over seeds; "
             "criterion: mean peak ≥ book − 0.3 points", "",
             "| configuration | split | book | ours: peak mean ± std | best | final epoch mean "
             "| final test (validation runs) | seeds | ≥ book − 0.3 |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in doc["summary"]:
        ft = f"{r['final_test_mean']:.2f} %" if "final_test_mean" in r else ""
        lines.append(f"| {r['what']} | {r['split']} | {r['book']:.2f} % ({r['where']}) "
                     f"| {r['peak_mean']:.2f} ± {r['peak_std']:.2f} % | {r['peak_best']:.2f} % "
                     f"| {r['final_mean']:.2f} % | {ft} | {r['seeds']} "
                     f"| {'yes' if r['within_noise'] else 'NO'} |")
    return "\n".join(lines) + "\n"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--only", default="", help=f"comma-separated from {', '.join(CONFIGS)}")
    ap.add_argument("--dtype", choices=("float32", "float64"), default="float32")
    ap.add_argument("--out", type=Path, default=RESULTS)
    ap.add_argument("--checkpoint", type=Path, default=None, metavar="DIR",
                    help="chapter-6 rows: save DIR/ROW-seedS-DTYPE.npz after every epoch and "
                         "resume from it (a signal stops the run after saving); other rows "
                         "ignore it")
    args = ap.parse_args(argv)
    names = [n for n in args.only.split(",") if n] or list(CONFIGS)
    unknown = set(names) - set(CONFIGS)
    if unknown:
        ap.error(f"unknown configurations {sorted(unknown)}")

    import jax
    if args.dtype == "float64":
        jax.config.update("jax_enable_x64", True)
    from jaxnet import CheckpointError, bench, data
    d = data.load_mnist(progress=False)
    runs = []
    doc = dict(date=bench.now(), command="python benchmarks/book_tables.py " + " ".join(sys.argv[1:]),
               machine=bench.machine(), runs=runs)
    args.out.mkdir(parents=True, exist_ok=True)
    stem = args.out / (f"{doc['date'][:10]}-book-tables"
                       + ("" if args.only == "" and args.dtype == "float32"
                          else f"-{args.only.replace(',', '+') or 'all'}-{args.dtype}"))
    for name in names:
        for seed in range(args.seeds):
            try:
                r = run_one(name, seed, d, args.dtype, args.checkpoint)
            except Stopped as e:   # the rows before are saved; the same command continues
                print(f"{name} seed {seed}: {e}", file=sys.stderr, flush=True)
                return 1
            except CheckpointError as e:
                print(f"benchmarks/book_tables.py: error: {name} seed {seed}: {e} (remove the "
                      "checkpoint to start over)", file=sys.stderr)
                return 1
            runs.append(r)
            resumed = (f" (resumed from epoch {r['resumed_from_epoch']})"
                       if "resumed_from_epoch" in r else "")
            print(f"{name} seed {seed}: peak {r['peak']:.2f} % (epoch {r['peak_epoch']}), "
                  f"final {r['final']:.2f} %, {r['seconds']:.0f} s{resumed}", file=sys.stderr,
                  flush=True)
            # written after every run: a run cut short by a time limit keeps what finished
            doc["summary"] = summarise(runs)
            if save(stem, doc, markdown(doc), prog=PROG):
                return 1
    print(markdown(doc))
    return 0


if __name__ == "__main__":
    sys.exit(main())
