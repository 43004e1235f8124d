"""cffi builder (API mode) for the C reference kernel; used at install time only.

setup.py names ``jaxnet/_cref_build.py:ffibuilder`` in ``cffi_modules``, so
``pip install .`` and ``pip install -e .`` compile ``csrc/jaxnet_ref.c`` into
the extension ``jaxnet._cref``. API mode means the C compiler checks the
declarations below against the real header.
"""

import os
import re
from pathlib import Path

from cffi import FFI

CSRC = Path(__file__).resolve().parent.parent / "csrc"

ffibuilder = FFI()


def _declarations(header: str) -> str:
    """The header's declarations for ``cdef``: its C++ guards, include guard and
    includes removed (cffi's parser takes plain declarations and integer
    #defines); the header stays the one place the API is written."""
    header = re.sub(r"#ifdef __cplusplus.*?#endif", "", header, flags=re.S)
    keep = [line for line in header.splitlines()
            if not line.startswith("#") or line.startswith("#define JN_")]
    return "\n".join(keep)


ffibuilder.cdef(_declarations((CSRC / "jaxnet_ref.h").read_text()))

# -O3 vectorises the kernel's axpy loops; no -ffast-math, which would let the
# compiler assume away NaN. -march=native because the extension is built on
# the machine that installs it; JAXNET_PORTABLE=1 builds for any x86-64.
_flags = ["-std=c11", "-O3"]
if os.environ.get("JAXNET_PORTABLE") != "1":
    _flags.append("-march=native")

ffibuilder.set_source(
    "jaxnet._cref",
    '#include "jaxnet_ref.h"',
    sources=[os.path.relpath(CSRC / "jaxnet_ref.c")],
    include_dirs=[os.path.relpath(CSRC)],
    depends=[os.path.relpath(CSRC / n) for n in ("jaxnet_ref.h", "jaxnet_ref_impl.h")],
    extra_compile_args=_flags,
    libraries=["m"],
)

if __name__ == "__main__":
    ffibuilder.compile(verbose=True)
