"""``jaxnet train --ensemble N``: N networks in one population, then their majority vote."""

from __future__ import annotations

import sys
import time

from ._common import error
from ._flags import lambda_n


def train_ensemble(args, model, d, split) -> int:
    """``--ensemble N``: N members in one population (member i: the keys of
    ``--seed SEED+i``; ``--impl pallas``: the fused epoch; ``--checkpoint``: the
    population's state every epoch, as ``jaxnet sweep``'s), then the members' and the
    majority vote's accuracy."""
    import jax
    import jax.numpy as jnp
    import numpy as np

    from .. import data as jdata
    from ..io._rescue import WriteError
    from ..train._checkpoint import CheckpointError
    from ..train._evaluate import evaluate_ensemble
    from ..train._population import fit_population, init_population
    pairs = [jax.random.split(jax.random.PRNGKey(args.seed + i)) for i in range(args.ensemble)]
    dtype = jnp.float64 if args.dtype == "float64" else jnp.float32
    params = init_population(jnp.stack([p[0] for p in pairs]), model, dtype=dtype,
                             init=args.init)
    done = []

    def on_epoch(e, c):
        done.append(e)
        print(f"Epoch {e}: members {' '.join(map(str, c.tolist()))} / {len(split)}", flush=True)
    t0 = time.perf_counter()
    try:
        res = fit_population(jnp.stack([p[1] for p in pairs]), params, d.train.images,
                             d.train.labels, model=model, epochs=args.epochs, eta=args.eta,
                             batch_size=args.batch_size, x_scale=jdata.PIXEL_SCALE,
                             eval_data=(split.images, split.labels), lmbda=args.lmbda,
                             momentum=args.momentum, grad=args.grad, shuffle=args.shuffle,
                             n=lambda_n(args), on_epoch=on_epoch,
                             checkpoint=args.checkpoint, resume=args.resume,
                             overwrite=args.overwrite, impl=args.impl)
    except (FloatingPointError, CheckpointError) as e:
        return error(str(e).replace("resume=True", "--resume").replace(
            "overwrite=True", "--overwrite"), 1)
    except WriteError as e:
        return error(e.message("--checkpoint", hint=f"the ensemble after {e.epoch} epochs: add "
                               f"--resume with --checkpoint {e.rescued} to continue"), 1)
    except (ValueError, TypeError) as e:
        if done:  # fit_population checks every argument before it trains: this is not one
            raise
        return error(str(e), 2)
    if res.stopped:
        print(f"jaxnet: {res.stopped.replace('resume=True', '--resume')}", file=sys.stderr)
        return 143 if "SIGTERM" in res.stopped else 130
    sets = [(args.eval, split)] + ([("test", d.test)] if args.eval != "test" else [])
    for name, s in sets:
        votes = int(evaluate_ensemble(res.params, s.images, s.labels, model=model,
                                      x_scale=jdata.PIXEL_SCALE))
        print(f"ensemble of {args.ensemble}, majority vote on {name}: {votes} / {len(s)}")
    print(f"compile {res.compile_seconds:.2f} s, total {time.perf_counter() - t0:.2f} s, "
          f"members' final {args.eval} accuracy {np.asarray(res.correct[-1]).tolist()}")
    return 0
