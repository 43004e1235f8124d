"""The population's peers for benchmarks/population.py: the same P members trained by
other means, each checked against ``jaxnet.fit_population`` before it is timed.

- ``loop``: ``jaxnet.train_epoch`` called once per member, in turn (the public API).
- ``c``: ``jaxnet.fit_population(impl="c")``: each member's epoch by the C kernel's
  fast path, the members spread over the machine's cores (the whole call timed,
  its set-up included).
- ``equinox``: a ``vmap``'d Equinox + optax epoch (``peers/equinox_optax.py``).
- ``torch``: ``torch.compile``'d ``torch.func.vmap(grad(functional_call))`` steps
  (``peers/torch_compiled.py``); absent without torch.

Every member trains one epoch from the population's start, in the order
``jaxnet.shuffle_order(keys[i], N)`` that ``fit_population`` draws for its first
epoch, with its own η.
"""

from __future__ import annotations

import time
from typing import Callable, NamedTuple

import numpy as np

# float32: each path sums its products in its own order (one rounding, ~6e-8
# relative, a product), which a member's epoch at η up to 3 amplifies: in 100 steps
# the peers stayed within 3.8e-7 of fit_population; in 1,000 steps (10,000 images)
# two of JAX's own forms of the same 64 members (one vmap, and blocks) differed by
# 1.9e-5, its η ≈ 3 members the farthest (the median member 6e-7). A wrong η,
# order or member is ≥ 1e-2 (tests/test_population_peers.py: a swapped η).
PEER_RTOL = 2e-4
# The C kernel's fast path sums every product in its own order in every step, and
# in float32 that is the C fast path's named tolerance against the JAX epoch
# (tests/test_cref_fast.py's EPOCH32_RTOL): 64 members of 1,000 steps differed by
# 3.7e-4 at most (8 members: 1.8e-5 to 4.3e-5, each above its one-ulp nudge; in
# float64 the same 8 stayed within 6.1e-13, tests/test_population_c.py). A wrong η
# or order is ≥ 1e-2 (tests/test_population_peers.py).
C_RTOL = 1e-3


class Members(NamedTuple):
    """P members' shared start: ``weights[l] (P, n_out, n_in)``, ``biases[l] (P,
    n_out)`` float32 NumPy, ``keys (P, 2)``, ``orders (P, N)`` int32, ``etas (P,)``
    float32; the data: ``x (N, 784)`` uint8, ``labels (N,)``, ``xf (N, 784)`` float32
    (scaled), ``y (N, 10)`` float32 one-hot, ``scale`` the pixel scale."""

    pop: object
    weights: list
    biases: list
    keys: object
    orders: np.ndarray
    etas: np.ndarray
    x: np.ndarray
    labels: np.ndarray
    xf: np.ndarray
    y: np.ndarray
    scale: float


class Peer(NamedTuple):
    """A path: its name and ``make(members) -> run``; ``run()`` trains one epoch of
    every member from the start and returns ``[(w (P, ..), b (P, ..))]`` NumPy;
    ``rtol``: how far it may be from fit_population's members and still be timed."""

    name: str
    make: Callable
    rtol: float = PEER_RTOL


def members(p: int, x, labels, model, seed=0) -> Members:
    """``p`` members of ``model`` (a jaxnet.Model) on ``x (N, 784) uint8``, ``labels``."""
    import jax

    import jaxnet
    from jaxnet import data
    keys = jax.random.split(jax.random.PRNGKey(seed), p)
    pop = jaxnet.init_population(keys, model)
    n = len(labels)
    orders = np.stack([np.asarray(jaxnet.shuffle_order(k, n)[1]) for k in keys])
    scale = data.PIXEL_SCALE
    return Members(pop, [np.asarray(layer.w) for layer in pop],
                   [np.asarray(layer.b) for layer in pop], keys, orders,
                   np.linspace(0.5, 3.0, p).astype(np.float32), x, labels,
                   x.astype(np.float32) * np.float32(scale),
                   data.one_hot(labels, 10, np.float32), scale)


def _loop(m: Members):
    import jax

    import jaxnet

    def run():
        out = [jaxnet.train_epoch(jax.tree.map(lambda a, i=i: a[i], m.pop), m.x, m.y,
                                  m.orders[i], eta=float(m.etas[i]), batch_size=10,
                                  x_scale=m.scale)
               for i in range(len(m.etas))]
        return [(np.stack([np.asarray(o[l][0]) for o in out]),
                 np.stack([np.asarray(o[l][1]) for o in out])) for l in range(len(out[0]))]
    return run


def _c(m: Members):
    import jaxnet

    def run():
        res = jaxnet.fit_population(m.keys, m.pop, m.x, m.labels, epochs=1, eta=m.etas,
                                    batch_size=10, x_scale=m.scale, impl="c")
        return [(np.asarray(layer.w), np.asarray(layer.b)) for layer in res.params]
    return run


def _equinox(m: Members):
    import jax
    import jax.numpy as jnp
    from peers import equinox_optax as eo
    models = eo.stacked([eo.MLP([w[i] for w in m.weights], [b[i] for b in m.biases])
                         for i in range(len(m.etas))])
    args = [jnp.asarray(a) for a in (m.xf, m.y, m.orders, m.etas)]

    def run():
        out = jax.block_until_ready(eo.population(models, *args, 10))
        return [(np.asarray(w), np.asarray(b)) for w, b in eo.layers(out)]
    return run


def _torch(m: Members):
    import torch
    from peers import torch_compiled as tc
    net, params = tc.population(m.weights, m.biases)
    step = tc.population_epoch(net)
    args = (torch.from_numpy(m.xf), torch.from_numpy(m.y),
            torch.from_numpy(m.orders.astype(np.int64)), torch.from_numpy(m.etas))

    def run():
        out = step(dict(params), *args, 10)
        t = [out[k].detach().numpy() for k in params]
        return list(zip(t[0::2], t[1::2]))
    return run


def peers() -> tuple[list, list]:
    """``(the available Peers, notes on the absent ones)``."""
    out, notes = [Peer("loop of train_epoch", _loop)], []
    try:
        from jaxnet import cref  # noqa: F401  (the C extension, built at install)
        out.append(Peer('jaxnet.fit_population(impl="c")', _c, C_RTOL))
    except ImportError as e:
        notes.append(f"jaxnet.cref absent ({e})")
    try:
        import equinox
        import optax
        out.append(Peer(f"Equinox {equinox.__version__} + optax {optax.__version__}, vmap",
                        _equinox))
    except ImportError as e:
        notes.append(f"Equinox + optax absent ({e})")
    try:
        import torch
        out.append(Peer(f"PyTorch {torch.__version__} torch.compile, vmap(grad)", _torch))
    except ImportError as e:
        notes.append(f"PyTorch absent ({e})")
    return out, notes


def rel(out, ref) -> float:
    """max over the layers' w and b of max|out − ref| / max|ref|."""
    return max(float(np.max(np.abs(a - b)) / np.max(np.abs(b)))
               for o, r in zip(out, ref) for a, b in zip(o, r))


def checked_times(run, ref, repeats: int, rtol: float = PEER_RTOL):
    """``(rel. difference, first call's seconds, [seconds] of ``repeats`` more)``, or
    the difference and Nones when it exceeds ``rtol`` (not timed)."""
    t0 = time.perf_counter()
    diff = rel(run(), ref)
    first = time.perf_counter() - t0
    if not diff <= rtol:
        return diff, None, None
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        run()
        times.append(time.perf_counter() - t0)
    return diff, first, times
