"""The C kernel's public functions: the twins of jaxnet's network functions, steps
and epochs.

``feedforward``, ``backprop``, ``backprop_trace``, ``sgd_step``, ``step_with``,
``train_epoch`` and ``train_epoch_with`` take the arguments of their JAX namesakes
(any tuple or list of ``(w, b)`` pairs, numpy or JAX arrays, a Model, the rules
jaxnet.sgd and jaxnet.momentum, ``key``/``masks`` for dropout, ``n`` for λ/n) plus,
for steps and epochs, ``kernel`` (:data:`KERNELS`) and ``threads``; they return the
same structure as numpy arrays: parameters, gradients and a momentum state's
velocity in the caller's containers. Every array argument is converted to a numpy
array once, and that array, not the object passed in, is checked (dtype, shape
against the model, contiguity, finiteness, the order being a permutation) and
handed to C. A failure raises ``ValueError``/``TypeError`` naming the argument, the expected
and the actual. Dense chains run on csrc/jaxnet_dense_chain.h (and the fast path,
csrc/jaxnet_dense_chain_fast.h); models with ConvPool layers, dropout or mixed activations on
chapter 6's network kernel (csrc/jaxnet_net.h), and their steps and epochs by
default on its fast path (csrc/jaxnet_net_fast.h).
"""

from __future__ import annotations

import math

import numpy as np

from .._core.inputs import check_mask_shapes, check_x, check_y
from .._core.params import like, state_layers, state_like
from .._core.rules import sgd
from .._core.validate import check_order, check_reg_strength
from ._epoch import WHOLE_BATCH, Epoch
from ._lib import ffi, lib
from ._masks import step_masks
from ._net import Net, as_array, check, host
from ._pinned import Pinned


def _batch(net, x, y=None):
    """``(m, x rows, y rows or None)`` as host arrays of the net's dtype, checked."""
    x = as_array(x, "x")
    m = check_x(net.model, x, allow_int=False)
    if y is None:
        return m, host(x, net.dtype), None
    y = as_array(y, "y")
    check_y(net.model, y, m)
    return m, host(x, net.dtype), host(y, net.dtype)


def feedforward(params, x, *, model=None):
    """Output activations ``(batch, n_L)`` for ``x (batch, n_0)``, as jaxnet.feedforward
    (the evaluation network: dropout layers scale their inputs by 1 − p)."""
    net = Net(params, model)
    m, xh, _ = _batch(net, x)
    out = np.empty((m, net.model.layers[-1].n_out), net.dtype)
    pin, d = Pinned(), net.dtype
    if net.network:
        work, idx = _network_work(net, m)
        net.call("net_feedforward", pin.out(out), pin.ptrs(net.w, d), pin.ptrs(net.b, d),
                 pin(xh, d), net.c_layers, net.n_layers, m, pin.out(work), work.size,
                 pin.out(idx), idx.size)
        return out
    work = net.work(m)
    net.call("feedforward", pin.out(out), pin.ptrs(net.w, d), pin.ptrs(net.b, d), pin(xh, d),
             net.config(), pin(net.c_sizes), net.n_layers, m, pin.out(work), work.size)
    return out


def _network_work(net, m):
    """``(work, int32 indices)`` for jn_net_feedforward/jn_net_backprop on ``m`` rows."""
    sizes = ffi.new("size_t[2]")
    check(lib.jn_net_work_size(sizes, sizes + 1, net.c_layers, net.n_layers, m),
          "jn_net_work_size")
    return np.empty(max(sizes[0], 1), net.dtype), np.empty(max(sizes[1], 1), np.int32)


def _chain_backprop(net, xh, yh, m, cfg):
    gw = [np.empty_like(w) for w in net.w]
    gb = [np.empty_like(b) for b in net.b]
    work, pin, d = net.work(m), Pinned(), net.dtype
    net.call("backprop", pin.ptrs(gw, d, out=True), pin.ptrs(gb, d, out=True),
             pin.ptrs(net.w, d), pin.ptrs(net.b, d), pin(xh, d), pin(yh, d), cfg,
             pin(net.c_sizes), net.n_layers, m, pin.out(work), work.size)
    return net.layers(gw, gb), work


def _network_backprop(net, xh, yh, m, cfg, masks):
    """``(gradient Layers, work)``: the work buffer holds the call's intermediates."""
    check_mask_shapes(net.model, masks, m)
    gw, gb = [np.empty_like(a) for a in net.w], [np.empty_like(a) for a in net.b]
    (work, idx), pin, d = _network_work(net, m), Pinned(), net.dtype
    net.call("net_backprop", pin.ptrs(gw, d, out=True), pin.ptrs(gb, d, out=True),
             pin.ptrs(net.w, d), pin.ptrs(net.b, d), pin(xh, d), pin(yh, d),
             pin.ptrs(net.host_masks(masks, m), d), net.c_layers, net.n_layers, cfg, m,
             pin.out(work), work.size, pin.out(idx), idx.size)
    return net.layers(gw, gb), work


def _network_trace(net, xh, yh, m, cfg, masks) -> dict:
    """backprop_trace on the network kernel: its work buffer read through
    jn_net_trace_offsets, each ``A^l`` and ``Δ^l`` reshaped to ``(m, *shape of layer l)``."""
    grads, work = _network_backprop(net, xh, yh, m, cfg, masks)
    n, shapes = net.n_layers, net.model.shapes
    in_off, out_off, d_off = (ffi.new("size_t[]", n) for _ in range(3))
    check(lib.jn_net_trace_offsets(in_off, out_off, d_off, net.c_layers, n, m),
          "jn_net_trace_offsets")

    def take(off, shape):
        size = m * math.prod(shape)
        return work[off:off + size].reshape((m,) + tuple(shape)).copy()

    a = [xh.reshape((m,) + tuple(shapes[0])).copy()]
    a += [take(out_off[l], shapes[l + 1]) for l in range(n)]
    return {"a": a, "delta": [take(d_off[l], shapes[l + 1]) for l in range(n)],
            "grads": grads}


def backprop(params, x, y, *, model=None, lmbda=None, n=None, masks=None):
    """Mean gradient of the (regularised) cost, as jaxnet.backprop: numpy pairs
    ``(w (n_out, n_in), b (n_out,))`` for Dense layers, in ``params``'s containers; the
    reference kernel for Dense chains, chapter 6's network kernel (csrc/jaxnet_net.h)
    for models with ConvPool layers, dropout (``masks``) or mixed activations."""
    net = Net(params, model, network=masks is not None)
    m, xh, yh = _batch(net, x, y)
    cfg = net.config(check_reg_strength(lmbda, n))
    if net.network:
        return like(params, _network_backprop(net, xh, yh, m, cfg, masks)[0])
    return like(params, _chain_backprop(net, xh, yh, m, cfg)[0])


def backprop_trace(params, x, y, *, model=None, lmbda=None, n=None, masks=None) -> dict:
    """backprop plus its intermediates, for layer-by-layer comparisons: the reference
    kernel's for Dense chains, the network kernel's (csrc/jaxnet_net.h) for models
    with ConvPool layers, dropout (``masks``) or mixed activations.

    Returns ``{"a": [A^0..A^L], "delta": [Δ^1..Δ^L], "grads": ...}`` (the gradient
    in ``params``'s containers), each
    ``A^l`` and ``Δ^l`` ``(batch, *shape of layer l)`` (a Dense layer's
    ``(batch, n_l)``; ``A^0`` is ``x`` in the model's input shape; ``Δ^l`` of
    BP1/BP2, including the mean's 1/batch), as jaxnet.backprop_trace's.
    """
    net = Net(params, model, network=masks is not None)
    m, xh, yh = _batch(net, x, y)
    cfg = net.config(check_reg_strength(lmbda, n))
    if net.network:
        trace = _network_trace(net, xh, yh, m, cfg, masks)
        return {**trace, "grads": like(params, trace["grads"])}
    grads, work = _chain_backprop(net, xh, yh, m, cfg)
    a_off = ffi.new("size_t[]", net.n_layers + 1)
    d_off = ffi.new("size_t[]", net.n_layers)
    pin = Pinned()
    check(lib.jn_trace_offsets(a_off, d_off, pin(net.c_sizes), net.n_layers, m),
          "jn_trace_offsets")
    s = net.sizes
    a = [work[a_off[l]:a_off[l] + m * s[l]].reshape(m, s[l]).copy() for l in range(len(s))]
    d = [work[d_off[l]:d_off[l] + m * s[l + 1]].reshape(m, s[l + 1]).copy()
         for l in range(net.n_layers)]
    return {"a": a, "delta": d, "grads": like(params, grads)}


def sgd_step(params, x, y, eta, *, model=None, lmbda=None, n=None, kernel=None, key=None,
             masks=None):
    """One SGD step ``p − η·∇C`` on ``x (m, n_0)``, ``y (m, n_L)``, as jaxnet.sgd_step
    (numpy arrays in ``params``'s containers)."""
    return step_with(sgd(eta), params, None, x, y, model=model, lmbda=lmbda, n=n,
                     kernel=kernel, key=key, masks=masks)[0]


def step_with(rule, params, state, x, y, *, model=None, lmbda=None, n=None, kernel=None,
              key=None, masks=None):
    """One step with jaxnet.sgd or jaxnet.momentum, as jaxnet.step_with: returns
    ``(params, state)`` as numpy; ``x (m, n_0)`` float, ``y (m, n_L)``. A step is an
    epoch of one mini-batch in its own order. ``kernel``: as :func:`train_epoch_with`;
    dropout masks drawn from ``key`` (or ``masks``: ``(m, *input shape)`` per dropout
    layer) as jaxnet.step_with draws them."""
    check_reg_strength(lmbda, n)                # a step's n is given, never defaulted
    ep = Epoch(rule, params, _state_layers(state, params), x, y, batch_size=WHOLE_BATCH,
               model=model, lmbda=lmbda, n=n, kernel=kernel, network=masks is not None,
               allow_int=False)
    net = ep.net
    if masks is None and net.model.has_dropout:
        masks = step_masks(net.model, key, ep.n, net.dtype)
    check_mask_shapes(net.model, masks, ep.n)
    return _theirs(params, ep(ep.params, ep.state, np.arange(ep.n, dtype=np.int64),
                              masks=masks))


def _state_layers(state, params):
    """A state made by ``rule.init(params)``, its velocity as Layers (after ``params``
    passed check_container: a container Net would refuse is left for Net to name)."""
    try:
        return state_layers(state, params)
    except TypeError:
        return state


def _theirs(template, out):
    """``(params, state)`` of Layers back in the containers of ``template`` (the
    caller's parameters) and of ``rule.init(template)``."""
    params, state = out
    return like(template, params), state_like(state, template)


def train_epoch(params, x, y, order, *, eta, batch_size, model=None, x_scale=None, lmbda=None,
                kernel=None, threads=1, key=None, n=None, masks=None):
    """One epoch of plain mini-batch SGD over ``order (N,)``, as jaxnet.train_epoch;
    returns numpy arrays in ``params``'s containers. See :func:`train_epoch_with`."""
    return train_epoch_with(sgd(eta), params, None, x, y, order, batch_size=batch_size,
                            model=model, x_scale=x_scale, lmbda=lmbda, kernel=kernel,
                            threads=threads, key=key, n=n, masks=masks)[0]


def train_epoch_with(rule, params, state, x, y, order, *, batch_size, model=None, x_scale=None,
                     lmbda=None, kernel=None, threads=1, key=None, n=None, masks=None):
    """One epoch over ``order`` with jaxnet.sgd or jaxnet.momentum, as
    jaxnet.train_epoch_with; returns ``(params, state)`` as numpy, in the containers of
    ``params`` and of ``rule.init(params)``.

    Args:
      rule, state: a book rule and its state (None: ``rule.init(params)``).
      params: a tuple or list of ``(w, b)`` pairs (``jaxnet.Layer``, plain tuples or
        lists; float32 or float64) matching ``model``.
      x: ``(N, n_0)`` float inputs (converted to the parameters' dtype), or
        integer pixels with ``x_scale`` (rows ``x[i] * x_scale``): uint8 goes
        to the fast path as it is.
      y: ``(N, n_L)`` float targets; order: ``(N,)`` int permutation.
      batch_size: ``1 <= batch_size <= N``; a smaller last mini-batch as the book.
      model, lmbda: as jaxnet.train_epoch; n: n in λ/n (default N; network3
        divides by the number of mini-batches).
      kernel: ``"fast"``, the default (csrc/jaxnet_dense_chain_fast.h for Dense chains,
        whose first layer skips zero inputs; csrc/jaxnet_net_fast.h for chapter-6
        models: ConvPool layers, dropout, mixed activations), ``"fast-dense"``
        (Dense chains: the same fast path with a dense first layer, the same
        numbers) or ``"reference"`` (the readable loops).
      key: the dropout masks' PRNG key, drawn as jaxnet.train_epoch draws them
        (or ``masks``: ``(N, *input shape)`` per dropout layer, row t for the
        t-th example visited).
      threads: threads for the fast paths, ``1..1024`` (parallel where the extension
        was built with OpenMP: :func:`parallel`). Results do not depend on it.

    Float inputs are checked for NaN/Inf by the Dense chains' fast path in C while
    it packs each row (the error names the first bad row, and the parameters are
    left unchanged), and here, before the call, for the other kernels.
    """
    ep = Epoch(rule, params, _state_layers(state, params), x, y, batch_size=batch_size,
               model=model, x_scale=x_scale, lmbda=lmbda, n=n, kernel=kernel,
               threads=threads, network=masks is not None)
    order = as_array(order, "order")
    check_order(order, ep.n)
    check_mask_shapes(ep.net.model, masks, ep.n)
    return _theirs(params, ep(ep.params, ep.state, host(order, np.int64), key=key,
                              masks=masks))


def parallel() -> bool:
    """Whether ``threads > 1`` runs in parallel (the extension was built with OpenMP)."""
    return bool(lib.jn_fast_parallel())
