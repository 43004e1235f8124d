"""The fused epoch: one ``pallas_call`` trains a whole epoch of a Dense network, one
network per program, so a population of ``P`` members is one launch (``grid=(P,)``).

XLA runs an epoch as a loop of small kernels, one launch (and a few microseconds)
per step; this kernel keeps the loop on the chip. Its body is
jaxnet.train._pallas_kernel; here: what it supports (:func:`check_supported`), the
padding to power-of-two blocks and back, the launch, and the entry points with the
interfaces of the JAX epochs (``train_epoch_with``'s, ``fit``'s and
``fit_population``'s), so keys, shuffles and evaluation stay theirs.

Supported: Dense layers (no dropout), every cost, sigmoid/tanh/ReLU/linear hidden
layers, L2 or L1, ``jaxnet.sgd`` and ``jaxnet.momentum``, ``grad="backprop"``,
float32 parameters, every precision name (in Triton "highest" is IEEE float32,
"high" and "default" TF32). On a GPU the kernel compiles with Triton; elsewhere it
runs in Pallas's interpret mode (slow, for the tests), which it says once.
"""

from __future__ import annotations

import warnings
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
from jax.experimental import pallas as pl
from jax.experimental.pallas import triton as plgpu

from .._core.dense import Dense
from .._core.model import Model
from .._core.rules import Momentum, MomentumState, Sgd
from ._epoch import shuffle_order
from ._pallas_kernel import HYPER, HYPER_WIDTH, make_kernel, plan_of

#: What impl="pallas" trains, for the refusals' messages.
SUPPORTED = ("Dense layers without dropout, any cost, sigmoid/tanh/relu/linear hidden "
             "layers, L2 or L1, jaxnet.sgd or jaxnet.momentum, grad='backprop', float32")
#: Triton's launch parameters: one program (a network) per block of 4 warps; no
#: software pipelining (the loop carries its state through memory).
NUM_WARPS, NUM_STAGES = 4, 1


class PallasInterpretWarning(UserWarning):
    """impl="pallas" without a GPU: the kernel runs in Pallas's (slow) interpret mode."""


_warned = []


def interpret_mode() -> bool:
    """Whether the kernel runs interpreted (no GPU); warns the first time it does."""
    interpret = jax.default_backend() != "gpu"
    if interpret and not _warned:
        _warned.append(True)
        warnings.warn("impl='pallas': no GPU, so the fused epoch runs in Pallas's interpret "
                      "mode (correct but slow)", PallasInterpretWarning, stacklevel=3)
    return interpret


def check_supported(model: Model, dtype, rule=None, grad: str = "backprop", *,
                    mesh=None, masks=None) -> None:
    """Refuses what the kernel does not implement: ValueError naming it and :data:`SUPPORTED`."""
    def refuse(what):
        raise ValueError(f"impl='pallas': {what}; the fused epoch supports {SUPPORTED}")
    for l, layer in enumerate(model.layers):
        if type(layer) is not Dense:
            refuse(f"layers[{l}] is a {type(layer).__name__}")
        if layer.dropout:
            refuse(f"layers[{l}] has dropout {layer.dropout}")
    if len(model.input_shape) != 1:
        refuse(f"the input shape is {model.input_shape}, not flat")
    if np.dtype(dtype) != np.float32:
        refuse(f"the parameters are {np.dtype(dtype)}")
    if rule is not None and type(rule) not in (Sgd, Momentum):
        refuse(f"the rule is {type(rule).__name__}")
    if grad != "backprop":
        refuse(f"grad={grad!r} (the kernel computes BP1–BP4 itself)")
    if mesh is not None:
        refuse("a mesh was given (the kernel runs one network per program)")
    if masks is not None:
        refuse("dropout masks were given")


def _pad_to(a, shape):
    return jnp.pad(a, [(0, s - d) for s, d in zip(shape, a.shape)])


def _pad(plan, layers):
    """Stacked Layers ``w (P, n_l, n_{l-1})``, ``b (P, n_l)`` → the kernel's padded
    ``[w_1..w_L, b_1..b_L]`` (zeros in the padding)."""
    p = layers[0].w.shape[0]
    ws = [_pad_to(t.w, (p, plan.pads[l + 1], plan.pads[l])) for l, t in enumerate(layers)]
    bs = [_pad_to(t.b, (p, plan.pads[l + 1])) for l, t in enumerate(layers)]
    return ws + bs


def _unpad(plan, flat, like):
    n = plan.n_layers
    return tuple(type(t)(w[:, : t.w.shape[1], : t.w.shape[2]], b[:, : t.b.shape[1]])
                 for t, w, b in zip(like, flat[:n], flat[n:]))


def _spec(shape, member_axis: bool):
    """A BlockSpec of one member's block (leading axis squeezed) or the whole array."""
    if member_axis:
        return pl.BlockSpec((None,) + tuple(shape[1:]), lambda p: (p,) + (0,) * (len(shape) - 1))
    return pl.BlockSpec(tuple(shape), lambda p: (0,) * len(shape))


def epoch_call(plan, orders, x, y, hyper, flat, *, interpret: bool):
    """The launch: ``grid=(P,)`` programs over the padded arrays; returns the padded
    parameters (and velocities) after the epoch, aliasing the inputs.

    orders: ``(1 or P, N)`` int32 (one order for all, or one each); x: ``(N, n_0)``;
    y: ``(N, n_L)`` float32; hyper: ``(P, 8)`` float32; flat: the padded ``[w.., b..,
    (vw.., vb..)]``, each ``(P, ...)``.
    """
    members = hyper.shape[0]
    each = orders.shape[0] > 1
    in_specs = ([pl.BlockSpec((None, orders.shape[1]), lambda p: (p if each else 0, 0)),
                 _spec(x.shape, False), _spec(y.shape, False), _spec(hyper.shape, True)]
                + [_spec(a.shape, True) for a in flat])
    first = len(in_specs) - len(flat)
    return pl.pallas_call(
        make_kernel(plan), grid=(members,), in_specs=in_specs,
        out_specs=[_spec(a.shape, True) for a in flat],
        out_shape=[jax.ShapeDtypeStruct(a.shape, a.dtype) for a in flat],
        input_output_aliases={first + i: i for i in range(len(flat))},
        interpret=interpret, name="jaxnet_fused_epoch",
        compiler_params=plgpu.CompilerParams(num_warps=NUM_WARPS, num_stages=NUM_STAGES),
    )(orders, x, y, hyper, *flat)


def _hyper(state, pen, x_scale, members):
    """``(P, 8)`` float32: each member's η, μ, λ, n, x_scale (absent ones 0, x_scale 1)."""
    mu = state.mu if isinstance(state, MomentumState) else 0.0
    lmbda, n = (0.0, 1.0) if pen is None else pen
    vals = dict(eta=state.eta, mu=mu, lmbda=lmbda, n=n, x_scale=1.0 if x_scale is None else x_scale)
    cols = [jnp.broadcast_to(jnp.asarray(vals[k], jnp.float32), (members,)) for k in HYPER]
    return _pad_to(jnp.stack(cols, axis=1), (members, HYPER_WIDTH))


@partial(jax.jit, static_argnames=("plan", "interpret"))
def fused_epoch(params, state, x, y, orders, x_scale, pen, *, plan, interpret):
    """The epoch of every member: ``(params, state)``, stacked with a leading axis P.

    params: stacked Layers; state: SgdState or MomentumState with ``(P,)`` η (μ) and
    a stacked velocity; x: ``(N, n_0)``; y: ``(N, n_L)``; orders: ``(1 or P, N)``
    int; x_scale: a scalar or None; pen: a Penalty (λ scalar or ``(P,)``) or None.
    """
    members = params[0].w.shape[0]
    flat = _pad(plan, params)
    if plan.momentum:
        flat += _pad(plan, state.velocity)
    xs = x if plan.scaled else x.astype(jnp.float32)
    out = epoch_call(plan, orders.astype(jnp.int32), xs, y.astype(jnp.float32),
                     _hyper(state, pen, x_scale, members), flat, interpret=interpret)
    n2 = 2 * plan.n_layers
    new = _unpad(plan, out[:n2], params)
    if plan.momentum:
        return new, state._replace(velocity=_unpad(plan, out[n2:], params))
    return new, state


def plan_for(model, rule, x, n: int, batch_size: int, pen, *, interpret: bool):
    """The kernel's Plan for this run (``rule``: a Sgd or a Momentum)."""
    return plan_of(model, batch_size=batch_size, n_examples=n,
                   scaled=np.dtype(x.dtype).kind in "ui", momentum=isinstance(rule, Momentum),
                   penalty=pen is not None, barriers=not interpret)


def solo_epoch(rule, params, state, x, y, order, x_scale, pen, *, model, batch_size):
    """train_epoch_with's epoch (checked arguments): ``(params, state)`` of one network."""
    interpret = interpret_mode()
    plan = plan_for(model, rule, x, y.shape[0], batch_size, pen, interpret=interpret)
    one = lambda t: jax.tree.map(lambda a: jnp.asarray(a)[None], t)   # noqa: E731
    p, s = fused_epoch(one(params), one(state), x, y, jnp.asarray(order)[None], x_scale, pen,
                       plan=plan, interpret=interpret)
    return jax.tree.map(lambda a: a[0], (p, s))


def _finite(tree):
    """``(P,)`` bool: whether each member's leaves are all finite."""
    return jnp.stack([jnp.all(jnp.isfinite(a.reshape(a.shape[0], -1)), axis=1)
                      for a in jax.tree.leaves(tree)]).all(axis=0)


_SHUFFLED_STATIC = ("model", "rule", "grad", "batch_size", "shuffle")


@partial(jax.jit, static_argnames=_SHUFFLED_STATIC)
def population_shuffled_epoch(params, state, keys, x, y, x_scale, pen, *, model, rule,
                              grad="backprop", batch_size, shuffle=True):
    """``population_epoch``'s twin for ``fit_population(impl="pallas")``: every member's
    shuffled epoch in one launch, ``(params, state, keys (P, 2), finite (P,))``.

    Arguments as jaxnet.train._population.fit.population_epoch (unchecked but for
    :func:`check_supported`): params stacked Layers; state the members' stacked
    SgdState/MomentumState; keys ``(P, 2)``, member ``i`` shuffling as
    ``shuffle_order(keys[i], N)`` (fit's shuffle; ``shuffle=False``: the data's
    order); x ``(N, n_0)``; y ``(N, n_L)``; x_scale a scalar or None; pen a Penalty
    with λ ``(P,)`` or a scalar, or None.
    """
    check_supported(model, params[0].w.dtype, rule, grad)
    interpret = interpret_mode()
    n = y.shape[0]
    if shuffle:
        keys, orders = jax.vmap(lambda k: shuffle_order(k, n))(keys)
    else:
        orders = jnp.arange(n, dtype=jnp.int32)[None]
    plan = plan_for(model, rule, x, n, batch_size, pen, interpret=interpret)
    params, state = fused_epoch(params, state, x, y, orders, x_scale, pen, plan=plan,
                                interpret=interpret)
    return params, state, keys, _finite(params)


@partial(jax.jit, static_argnames=_SHUFFLED_STATIC)
def pallas_shuffled_epoch(params, state, key, x, y, x_scale, pen, *, model, rule, grad="backprop",
                   batch_size, shuffle=True):
    """``jaxnet.train._epoch.shuffled_epoch``'s twin for ``fit(impl="pallas")``, one
    network: ``(params, state, next key, finite)``, shuffled by ``shuffle_order(key, N)``."""
    one = lambda t: jax.tree.map(lambda a: jnp.asarray(a)[None], t)   # noqa: E731
    p, s, k, ok = population_shuffled_epoch(
        one(params), one(state), key[None], x, y, x_scale, pen, model=model, rule=rule,
        grad=grad, batch_size=batch_size, shuffle=shuffle)
    return (*jax.tree.map(lambda a: a[0], (p, s, k)), ok[0])
