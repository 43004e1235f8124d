"""The C kernel's side of jaxnet.cref: the extension, validated host arrays, the config.

Every array argument is converted to a numpy array once, and that array, not
the object passed in, is checked and handed to C: an object whose ``.shape``
disagrees with its data cannot make C read or write out of bounds.
"""

from __future__ import annotations

import numpy as np

from ..nn._dense import Dense
from ..nn._inputs import resolve
from ..nn._params import Layer
from ..nn._validate import check_momentum, check_positive_scalar, check_velocity
from ..train._rules import Momentum, MomentumState, Sgd, SgdState

try:
    from ._ext import ffi, lib
except ImportError as e:  # pragma: no cover - depends on how jaxnet was installed
    raise ImportError(
        "jaxnet.cref needs the C extension jaxnet.cref._ext, which was not built when jaxnet was "
        "installed (no C compiler?). Install a C compiler and the Python headers (Debian: "
        "apt-get install gcc python3-dev), then reinstall jaxnet: "
        "pip install --force-reinstall --no-deps .") from e


class CRefError(RuntimeError):
    """The C kernel returned an error code (checks here should prevent it)."""


_CTYPE = {np.dtype(np.float64): ("double", "f64"), np.dtype(np.float32): ("float", "f32")}
_COST = {"quadratic": "JN_COST_QUADRATIC", "cross_entropy": "JN_COST_CROSS_ENTROPY",
         "log_likelihood": "JN_COST_LOG_LIKELIHOOD"}
_ACT = {"sigmoid": "JN_ACT_SIGMOID", "tanh": "JN_ACT_TANH", "relu": "JN_ACT_RELU"}
_REG = {"l2": "JN_REG_L2", "l1": "JN_REG_L1"}


def as_array(a, name):
    """``a`` converted to a numpy array once: what is validated and what C reads."""
    if isinstance(a, np.ndarray) and not a.flags.c_contiguous:
        raise ValueError(f"{name}: expected a C-contiguous array, got strides {a.strides} for "
                         f"shape {a.shape} (use np.ascontiguousarray)")
    try:
        return np.asarray(a)
    except Exception as e:  # an array-like whose __array__ fails: report, never crash
        raise TypeError(f"{name}: cannot be converted to an array "
                        f"({type(e).__name__}: {str(e)[:200]})") from None


def host(a, dtype):
    """A converted, validated array as C-contiguous ``dtype``."""
    return np.ascontiguousarray(a, dtype=dtype)


_CNAME = {np.dtype(np.float64): "double", np.dtype(np.float32): "float",
          np.dtype(np.int64): "int64_t", np.dtype(np.int32): "int32_t",
          np.dtype(np.uint8): "uint8_t"}


class Pinned:
    """The buffers of one C call, each held by this object until it is dropped.

    ``ffi.from_buffer`` keeps an array alive only while the cdata it returns lives;
    a ``ffi.cast`` of that cdata, or a pointer array built from it, holds nothing. A
    copy made to convert a dtype or an array-like would then be freed before C reads
    it (silently wrong numbers). So every buffer handed to C is made here, bound to a
    ``pin = Pinned()`` that the calling function holds until C returns::

        pin = Pinned()
        rc = lib.jn_f(pin.out(grad), pin(x, np.float64), pin.ptrs(ws, np.float64))
    """

    def __init__(self):
        self._held = []

    def __call__(self, a, dtype=None):
        """A C array of ``a`` as C-contiguous ``dtype`` (a copy if needed), read by C;
        ``ffi.NULL`` for None."""
        if a is None:
            return ffi.NULL
        h = np.ascontiguousarray(a, dtype=dtype)
        c = ffi.from_buffer(f"{_CNAME[h.dtype]}[]", h)  # typed: the cdata holds h
        self._held.append(c)
        return c

    def out(self, a):
        """A C array that C writes into: ``a`` itself, never a copy."""
        if a is None:
            return ffi.NULL
        if not (isinstance(a, np.ndarray) and a.flags.c_contiguous and a.flags.writeable):
            raise AssertionError("an output buffer must be a writable C-contiguous ndarray")
        return self(a)

    def ptrs(self, arrays, dtype, out=False):
        """A ``T *[]`` of the arrays (None entries as NULL; None for no array)."""
        if arrays is None:
            return ffi.NULL
        one = self.out if out else (lambda a: self(a, dtype))
        p = ffi.new(f"{_CNAME[np.dtype(dtype)]} *[]", [one(a) for a in arrays])
        self._held.append(p)
        return p


def as_layers(params, name):
    """``params`` with every leaf converted by :func:`as_array` (structure checked later)."""
    if not isinstance(params, (tuple, list)) or len(params) == 0:
        return params  # the parameter checks name the problem
    out = []
    for l, layer in enumerate(params):
        try:
            w, b = layer
        except (TypeError, ValueError):
            raise TypeError(f"{name}[{l}]: expected a Layer(w, b), got "
                            f"{type(layer).__name__}") from None
        out.append(Layer(as_array(w, f"{name}[{l}].w"), as_array(b, f"{name}[{l}].b")))
    return tuple(out)


def check_c_model(model) -> None:
    """The C kernel implements Dense chains (no dropout) with one hidden activation of
    sigmoid, tanh or relu and the cost's own output layer (sigmoid; softmax for
    log_likelihood)."""
    others = [type(l).__name__ for l in model.layers if not isinstance(l, Dense)]
    if others:
        raise ValueError(f"model: the C kernel implements Dense layers only, got {others}")
    dropped = [i for i, l in enumerate(model.layers) if l.dropout]
    if dropped:
        raise ValueError(f"model: the C kernel has no dropout yet (layers {dropped})")
    acts = {l.activation for l in model.layers[:-1]}
    if len(acts) > 1:
        raise ValueError(f"model: the C kernel needs one activation for every hidden layer, "
                         f"got {sorted(acts)}")
    if acts and acts.pop() not in _ACT:
        raise ValueError(f"model: the C kernel's hidden activations are {', '.join(_ACT)}")
    out = "softmax" if model.cost == "log_likelihood" else "sigmoid"
    if model.layers[-1].activation != out:
        raise ValueError(f"model: the C kernel's {model.cost} output layer is {out}, got "
                         f"{model.layers[-1].activation}")


def uses_network_kernel(model) -> bool:
    """Whether ``model`` runs on chapter 6's network kernel (csrc/jaxnet_net.h) rather
    than the Dense-chain kernels (ConvPool layers, dropout, mixed activations)."""
    try:
        check_c_model(model)
    except ValueError:
        return True
    return False


class Net:
    """Validated host copies of the parameters, the model, and the cffi views of them."""

    def __init__(self, params, model):
        model, params = resolve(as_layers(params, "params"), model)
        check_c_model(model)
        self.model, self.sizes = model, model.sizes
        self.dtype = np.dtype(params[0].w.dtype)
        self.ctype, self.sfx = _CTYPE[self.dtype]
        self.w = [host(l.w, self.dtype) for l in params]
        self.b = [host(l.b, self.dtype) for l in params]
        self.c_sizes = np.asarray(self.sizes, np.int64)
        self.n_layers = len(self.sizes) - 1

    def work(self, batch):
        n, pin = ffi.new("size_t *"), Pinned()
        self.check(lib.jn_work_size(n, pin(self.c_sizes), self.n_layers, batch), "jn_work_size")
        return np.empty(n[0], self.dtype)

    def call(self, name, *args):
        self.check(getattr(lib, f"jn_{name}_{self.sfx}")(*args), f"jn_{name}_{self.sfx}")

    @staticmethod
    def check(rc, fn):
        if rc != lib.JN_OK:
            raise CRefError(f"{fn}: {ffi.string(lib.jn_strerror(rc)).decode()} (code {rc})")

    def layers(self, ws, bs):
        return tuple(Layer(w, b) for w, b in zip(ws, bs))

    def config(self, penalty=(None, None), mu=0.0):
        """A ``jn_config`` for this model, ``(λ, n)`` checked by the caller and μ."""
        cfg = ffi.new("jn_config *")
        cfg.cost = getattr(lib, _COST[self.model.cost])
        cfg.activation = getattr(lib, _ACT[self.model.hidden_activation or "sigmoid"])
        cfg.reg = getattr(lib, _REG[self.model.reg])
        lmbda, n = penalty
        cfg.lmbda, cfg.n_train = (0.0, 1.0) if lmbda is None else (float(lmbda), float(n))
        cfg.momentum = float(mu)
        return cfg


def rule_values(net, rule, state):
    """``(η, μ, vw, vb)`` from a book rule and its state (host copies of the velocity,
    which C updates; None without momentum)."""
    if not isinstance(rule, (Sgd, Momentum)):
        raise TypeError(f"rule: the C kernel implements jaxnet.sgd and jaxnet.momentum, got "
                        f"{type(rule).__name__}")
    want = SgdState if isinstance(rule, Sgd) else MomentumState
    if not isinstance(state, want):
        raise TypeError(f"state: expected a {want.__name__} ({type(rule).__name__.lower()}"
                        f"(...).init(params)), got {type(state).__name__}")
    eta = check_positive_scalar(as_array(state.eta, "state.eta"), "state.eta")
    if isinstance(rule, Sgd):
        return eta, 0.0, None, None
    mu = float(as_array(state.mu, "state.mu"))
    check_momentum(mu)
    velocity = as_layers(state.velocity, "state.velocity")
    check_velocity(velocity, net.layers(net.w, net.b))
    return (eta, mu, [np.array(l.w, net.dtype, order="C") for l in velocity],
            [np.array(l.b, net.dtype, order="C") for l in velocity])
