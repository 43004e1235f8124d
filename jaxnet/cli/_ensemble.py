"""``jaxnet train --ensemble N``: N networks in one population, then their majority vote."""

from __future__ import annotations

import sys
import time

from ._common import population_or_error, stopped_status
from ._flags import lambda_n


def train_ensemble(args, model, d, split) -> int:
    """``--ensemble N``: N members in one population (member i: the keys of
    ``--seed SEED+i``; ``--impl pallas``: the fused epoch; ``--impl c``: each member's
    epoch by the C kernel, ``--threads`` members at once; ``--checkpoint``: the
    population's state every epoch, as ``jaxnet sweep``'s), then the members' and the
    majority vote's accuracy. A member that became NaN or Inf stopped alone: it is
    left out of the vote, a line says which, and the exit status is 3 (as ``jaxnet
    sweep``'s); if every member did, exit 1."""
    import jax
    import jax.numpy as jnp
    import numpy as np

    from .. import data as jdata
    from ..train import evaluate_ensemble, fit_population, init_population
    from ._common import run_names
    pairs = [jax.random.split(jax.random.PRNGKey(args.seed + i)) for i in range(args.ensemble)]
    dtype = jnp.float64 if args.dtype == "float64" else jnp.float32
    params = init_population(jnp.stack([p[0] for p in pairs]), model, dtype=dtype,
                             init=args.init)
    done = []

    def on_epoch(e, c):
        done.append(e)
        print(f"Epoch {e}: members {' '.join(map(str, c.tolist()))} / {len(split)}", flush=True)
    t0 = time.perf_counter()
    res = population_or_error(lambda: fit_population(
        jnp.stack([p[1] for p in pairs]), params, d.train.images, d.train.labels, model=model,
        epochs=args.epochs, eta=args.eta, batch_size=args.batch_size, x_scale=jdata.PIXEL_SCALE,
        eval_data=(split.images, split.labels), lmbda=args.lmbda, momentum=args.momentum,
        grad=args.grad, shuffle=args.shuffle, n=lambda_n(args), on_epoch=on_epoch,
        checkpoint=args.checkpoint, resume=args.resume, overwrite=args.overwrite,
        impl=args.impl, threads=args.threads,   # set only with --impl c (check_flags)
        names=run_names(args, seed=args.seed, ensemble=args.ensemble)),
        done, "the ensemble")
    if isinstance(res, int):
        return res
    stopped = stopped_status(res)
    if stopped is not None:
        return stopped
    ok = np.asarray(res.diverged) < 0
    if not ok.all():
        print("jaxnet: " + "; ".join(
            f"member {i} (seed {args.seed + i}) became NaN or Inf at epoch {int(k)}"
            for i, k in enumerate(res.diverged.tolist()) if k >= 0)
            + ": left out of the vote", file=sys.stderr)
    voters = jax.tree.map(lambda a: a[np.flatnonzero(ok)], res.params)
    sets = [(args.eval, split)] + ([("test", d.test)] if args.eval != "test" else [])
    for name, s in sets:
        votes = int(evaluate_ensemble(voters, s.images, s.labels, model=model,
                                      x_scale=jdata.PIXEL_SCALE))
        print(f"ensemble of {int(ok.sum())}" + ("" if ok.all() else f" (of {args.ensemble})")
              + f", majority vote on {name}: {votes} / {len(s)}")
    print(f"compile {res.compile_seconds:.2f} s, total {time.perf_counter() - t0:.2f} s, "
          f"members' final {args.eval} accuracy {np.asarray(res.correct[-1]).tolist()}")
    return 0 if ok.all() else 3
