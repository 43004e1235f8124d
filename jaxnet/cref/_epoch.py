"""The C epoch as one interface: every argument checked once, then run many times.

:class:`Epoch` is what ``cref.train_epoch_with`` and ``cref.step_with`` build for
one call and what ``fit(impl="c")`` builds once for a whole run: the checks of a
model, a training set, a batch size, λ and a rule happen in its constructor;
each call trains one epoch over an order the caller made, on host parameters.
"""

from __future__ import annotations

import copy
import numbers
import threading

import numpy as np

from .._core.inputs import check_key, check_x, check_y
from .._core.memory import check_memory, host_memory
from .._core.rules import MomentumState, SgdState
from .._core.validate import check_batch_size, check_reg_strength
from ._lib import ffi, lib
from ._masks import epoch_masks
from ._net import Net, as_array, check, exact, host, rule_values
from ._pinned import Pinned

#: The C kernels of a step or an epoch: ``"fast"``, the default (csrc/jaxnet_dense_chain_fast.h for
#: Dense chains, whose first layer skips zero inputs, csrc/jaxnet_net_fast.h for chapter 6's
#: networks: ConvPool layers, dropout, mixed activations), ``"fast-dense"`` (Dense chains only:
#: the same fast path with a dense first layer, the same numbers; kept to measure and check
#: the sparse one against) and ``"reference"`` (the readable loops, csrc/jaxnet_net.h).
KERNELS = ("fast", "fast-dense", "reference")
#: The most threads a fast-path call may use (csrc/jaxnet_dense_chain_fast.h's JN_MAX_THREADS).
MAX_THREADS = int(lib.JN_MAX_THREADS)
#: ``batch_size`` of a step: one mini-batch of every example, in order.
WHOLE_BATCH = object()
#: The Dense chains' sparse first layer packs the training set's rows once for every
#: epoch where the lists take at most this share of the host's available memory (else
#: each epoch packs its mini-batches' rows, to the same numbers).
PACK_SHARE = 0.25


def check_threads(threads) -> int:
    """``threads``: an int in ``[1, MAX_THREADS]``."""
    if isinstance(threads, bool) or not isinstance(threads, numbers.Integral) \
            or not 1 <= threads <= MAX_THREADS:
        raise ValueError(f"threads: expected an int in [1, {MAX_THREADS}], got {threads!r}")
    return int(threads)


def check_kernel(kernel, net) -> str:
    """The kernel to run ``net`` on (None: ``"fast"``, every model's default)."""
    if kernel is None:
        return "fast"
    if kernel not in KERNELS:
        raise ValueError(f"kernel: expected one of {KERNELS}, got {kernel!r}")
    if kernel == "fast-dense" and net.network:
        raise ValueError("kernel: 'fast-dense' is for Dense chains without dropout; "
                         "this model runs on 'fast' or 'reference'")
    return kernel


def _inputs(net, x, x_scale, fast, allow_int):
    """``(N, float rows or None, uint8 rows or None, x_scale)``: uint8 goes to the fast
    paths as it is (C scales it); other inputs become float rows, checked for NaN/Inf
    here except for the Dense chains' fast path (which checks them in C)."""
    n = check_x(net.model, x, x_scale=x_scale, allow_int=allow_int,
                finite=not fast or net.network)
    if x.dtype.kind in "ui":
        if fast and x.dtype == np.uint8:
            return n, None, np.ascontiguousarray(x), float(x_scale)
        return n, x.astype(net.dtype) * net.dtype.type(x_scale), None, float(x_scale)
    xh = host(x, net.dtype)
    return n, (xh if x_scale is None else xh * net.dtype.type(x_scale)), None, 1.0


def _pack_once(net, xh, x_u8, scale, n):
    """The training set's rows packed once as the sparse first layer's lists
    (csrc's ``jn_fast_pack_*``: each row's non-zero entries, ascending) —
    ``(start (N + 1,) int64, idx int32, val)``, read-only — or None where they would
    take more than :data:`PACK_SHARE` of the host's available memory. A NaN or Inf
    float is refused here, by row."""
    x = x_u8 if x_u8 is not None else xh
    n0 = x.shape[1]
    start = np.zeros(n + 1, np.int64)
    np.cumsum(np.count_nonzero(x, axis=1), out=start[1:])   # NaN != 0: counted, as in C
    total = int(start[-1]) + n0                              # n0 slots of scratch (csrc)
    if total * (4 + net.dtype.itemsize) + start.nbytes > PACK_SHARE * host_memory()[0]:
        return None
    idx, val = np.empty(total, np.int32), np.empty(total, net.dtype)
    bad, pin = ffi.new("int64_t *", -1), Pinned()
    rc = getattr(lib, f"jn_fast_pack_{net.sfx}")(
        pin.out(idx), pin.out(val), pin(start, np.int64), pin(xh, net.dtype),
        pin(x_u8, np.uint8), scale, n, n0, 1, bad)
    if rc == lib.JN_ERR_INPUT:
        raise ValueError(f"x: row {bad[0]} contains NaN or Inf")
    check(rc, f"jn_fast_pack_{net.sfx}")
    for a in (start, idx, val):
        a.flags.writeable = False
    return start, idx, val


class Epoch:
    """One model, training set, batch size, λ and rule, checked once (the constructor
    raises what ``train_epoch_with`` raises for them; ``network=True`` routes a Dense
    chain to the network kernel, as given masks do). ``pack_once=True`` (for many
    epochs over one set, as ``fit`` runs them) packs the rows for a Dense chain's
    sparse first layer once, here, where they fit in :data:`PACK_SHARE` of the host's
    memory; else each call packs its mini-batches' rows — the same numbers either way,
    and for one epoch no slower. ``params``/``state`` are the checked starting point
    as host arrays; each call
    ``epoch(params, state, order, key=None, masks=None) -> (params, state)`` trains
    one epoch over ``order`` — ``(N,)`` int64, a permutation the caller made (its
    length is checked here, its entries in C) — from host parameters like these. The
    dropout masks are ``masks`` (checked by the caller) or drawn from ``key`` as the
    JAX epoch draws them.
    """

    def __init__(self, rule, params, state, x, y, *, batch_size, model=None, x_scale=None,
                 lmbda=None, n=None, kernel=None, threads=1, network=False, allow_int=True,
                 pack_once=False):
        self.net = net = Net(params, model, network=network)
        self.kernel = check_kernel(kernel, net)
        self.n, self.xh, self.x_u8, self.scale = _inputs(
            net, as_array(x, "x"), x_scale, self.kernel != "reference", allow_int)
        y = as_array(y, "y")
        check_y(net.model, y, self.n)
        self.yh = host(y, net.dtype)
        self.batch_size = (self.n if batch_size is WHOLE_BATCH
                           else check_batch_size(batch_size, self.n))
        check_memory(net.model, net.dtype, batch_size=self.batch_size,   # before C's buffers
                     x_itemsize=(self.xh if self.x_u8 is None else self.x_u8).itemsize)
        self.threads = check_threads(threads)
        state = rule.init(net.params) if state is None else state   # host: exact η, μ
        eta, self.mu, vw, vb = rule_values(net, rule, state)
        self.rule, self.reg_n = rule, self.n if n is None else n
        self.penalty = check_reg_strength(lmbda, self.reg_n)
        self.params = net.params
        host_eta, host_mu = net.dtype.type(eta), net.dtype.type(self.mu)
        self.state = (SgdState(np.asarray(host_eta)) if vw is None else
                      MomentumState(np.asarray(host_eta), np.asarray(host_mu), net.layers(vw, vb)))
        self.packed = (_pack_once(net, self.xh, self.x_u8, self.scale, self.n)  # all checked
                       if pack_once and self.kernel == "fast" and not net.network else None)

    def member(self, state, lmbda=None) -> "Epoch":
        """This epoch for another member of a population: the same model, data, batch
        size, threads and n of λ/n (checked once, shared, not copied), with its own
        ``state`` of the same rule (its η and μ; the velocity's shapes those of
        ``params``) and ``lmbda`` — these two checked here as the constructor checks
        them. Call it with that member's parameters and state."""
        other = copy.copy(self)
        eta, other.mu, vw, vb = rule_values(self.net, self.rule, state)
        other.penalty = check_reg_strength(lmbda, self.reg_n)
        d = self.net.dtype
        other.state = (SgdState(np.asarray(d.type(eta))) if vw is None else MomentumState(
            np.asarray(d.type(eta)), np.asarray(d.type(other.mu)), self.net.layers(vw, vb)))
        return other

    def __call__(self, params, state, order, key=None, masks=None):
        net = self.net
        if np.shape(order) != (self.n,):   # C reads n entries
            raise ValueError(f"order: expected shape ({self.n},), got {np.shape(order)}")
        w = [np.array(l.w, net.dtype, order="C") for l in params]   # C updates these
        b = [np.array(l.b, net.dtype, order="C") for l in params]
        vw = vb = None
        if isinstance(state, MomentumState):
            vw = [np.array(l.w, net.dtype, order="C") for l in state.velocity]
            vb = [np.array(l.b, net.dtype, order="C") for l in state.velocity]
        eta, cfg = exact(state.eta, "state.eta", net.dtype), net.config(self.penalty, self.mu)
        if net.network:
            if masks is None and net.model.has_dropout:
                masks = epoch_masks(net.model, check_key(net.model, key), self.n,
                                    self.batch_size, net.dtype)
            run = self._convfast if self.kernel == "fast" else self._network
            run(w, b, vw, vb, order, net.host_masks(masks, self.n), eta, cfg)
        elif self.kernel != "reference":
            self._fast(w, b, vw, vb, order, eta, cfg, sparse=self.kernel == "fast")
        else:
            self._reference(w, b, vw, vb, order, eta, cfg)
        new = state if vw is None else state._replace(velocity=net.layers(vw, vb))
        return net.layers(w, b), new

    def _reference(self, w, b, vw, vb, order, eta, cfg):
        net = self.net
        work, pin, d = net.work(self.batch_size), Pinned(), net.dtype
        net.call("train_epoch", pin.ptrs(w, d, out=True), pin.ptrs(b, d, out=True),
                 pin.ptrs(vw, d, out=True), pin.ptrs(vb, d, out=True), pin(self.xh, d),
                 pin(self.yh, d), pin(order, np.int64), eta, cfg, pin(net.c_sizes),
                 net.n_layers, self.n, self.batch_size, pin.out(work), work.size)

    def _fast(self, w, b, vw, vb, order, eta, cfg, sparse):
        net = self.net
        size, pin, d = ffi.new("size_t *"), Pinned(), net.dtype
        check(lib.jn_fast_work_bytes(size, pin(net.c_sizes), net.n_layers, self.batch_size,
                                     d.itemsize), "jn_fast_work_bytes")
        work = _work_buffer(size[0])
        if self.packed is not None:   # the rows packed once (only for "fast"; the same numbers)
            start, idx, val = self.packed
            check(getattr(lib, f"jn_fast_train_epoch_packed_{net.sfx}")(
                pin.ptrs(w, d, out=True), pin.ptrs(b, d, out=True), pin.ptrs(vw, d, out=True),
                pin.ptrs(vb, d, out=True), pin(start, np.int64), pin(idx, np.int32),
                pin(val, d), pin(self.yh, d), pin(order, np.int64), eta, cfg,
                pin(net.c_sizes), net.n_layers, self.n, self.batch_size, self.threads,
                pin.out(work), work.size), f"jn_fast_train_epoch_packed_{net.sfx}")
            return
        bad = ffi.new("int64_t *", -1)
        rc = getattr(lib, f"jn_fast_train_epoch_{net.sfx}")(
            pin.ptrs(w, d, out=True), pin.ptrs(b, d, out=True), pin.ptrs(vw, d, out=True),
            pin.ptrs(vb, d, out=True), pin(self.xh, d), pin(self.x_u8, np.uint8), self.scale,
            pin(self.yh, d), pin(order, np.int64), eta, cfg, pin(net.c_sizes), net.n_layers,
            self.n, self.batch_size, self.threads, int(sparse), bad, pin.out(work), work.size)
        if rc == lib.JN_ERR_INPUT:
            raise ValueError(f"x: row {bad[0]} contains NaN or Inf")
        check(rc, f"jn_fast_train_epoch_{net.sfx}")

    def _convfast(self, w, b, vw, vb, order, mk, eta, cfg):
        net = self.net
        size, pin, d = ffi.new("size_t *"), Pinned(), net.dtype
        check(lib.jn_convfast_work_bytes(size, net.c_layers, net.n_layers, self.batch_size,
                                         d.itemsize), "jn_convfast_work_bytes")
        work = _work_buffer(size[0])
        net.call("convfast_train_epoch", pin.ptrs(w, d, out=True), pin.ptrs(b, d, out=True),
                 pin.ptrs(vw, d, out=True), pin.ptrs(vb, d, out=True), pin(self.xh, d),
                 pin(self.x_u8, np.uint8), self.scale, pin(self.yh, d), pin(order, np.int64),
                 pin.ptrs(mk, d), eta, cfg, net.c_layers, net.n_layers, self.n,
                 self.batch_size, self.threads, pin.out(work), work.size)

    def _network(self, w, b, vw, vb, order, mk, eta, cfg):
        net = self.net
        (work, idx), pin, d = net.work(self.batch_size), Pinned(), net.dtype
        net.call("net_train_epoch", pin.ptrs(w, d, out=True), pin.ptrs(b, d, out=True),
                 pin.ptrs(vw, d, out=True), pin.ptrs(vb, d, out=True), pin(self.xh, d),
                 pin(self.yh, d), pin(order, np.int64), pin.ptrs(mk, d), eta, cfg,
                 net.c_layers, net.n_layers, self.n, self.batch_size, pin.out(work),
                 work.size, pin.out(idx), idx.size)


_WORK = threading.local()


def _work_buffer(nbytes: int) -> np.ndarray:
    """This thread's fast-path work buffer, grown when too small: epochs after the
    first allocate nothing (the C side never does)."""
    buf = getattr(_WORK, "buf", None)
    if buf is None or buf.size < nbytes:
        buf = _WORK.buf = np.empty(nbytes, np.uint8)
    return buf
