"""A checked model and host copies of its parameters, for either C kernel.

Every array argument is converted to a numpy array once, and that array, not
the object passed in, is checked and handed to C: an object whose ``.shape``
disagrees with its data cannot make C read or write out of bounds.
"""

from __future__ import annotations

import math

import numpy as np

from .._core.convpool import ConvPool
from .._core.dense import Dense
from .._core.inputs import resolve
from .._core.params import Layer, check_container
from .._core.rules import Momentum, MomentumState, Sgd, SgdState
from .._core.validate import check_momentum, check_positive_scalar, check_velocity
from ._lib import ffi, lib
from ._pinned import Pinned


class CRefError(RuntimeError):
    """The C kernel returned an error code (checks here should prevent it)."""


_SFX = {np.dtype(np.float64): "f64", np.dtype(np.float32): "f32"}
#: Model names to the C enums' names (csrc/jaxnet_dense_chain.h, jaxnet_net.h), read from the library.
_COST = {"quadratic": "JN_COST_QUADRATIC", "cross_entropy": "JN_COST_CROSS_ENTROPY",
         "log_likelihood": "JN_COST_LOG_LIKELIHOOD"}
_REG = {"l2": "JN_REG_L2", "l1": "JN_REG_L1"}
_ACT = {"sigmoid": "JN_ACT_SIGMOID", "tanh": "JN_ACT_TANH", "relu": "JN_ACT_RELU",
        "softmax": "JN_ACT_SOFTMAX", "linear": "JN_ACT_LINEAR"}
#: The Dense-chain kernels' hidden activations (the network kernel takes every one).
_HIDDEN = ("sigmoid", "tanh", "relu")


def enum(table, name):
    """The C value of a model's name (``table`` maps names to the library's enums)."""
    return int(getattr(lib, table[name]))


def check(rc, fn):
    """Raises CRefError for a C error code."""
    if rc != lib.JN_OK:
        raise CRefError(f"{fn}: {ffi.string(lib.jn_strerror(rc)).decode()} (code {rc})")


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


def host_layers(params, name):
    """``params``, any tuple or list of ``(w, b)`` pairs (check_container), as a tuple
    of Layers with every leaf converted by :func:`as_array` (shapes checked later)."""
    check_container(params, name)
    return tuple(Layer(as_array(w, f"{name}[{l}].w"), as_array(b, f"{name}[{l}].b"))
                 for l, (w, b) in enumerate(params))


def dense_refusal(model) -> str | None:
    """Why the Dense-chain kernels (csrc/jaxnet_dense_chain.h, jaxnet_dense_chain_fast.h) cannot run
    ``model`` — ConvPool layers, dropout, mixed or other hidden activations, an
    output layer other than the cost's own (sigmoid; softmax for log_likelihood) —
    or None when they can. Such a model runs on chapter 6's network kernel
    (csrc/jaxnet_net.h), which takes every model jaxnet builds from Dense and
    ConvPool layers."""
    others = [type(l).__name__ for l in model.layers if not isinstance(l, Dense)]
    if others:
        return f"it has {others} layers"
    if any(l.dropout for l in model.layers):
        return "it has dropout"
    acts = {l.activation for l in model.layers[:-1]}
    if len(acts) > 1 or not acts <= set(_HIDDEN):
        return f"its hidden activations are {sorted(acts)}"
    out = "softmax" if model.cost == "log_likelihood" else "sigmoid"
    if model.layers[-1].activation != out:
        return f"its {model.cost} output layer is {model.layers[-1].activation}, not {out}"
    return None


def uses_network_kernel(model) -> bool:
    """Whether ``model`` runs on chapter 6's network kernel (csrc/jaxnet_net.h) rather
    than the Dense-chain kernels (ConvPool layers, dropout, mixed activations)."""
    return dense_refusal(model) is not None


def _c_layers(model):
    """The model's layers as the network kernel's ``jn_layer[]``."""
    out = ffi.new("jn_layer[]", len(model.layers))
    for l, (layer, shape) in enumerate(zip(model.layers, model.shapes)):
        if not isinstance(layer, (Dense, ConvPool)):
            raise ValueError(f"model: the C kernel implements Dense and ConvPool layers, "
                             f"got {type(layer).__name__} (layers[{l}])")
        c, h, w = shape if len(shape) == 3 else (math.prod(shape), 1, 1)
        conv = isinstance(layer, ConvPool)
        out[l] = dict(kind=int(lib.JN_LAYER_CONVPOOL if conv else lib.JN_LAYER_DENSE),
                      activation=enum(_ACT, layer.activation), c=c, h=h, w=w,
                      n_out=layer.filters if conv else layer.n_out,
                      k=layer.kernel if conv else 1, p=layer.pool if conv else 1,
                      dropout=float(getattr(layer, "dropout", 0.0)))
    return out


class Net:
    """A checked model, host copies of its parameters (``w``, ``b``: C-contiguous
    lists in the parameters' dtype) and what the C kernel that runs it needs: the
    Dense-chain kernels' ``c_sizes`` (``sizes``, int64) or, when ``network`` (a
    chapter-6 model, or masks given), the network kernel's ``c_layers``."""

    def __init__(self, params, model, *, network=False):
        model, params = resolve(host_layers(params, "params"), model)
        self.model, self.network = model, network or uses_network_kernel(model)
        self.dtype = np.dtype(params[0].w.dtype)
        self.sfx = _SFX[self.dtype]
        self.w = [host(l.w, self.dtype) for l in params]
        self.b = [host(l.b, self.dtype) for l in params]
        self.n_layers = len(model.layers)
        if self.network:
            self.c_layers = _c_layers(model)
        else:
            self.sizes = model.sizes
            self.c_sizes = np.asarray(self.sizes, np.int64)

    @property
    def params(self):
        """The host parameters as Layers."""
        return self.layers(self.w, self.b)

    def work(self, batch):
        """A work buffer for mini-batches of ``batch``: an array of the dtype (Dense
        chains), or ``(work, int32 indices)`` for the network kernel's epoch."""
        if not self.network:
            n, pin = ffi.new("size_t *"), Pinned()
            check(lib.jn_work_size(n, pin(self.c_sizes), self.n_layers, batch), "jn_work_size")
            return np.empty(n[0], self.dtype)
        sizes = ffi.new("size_t[2]")
        check(lib.jn_net_epoch_work_size(sizes, sizes + 1, self.c_layers, self.n_layers, batch),
              "jn_net_epoch_work_size")
        return np.empty(max(sizes[0], 1), self.dtype), np.empty(max(sizes[1], 1), np.int32)

    def call(self, name, *args):
        """``jn_{name}_{f64|f32}(*args)``, its error code raised as CRefError."""
        check(getattr(lib, f"jn_{name}_{self.sfx}")(*args), f"jn_{name}_{self.sfx}")

    @staticmethod
    def layers(ws, bs):
        return tuple(Layer(w, b) for w, b in zip(ws, bs))

    def config(self, penalty=(None, None), mu=0.0):
        """A ``jn_config`` for this model, ``(λ, n)`` checked by the caller and μ."""
        cfg = ffi.new("jn_config *")
        cfg.cost, cfg.reg = enum(_COST, self.model.cost), enum(_REG, self.model.reg)
        cfg.activation = (0 if self.network else  # the network kernel's are per layer
                          enum(_ACT, self.model.hidden_activation or "sigmoid"))
        lmbda, n = penalty
        cfg.lmbda, cfg.n_train = (0.0, 1.0) if lmbda is None else (float(lmbda), float(n))
        cfg.momentum = float(mu)
        return cfg

    def host_masks(self, masks, rows):
        """Masks as C-contiguous ``(rows, in_size)`` host arrays (None where no dropout)."""
        return None if masks is None else [
            None if k is None else host(np.asarray(k), self.dtype).reshape(rows, -1)
            for k in masks]


def exact(v, name, dtype):
    """A hyper-parameter of a state as a Python float that is exactly its value in the
    parameters' ``dtype``: a NumPy or Python number is converted on the host; an array
    of another float dtype (a JAX state made without jax_enable_x64 holds float32) is
    refused, since its value was already rounded."""
    a = as_array(v, name)
    if a.dtype.kind == "f" and a.dtype != dtype:
        raise TypeError(f"{name}: expected a {dtype} scalar like the parameters, got {a.dtype} "
                        f"(pass state=None, or rule.init(params) on the {dtype} parameters: "
                        f"the C kernel takes its hyper-parameters in the parameters' dtype)")
    return float(np.asarray(a, dtype))


def rule_values(net, rule, state):
    """``(η, μ, vw, vb)`` from a book rule and its state (host copies of the velocity,
    which C updates; None without momentum). η and μ are exact in the parameters'
    dtype: nothing here goes through a JAX array or depends on JAX's flags."""
    if not isinstance(rule, (Sgd, Momentum)):
        raise TypeError(f"rule: the C kernel implements jaxnet.sgd and jaxnet.momentum, got "
                        f"{type(rule).__name__}")
    want = SgdState if isinstance(rule, Sgd) else MomentumState
    if not isinstance(state, want):
        raise TypeError(f"state: expected a {want.__name__} ({type(rule).__name__.lower()}"
                        f"(...).init(params)), got {type(state).__name__}")
    eta = check_positive_scalar(exact(state.eta, "state.eta", net.dtype), "state.eta")
    if isinstance(rule, Sgd):
        return eta, 0.0, None, None
    mu = exact(state.mu, "state.mu", net.dtype)
    check_momentum(mu)
    velocity = host_layers(state.velocity, "state.velocity")
    check_velocity(velocity, net.params)
    return (eta, mu, [np.array(l.w, net.dtype, order="C") for l in velocity],
            [np.array(l.b, net.dtype, order="C") for l in velocity])
