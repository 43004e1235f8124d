"""Chapter 6 in C: network3's conv-pool layer (csrc/jaxnet_conv.h), the twins of
``jaxnet.ConvPool.forward`` and its hand-derived backward, and the gradient, steps
and epochs of a whole network of ConvPool and Dense layers with dropout masks
(csrc/jaxnet_net.h). Validated host arrays in, numpy out. An epoch with dropout
holds every step's masks at once (``(N, *input shape)`` per dropout layer)."""

from __future__ import annotations

import math

import numpy as np

from ..nn._convpool import ConvPool
from ..nn._dense import Dense
from ..nn._inputs import check_key, check_mask_shapes, check_x, check_y, resolve
from ..nn._params import Layer
from ..nn._validate import check_batch_size, check_finite, check_order, check_param_values, check_reg_strength
from ..train._rules import MomentumState
from ._net import Net, Pinned, as_array, as_layers, ffi, host, lib, rule_values

_ACT = {"sigmoid": 0, "tanh": 1, "relu": 2, "softmax": 3, "linear": 4}
_COST = {"quadratic": 0, "cross_entropy": 1, "log_likelihood": 2}
_REG = {"l2": 0, "l1": 1}


def _conv_arrays(layer, p, a):
    """Validated host arrays and the C dims for a ConvPool layer on ``a (m, C, H, W)``."""
    if not isinstance(layer, ConvPool):
        raise TypeError(f"layer: expected a jaxnet.ConvPool, got {type(layer).__name__}")
    a = as_array(a, "a")
    if a.ndim != 4 or a.shape[0] < 1:
        raise ValueError(f"a: expected shape (m, channels, height, width), got {a.shape}")
    out = layer.output_shape(a.shape[1:])                 # ValueError naming the sizes
    dtype = check_param_values(as_layers([p], "p"), 1, name="p")
    w, b = host(as_array(p[0], "p.w"), dtype), host(as_array(p[1], "p.b"), dtype)
    want = layer.param_shapes(a.shape[1:])
    if (w.shape, b.shape) != (tuple(want.w), tuple(want.b)):
        raise ValueError(f"p: expected w {tuple(want.w)} and b {tuple(want.b)} for {layer} on "
                         f"input {a.shape[1:]}, got {w.shape} and {b.shape}")
    check_finite(a, "a")
    dims = ffi.new("jn_convpool_dims *", dict(
        m=a.shape[0], c=a.shape[1], h=a.shape[2], w=a.shape[3], f=layer.filters,
        k=layer.kernel, p=layer.pool))
    return host(a, dtype), w, b, dims, (a.shape[0],) + out


def convpool_forward(layer, p, a):
    """network3's conv-pool layer in C (csrc/jaxnet_conv.h), as ``ConvPool.forward``:
    ``(z (m, F, Ho/p, Wo/p), idx (same shape, int32))`` for ``p = Layer(w (F, C, k, k),
    b (F,))`` and ``a (m, C, H, W)``; idx is each block's first maximum."""
    a, w, b, dims, zshape = _conv_arrays(layer, p, a)
    z, idx = np.empty(zshape, a.dtype), np.empty(zshape, np.int32)
    sfx, pin = _CONV_SFX[a.dtype], Pinned()
    Net.check(getattr(lib, f"jn_convpool_forward_{sfx}")(
        pin.out(z), pin.out(idx), pin(a), pin(w), pin(b), dims),
        f"jn_convpool_forward_{sfx}")
    return z, idx


def convpool_backward(layer, p, a, idx, delta, input_grad=True):
    """The hand-derived backward in C, as ``ConvPool.backward``: ``(Layer(∂C/∂w, ∂C/∂b),
    ∂C/∂a (m, C, H, W) or None)`` from ``delta = ∂C/∂z`` and the forward's ``idx``."""
    a, w, b, dims, zshape = _conv_arrays(layer, p, a)
    delta, idx = host(as_array(delta, "delta"), a.dtype), as_array(idx, "idx")
    for name, arr in (("delta", delta), ("idx", idx)):
        if arr.shape != zshape:
            raise ValueError(f"{name}: expected shape {zshape}, got {arr.shape}")
    check_finite(delta, "delta")
    if idx.dtype.kind not in "iu" or (idx.size and not (0 <= idx.min() and
                                                        idx.max() < layer.pool ** 2)):
        raise ValueError(f"idx: expected block indices in [0, {layer.pool ** 2}) as integers, "
                         f"got {idx.dtype} values")   # before int32: 2**32 would wrap to 0
    gw, gb = np.empty_like(w), np.empty_like(b)
    g_in = np.empty_like(a) if input_grad else None
    sfx, pin = _CONV_SFX[a.dtype], Pinned()
    rc = getattr(lib, f"jn_convpool_backward_{sfx}")(
        pin.out(gw), pin.out(gb), pin.out(g_in), pin(a), pin(idx, np.int32), pin(delta),
        pin(w), dims)
    if rc == lib.JN_ERR_INPUT:
        raise ValueError(f"idx: expected block indices in [0, {layer.pool ** 2})")
    Net.check(rc, f"jn_convpool_backward_{sfx}")
    return Layer(gw, gb), g_in


_CONV_SFX = {np.dtype(np.float64): "f64", np.dtype(np.float32): "f32"}


def _c_layers(model):
    """The model's layers as a ``jn_layer[]`` (Dense and ConvPool only)."""
    out = ffi.new("jn_layer[]", len(model.layers))
    for l, (layer, shape) in enumerate(zip(model.layers, model.shapes)):
        if not isinstance(layer, (Dense, ConvPool)):
            raise ValueError(f"model: the C kernel implements Dense and ConvPool layers, "
                             f"got {type(layer).__name__} (layers[{l}])")
        c, h, w = shape if len(shape) == 3 else (math.prod(shape), 1, 1)
        conv = isinstance(layer, ConvPool)
        out[l] = dict(kind=int(conv), activation=_ACT[layer.activation], c=c, h=h, w=w,
                      n_out=layer.filters if conv else layer.n_out,
                      k=layer.kernel if conv else 1, p=layer.pool if conv else 1,
                      dropout=float(getattr(layer, "dropout", 0.0)))
    return out


class ConvNet:
    """Validated host copies of a chapter-6 model's parameters, its ``jn_layer[]``, and
    cffi views (the twin of _cref_net.Net for jaxnet_net.h)."""

    def __init__(self, params, model):
        self.model, params = resolve(as_layers(params, "params"), model)
        self.dtype = np.dtype(params[0].w.dtype)
        self.sfx = _CONV_SFX[self.dtype]
        self.c_layers = _c_layers(self.model)
        self.n_layers = len(self.model.layers)
        self.w = [host(p.w, self.dtype) for p in params]
        self.b = [host(p.b, self.dtype) for p in params]

    def layers(self, ws, bs):
        return tuple(Layer(w, b) for w, b in zip(ws, bs))

    def config(self, lmbda, n, mu=0.0):
        cfg = ffi.new("jn_config *")
        cfg.cost, cfg.activation, cfg.reg = _COST[self.model.cost], 0, _REG[self.model.reg]
        lm, nn = check_reg_strength(lmbda, n)
        cfg.lmbda, cfg.n_train = (0.0, 1.0) if lm is None else (float(lm), float(nn))
        cfg.momentum = float(mu)
        return cfg

    def work(self, size_fn, m):
        sizes = ffi.new("size_t[2]")
        Net.check(getattr(lib, size_fn)(sizes, sizes + 1, self.c_layers, self.n_layers, m),
                  size_fn)
        return np.empty(max(sizes[0], 1), self.dtype), np.empty(max(sizes[1], 1), np.int32)

    def host_masks(self, masks, rows):
        """Masks as C-contiguous ``(rows, in_size)`` host arrays (None where no dropout)."""
        return None if masks is None else [
            None if k is None else host(np.asarray(k), self.dtype).reshape(rows, -1)
            for k in masks]


def net_backprop(params, x, y, *, model, lmbda=None, n=None, masks=None):
    """The gradient of a chapter-6 network (ConvPool and Dense layers, dropout masks)
    in C, as ``jaxnet.backprop`` with the same arguments: numpy Layers."""
    net = ConvNet(params, model)
    x, y = as_array(x, "x"), as_array(y, "y")
    m = check_x(net.model, x, allow_int=False)
    check_y(net.model, y, m)
    check_mask_shapes(net.model, masks, m)
    mk = net.host_masks(masks, m)
    cfg = net.config(lmbda, n)
    gw, gb = [np.empty_like(a) for a in net.w], [np.empty_like(a) for a in net.b]
    work, idx = net.work("jn_net_work_size", m)
    pin, d = Pinned(), net.dtype
    Net.check(getattr(lib, f"jn_net_backprop_{net.sfx}")(
        pin.ptrs(gw, d, out=True), pin.ptrs(gb, d, out=True), pin.ptrs(net.w, d),
        pin.ptrs(net.b, d), pin(x, d), pin(y, d), pin.ptrs(mk, d), net.c_layers,
        net.n_layers, cfg, m, pin.out(work), work.size, pin.out(idx), idx.size),
        f"jn_net_backprop_{net.sfx}")
    return net.layers(gw, gb)


def step_masks(model, key, m: int, params):
    """The masks jaxnet.step_with draws from ``key`` (jaxnet.dropout_masks)."""
    from ..nn._network import dropout_masks
    return dropout_masks(model, check_key(model, key), m, np.dtype(params[0][0].dtype))


def epoch_masks(model, key, n: int, batch_size: int, dtype):
    """The masks jaxnet's epoch draws, by position: ``(N, *input shape)`` per dropout
    layer (None for the others), step ``i``'s rows from ``fold_in(key, i)``."""
    import jax

    from ..nn._network import dropout_masks
    n_full, rem = divmod(n, batch_size)
    full = jax.vmap(lambda i: dropout_masks(model, jax.random.fold_in(key, i), batch_size,
                                            dtype))(np.arange(n_full))
    last = dropout_masks(model, jax.random.fold_in(key, n_full), rem, dtype) if rem else None
    return tuple(None if f is None else np.concatenate(
        [np.asarray(f).reshape((-1,) + f.shape[2:])] + ([np.asarray(last[l])] if rem else []))
        for l, f in enumerate(full))


def net_train_epoch_with(rule, params, state, x, y, order, *, batch_size, model, x_scale=None,
                         lmbda=None, n=None, key=None, masks=None):
    """One epoch of a chapter-6 network in C (csrc/jaxnet_net.h) with jaxnet.sgd or
    jaxnet.momentum, as jaxnet.train_epoch_with: ``(params, state)`` as numpy. Dropout
    masks are drawn from ``key`` as the JAX epoch draws them, or given by position
    (``masks``: ``(N, *input shape)`` per dropout layer). ``n``: λ/n's n (default N)."""
    net = ConvNet(params, model)
    x, y, order = as_array(x, "x"), as_array(y, "y"), as_array(order, "order")
    N = check_x(net.model, x, x_scale=x_scale)
    check_y(net.model, y, N)
    check_order(order, N)
    batch_size = check_batch_size(batch_size, N)
    if masks is None and net.model.has_dropout:
        masks = epoch_masks(net.model, check_key(net.model, key), N, batch_size, net.dtype)
    check_mask_shapes(net.model, masks, N)
    mk = net.host_masks(masks, N)
    state = rule.init(net.layers(net.w, net.b)) if state is None else state
    eta, mu, vw, vb = rule_values(net, rule, state)
    cfg = net.config(lmbda, N if n is None else n, mu)
    xh = host(x, net.dtype)
    if x_scale is not None:                     # as the JAX mini-batch: x.astype(dtype) * scale
        xh = xh * net.dtype.type(x_scale)
    w, b = [a.copy() for a in net.w], [a.copy() for a in net.b]
    work, idx = net.work("jn_net_epoch_work_size", batch_size)
    pin, d = Pinned(), net.dtype
    Net.check(getattr(lib, f"jn_net_train_epoch_{net.sfx}")(
        pin.ptrs(w, d, out=True), pin.ptrs(b, d, out=True), pin.ptrs(vw, d, out=True),
        pin.ptrs(vb, d, out=True), pin(xh, d), pin(y, d), pin(order, np.int64),
        pin.ptrs(mk, d), eta, cfg, net.c_layers, net.n_layers, N, batch_size, pin.out(work),
        work.size, pin.out(idx), idx.size),
        f"jn_net_train_epoch_{net.sfx}")
    state = state if vw is None else MomentumState(state.eta, state.mu, net.layers(vw, vb))
    return net.layers(w, b), state
