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

import numbers
from dataclasses import dataclass

import jax
import jax.numpy as jnp
from jax import lax

from ._activations import OUTPUT, check_name
from ._params import Layer
from ._precision import lax_precision


def _conv(lhs, rhs, precision, padding="VALID"):
    """``lax.conv_general_dilated`` of ``lhs (N, H, W, C)`` and ``rhs (kh, kw, C, O)``
    into ``(N, H', W', O)``: the channels-last form XLA's CPU backend hands to its fast
    convolution even inside the epoch's loop (channels-first operands there fall back to
    a loop nest several times slower). Callers transpose to and from it."""
    return lax.conv_general_dilated(lhs, rhs, (1, 1), padding,
                                    dimension_numbers=("NHWC", "HWIO", "NHWC"),
                                    precision=lax_precision(precision))


def _blocks(conv, p):
    """``(m, F, Ho, Wo)`` → ``(m, F, Ho/p, Wo/p, p·p)``, each block row-major."""
    m, f, ho, wo = conv.shape
    b = conv.reshape(m, f, ho // p, p, wo // p, p).transpose(0, 1, 2, 4, 3, 5)
    return b.reshape(m, f, ho // p, wo // p, p * p)


def _unblocks(blocks, p):
    """The inverse of :func:`_blocks`."""
    m, f, hp, wp, _ = blocks.shape
    b = blocks.reshape(m, f, hp, wp, p, p).transpose(0, 1, 2, 4, 3, 5)
    return b.reshape(m, f, hp * p, wp * p)


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
        """Values one example holds beyond ``Z``, ``A`` and ``Δ`` (jaxnet.nn._memory):
        the convolution before pooling, and pooled-size values (the arg-max index per
        block, channels-last copies; in training also the routed δ and its transposes):
        two, four in training, as measured on XLA's CPU backend
        (tests/test_robustness_sizes.py)."""
        f, ho, wo = self.filters, in_shape[1] - self.kernel + 1, in_shape[2] - self.kernel + 1
        conv, out = f * ho * wo, f * (ho // self.pool) * (wo // self.pool)
        return conv + (4 if training else 2) * out

    def param_shapes(self, in_shape: tuple) -> Layer:
        return Layer(w=(self.filters, in_shape[0], self.kernel, self.kernel), b=(self.filters,))

    def init(self, keys, in_shape: tuple, dtype, scheme: str) -> Layer:
        """``w ~ N(0, 1)`` (``"large"``), ``N(0, 1/(C·k²))`` (``"scaled"``) or network3's
        ``N(0, 1/n_out)``, ``n_out = filters·k²/p²`` (``"network3"``); ``b ~ N(0, 1)``."""
        shape = self.param_shapes(in_shape).w
        w = jax.random.normal(keys[0], shape, dtype)
        fan = {"scaled": in_shape[0] * self.kernel ** 2,
               "network3": self.filters * self.kernel ** 2 / self.pool ** 2}.get(scheme)
        if fan is not None:
            w = w / jnp.sqrt(jnp.asarray(fan, dtype))
        return Layer(w, jax.random.normal(keys[1], (self.filters,), dtype))

    def forward(self, p: Layer, a: jax.Array, precision: str):
        """``(Z (m, F, Ho/p, Wo/p), arg-max index per block (m, F, Ho/p, Wo/p))``."""
        conv = _conv(a.transpose(0, 2, 3, 1), p.w.transpose(2, 3, 1, 0),
                     precision).transpose(0, 3, 1, 2)
        blocks = _blocks(conv, self.pool)
        idx = jnp.argmax(blocks, axis=-1)                    # the first maximum: the tie rule
        pooled = jnp.take_along_axis(blocks, idx[..., None], axis=-1)[..., 0]
        return pooled + p.b[None, :, None, None], idx

    def backward(self, p: Layer, a: jax.Array, idx, delta: jax.Array, precision: str,
                 input_grad: bool = True):
        """``(Layer(∂C/∂w, ∂C/∂b), ∂C/∂A (m, C, H, W) or None)`` from ``Δ = ∂C/∂Z``."""
        k = self.kernel
        chosen = idx[..., None] == jnp.arange(self.pool ** 2).reshape((1,) * idx.ndim + (-1,))
        d = _unblocks(jnp.where(chosen, delta[..., None], 0), self.pool)    # routed δ
        # correlate A with D: the examples are the contracted "channels", the maps the batch
        gw = _conv(a.transpose(1, 2, 3, 0), d.transpose(2, 3, 0, 1),
                   precision).transpose(3, 0, 1, 2)
        grads = Layer(w=gw, b=jnp.sum(delta, axis=(0, 2, 3)))
        if not input_grad:
            return grads, None
        flipped = p.w[:, :, ::-1, ::-1].transpose(2, 3, 0, 1)               # (k, k, F, C)
        g_in = _conv(d.transpose(0, 2, 3, 1), flipped, precision,
                     padding=((k - 1, k - 1), (k - 1, k - 1)))               # full convolution
        return grads, g_in.transpose(0, 3, 1, 2)
