"""IDX files (the original MNIST format; Debian's Fashion-MNIST), read streaming with
every header checked before anything is allocated."""

from __future__ import annotations

import gzip
import math
import os
import struct
import zlib
from pathlib import Path

import numpy as np

from .._core.readable import NotRegularFileError, open_regular
from ._datasets import Data, DataError, Split

#: Where Debian's ``dataset-fashion-mnist`` puts its IDX files.
FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")


_IDX_FILES = {"train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
              "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}
_IDX_UBYTE = 0x08


def _find_idx(folder: Path, stem: str) -> Path:
    paths = [folder / stem, folder / f"{stem}.gz"]
    for path in [p for p in paths if p.is_file()] + [p for p in paths if p.exists()]:
        return path  # one that is not a regular file is refused by read_idx, named
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
        with open_regular(path) as raw:
            if path.suffix != ".gz":
                return _read_idx_stream(raw, path, ndim)
            with gzip.open(raw, "rb") as f:
                return _read_idx_stream(f, path, ndim)
    except NotRegularFileError as e:
        raise DataError(str(e)) from None
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
