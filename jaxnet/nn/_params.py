"""Parameters: a tuple of per-layer ``Layer(w, b)``, and whether they fit in memory."""

from __future__ import annotations

import os
from typing import NamedTuple

import jax
import numpy as np


class Layer(NamedTuple):
    """One layer of weights and biases, laid out as in the book.

    Attributes:
      w: ``(n_out, n_in)`` float for a Dense layer, ``w[j, k]`` connecting
        input neuron ``k`` to output neuron ``j`` (other layer kinds say
        their own shape).
      b: ``(n_out,)`` float.
    """

    w: jax.Array
    b: jax.Array


#: Training holds the parameters, their gradient, the momentum state and the
#: updated parameters at once: models whose parameters need this many copies
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


def check_fits(count: int, dtype, *, what: str, members: int = 1) -> None:
    """Refuses ``members`` networks of ``count`` parameters that cannot fit; ``what``
    names the network in the message (e.g. ``"sizes [784, 30, 10]"``)."""
    count *= members
    need = count * np.dtype(dtype).itemsize * COPIES_IN_MEMORY
    have = device_memory_bytes()
    if need > have:
        raise ValueError(f"{what}{f' x {members} members' if members > 1 else ''} "
                         f"has {count:,} parameters; {COPIES_IN_MEMORY} copies in "
                         f"{np.dtype(dtype).name} need {need / 2**30:,.1f} GiB, more than the "
                         f"device's {have / 2**30:,.1f} GiB")


def layer_sizes(params) -> tuple[int, ...]:
    """``(n_0, ..., n_L)`` of a Dense parameter tuple, Layers ``w (n_l, n_{l-1})``, ``b
    (n_l,)`` (not validated)."""
    return (params[0].w.shape[1],) + tuple(layer.w.shape[0] for layer in params)


def as_layers(params) -> tuple[Layer, ...]:
    """``params`` as a tuple of Layers (accepts any sequence of ``(w, b)`` pairs)."""
    return tuple(layer if isinstance(layer, Layer) else Layer(*layer) for layer in params)
