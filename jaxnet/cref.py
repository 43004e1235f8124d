"""The C reference kernel (``csrc/``) through cffi: the JAX functions' twins.

``feedforward``, ``backprop``, ``sgd_step`` and ``train_epoch`` take the same
arguments as their JAX namesakes (a tuple of Layers, numpy or JAX arrays) and
return the same structure as numpy arrays. Every array argument is converted
to a numpy array once, and that array, not the object passed in, is checked
(dtype, shape against the layer sizes, contiguity, finiteness, the order
being a permutation) and handed to C: an object whose ``.shape`` disagrees
with its data cannot make C read or write out of bounds. A failure raises
``ValueError``/``TypeError`` naming the argument, the expected and the actual.

The extension ``jaxnet._cref`` is compiled when jaxnet is installed; without a
C compiler at that time, importing this module raises ImportError saying
what to install.
"""

from __future__ import annotations

import numbers
import threading

import numpy as np

from ._model import check_activation, check_cost, check_reg
from ._params import Layer
from ._validate import (check_batch_size, check_inputs, check_momentum, check_order,
                        check_params, check_positive_scalar, check_reg_strength, check_targets,
                        check_velocity, check_x_scale)

try:
    from ._cref import ffi, lib
except ImportError as e:  # pragma: no cover - depends on how jaxnet was installed
    raise ImportError(
        "jaxnet.cref needs the C extension jaxnet._cref, which was not built when jaxnet was "
        "installed (no C compiler?). Install a C compiler and the Python headers (Debian: "
        "apt-get install gcc python3-dev), then reinstall jaxnet: "
        "pip install --force-reinstall --no-deps .") from e


class CRefError(RuntimeError):
    """The C kernel returned an error code (checks here should prevent it)."""


_CTYPE = {np.dtype(np.float64): ("double", "f64"), np.dtype(np.float32): ("float", "f32")}


def _array(a, name):
    """``a`` converted to a numpy array once: what is validated and what C reads."""
    if isinstance(a, np.ndarray) and not a.flags.c_contiguous:
        raise ValueError(f"{name}: expected a C-contiguous array, got strides {a.strides} for "
                         f"shape {a.shape} (use np.ascontiguousarray)")
    try:
        return np.asarray(a)
    except Exception as e:  # an array-like whose __array__ fails: report, never crash
        raise TypeError(f"{name}: cannot be converted to an array "
                        f"({type(e).__name__}: {str(e)[:200]})") from None


def _host(a, dtype):
    """A converted, validated array as C-contiguous ``dtype``."""
    return np.ascontiguousarray(a, dtype=dtype)


def _layers(params, name):
    """``params`` with every leaf converted by :func:`_array` (structure checked later)."""
    if not isinstance(params, (tuple, list)) or len(params) == 0:
        return params  # check_params names the problem
    out = []
    for l, layer in enumerate(params):
        try:
            w, b = layer
        except (TypeError, ValueError):
            raise TypeError(f"{name}[{l}]: expected a Layer(w, b), got "
                            f"{type(layer).__name__}") from None
        out.append(Layer(_array(w, f"{name}[{l}].w"), _array(b, f"{name}[{l}].b")))
    return tuple(out)


class _Net:
    """Validated host copies of the parameters and the cffi views of them."""

    def __init__(self, params):
        params = _layers(params, "params")
        self.sizes, self.dtype = check_params(params)
        self.ctype, self.sfx = _CTYPE[self.dtype]
        self.w = [_host(l.w, self.dtype) for l in params]
        self.b = [_host(l.b, self.dtype) for l in params]
        self.c_sizes = np.asarray(self.sizes, np.int64)
        self.n_layers = len(self.sizes) - 1

    def ptrs(self, arrays):
        return ffi.new(f"{self.ctype} *[]", [self.buf(a) for a in arrays])

    def buf(self, a):
        return ffi.cast(f"{self.ctype} *", ffi.from_buffer(a))

    def work(self, batch):
        n = ffi.new("size_t *")
        self.check(lib.jn_work_size(n, ffi.from_buffer("int64_t[]", self.c_sizes),
                                    self.n_layers, batch), "jn_work_size")
        return np.empty(n[0], self.dtype)

    def call(self, name, *args):
        self.check(getattr(lib, f"jn_{name}_{self.sfx}")(*args), f"jn_{name}_{self.sfx}")

    @staticmethod
    def check(rc, fn):
        if rc != lib.JN_OK:
            raise CRefError(f"{fn}: {ffi.string(lib.jn_strerror(rc)).decode()} (code {rc})")

    def layers(self, ws, bs):
        return tuple(Layer(w, b) for w, b in zip(ws, bs))


_COST = {"quadratic": "JN_COST_QUADRATIC", "cross_entropy": "JN_COST_CROSS_ENTROPY",
         "log_likelihood": "JN_COST_LOG_LIKELIHOOD"}
_ACT = {"sigmoid": "JN_ACT_SIGMOID", "tanh": "JN_ACT_TANH", "relu": "JN_ACT_RELU"}
_REG = {"l2": "JN_REG_L2", "l1": "JN_REG_L1"}


def _config(cost="quadratic", activation="sigmoid", lmbda=None, n=None, reg="l2", momentum=0.0):
    """A validated ``jn_config`` (checked here, so the C side's JN_ERR_CONFIG never fires)."""
    cfg = ffi.new("jn_config *")
    cfg.cost = getattr(lib, _COST[check_cost(cost)])
    cfg.activation = getattr(lib, _ACT[check_activation(activation)])
    cfg.reg = getattr(lib, _REG[check_reg(reg)])
    lmbda, n = check_reg_strength(lmbda, n)
    cfg.lmbda, cfg.n_train = (0.0, 1.0) if lmbda is None else (float(lmbda), float(n))
    check_momentum(momentum)
    cfg.momentum = float(momentum)
    return cfg


def _velocity(net, velocity, momentum):
    """Host copies of the velocity (vw, vb) lists, or (None, None) without one."""
    if velocity is None:
        if float(momentum) != 0:
            raise ValueError(f"momentum={momentum} needs velocity= (start from "
                             "jaxnet.init_velocity(params))")
        return None, None
    velocity = _layers(velocity, "velocity")
    check_velocity(velocity, net.layers(net.w, net.b))
    vw = [np.array(l.w, net.dtype, order="C") for l in velocity]  # copies: C updates them
    vb = [np.array(l.b, net.dtype, order="C") for l in velocity]
    return vw, vb


def _batch(net, x, y=None):
    x = _array(x, "x")
    m = check_inputs(x, net.sizes[0])
    xh = _host(x, net.dtype)
    if y is None:
        return m, xh, None
    y = _array(y, "y")
    check_targets(y, m, net.sizes[-1])
    return m, xh, _host(y, net.dtype)


def _null_ptrs(net, arrays):
    return ffi.NULL if arrays is None else net.ptrs(arrays)


def feedforward(params, x, *, cost="quadratic", activation="sigmoid"):
    """Output activations ``(batch, n_L)`` for ``x (batch, n_0)``, as jaxnet.feedforward."""
    net = _Net(params)
    m, xh, _ = _batch(net, x)
    cfg = _config(cost, activation)
    out = np.empty((m, net.sizes[-1]), net.dtype)
    work = net.work(m)
    net.call("feedforward", net.buf(out), net.ptrs(net.w), net.ptrs(net.b), net.buf(xh), cfg,
             ffi.from_buffer("int64_t[]", net.c_sizes), net.n_layers, m, net.buf(work), work.size)
    return out


def _backprop(net, xh, yh, m, cfg):
    gw = [np.empty_like(w) for w in net.w]
    gb = [np.empty_like(b) for b in net.b]
    work = net.work(m)
    net.call("backprop", net.ptrs(gw), net.ptrs(gb), net.ptrs(net.w), net.ptrs(net.b),
             net.buf(xh), net.buf(yh), cfg, ffi.from_buffer("int64_t[]", net.c_sizes),
             net.n_layers, m, net.buf(work), work.size)
    return net.layers(gw, gb), work


def backprop(params, x, y, *, cost="quadratic", activation="sigmoid", lmbda=None, n=None,
             reg="l2"):
    """Mean gradient of the (regularised) cost, as jaxnet.backprop (numpy Layers)."""
    net = _Net(params)
    m, xh, yh = _batch(net, x, y)
    return _backprop(net, xh, yh, m, _config(cost, activation, lmbda, n, reg))[0]


def backprop_trace(params, x, y, *, cost="quadratic", activation="sigmoid") -> dict:
    """backprop plus its intermediates, for layer-by-layer comparisons.

    Returns ``{"a": [A^0..A^L], "delta": [Δ^1..Δ^L], "grads": Layers}``, each
    ``A^l (batch, n_l)``, ``Δ^l (batch, n_l)`` (BP1/BP2, including the mean's
    1/batch).
    """
    net = _Net(params)
    m, xh, yh = _batch(net, x, y)
    grads, work = _backprop(net, xh, yh, m, _config(cost, activation))
    a_off = ffi.new("size_t[]", net.n_layers + 1)
    d_off = ffi.new("size_t[]", net.n_layers)
    net.check(lib.jn_trace_offsets(a_off, d_off, ffi.from_buffer("int64_t[]", net.c_sizes),
                                   net.n_layers, m), "jn_trace_offsets")
    s = net.sizes
    a = [work[a_off[l]:a_off[l] + m * s[l]].reshape(m, s[l]).copy() for l in range(len(s))]
    d = [work[d_off[l]:d_off[l] + m * s[l + 1]].reshape(m, s[l + 1]).copy()
         for l in range(net.n_layers)]
    return {"a": a, "delta": d, "grads": grads}


#: The C paths of sgd_step and train_epoch: the readable reference
#: (csrc/jaxnet_ref_impl.h) and the fast path (csrc/jaxnet_fast_impl.h).
IMPLS = ("fast", "reference")


def sgd_step(params, x, y, eta, *, cost="quadratic", activation="sigmoid", lmbda=None, n=None,
             reg="l2", momentum=0.0, velocity=None, impl="fast"):
    """One SGD step, as jaxnet.sgd_step: ``p − η·∇C``, or with ``velocity``
    ``v' = μv − η∇C, p' = p + v'`` returning ``(params, velocity)``; numpy Layers.
    ``impl``: ``"fast"`` or ``"reference"`` (see :data:`IMPLS`)."""
    net = _Net(params)
    m, xh, yh = _batch(net, x, y)
    eta = check_positive_scalar(eta, "eta")
    cfg = _config(cost, activation, lmbda, n, reg, momentum)
    vw, vb = _velocity(net, velocity, momentum)
    w, b = [a.copy() for a in net.w], [a.copy() for a in net.b]
    if _check_impl(impl) == "fast":
        _fast_epoch(net, w, b, vw, vb, xh, None, 1.0, yh, None, eta, cfg, m, m, 1)
    else:
        work = net.work(m)
        net.call("sgd_step", net.ptrs(w), net.ptrs(b), _null_ptrs(net, vw), _null_ptrs(net, vb),
                 net.buf(xh), net.buf(yh), eta, cfg, ffi.from_buffer("int64_t[]", net.c_sizes),
                 net.n_layers, m, net.buf(work), work.size)
    p = net.layers(w, b)
    return p if velocity is None else (p, net.layers(vw, vb))


def _check_impl(impl):
    if impl not in IMPLS:
        raise ValueError(f"impl: expected one of {IMPLS}, got {impl!r}")
    return impl


def _fast_epoch(net, w, b, vw, vb, xh, x_u8, x_scale, yh, order, eta, cfg, n, batch_size,
                threads):
    """Calls jn_fast_train_epoch on validated host arrays (x either float xh or uint8 x_u8)."""
    size = ffi.new("size_t *")
    net.check(lib.jn_fast_work_bytes(size, ffi.from_buffer("int64_t[]", net.c_sizes),
                                     net.n_layers, batch_size, net.dtype.itemsize),
              "jn_fast_work_bytes")
    work = _work_buffer(size[0])
    bad = ffi.new("int64_t *", -1)
    rc = getattr(lib, f"jn_fast_train_epoch_{net.sfx}")(
        net.ptrs(w), net.ptrs(b), _null_ptrs(net, vw), _null_ptrs(net, vb),
        ffi.NULL if xh is None else net.buf(xh),
        ffi.NULL if x_u8 is None else ffi.from_buffer("uint8_t[]", x_u8), x_scale,
        net.buf(yh), ffi.NULL if order is None else ffi.from_buffer("int64_t[]", order), eta,
        cfg, ffi.from_buffer("int64_t[]", net.c_sizes), net.n_layers, n, batch_size, threads,
        bad, ffi.from_buffer(work), work.size)
    if rc == lib.JN_ERR_INPUT:
        raise ValueError(f"x: row {bad[0]} contains NaN or Inf")
    net.check(rc, f"jn_fast_train_epoch_{net.sfx}")


_WORK = threading.local()


def _work_buffer(nbytes: int) -> np.ndarray:
    """This thread's fast-path work buffer, grown when too small: epochs after the
    first allocate nothing (the C side never does)."""
    buf = getattr(_WORK, "buf", None)
    if buf is None or buf.size < nbytes:
        buf = _WORK.buf = np.empty(nbytes, np.uint8)
    return buf


def train_epoch(params, x, y, order, *, eta, batch_size, x_scale=None, cost="quadratic",
                activation="sigmoid", lmbda=None, reg="l2", momentum=0.0, velocity=None,
                impl="fast", threads=1):
    """One epoch of mini-batch SGD over ``order``, as jaxnet.train_epoch.

    Args:
      params: tuple of Layers (float32 or float64).
      x: ``(N, n_0)`` float inputs (converted to the parameters' dtype), or
        integer pixels with ``x_scale`` (rows ``x[i] * x_scale``, as
        jaxnet.train_epoch): uint8 goes to the fast path as it is.
      y: ``(N, n_L)`` float targets.
      order: ``(N,)`` int permutation of ``range(N)``.
      eta: learning rate > 0.
      batch_size: ``1 <= batch_size <= N``; a smaller last mini-batch as the book.
      cost, activation, lmbda, reg, momentum, velocity: as jaxnet.train_epoch
        (n in λ/n is N).
      impl: ``"fast"`` (default) or ``"reference"`` (see :data:`IMPLS`).
      threads: threads for the fast path (default 1; used where the extension
        was built with OpenMP: ``jaxnet.cref.parallel()``). Results do not
        depend on it.

    Where values are checked: uint8 inputs need no check; float inputs are
    checked for NaN/Inf by the fast path in C while it packs each row (the
    error names the first bad row, and the parameters are left unchanged),
    and here, before the call, for the reference.

    Returns:
      New parameters as numpy Layers; with ``velocity``, ``(params, velocity)``.
    """
    net = _Net(params)
    fast = _check_impl(impl) == "fast"
    x = _array(x, "x")
    n = check_inputs(x, net.sizes[0], allow_int=True, finite=not fast)
    x_u8, xh = None, None
    x_scale = check_x_scale(x, x_scale)
    if x.dtype.kind in "ui":
        if fast and x.dtype == np.uint8:
            x_u8 = np.ascontiguousarray(x)
        else:
            xh = x.astype(net.dtype) * net.dtype.type(x_scale)
    else:
        xh = _host(x, net.dtype)
    y = _array(y, "y")
    check_targets(y, n, net.sizes[-1])
    yh = _host(y, net.dtype)
    order = _array(order, "order")
    check_order(order, n)
    eta = check_positive_scalar(eta, "eta")
    batch_size = check_batch_size(batch_size, n)
    if isinstance(threads, bool) or not isinstance(threads, numbers.Integral) or threads < 1:
        raise ValueError(f"threads: expected a positive int, got {threads!r}")
    cfg = _config(cost, activation, lmbda, n, reg, momentum)
    vw, vb = _velocity(net, velocity, momentum)
    oh = _host(order, np.int64)
    w, b = [a.copy() for a in net.w], [a.copy() for a in net.b]
    if fast:
        _fast_epoch(net, w, b, vw, vb, xh, x_u8, x_scale or 1.0, yh, oh, eta, cfg, n,
                    batch_size, int(threads))
    else:
        work = net.work(batch_size)
        net.call("train_epoch", net.ptrs(w), net.ptrs(b), _null_ptrs(net, vw),
                 _null_ptrs(net, vb), net.buf(xh), net.buf(yh),
                 ffi.from_buffer("int64_t[]", oh), eta, cfg,
                 ffi.from_buffer("int64_t[]", net.c_sizes), net.n_layers, n, batch_size,
                 net.buf(work), work.size)
    p = net.layers(w, b)
    return p if velocity is None else (p, net.layers(vw, vb))


def parallel() -> bool:
    """Whether ``threads > 1`` runs in parallel (the extension was built with OpenMP)."""
    return bool(lib.jn_fast_parallel())
