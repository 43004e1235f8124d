"""The C kernel (``csrc/``) through cffi: the JAX functions' twins.

``feedforward``, ``backprop``, ``sgd_step``, ``step_with``, ``train_epoch`` and
``train_epoch_with`` take the same arguments as their JAX namesakes (a tuple
of Layers, numpy or JAX arrays, a Model of Dense layers the kernel
implements, the rules jaxnet.sgd and jaxnet.momentum) and return the same
structure as numpy arrays. Every array argument is converted to a numpy array
once, and that array, not the object passed in, is checked (dtype, shape
against the model, contiguity, finiteness, the order being a permutation)
and handed to C (jaxnet.cref._net). A failure raises ``ValueError``/
``TypeError`` naming the argument, the expected and the actual.

``convpool_forward`` and ``convpool_backward`` are network3's conv-pool layer
(``csrc/jaxnet_conv.h``), the twins of ``jaxnet.ConvPool``'s forward and
hand-derived backward; ``backprop`` of a model with ConvPool layers, dropout
masks or mixed activations runs chapter 6's network kernel
(``csrc/jaxnet_net.h``), and so do ``step_with``/``train_epoch_with`` and
their plain-SGD forms (one C path, the readable one: ``impl`` must be left
None; dropout masks drawn from ``key=`` exactly as the JAX step and epoch
draw them, or passed as ``masks=``).

The extension ``jaxnet.cref._ext`` is compiled when jaxnet is installed; without a
C compiler at that time, importing this module raises ImportError saying
what to install.
"""

from __future__ import annotations

import numbers
import threading

import numpy as np

from ..nn._inputs import check_x, check_y, resolve
from ..nn._validate import check_batch_size, check_order, check_reg_strength
from ..train._rules import MomentumState, sgd
from ._conv import convpool_backward as convpool_backward
from ._conv import convpool_forward as convpool_forward
from ._conv import net_backprop as net_backprop
from ._conv import net_train_epoch_with as net_train_epoch_with
from ._conv import step_masks
from ._net import CRefError as CRefError
from ._net import Net, Pinned, as_array, as_layers, ffi, host, lib, rule_values
from ._net import uses_network_kernel as uses_network_kernel

#: The C paths of the steps and epochs: the readable reference
#: (csrc/jaxnet_ref_impl.h) and the fast path (csrc/jaxnet_fast_impl.h).
IMPLS = ("fast", "reference")


def _batch(net, x, y=None):
    x = as_array(x, "x")
    m = check_x(net.model, x, allow_int=False)
    if y is None:
        return m, host(x, net.dtype), None
    y = as_array(y, "y")
    check_y(net.model, y, m)
    return m, host(x, net.dtype), host(y, net.dtype)


def feedforward(params, x, *, model=None):
    """Output activations ``(batch, n_L)`` for ``x (batch, n_0)``, as jaxnet.feedforward."""
    net = Net(params, model)
    m, xh, _ = _batch(net, x)
    out = np.empty((m, net.sizes[-1]), net.dtype)
    work, pin, d = net.work(m), Pinned(), net.dtype
    net.call("feedforward", pin.out(out), pin.ptrs(net.w, d), pin.ptrs(net.b, d), pin(xh, d),
             net.config(), pin(net.c_sizes), net.n_layers, m, pin.out(work), work.size)
    return out


def _backprop(net, xh, yh, m, cfg):
    gw = [np.empty_like(w) for w in net.w]
    gb = [np.empty_like(b) for b in net.b]
    work, pin, d = net.work(m), Pinned(), net.dtype
    net.call("backprop", pin.ptrs(gw, d, out=True), pin.ptrs(gb, d, out=True),
             pin.ptrs(net.w, d), pin.ptrs(net.b, d), pin(xh, d), pin(yh, d), cfg,
             pin(net.c_sizes), net.n_layers, m, pin.out(work), work.size)
    return net.layers(gw, gb), work


def backprop(params, x, y, *, model=None, lmbda=None, n=None, masks=None):
    """Mean gradient of the (regularised) cost, as jaxnet.backprop (numpy Layers): the
    reference kernel for Dense chains, chapter 6's network kernel (csrc/jaxnet_net.h)
    for models with ConvPool layers, dropout (``masks``) or mixed activations."""
    if masks is not None or (model is not None and uses_network_kernel(model)):
        return net_backprop(params, x, y, model=model, lmbda=lmbda, n=n, masks=masks)
    net = Net(params, model)
    m, xh, yh = _batch(net, x, y)
    return _backprop(net, xh, yh, m, net.config(check_reg_strength(lmbda, n)))[0]


def backprop_trace(params, x, y, *, model=None) -> dict:
    """backprop plus its intermediates, for layer-by-layer comparisons.

    Returns ``{"a": [A^0..A^L], "delta": [Δ^1..Δ^L], "grads": Layers}``, each
    ``A^l (batch, n_l)``, ``Δ^l (batch, n_l)`` (BP1/BP2, including the mean's
    1/batch).
    """
    net = Net(params, model)
    m, xh, yh = _batch(net, x, y)
    grads, work = _backprop(net, xh, yh, m, net.config())
    a_off = ffi.new("size_t[]", net.n_layers + 1)
    d_off = ffi.new("size_t[]", net.n_layers)
    pin = Pinned()
    net.check(lib.jn_trace_offsets(a_off, d_off, pin(net.c_sizes), net.n_layers, m),
              "jn_trace_offsets")
    s = net.sizes
    a = [work[a_off[l]:a_off[l] + m * s[l]].reshape(m, s[l]).copy() for l in range(len(s))]
    d = [work[d_off[l]:d_off[l] + m * s[l + 1]].reshape(m, s[l + 1]).copy()
         for l in range(net.n_layers)]
    return {"a": a, "delta": d, "grads": grads}


def sgd_step(params, x, y, eta, *, model=None, lmbda=None, n=None, impl=None, key=None,
             masks=None):
    """One SGD step ``p − η·∇C``, as jaxnet.sgd_step (numpy Layers)."""
    return step_with(sgd(eta), params, None, x, y, model=model, lmbda=lmbda, n=n,
                     impl=impl, key=key, masks=masks)[0]


def _chapter6(model, impl, masks):
    """Whether the model needs chapter 6's network kernel (then ``impl`` must be None)."""
    if masks is None and (model is None or not uses_network_kernel(model)):
        return False
    if impl is not None:
        raise ValueError(f"impl: chapter 6's networks have one C path (csrc/jaxnet_net.h); "
                         f"leave impl None, got {impl!r}")
    return True


def step_with(rule, params, state, x, y, *, model=None, lmbda=None, n=None, impl=None,
              key=None, masks=None):
    """One step with jaxnet.sgd or jaxnet.momentum, as jaxnet.step_with: returns
    ``(params, state)`` as numpy. ``impl``: ``"fast"`` (None: the default) or
    ``"reference"`` for Dense chains; chapter-6 models (ConvPool, dropout, mixed
    activations) run csrc/jaxnet_net.h's step, with ``key`` (or ``masks``) as
    jaxnet.step_with's."""
    if _chapter6(model, impl, masks):
        params = as_layers(params, "params")
        model = resolve(params, model)[0]
        m = check_x(model, as_array(x, "x"), allow_int=False)
        check_reg_strength(lmbda, n)            # a step's n is given, never defaulted
        if masks is None and model.has_dropout:
            masks = step_masks(model, key, m, params)
        return net_train_epoch_with(rule, params, state, x, y, np.arange(m), batch_size=m,
                                    model=model, lmbda=lmbda, n=n, masks=masks)
    impl = "fast" if impl is None else impl
    net = Net(params, model)
    m, xh, yh = _batch(net, x, y)
    state = rule.init(net.layers(net.w, net.b)) if state is None else state
    eta, mu, vw, vb = rule_values(net, rule, state)
    cfg = net.config(check_reg_strength(lmbda, n), mu)
    w, b = [a.copy() for a in net.w], [a.copy() for a in net.b]
    if _check_impl(impl) == "fast":
        _fast_epoch(net, w, b, vw, vb, xh, None, 1.0, yh, None, eta, cfg, m, m, 1)
    else:
        work, pin, d = net.work(m), Pinned(), net.dtype
        net.call("sgd_step", pin.ptrs(w, d, out=True), pin.ptrs(b, d, out=True),
                 pin.ptrs(vw, d, out=True), pin.ptrs(vb, d, out=True), pin(xh, d), pin(yh, d),
                 eta, cfg, pin(net.c_sizes), net.n_layers, m, pin.out(work), work.size)
    return net.layers(w, b), _new_state(net, state, vw, vb)


def _new_state(net, state, vw, vb):
    if vw is None:
        return state
    return MomentumState(state.eta, state.mu, net.layers(vw, vb))


def _check_impl(impl):
    if impl not in IMPLS:
        raise ValueError(f"impl: expected one of {IMPLS}, got {impl!r}")
    return impl


def _fast_epoch(net, w, b, vw, vb, xh, x_u8, x_scale, yh, order, eta, cfg, n, batch_size,
                threads):
    """Calls jn_fast_train_epoch on validated host arrays (x either float xh or uint8 x_u8)."""
    size, pin, d = ffi.new("size_t *"), Pinned(), net.dtype
    net.check(lib.jn_fast_work_bytes(size, pin(net.c_sizes), net.n_layers, batch_size,
                                     net.dtype.itemsize), "jn_fast_work_bytes")
    work = _work_buffer(size[0])
    bad = ffi.new("int64_t *", -1)
    rc = getattr(lib, f"jn_fast_train_epoch_{net.sfx}")(
        pin.ptrs(w, d, out=True), pin.ptrs(b, d, out=True), pin.ptrs(vw, d, out=True),
        pin.ptrs(vb, d, out=True), pin(xh, d), pin(x_u8, np.uint8), x_scale, pin(yh, d),
        pin(order, np.int64), eta, cfg, pin(net.c_sizes), net.n_layers, n, batch_size,
        threads, bad, pin.out(work), work.size)
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


def train_epoch(params, x, y, order, *, eta, batch_size, model=None, x_scale=None, lmbda=None,
                impl=None, threads=1, key=None, n=None):
    """One epoch of plain mini-batch SGD over ``order``, as jaxnet.train_epoch;
    returns numpy Layers. See :func:`train_epoch_with`."""
    return train_epoch_with(sgd(eta), params, None, x, y, order, batch_size=batch_size,
                            model=model, x_scale=x_scale, lmbda=lmbda, impl=impl,
                            threads=threads, key=key, n=n)[0]


def _inputs(net, x, x_scale, fast):
    """``(N, float rows or None, uint8 rows or None, x_scale)`` for an epoch."""
    x = as_array(x, "x")
    n = check_x(net.model, x, x_scale=x_scale, finite=not fast)  # fast: C checks values
    if x.dtype.kind in "ui":
        if fast and x.dtype == np.uint8:
            return n, None, np.ascontiguousarray(x), float(x_scale)
        return n, x.astype(net.dtype) * net.dtype.type(x_scale), None, float(x_scale)
    xh = host(x, net.dtype)
    return n, (xh if x_scale is None else xh * net.dtype.type(x_scale)), None, 1.0


def train_epoch_with(rule, params, state, x, y, order, *, batch_size, model=None, x_scale=None,
                     lmbda=None, impl=None, threads=1, key=None, n=None, masks=None):
    """One epoch over ``order`` with jaxnet.sgd or jaxnet.momentum, as
    jaxnet.train_epoch_with; returns ``(params, state)`` as numpy.

    Args:
      rule, state: a book rule and its state (None: ``rule.init(params)``).
      params: tuple of Layers (float32 or float64) matching ``model``.
      x: ``(N, n_0)`` float inputs (converted to the parameters' dtype), or
        integer pixels with ``x_scale`` (rows ``x[i] * x_scale``): uint8 goes
        to the fast path as it is.
      y: ``(N, n_L)`` float targets; order: ``(N,)`` int permutation.
      batch_size: ``1 <= batch_size <= N``; a smaller last mini-batch as the book.
      model, lmbda: as jaxnet.train_epoch.
      impl: ``"fast"`` (None: the default) or ``"reference"`` (see :data:`IMPLS`)
        for Dense chains; must be None for chapter-6 models (ConvPool layers,
        dropout, mixed activations), which run csrc/jaxnet_net.h's epoch.
      key: the dropout masks' PRNG key, drawn as jaxnet.train_epoch draws them
        (or ``masks``: ``(N, *input shape)`` per dropout layer, row t for the
        t-th example visited). Chapter-6 models only.
      n: n in λ/n (default N; network3 divides by the number of mini-batches).
      threads: threads for the fast path (used where the extension was built
        with OpenMP: :func:`parallel`). Results do not depend on it. Chapter-6
        epochs run on one thread.

    Float inputs are checked for NaN/Inf by the fast path in C while it packs
    each row (the error names the first bad row, and the parameters are left
    unchanged), and here, before the call, for the reference.
    """
    if _chapter6(model, impl, masks):
        return net_train_epoch_with(rule, params, state, x, y, order, batch_size=batch_size,
                                    model=model, x_scale=x_scale, lmbda=lmbda, n=n, key=key,
                                    masks=masks)
    net = Net(params, model)
    fast = _check_impl("fast" if impl is None else impl) == "fast"
    n_reg = n                                   # λ/n's n; `n` is N from here on
    n, xh, x_u8, scale = _inputs(net, x, x_scale, fast)
    y, order = as_array(y, "y"), as_array(order, "order")
    check_y(net.model, y, n)
    check_order(order, n)
    batch_size = check_batch_size(batch_size, n)
    if isinstance(threads, bool) or not isinstance(threads, numbers.Integral) or threads < 1:
        raise ValueError(f"threads: expected a positive int, got {threads!r}")
    state = rule.init(net.layers(net.w, net.b)) if state is None else state
    eta, mu, vw, vb = rule_values(net, rule, state)
    cfg = net.config(check_reg_strength(lmbda, n if n_reg is None else n_reg), mu)
    yh, oh = host(y, net.dtype), host(order, np.int64)
    w, b = [a.copy() for a in net.w], [a.copy() for a in net.b]
    if fast:
        _fast_epoch(net, w, b, vw, vb, xh, x_u8, scale, yh, oh, eta, cfg, n, batch_size,
                    int(threads))
    else:
        work, pin, d = net.work(batch_size), Pinned(), net.dtype
        net.call("train_epoch", pin.ptrs(w, d, out=True), pin.ptrs(b, d, out=True),
                 pin.ptrs(vw, d, out=True), pin.ptrs(vb, d, out=True), pin(xh, d), pin(yh, d),
                 pin(oh, np.int64), eta, cfg, pin(net.c_sizes), net.n_layers, n, batch_size,
                 pin.out(work), work.size)
    return net.layers(w, b), _new_state(net, state, vw, vb)


def parallel() -> bool:
    """Whether ``threads > 1`` runs in parallel (the extension was built with OpenMP)."""
    return bool(lib.jn_fast_parallel())
