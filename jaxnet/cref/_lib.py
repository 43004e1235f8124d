"""The compiled extension (``jaxnet.cref._ext``, built by ``_build.py`` at install)."""

try:
    from ._ext import ffi, lib
except ImportError as e:  # pragma: no cover - depends on how jaxnet was installed
    raise ImportError(
        "jaxnet.cref needs the C extension jaxnet.cref._ext, which was not built when jaxnet was "
        "installed (no C compiler?). Install a C compiler and the Python headers (Debian: "
        "apt-get install gcc python3-dev), then reinstall jaxnet: "
        "pip install --force-reinstall --no-deps .") from e

__all__ = ["ffi", "lib"]
