"""network3's convolutional layer: ``f(maxpool(conv(A)) + b)``, and its hand-derived backward.

Shapes, one example per leading row (m examples):

    A     (m, C, H, W)             the input feature maps
    w     (F, C, k, k)             F filters of k×k over C input maps
    conv  (m, F, H−k+1, W−k+1)     conv[n,f,y,x] = Σ_{c,i,j} A[n,c,y+i,x+j] w[f,c,i,j]
    Z     (m, F, Ho/p, Wo/p)       Z = maxpool_p(conv) + b          (Ho = H−k+1, Wo = W−k+1)
    A'    = f(Z)                   applied by the chain, as for every layer

The convolution is a "valid" cross-correlation (the kernel is not flipped), as
in modern frameworks; Theano's conv2d, which network3 used, flips it: the
two parameterisations differ by a flip of every kernel and train identically.
Max-pooling takes non-overlapping p×p blocks; ``p`` must divide ``Ho`` and
``Wo`` (network3's ignore_border would drop the rest silently; we refuse).
Tie rule: a block's maximum is its **first** largest entry in row-major order
(``np.argmax``); the pooled value and the routed δ use that entry alone. The
forward pass takes the value at that index, so ``jax.grad`` follows the same
rule.

Backward, from ``Δ = ∂C/∂Z (m, F, Ho/p, Wo/p)``:

    ∂C/∂b[f]          = Σ_{n,y,x} Δ[n,f,y,x]
    D (m, F, Ho, Wo)   = Δ routed to each block's arg-max, 0 elsewhere
    ∂C/∂w[f,c,i,j]    = Σ_{n,y,x} D[n,f,y,x] A[n,c,y+i,x+j]      (correlate A with D)
    ∂C/∂A[n,c,Y,X]    = Σ_{f,i,j} D[n,f,Y−i,X−j] w[f,c,i,j]     (full convolution of D
                                                               with the flipped kernels)
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from typing import ClassVar

import jax
import jax.numpy as jnp
from jax import lax

from .activations import OUTPUT, check_name
from .im2col import first_max, patches, route, unpatches
from .params import Layer
from .precision import lax_precision

#: Examples a ConvPool layer computes at once. A larger set (an evaluation, or a
#: gradient not chunked by jaxnet._core.chunked) is cut into equal chunks of at most this
#: many, padded with zero rows, so the patch matrix (k²·C values per output position)
#: is held for one chunk, not for the whole set.
CHUNK = 128


def _chunks(m: int) -> tuple:
    """``(count, size)`` of the equal chunks ``m`` rows are computed in."""
    count = -(-m // CHUNK)
    return count, -(-m // count)


def _split(a, count: int, size: int):
    """``a (m, ...)`` zero-padded to ``count·size`` rows → ``(count, size, ...)``."""
    a = jnp.pad(a, ((0, count * size - a.shape[0]),) + ((0, 0),) * (a.ndim - 1))
    return a.reshape((count, size) + a.shape[1:])


def _merge(a, m: int):
    """``(count, size, ...)`` → its first ``m`` rows ``(m, ...)``."""
    return a.reshape((-1,) + a.shape[2:])[:m]


def _positive_int(v, what):
    if isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < 1:
        raise ValueError(f"{what}: expected a positive int, got {v!r}")
    return int(v)


@dataclass(frozen=True)
class ConvPool:
    """``filters`` k×k valid convolutions, p×p max-pooling, bias, ``activation``.

    Parameters ``Layer(w (filters, C, k, k), b (filters,))``; input
    ``(C, H, W)`` per example, output ``(filters, (H−k+1)/p, (W−k+1)/p)``.
    """

    #: Examples the layer computes at once (:data:`CHUNK`), read by jaxnet._core.memory.
    chunk_rows: ClassVar[int] = CHUNK
    filters: int
    kernel: int = 5
    pool: int = 2
    activation: str = "sigmoid"

    def __post_init__(self):
        for name in ("filters", "kernel", "pool"):
            object.__setattr__(self, name, _positive_int(getattr(self, name),
                                                         f"ConvPool.{name}"))
        object.__setattr__(self, "activation",
                           check_name(self.activation, OUTPUT, "ConvPool.activation"))

    def output_shape(self, in_shape: tuple) -> tuple:
        if len(in_shape) != 3:
            raise ValueError(f"expected an input of feature maps (channels, height, width), "
                             f"got shape {in_shape}")
        _, h, w = in_shape
        k, p = self.kernel, self.pool
        if k > h or k > w:
            raise ValueError(f"the {k}x{k} kernel is larger than its {h}x{w} input")
        ho, wo = h - k + 1, w - k + 1
        if ho % p or wo % p:
            raise ValueError(f"the {p}x{p} pool does not divide the {ho}x{wo} convolution "
                             f"output")
        return (self.filters, ho // p, wo // p)

    def scratch(self, in_shape: tuple, training: bool) -> int:
        """Values one example holds beyond ``Z``, ``A`` and ``Δ`` (jaxnet._core.memory):
        its patch rows (Ho·Wo·k²·C), the convolution before pooling and two pooled-size
        values (the arg-max index, a channels-last copy); in training also the input
        gradient's patch rows, the routed δ and two more pooled-size values. Held for
        one chunk of examples at a time (:data:`CHUNK`, jaxnet._core.chunked).

        With ``pool=1`` the pooling is the identity: the convolution is ``Z`` less its
        bias, the arg-max index has one candidate (a constant XLA folds away) and the
        routed δ is ``Δ``, so only the patch rows and the channels-last copies are left
        (counted as before, the estimate was 3x what XLA held; measured 1.8x now)."""
        c, k = in_shape[0], self.kernel
        ho, wo = in_shape[1] - k + 1, in_shape[2] - k + 1
        rows, conv = ho * wo * k * k * c, self.filters * ho * wo
        out = conv // (self.pool * self.pool)
        if self.pool == 1:
            return 2 * rows + 2 * out if training else rows + out
        return 2 * rows + 2 * conv + 4 * out if training else rows + conv + 2 * out

    def param_shapes(self, in_shape: tuple) -> Layer:
        return Layer(w=(self.filters, in_shape[0], self.kernel, self.kernel), b=(self.filters,))

    def init(self, keys, in_shape: tuple, dtype, scheme: str) -> Layer:
        """``w ~ N(0, 1)`` (``"large"``), ``N(0, 1/(C·k²))`` (``"scaled"``) or network3's
        ``N(0, 1/n_out)``, ``n_out = filters·k²/p²`` (``"network3"``); ``b ~ N(0, 1)``."""
        shape = self.param_shapes(in_shape).w
        # drawn flat and reshaped: the bits of a 4-D draw (threefry numbers the entries
        # in row-major order), which XLA:CPU compiles several times slower
        w = jax.random.normal(keys[0], (math.prod(shape),), dtype).reshape(shape)
        fan = {"scaled": in_shape[0] * self.kernel ** 2,
               "network3": self.filters * self.kernel ** 2 / self.pool ** 2}.get(scheme)
        if fan is not None:
            w = w / jnp.sqrt(jnp.asarray(fan, dtype))
        return Layer(w, jax.random.normal(keys[1], (self.filters,), dtype))

    def forward(self, p: Layer, a: jax.Array, precision: str):
        """``(Z (m, F, Ho/p, Wo/p), arg-max index per block (m, F, Ho/p, Wo/p))``, the
        index row-major within its block; more than :data:`CHUNK` examples are
        computed a chunk at a time."""
        m = a.shape[0]
        if m <= CHUNK:
            return self._forward(p, a, precision)
        count, size = _chunks(m)
        z, idx = lax.map(lambda ac: self._forward(p, ac, precision), _split(a, count, size))
        return _merge(z, m), _merge(idx, m)

    def _forward(self, p: Layer, a, precision: str):
        k, pool, f = self.kernel, self.pool, p.w.shape[0]
        m, _, h, w = a.shape
        hp, wp = (h - k + 1) // pool, (w - k + 1) // pool
        conv = lax.dot_general(patches(a.transpose(0, 2, 3, 1), k, pool), _wq(p.w),
                               (((1,), (1,)), ((), ())), precision=lax_precision(precision))
        pooled, idx = first_max(conv.reshape(m, hp, wp, pool * pool, f))   # the tie rule
        return (pooled.transpose(0, 3, 1, 2) + p.b[None, :, None, None],
                idx.transpose(0, 3, 1, 2))

    def backward(self, p: Layer, a: jax.Array, idx, delta: jax.Array, precision: str,
                 input_grad: bool = True):
        """``(Layer(∂C/∂w, ∂C/∂b), ∂C/∂A (m, C, H, W) or None)`` from ``Δ = ∂C/∂Z``;
        more than :data:`CHUNK` examples a chunk at a time, ∂C/∂w summed over them."""
        m = a.shape[0]
        gb = jnp.sum(delta, axis=(0, 2, 3))
        if m <= CHUNK:
            gw, g_in = self._backward(p, a, idx, delta, precision, input_grad)
            return Layer(w=gw, b=gb), g_in
        count, size = _chunks(m)

        def chunk(gw, parts):
            gw_c, g_in = self._backward(p, *parts, precision, input_grad)
            return gw + gw_c, g_in
        gw, g_in = lax.scan(chunk, jnp.zeros_like(p.w),
                            tuple(_split(v, count, size) for v in (a, idx, delta)))
        return Layer(w=gw, b=gb), (_merge(g_in, m) if input_grad else None)

    def _backward(self, p: Layer, a, idx, delta, precision: str, input_grad: bool):
        """``(∂C/∂w (F, C, k, k), ∂C/∂A (m, C, H, W) or None)``: the routed δ as rows
        ``D (m·Hp·Wp·p·p, F)`` (jaxnet._core.im2col's order), ∂C/∂w = reshape(Dᵀ P), ∂C/∂A
        = col2im(D Wq)."""
        k, pool, (f, c) = self.kernel, self.pool, p.w.shape[:2]
        an = a.transpose(0, 2, 3, 1)
        d = route(delta.transpose(0, 2, 3, 1), idx.transpose(0, 2, 3, 1), pool * pool)
        d = d.reshape(-1, f)
        prec = lax_precision(precision)
        gw = lax.dot_general(d, patches(an, k, pool), (((0,), (0,)), ((), ())), precision=prec)
        gw = gw.reshape(f, k, k, c).transpose(0, 3, 1, 2)
        if not input_grad:
            return gw, None
        dp = lax.dot_general(d, _wq(p.w), (((1,), (0,)), ((), ())), precision=prec)
        return gw, unpatches(dp, an.shape, k, pool).transpose(0, 3, 1, 2)


def _wq(w):
    """``w (F, C, k, k)`` → ``Wq (F, k·k·C)``, columns ``(i, j, c)`` as the patches'."""
    f, c, k, _ = w.shape
    return w.transpose(0, 2, 3, 1).reshape(f, k * k * c)
