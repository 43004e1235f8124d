"""network3's conv-pool layer in C (csrc/jaxnet_conv.h): validated host arrays in,
the twins of ``jaxnet.ConvPool.forward`` and its hand-derived backward out."""

from __future__ import annotations

import numpy as np

from ._convpool import ConvPool
from ._cref_net import Net, as_array, as_layers, ffi, host, lib
from ._params import Layer
from ._validate import check_finite, check_param_values


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
