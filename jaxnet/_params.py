"""Parameters: a tuple of per-layer ``Layer(w, b)`` and how to initialise them."""

from __future__ import annotations

import os
from functools import partial
from typing import NamedTuple, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from ._validate import check_sizes, check_dtype


class Layer(NamedTuple):
    """One layer of weights and biases, laid out as in the book.

    Attributes:
      w: ``(n_out, n_in)`` float, ``w[j, k]`` connects input neuron ``k`` to
        output neuron ``j``.
      b: ``(n_out,)`` float.
    """

    w: jax.Array
    b: jax.Array


# A network's parameters: a plain pytree, one Layer per weighted layer.
Params = tuple  # tuple[Layer, ...]

#: Initialisation schemes by name.
#:   "large":  w, b ~ N(0, 1)               (network.py; the book's "large" init)
#:   "scaled": w ~ N(0, 1/n_in), b ~ N(0, 1) (network2.py's default)
INIT_SCHEMES = ("large", "scaled")


def init_params(key: jax.Array, sizes: Sequence[int], *, dtype=jnp.float32,
                init: str = "large") -> tuple[Layer, ...]:
    """Draws initial parameters for a network with layer sizes ``sizes``.

    Args:
      key: a JAX PRNG key.
      sizes: ``[n_0, n_1, ..., n_L]``, at least two positive ints; ``n_0`` is
        the input width.
      dtype: ``float32`` or ``float64`` (the latter needs ``jax_enable_x64``).
      init: one of ``INIT_SCHEMES``.

    Returns:
      ``L`` Layers; layer ``l`` has ``w (n_{l+1}, n_l)`` and ``b (n_{l+1},)``.
    """
    sizes = check_sizes(sizes)
    dtype = check_dtype(dtype)
    if init not in INIT_SCHEMES:
        raise ValueError(f"init: expected one of {INIT_SCHEMES}, got {init!r}")
    check_fits(sizes, dtype)
    return _init_params(key, sizes, dtype, init)


#: Training holds the parameters, their gradient, the momentum state and the
#: updated parameters at once: sizes whose parameters need this many copies
#: beyond the device's memory are refused before XLA is asked for them (it
#: aborts the process instead of raising).
COPIES_IN_MEMORY = 4


def device_memory_bytes() -> int:
    """The default device's memory: its allocator's limit, else the host's RAM."""
    try:
        stats = jax.devices()[0].memory_stats() or {}
    except Exception:  # some backends do not report; the host's RAM bounds them anyway
        stats = {}
    if stats.get("bytes_limit"):
        return int(stats["bytes_limit"])
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def check_fits(sizes, dtype, members: int = 1) -> None:
    """Refuses ``sizes`` (``members`` networks of them) whose parameters cannot fit."""
    count = members * sum((a + 1) * b for a, b in zip(sizes[:-1], sizes[1:]))
    need = count * np.dtype(dtype).itemsize * COPIES_IN_MEMORY
    have = device_memory_bytes()
    if need > have:
        big = max(range(len(sizes)), key=lambda i: sizes[i])
        raise ValueError(f"sizes: {list(sizes)}{f' x {members} members' if members > 1 else ''} "
                         f"has {count:,} parameters; {COPIES_IN_MEMORY} copies in "
                         f"{np.dtype(dtype).name} need {need / 2**30:,.1f} GiB, more than the "
                         f"device's {have / 2**30:,.1f} GiB (sizes[{big}] = {sizes[big]})")


@partial(jax.jit, static_argnums=(1, 2, 3))
def _init_params(key, sizes, dtype, init):
    keys = jax.random.split(key, 2 * (len(sizes) - 1))
    layers = []
    for l, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        w = jax.random.normal(keys[2 * l], (n_out, n_in), dtype)
        if init == "scaled":
            w = w / jnp.sqrt(jnp.asarray(n_in, dtype))
        b = jax.random.normal(keys[2 * l + 1], (n_out,), dtype)
        layers.append(Layer(w, b))
    return tuple(layers)


def layer_sizes(params) -> tuple[int, ...]:
    """``(n_0, ..., n_L)`` of a parameter tuple (not validated)."""
    return (params[0].w.shape[1],) + tuple(layer.w.shape[0] for layer in params)


def as_layers(params) -> tuple[Layer, ...]:
    """``params`` as a tuple of Layers (accepts any sequence of ``(w, b)`` pairs)."""
    return tuple(layer if isinstance(layer, Layer) else Layer(*layer) for layer in params)
