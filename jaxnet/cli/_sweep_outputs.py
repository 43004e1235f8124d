"""``jaxnet sweep``'s results: the table of configurations, the best member's
parameters (``--save-best``), every member's curve (``--json``, ``--csv``) and the
spread plot (``--plot``), each written atomically through jaxnet.io's rescue path,
each with every member's status: ``ok``, or ``diverged at epoch K`` for a member
whose parameters became NaN or Inf (it stopped there, frozen at its last finite
state; it is never the best, and the exit status is 3)."""

from __future__ import annotations

import statistics
from pathlib import Path

from ._common import error, write_output


def add_output_flags(sw) -> None:
    sw.add_argument("--plot", type=Path, default=None, metavar="FILE",
                    help="draw the population's spread per epoch to this PNG (needs matplotlib)")
    sw.add_argument("--json", type=Path, default=None, metavar="FILE",
                    help="write every member's accuracy per epoch here, by configuration, "
                         "with each configuration's best seed (atomic)")
    sw.add_argument("--csv", type=Path, default=None, metavar="FILE",
                    help="write every member's curve here, one row per member and epoch "
                         "(atomic)")
    sw.add_argument("--save-best", type=Path, default=None, metavar="FILE",
                    help="save the parameters of the member with the best final accuracy on "
                         "the --eval split (its eta, lambda, mu and seed in the metadata; "
                         "jaxnet.load_params reads it)")


def status(res, i: int) -> str:
    """Member ``i``'s status: ``ok`` or ``diverged at epoch K``."""
    k = -1 if res.diverged is None else int(res.diverged[i])
    return "ok" if k < 0 else f"diverged at epoch {k}"


def _table(args, configs, members, acc, res) -> list:
    """Prints one row per configuration (mean +- std and best of the seeds' best
    accuracies, over the seeds that did not diverge; the status names those that
    did); returns the JSON rows."""
    print(f"| eta | lambda | mu | best {args.eval} accuracy: mean +- std | best | seeds "
          "| status |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    rows = []
    for c in configs:
        idx = [i for i, (cc, _) in enumerate(members) if cc == c]
        ok = [i for i in idx if status(res, i) == "ok"]
        best = [float(acc[:, i].max()) for i in ok] if acc is not None and len(acc) else []
        said = "ok" if len(ok) == len(idx) else ", ".join(
            f"seed {members[i][1]} {status(res, i)}" for i in idx if i not in ok)
        if best:
            std = statistics.stdev(best) if len(best) > 1 else 0.0
            print(f"| {c[0]:g} | {c[1]:g} | {c[2]:g} | {statistics.mean(best):.2f} +- "
                  f"{std:.2f} % | {max(best):.2f} % | {len(best)} | {said} |")
        elif acc is not None and len(acc):
            print(f"| {c[0]:g} | {c[1]:g} | {c[2]:g} | - | - | 0 | {said} |")
        rows.append(dict(eta=c[0], lmbda=c[1], momentum=c[2], seeds=list(range(args.seeds)),
                         status=[status(res, i) for i in idx],
                         accuracy=[acc[:, i].tolist() for i in idx] if acc is not None else []))
    return rows


def diverged_line(members, diverged) -> str:
    """The members that became NaN or Inf, by their hyper-parameters and seed."""
    bad = [i for i, k in enumerate(diverged.tolist()) if k >= 0]
    said = "; ".join(f"eta {members[i][0][0]:g}, lambda {members[i][0][1]:g}, mu "
                     f"{members[i][0][2]:g}, seed {members[i][1]} at epoch {int(diverged[i])}"
                     for i in bad[:8]) + (f"; and {len(bad) - 8} more" if len(bad) > 8 else "")
    return f"{len(bad)} of {len(members)} members became NaN or Inf and stopped: {said}"


def best_member(res) -> int | None:
    """The member whose final parameters score best on the evaluation split (the
    lowest index on a tie) of those that did not diverge, or None without an epoch."""
    if res.best is None or not (res.best >= 0).any():
        return None
    final = res.correct[-1]
    return int(min((b for b in res.best.tolist() if b >= 0),
                   key=lambda i: (-int(final[i]), i)))


def report(args, model, configs, members, res) -> int:
    """The table, then --save-best, --json, --csv and --plot; the exit status: 0, 3
    if some members diverged (every output written, with the statuses), 1 if an
    output could not be written."""
    import sys

    import numpy as np
    acc = (100 * np.asarray(res.correct, np.float64) / res.total
           if res.correct is not None else None)
    rows = _table(args, configs, members, acc, res)
    some_diverged = res.diverged is not None and bool((res.diverged >= 0).any())
    if some_diverged:
        print(f"jaxnet: {diverged_line(members, res.diverged)}", file=sys.stderr)
    if res.best is not None:
        for row, b in zip(rows, res.best.tolist()):
            row["best_seed"] = members[b][1] if b >= 0 else None
    best = best_member(res)
    status = 0
    if args.save_best:
        status = max(status, _save_best(args, model, members, res, best))
    writers = {"--json": (args.json, lambda f: _json(f, args, model, rows, members, res, best)),
               "--csv": (args.csv, lambda f: _csv(f, members, res))}
    for flag, (path, write) in writers.items():
        if path:
            status = max(status, write_output(flag, path, _atomic_text(write), "wrote"))
    if args.plot and res.correct is not None:
        from ..plot import plot_population
        status = max(status, write_output(
            "--plot", args.plot, lambda path: plot_population(res.correct, res.total, path,
                                                              diverged=res.diverged),
            "wrote"))
    return 3 if status == 0 and some_diverged else status


def _atomic_text(write):
    from .._core.atomic import atomic_write

    def to(path):
        with atomic_write(path, "w") as f:
            write(f)
    return to


def _member(members, i, res=None) -> dict:
    (eta, lmbda, momentum), seed = members[i]
    out = dict(member=i, seed=seed, eta=eta, lmbda=lmbda, momentum=momentum)
    return out if res is None else dict(out, status=status(res, i))


def _save_best(args, model, members, res, best) -> int:
    import jax
    import numpy as np

    from ..io import save_params
    if best is None:
        return error("--save-best: no epoch was trained, so there is no best member", 1)
    params = jax.tree.map(lambda a: np.asarray(a[best]), res.params)
    meta = dict(_member(members, best, res), epochs=args.epochs, batch_size=args.batch_size,
                data=args.data, init=args.init, dropout=args.dropout, eval_split=args.eval,
                eval_correct=int(res.correct[-1][best]), eval_total=int(res.total),
                diverged=[_member(members, i, res) for i in range(len(members))
                          if status(res, i) != "ok"])
    print(f"best member: {best} (seed {meta['seed']}, eta {meta['eta']:g}, lambda "
          f"{meta['lmbda']:g}, mu {meta['momentum']:g}), {meta['eval_correct']} / "
          f"{meta['eval_total']} on {args.eval}")
    return write_output("--save-best", args.save_best, lambda path: save_params(
        path, params, model=model, metadata=meta), "saved parameters to")


def _json(f, args, model, rows, members, res, best) -> None:
    import json
    json.dump(dict(sizes=list(model.sizes), epochs=args.epochs, batch_size=args.batch_size,
                   cost=model.cost, activation=args.activation, split=args.eval,
                   total=res.total, configurations=rows,
                   diverged=[_member(members, i, res) for i in range(len(members))
                             if status(res, i) != "ok"],
                   best=None if best is None else dict(
                       _member(members, best, res), correct=int(res.correct[-1][best]))),
              f, indent=1)


def _csv(f, members, res) -> None:
    import csv
    w = csv.writer(f, lineterminator="\n")
    w.writerow(["member", "seed", "eta", "lmbda", "momentum", "epoch", "correct", "total",
                "accuracy", "status"])
    correct = [] if res.correct is None else res.correct
    for i in range(len(members)):
        m = _member(members, i)
        for e, row in enumerate(correct):
            w.writerow([i, m["seed"], m["eta"], m["lmbda"], m["momentum"], e, int(row[i]),
                        res.total, f"{100 * int(row[i]) / res.total:.2f}", status(res, i)])
