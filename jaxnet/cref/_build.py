"""cffi builder (API mode) for the C kernels; used at install time only.

setup.py names ``jaxnet/cref/_build.py:ffibuilder`` in ``cffi_modules``, so
``pip install .`` and ``pip install -e .`` compile ``csrc/jaxnet_net.c`` (the
readable reference of every model, chapter 6's included),
``csrc/jaxnet_convpool.c`` (network3's conv-pool layer, which it calls),
``csrc/jaxnet_dense_chain.c`` (the Dense-chain API, thin wrappers over it),
``csrc/jaxnet_dense_chain_fast.c`` (the fast path of Dense chains),
``csrc/jaxnet_net_fast.c`` (that of chapter 6's networks) and
``csrc/jn_common.c`` (the shared checks and messages) into the extension
``jaxnet.cref._ext``. API mode means the C compiler checks the declarations
below against the real headers.
"""

import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

from cffi import FFI

CSRC = Path(__file__).resolve().parents[2] / "csrc"

ffibuilder = FFI()


def _declarations(header: str) -> str:
    """The header's declarations for ``cdef``: its C++ guards, include guard and
    includes removed (cffi's parser takes plain declarations and integer
    #defines); the header stays the one place the API is written."""
    header = re.sub(r"#ifdef __cplusplus.*?#endif", "", header, flags=re.S)
    keep = [line for line in header.splitlines()
            if not line.startswith("#") or line.startswith("#define JN_")]
    return "\n".join(keep)


# In include order, each header once: _declarations drops the #include lines.
_HEADERS = ("jaxnet_types.h", "jaxnet_dense_chain.h", "jaxnet_dense_chain_fast.h",
            "jaxnet_convpool.h", "jaxnet_net.h", "jaxnet_net_fast.h")
for _header in _HEADERS:
    ffibuilder.cdef(_declarations((CSRC / _header).read_text()))


def _openmp_flags() -> list:
    """``-fopenmp`` if this compiler builds and links it, else nothing (the fast
    path's pragmas are then ignored and ``threads`` runs on one thread)."""
    cc = os.environ.get("CC", "cc").split()[0]
    if os.environ.get("JAXNET_NO_OPENMP") == "1" or not shutil.which(cc):
        return []
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "omp.c"
        src.write_text("#include <omp.h>\nint main(void) { return omp_get_max_threads() < 1; }\n")
        ok = subprocess.run([cc, "-fopenmp", str(src), "-o", str(Path(tmp) / "omp")],
                            capture_output=True).returncode == 0
    return ["-fopenmp"] if ok else []

# -O3 vectorises the kernel's axpy loops; no -ffast-math, which would let the
# compiler assume away NaN. -march=native because the extension is built on
# the machine that installs it; JAXNET_PORTABLE=1 builds for any x86-64.
_flags = ["-std=c11", "-O3"]
if os.environ.get("JAXNET_PORTABLE") != "1":
    _flags.append("-march=native")
_omp = _openmp_flags()

ffibuilder.set_source(
    "jaxnet.cref._ext",
    "".join(f'#include "{h}"\n' for h in _HEADERS[1:]),
    sources=[os.path.relpath(CSRC / n) for n in ("jn_common.c", "jaxnet_dense_chain.c",
                                                 "jaxnet_dense_chain_fast.c", "jaxnet_convpool.c",
                                                 "jaxnet_net.c", "jaxnet_net_fast.c")],
    include_dirs=[os.path.relpath(CSRC)],
    depends=[os.path.relpath(CSRC / n) for n in _HEADERS + (
        "jaxnet_dense_chain_impl.h", "jaxnet_dense_chain_fast_impl.h", "jaxnet_convpool_impl.h",
        "jaxnet_net_impl.h", "jaxnet_net_fast_impl.h", "jn_gemm_impl.h", "jn_simd.h",
        "jn_common.h", "jn_math_impl.h", "jn_twice.h")],
    extra_compile_args=_flags + _omp,
    extra_link_args=_omp,
    libraries=["m"],
)

if __name__ == "__main__":
    ffibuilder.compile(verbose=True)
