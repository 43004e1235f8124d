"""Chapter 6 in C: network3's conv-pool layer (csrc/jaxnet_conv.h), the twins of
``jaxnet.ConvPool.forward`` and its hand-derived backward, and the gradient of a
whole network of ConvPool and Dense layers with dropout masks (csrc/jaxnet_net.h).
Validated host arrays in, numpy out."""

from __future__ import annotations

import numpy as np

import math

from ._convpool import ConvPool
from ._cref_net import Net, as_array, as_layers, ffi, host, lib
from ._dense import Dense
from ._inputs import check_masks, check_x, check_y, resolve
from ._params import Layer
from ._validate import check_finite, check_param_values, check_reg_strength

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
    sfx = _CONV_SFX[a.dtype]
    Net.check(getattr(lib, f"jn_convpool_forward_{sfx}")(
        _buf(z), ffi.from_buffer("int32_t[]", idx), _buf(a), _buf(w), _buf(b), dims),
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
    idx = np.ascontiguousarray(idx, np.int32)
    gw, gb = np.empty_like(w), np.empty_like(b)
    g_in = np.empty_like(a) if input_grad else None
    sfx = _CONV_SFX[a.dtype]
    rc = getattr(lib, f"jn_convpool_backward_{sfx}")(
        _buf(gw), _buf(gb), ffi.NULL if g_in is None else _buf(g_in), _buf(a),
        ffi.from_buffer("int32_t[]", idx), _buf(delta), _buf(w), dims)
    if rc == lib.JN_ERR_INPUT:
        raise ValueError(f"idx: expected block indices in [0, {layer.pool ** 2})")
    Net.check(rc, f"jn_convpool_backward_{sfx}")
    return Layer(gw, gb), g_in


_CONV_SFX = {np.dtype(np.float64): "f64", np.dtype(np.float32): "f32"}


def _buf(a):
    return ffi.cast(("double *" if a.dtype == np.float64 else "float *"), ffi.from_buffer(a))


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


def net_backprop(params, x, y, *, model, lmbda=None, n=None, masks=None):
    """The gradient of a chapter-6 network (ConvPool and Dense layers, dropout masks)
    in C, as ``jaxnet.backprop`` with the same arguments: numpy Layers."""
    model, params = resolve(as_layers(params, "params"), model)
    dtype = np.dtype(params[0].w.dtype)
    x, y = as_array(x, "x"), as_array(y, "y")
    m = check_x(model, x, allow_int=False)
    check_y(model, y, m)
    masks = check_masks(model, masks, m, params)
    layers = _c_layers(model)
    cfg = ffi.new("jn_config *")
    cfg.cost, cfg.activation, cfg.reg = _COST[model.cost], 0, _REG[model.reg]
    lm, nn = check_reg_strength(lmbda, n)
    cfg.lmbda, cfg.n_train = (0.0, 1.0) if lm is None else (float(lm), float(nn))
    sizes = ffi.new("size_t[2]")
    Net.check(lib.jn_net_work_size(sizes, sizes + 1, layers, len(model.layers), m),
              "jn_net_work_size")
    w = [host(p.w, dtype) for p in params]
    b = [host(p.b, dtype) for p in params]
    gw, gb = [np.empty_like(a) for a in w], [np.empty_like(a) for a in b]
    mk = None if masks is None else [None if k is None else host(np.asarray(k), dtype)
                                     for k in masks]
    work, idx = np.empty(max(sizes[0], 1), dtype), np.empty(max(sizes[1], 1), np.int32)
    ctype = "double" if dtype == np.float64 else "float"
    ptrs = lambda arrs: ffi.new(f"{ctype} *[]", [  # noqa: E731
        ffi.NULL if a is None else ffi.cast(f"{ctype} *", ffi.from_buffer(a)) for a in arrs])
    sfx = _CONV_SFX[dtype]
    Net.check(getattr(lib, f"jn_net_backprop_{sfx}")(
        ptrs(gw), ptrs(gb), ptrs(w), ptrs(b), _buf(host(x, dtype)), _buf(host(y, dtype)),
        ffi.NULL if mk is None else ptrs(mk), layers, len(model.layers), cfg, m, _buf(work),
        work.size, ffi.from_buffer("int32_t[]", idx), idx.size), f"jn_net_backprop_{sfx}")
    return tuple(Layer(a, c) for a, c in zip(gw, gb))
