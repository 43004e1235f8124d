"""The machine a benchmark ran on, and its measured float32 matrix-product peak."""

from __future__ import annotations

import datetime
import os
import platform
import statistics
import subprocess
import sys
import time

import numpy as np

PEAK_N = 2048       # the matrix product that measures the float32 peak: 2·2048³ FLOP

_NUMPY_PEAK = """
import sys, time, numpy as np
n = int(sys.argv[1])
a = np.random.default_rng(0).standard_normal((n, n), dtype=np.float32)
a @ a
ts = []
for _ in range(5):
    t = time.perf_counter(); a @ a; ts.append(time.perf_counter() - t)
print(sorted(ts)[2])
"""


def matmul_peak(n: int = PEAK_N, precisions=("highest",)) -> dict:
    """float32 GFLOP/s of an n³ matrix product (median of 5): JAX in this process at
    each of ``precisions`` (key ``"jax"`` for highest, ``"jax, precision P"`` for the
    others), and NumPy in subprocesses with OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE unset
    (a machine may set them, slowing OpenBLAS; unset for that command only) and as set."""
    import jax
    import jax.numpy as jnp

    from .._core.precision import lax_precision
    flop = 2 * n ** 3
    a = jax.device_put(np.random.default_rng(0).standard_normal((n, n), dtype=np.float32))
    out = {}
    for p in precisions:
        f = jax.jit(lambda a, b, p=p: jnp.dot(a, b, precision=lax_precision(p)))
        jax.block_until_ready(f(a, a))
        ts = []
        for _ in range(5):
            t0 = time.perf_counter()
            jax.block_until_ready(f(a, a))
            ts.append(time.perf_counter() - t0)
        out["jax" if p == "highest" else f"jax, precision {p}"] = flop / statistics.median(ts) / 1e9
    for label, env in (("numpy, OPENBLAS_* unset",
                        {k: v for k, v in os.environ.items()
                         if k not in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")}),
                       ("numpy, environment as set", dict(os.environ))):
        r = subprocess.run([sys.executable, "-c", _NUMPY_PEAK, str(n)], capture_output=True,
                           text=True, env=env)
        out[label] = flop / float(r.stdout) / 1e9 if r.returncode == 0 else None
    return out


def machine() -> dict:
    """What a result was measured on: ``{"processor", "cores", "usable_cores",
    "platform", "backend", "devices", "versions", "env"}`` (the CPU's model name, JAX's
    backend and devices, Python/JAX/numpy versions, the OpenBLAS/XLA variables)."""
    import jax
    cpu = platform.processor()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name")), cpu)
    except OSError:
        pass
    return dict(processor=cpu, cores=os.cpu_count(),
                usable_cores=len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
                platform=platform.platform(), backend=jax.default_backend(),
                devices=[str(d) for d in jax.devices()],
                versions=dict(python=platform.python_version(), jax=jax.__version__,
                              numpy=np.__version__),
                env={k: os.environ.get(k) for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE",
                                                    "XLA_FLAGS", "OMP_NUM_THREADS")})


def now() -> str:
    """The time in UTC, ISO 8601 to the second: a result's date."""
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")

