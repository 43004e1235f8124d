"""The precision policy: every matrix product jaxnet issues names its precision.

XLA's default for float32 products depends on the platform: full float32 on
the CPU, TensorFloat-32 (10 mantissa bits) on recent NVIDIA GPUs, a single
bfloat16 pass (7 mantissa bits) on TPUs. A library whose point is that
three implementations agree cannot inherit that, so every ``dot_general``
in jaxnet passes one of these names, turned into ``lax.Precision`` here:

    "highest"  true float32 (HIGHEST: no TF32, six bf16 passes on TPU). Default.
    "high"     HIGH: TF32 on NVIDIA GPUs, three bf16 passes on TPU.
    "default"  DEFAULT: the platform's fastest (TF32 on GPUs, one bf16 pass on TPU).

float64 products are exact float64 under every name. On the CPU all three
give true float32.

:func:`matmul_roundoff` says what a product's operands are rounded to under
a name, on a platform; :func:`scaled_rtol` turns a float32 tolerance into the
one that holds under reduced precision, so ``jaxnet check`` and the tests
derive their bounds from the precision in effect.
"""

from __future__ import annotations

import numpy as np
from jax import lax

#: The precision names, strictest first; "highest" is every function's default.
PRECISIONS = ("highest", "high", "default")
DEFAULT_PRECISION = "highest"

_LAX = {"highest": lax.Precision.HIGHEST, "high": lax.Precision.HIGH,
        "default": lax.Precision.DEFAULT}

# Unit roundoff of a float32 product's operands as the matrix unit rounds them:
# 2^-24 for float32 (24-bit significand), 2^-11 for TF32 (11 bits), 2^-16 for
# TPU's three bf16 passes (~16 bits), 2^-8 for one bf16 pass (8 bits).
F32_ROUNDOFF = 2.0 ** -24
F64_ROUNDOFF = 2.0 ** -53
_ROUNDOFF = {
    ("gpu", "high"): 2.0 ** -11, ("gpu", "default"): 2.0 ** -11,
    ("tpu", "high"): 2.0 ** -16, ("tpu", "default"): 2.0 ** -8,
}

#: No derived float32 tolerance is looser than this: past 5 % a comparison no
#: longer tells a right gradient from a wrong one (the TF32 differences measured
#: on an H100 were ≤ 1.3e-3).
MAX_RTOL = 5e-2


def check_precision(precision) -> str:
    """A precision name from :data:`PRECISIONS` (``lax.Precision`` values are accepted)."""
    if isinstance(precision, lax.Precision):
        precision = {v: k for k, v in _LAX.items()}[precision]
    if isinstance(precision, str) and precision.lower() in _LAX:
        return precision.lower()
    raise ValueError(f"precision: expected one of {', '.join(PRECISIONS)}, got {precision!r}")


def lax_precision(precision: str) -> lax.Precision:
    """The ``lax.Precision`` a (checked) name stands for."""
    return _LAX[precision]


def contract(a, b, a_dim: int, b_dim: int, precision: str):
    """Σ_k a[.., k, ..] b[.., k, ..] over axis ``a_dim`` of ``a`` and ``b_dim`` of ``b``.

    ``dot_general`` with the contracted axes named, rather than ``a @ b.T``:
    XLA then reads both operands in place instead of materialising a
    transpose, which is measurably faster on the CPU (benchmarks/run.py).
    ``precision`` (a checked name) is always passed explicitly, so no product
    depends on the platform's default; ``jax.grad``'s transposed products
    inherit it.
    """
    return lax.dot_general(a, b, (((a_dim,), (b_dim,)), ((), ())),
                           precision=lax_precision(precision))


def matmul_roundoff(precision: str, dtype, platform: str) -> float:
    """Unit roundoff of a matrix product's operands under ``precision``.

    Args:
      precision: a name from :data:`PRECISIONS`.
      dtype: the operands' dtype (float32 or float64).
      platform: ``jax.default_backend()``: ``"cpu"``, ``"gpu"``/``"cuda"``/``"rocm"``, ``"tpu"``.
    """
    if np.dtype(dtype) == np.float64:
        return F64_ROUNDOFF
    kind = "gpu" if platform in ("gpu", "cuda", "rocm") else platform
    return _ROUNDOFF.get((kind, check_precision(precision)), F32_ROUNDOFF)


def scaled_rtol(f32_rtol: float, precision: str, platform: str) -> float:
    """A float32 tolerance scaled to the precision in effect.

    Rounding differences between implementations are proportional to the
    operands' unit roundoff, so a bound that holds for true float32 holds,
    scaled by ``roundoff / 2^-24``, under TF32 or bfloat16 passes; capped at
    :data:`MAX_RTOL`.
    """
    ratio = matmul_roundoff(precision, np.float32, platform) / F32_ROUNDOFF
    return f32_rtol if ratio == 1 else min(MAX_RTOL, f32_rtol * ratio)
