"""network3's conv-pool layer in C (csrc/jaxnet_convpool.h): the twins of
``jaxnet.ConvPool.forward`` and its hand-derived backward. Validated host arrays
in, numpy out; a layer's ``(w, b)`` pair may be a Layer, a tuple or a list, and its
gradient comes back as the same kind of pair."""

from __future__ import annotations

import numpy as np

from .._core.convpool import ConvPool
from .._core.params import Layer, check_pair, like
from .._core.validate import check_finite, check_param_values
from ._lib import ffi, lib
from ._net import as_array, check, host, host_layers
from ._pinned import Pinned

_SFX = {np.dtype(np.float64): "f64", np.dtype(np.float32): "f32"}


def _conv_arrays(layer, p, a):
    """Validated host arrays and the C dims for a ConvPool layer on ``a (m, C, H, W)``."""
    if not isinstance(layer, ConvPool):
        raise TypeError(f"layer: expected a jaxnet.ConvPool, got {type(layer).__name__}")
    a = as_array(a, "a")
    if a.ndim != 4 or a.shape[0] < 1:
        raise ValueError(f"a: expected shape (m, channels, height, width), got {a.shape}")
    out = layer.output_shape(a.shape[1:])                 # ValueError naming the sizes
    check_pair(p, "p")
    dtype = check_param_values(host_layers([p], "p"), 1, name="p")
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
    """network3's conv-pool layer in C (csrc/jaxnet_convpool.h), as ``ConvPool.forward``:
    ``(z (m, F, Ho/p, Wo/p), idx (same shape, int32))`` for ``p = (w (F, C, k, k),
    b (F,))`` (a Layer, tuple or list) and ``a (m, C, H, W)``; idx is each block's
    first maximum."""
    a, w, b, dims, zshape = _conv_arrays(layer, p, a)
    z, idx = np.empty(zshape, a.dtype), np.empty(zshape, np.int32)
    sfx, pin = _SFX[a.dtype], Pinned()
    check(getattr(lib, f"jn_convpool_forward_{sfx}")(
        pin.out(z), pin.out(idx), pin(a), pin(w), pin(b), dims),
        f"jn_convpool_forward_{sfx}")
    return z, idx


def convpool_backward(layer, p, a, idx, delta, input_grad=True):
    """The hand-derived backward in C, as ``ConvPool.backward``: ``((∂C/∂w, ∂C/∂b),
    ∂C/∂a (m, C, H, W) or None)`` from ``delta = ∂C/∂z`` and the forward's ``idx``;
    the gradient pair is of ``p``'s kind (Layer, tuple or list)."""
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
    sfx, pin = _SFX[a.dtype], Pinned()
    rc = getattr(lib, f"jn_convpool_backward_{sfx}")(
        pin.out(gw), pin.out(gb), pin.out(g_in), pin(a), pin(idx, np.int32), pin(delta),
        pin(w), dims)
    if rc == lib.JN_ERR_INPUT:
        raise ValueError(f"idx: expected block indices in [0, {layer.pool ** 2})")
    check(rc, f"jn_convpool_backward_{sfx}")
    return like([p], [Layer(gw, gb)])[0], g_in
