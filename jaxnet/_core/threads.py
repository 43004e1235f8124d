"""XLA:CPU's intra-op threads, chosen by the size of a step's products.

XLA's CPU runtime runs a compiled step kernel by kernel (a fusion, a matrix
product, a copy) and hands each one to its intra-op thread pool. For a small
network the products are tiny (the chapter-1 step, 784-30-10 at mini-batch 10,
is ~1 MFLOP: 3 µs at the 2-core peak) and the pool's hand-offs cost more than
the second core gives: on a 2-core Xeon the same epoch took 0.229 s with XLA's
two threads and 0.125 s with one (issue 32; benchmarks/epoch_floor.py). Large
products (a conv net, big mini-batches) still gain from every core.

The pool's size is read once, when JAX starts its CPU backend (the first array
or compiled function), from the environment variable ``PJRT_NPROC`` (XLA's
``pjrt/utils.cc``: ``DefaultThreadPoolSize`` reads ``PJRT_NPROC``, then
``NPROC``, else the schedulable CPUs). It is process-wide: :func:`set_cpu_threads`
sets it before that moment and refuses, naming the problem, after it.
"""

from __future__ import annotations

import math
import numbers
import os

#: The environment variable XLA's CPU client reads its intra-op pool size from.
THREADS_ENV = "PJRT_NPROC"

#: Below this many FLOPs of matrix products per step, one intra-op thread. Derivation:
#: a second thread halves a step's products (W FLOP at P ≈ 150 GFLOP/s a core: saves
#: W/2P) but adds ~1.4 µs of hand-off to each of its ~16 kernels (2.9 µs a kernel with 2
#: threads against ~1.5 µs with 1, issue 32); break-even W = 2·P·16·1.4 µs ≈ 7 MFLOP.
ONE_THREAD_BELOW_FLOPS = 8_000_000


def step_flops(model, batch_size: int) -> int:
    """FLOPs of one training step's matrix products (2 per multiply-add): the forward
    product of every layer, BP4's weight gradient the same again, and BP2's ∂C/∂A of
    every layer but the first. A layer's forward product is its weights applied at each
    output position (one for a Dense layer, ``(H−k+1)·(W−k+1)`` for a ConvPool)."""
    fwd = [2 * math.prod(layer.param_shapes(shape).w) * _positions(layer, shape)
           for layer, shape in zip(model.layers, model.shapes)]
    return int(batch_size) * (2 * sum(fwd) + sum(fwd[1:]))


def _positions(layer, shape) -> int:
    k = getattr(layer, "kernel", None)
    if k is None or len(shape) != 3:
        return 1
    return (shape[1] - k + 1) * (shape[2] - k + 1)


def cpu_threads_for(model, batch_size: int):
    """The advised number of XLA:CPU intra-op threads for training ``model`` on
    mini-batches of ``batch_size``: 1 when a step's products are below
    :data:`ONE_THREAD_BELOW_FLOPS` (the pool's hand-offs cost more than a second core
    gives), else None (XLA's default: every schedulable CPU).

    Args:
      model: a jaxnet.Model.
      batch_size: the mini-batch size, a positive int.

    Returns:
      ``1`` or ``None``; pass it to :func:`set_cpu_threads` before JAX starts.
    """
    if isinstance(batch_size, bool) or not isinstance(batch_size, numbers.Integral) \
            or batch_size < 1:
        raise ValueError(f"batch_size: expected a positive int, got {batch_size!r}")
    return 1 if step_flops(model, batch_size) < ONE_THREAD_BELOW_FLOPS else None


def backend_started() -> bool:
    """Whether JAX has started a backend in this process (its thread pool is then fixed)."""
    from jax._src import xla_bridge
    return xla_bridge.backends_are_initialized()


def set_cpu_threads(n) -> None:
    """Sets XLA:CPU's intra-op threads for this process to ``n`` (None: XLA's default,
    every schedulable CPU) by setting ``PJRT_NPROC`` (None removes it).

    Must run before JAX starts its backend: before any array is made or function run
    (importing jaxnet or jax starts nothing). After that it raises RuntimeError rather
    than do nothing. The threads change the time, not the trajectory beyond float32
    rounding (tests/test_threads.py compares one epoch under both).

    Args:
      n: a positive int, or None.
    """
    if n is not None and (isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 1):
        raise ValueError(f"cpu threads: expected a positive int or None, got {n!r}")
    if backend_started():
        raise RuntimeError(
            f"cpu threads: JAX's CPU backend has already started in this process (an array "
            f"was made or a function run), and XLA reads its thread count ({THREADS_ENV}) "
            f"only then; call set_cpu_threads({n!r}) before anything else touches JAX, or "
            + (f"start Python with {THREADS_ENV}={n} in the environment" if n else
               f"start Python without {THREADS_ENV} in the environment"))
    if n is None:
        os.environ.pop(THREADS_ENV, None)
    else:
        os.environ[THREADS_ENV] = str(int(n))
