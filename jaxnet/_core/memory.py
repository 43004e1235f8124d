"""What a run holds at its peak, estimated from the model and the sizes before anything
is allocated, and the check of that estimate against the memory available.

Bytes, ``s`` the parameters' itemsize, ``P`` the members of a population, ``N``
training and ``M`` evaluation examples, ``m`` the mini-batch size:

    held all run   parameters     COPIES_IN_MEMORY × count × s × P   (params, gradient,
                                  velocity, updated params)
                   training set   N × n_0 × x itemsize (on the device) and
                                  2 × N × n_L × s (one-hot targets: host, then device)
                   evaluation set M × n_0 × x itemsize
    then, one after the other, the larger of:
                   a step         m × P × (2 n_0 + n_L + Σ_l training values of layer l) × s
                   evaluation     M × (n_0 + n_L + P × Σ_l evaluation values of layer l) × s

Evaluation is one program over the whole set (jaxnet.train._evaluate), so it grows
with ``M``; its inputs are shared by a population's members, its layers' values are
not. A layer's values per example (:func:`layer_values`): in evaluation ``Z`` and
``A``; in training also ``Δ`` and ``∂C/∂A`` of its input, with dropout the mask and
the dropped input; plus what the layer kind says its own computation holds
(``scratch``, e.g. a ConvPool's convolution before pooling). Measured against what
XLA's CPU backend really holds, the estimate is an upper bound within 3×
(tests/test_robustness_sizes.py).
"""

from __future__ import annotations

import math
import os
from typing import NamedTuple

import jax
import numpy as np

from .chunked import CHUNK_ROWS, GROUP, chunked

#: Training holds the parameters, their gradient, the momentum state and the updated
#: parameters at once.
COPIES_IN_MEMORY = 4
#: The share of the available memory a run may plan to fill: the estimate leaves out
#: compiled programs, XLA's scratch and the Python process's own objects.
USABLE_FRACTION = 0.9


class Need(NamedTuple):
    """One part of a run's peak: ``what`` names it (a layer, the targets) with its
    sizes, ``nbytes`` is what it holds."""

    what: str
    nbytes: int


class RunMemory(NamedTuple):
    """A run's parts: ``held`` all run long, then ``step`` (one mini-batch's forward
    and backward values) and ``evaluation`` (one evaluation program), one at a time."""

    held: tuple
    step: tuple
    evaluation: tuple

    @property
    def peak(self) -> int:
        """Bytes at the peak: what is held plus the larger of a step and an evaluation."""
        return _total(self.held) + max(_total(self.step), _total(self.evaluation))

    @property
    def biggest(self) -> Need:
        """The largest single part among those the peak counts."""
        phase = self.step if _total(self.step) >= _total(self.evaluation) else self.evaluation
        return max(self.held + phase, key=lambda n: n.nbytes, default=Need("nothing", 0))


def _total(needs) -> int:
    return sum(n.nbytes for n in needs)


def layer_values(layer, in_shape: tuple, out_shape: tuple, training: bool) -> int:
    """Values one example holds in ``layer`` (in the parameters' dtype): ``Z``, ``A``
    and, in training, ``Δ``, ``∂C/∂A`` of the input and dropout's mask and dropped
    input; plus the layer kind's own ``scratch(in_shape, training)`` if it has one."""
    n_in, n_out = math.prod(in_shape), math.prod(out_shape)
    own = layer_scratch(layer, in_shape, training)
    if not training:
        return 2 * n_out + own
    drop = 2 * n_in if getattr(layer, "dropout", 0) else 0
    return 3 * n_out + n_in + drop + own


def layer_scratch(layer, in_shape: tuple, training: bool) -> int:
    """What the layer kind says its own computation holds per example (its
    ``scratch(in_shape, training)``), 0 if it says nothing."""
    scratch = getattr(layer, "scratch", None)
    return int(scratch(in_shape, training)) if scratch is not None else 0


def run_memory(model, dtype, *, examples: int = 0, batch_size: int = 0, eval_examples: int = 0,
               members: int = 1, x_itemsize=None, training=None) -> RunMemory:
    """The parts of a run's peak (see the module's docstring), from sizes alone.

    Args:
      model: a jaxnet.Model; dtype: the parameters' dtype.
      examples: ``N``, the training set's rows (0: no training set is made).
      batch_size: ``m`` (0: no training step, e.g. evaluation only).
      eval_examples: ``M``, the largest set evaluated in one program (0: none).
      members: ``P``, the networks trained at once.
      x_itemsize: the inputs' bytes per value (default: the parameters').
      training: whether the parameters are trained (``COPIES_IN_MEMORY`` of them) or
        only evaluated (one); default: whether there is a mini-batch.
    """
    s = np.dtype(dtype).itemsize
    xs = s if x_itemsize is None else int(x_itemsize)
    n0, nl, p = model.sizes[0], model.sizes[-1], int(members)
    of = f" x {p} members" if p > 1 else ""
    copies = COPIES_IN_MEMORY if (bool(batch_size) if training is None else training) else 1
    held, step, ev = [], [], []
    for l, (layer, shape) in enumerate(zip(model.layers, model.shapes)):
        out = model.shapes[l + 1]
        name = f"layers[{l}] {layer} on input {shape} -> {out}"
        count = sum(math.prod(w) for w in layer.param_shapes(shape))
        held.append(Need(f"{name}: {copies} copies of its {count:,} parameters{of}",
                         copies * count * s * p))
        if batch_size:
            v, rows = layer_values(layer, shape, out, True), step_rows(model, batch_size)
            step.append(Need(f"{name}: a mini-batch of {batch_size} holds {v:,} values per "
                             f"example for {rows} at once{of}", rows * p * v * s))
        if eval_examples:
            own = layer_scratch(layer, shape, False)
            v = layer_values(layer, shape, out, False) - own
            rows = min(eval_examples, getattr(layer, "chunk_rows", eval_examples))
            ev.append(Need(f"{name}: an evaluation of {eval_examples} examples holds {v:,} "
                           f"values per example, and {own:,} for {rows} at once{of}",
                           (eval_examples * v + rows * own) * p * s))
    if examples:
        held.append(Need(f"the training inputs ({examples} x {n0})", examples * n0 * xs))
        held.append(Need(f"the one-hot targets ({examples} x {nl}, on the host and the "
                         f"device)", 2 * examples * nl * s))
    if batch_size:
        step.append(Need(f"a mini-batch's inputs and targets ({batch_size} x {n0}{of})",
                         batch_size * p * (2 * n0 + nl) * s))
    if eval_examples:
        held.append(Need(f"the evaluation inputs ({eval_examples} x {n0})",
                         eval_examples * n0 * xs))
        ev.append(Need(f"the evaluation's inputs and targets ({eval_examples} x {n0})",
                       eval_examples * (n0 + nl) * s))
    return RunMemory(tuple(held), tuple(step), tuple(ev))


def step_rows(model, batch_size: int) -> int:
    """Examples whose layer values a training step holds at once: a group of chunks of
    a conv network's mini-batch (jaxnet._core.chunked), else the whole mini-batch."""
    return min(batch_size, GROUP * CHUNK_ROWS) if chunked(model) else batch_size


def available_memory() -> tuple[int, str]:
    """``(bytes, where they are)``: an accelerator's free memory (its allocator's limit
    less what it holds), else the host's available memory (/proc/meminfo's
    MemAvailable, else the free pages), lowered to what a cgroup's limit or this
    process's address-space limit (RLIMIT_AS) leaves."""
    try:
        stats = jax.devices()[0].memory_stats() or {}
    except Exception:  # some backends do not report; the host's memory bounds them anyway
        stats = {}
    if stats.get("bytes_limit"):
        return int(stats["bytes_limit"]) - int(stats.get("bytes_in_use", 0)), "on the device"
    return host_memory()


def host_memory() -> tuple[int, str]:
    """``(bytes, where they are)``: the host's available memory (/proc/meminfo's
    MemAvailable, else the free pages), lowered to what a cgroup's limit or this
    process's address-space limit (RLIMIT_AS) leaves."""
    have = _meminfo_available()
    limits = [(have, "on the host")]
    cgroup = _read_int("/sys/fs/cgroup/memory.max")
    if cgroup is not None:
        limits.append((cgroup - (_read_int("/sys/fs/cgroup/memory.current") or 0),
                       "under the cgroup's memory.max"))
    left = _address_space_left()
    if left is not None:
        limits.append((left, "under the address-space limit"))
    return min(limits)


def _address_space_left():
    """Bytes RLIMIT_AS still lets this process map (None: no limit, or no such
    notion on this system)."""
    try:
        import resource
        soft, _ = resource.getrlimit(resource.RLIMIT_AS)
    except (ImportError, AttributeError, OSError, ValueError):
        return None
    if soft == resource.RLIM_INFINITY:
        return None
    return soft - _status_kib("VmSize") * 1024


def _meminfo_available() -> int:
    kib = _status_kib("MemAvailable", "/proc/meminfo")
    if kib:
        return kib * 1024
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_AVPHYS_PAGES")
    except (AttributeError, ValueError, OSError):  # no such counters: do not refuse on them
        return 1 << 62


def _status_kib(key: str, path: str = "/proc/self/status") -> int:
    """A ``key: N kB`` line's N (0 when the file or the line is missing)."""
    try:
        with open(path) as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return 0


def _read_int(path: str):
    try:
        with open(path) as f:
            return int(f.read().strip())
    except (OSError, ValueError):  # absent, or "max" (no limit)
        return None


def _gib(n: int) -> str:
    return f"{n / 2**30:,.1f} GiB"


def check_memory(model, dtype, *, available=None, **sizes) -> RunMemory:
    """Refuses a run whose estimated peak (:func:`run_memory` of ``sizes``) exceeds
    ``USABLE_FRACTION`` of the memory available (``available`` bytes, default
    :func:`available_memory`), before anything is allocated: ValueError naming the
    biggest part, its sizes, the bytes needed and available. Returns the estimate."""
    need = run_memory(model, dtype, **sizes)
    have, where = (available, "") if available is not None else available_memory()
    if need.peak > USABLE_FRACTION * have:
        raise ValueError(f"{need.biggest.what} ({_gib(need.biggest.nbytes)}); the run needs "
                         f"{_gib(need.peak)} in all, more than {USABLE_FRACTION:.0%} of the "
                         f"{_gib(max(have, 0))} available{' ' + where if where else ''}")
    return need
