"""The data containers (Split, Data), one-hot labels, the cache folder, verified
array files, and the book's expanded training set."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import NamedTuple, Optional

import numpy as np

from .._core.npz import NpzReader
from .._core.readable import open_regular

#: Pixel value k (uint8) stands for k * PIXEL_SCALE.
PIXEL_SCALE = 1.0 / 256
SPLITS = ("train", "validation", "test")


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


def sha256_file(path) -> str:
    h = hashlib.sha256()
    with open_regular(path) as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def content_sha256(arrays: dict) -> str:
    """SHA-256 over names, dtypes, shapes and bytes of ``arrays``, in name order."""
    h = hashlib.sha256()
    for name in sorted(arrays):
        a = np.ascontiguousarray(arrays[name])
        h.update(f"{name}:{a.dtype.str}:{a.shape};".encode())
        h.update(a.tobytes())
    return h.hexdigest()



def read_arrays(path, sizes: dict, n_in: int, kind: str, *, allow_compressed=False) -> dict:
    """``{split}_images (n, n_in) uint8`` and ``{split}_labels (n,) int32`` for each
    split in ``sizes``, read through jaxnet._core.npz (headers checked before any
    allocation; nothing else in the file is accepted)."""
    with NpzReader(path, DataError, kind, allow_compressed=allow_compressed) as z:
        z.expect_members({f"{s}_{k}" for s in sizes for k in ("images", "labels")})
        out = {}
        for split, n in sizes.items():
            out[f"{split}_images"] = z.array(f"{split}_images", np.uint8, (n, n_in))
            out[f"{split}_labels"] = z.array(f"{split}_labels", np.int32, (n,))
    return out


def data_from_arrays(a: dict) -> Data:
    return Data(*(Split(a[f"{s}_images"], a[f"{s}_labels"]) if f"{s}_images" in a else None
                  for s in SPLITS))


def expand(split: Split, side: int = 28, *, shuffle_seed: Optional[int] = None) -> Split:
    """The book's expanded training set (``expand_mnist.py``): every image followed
    by its one-pixel shifts down, up, right and left, the vacated row or column
    filled with zeros, each with the image's label.

    The book shuffles the result once with an unseeded ``random.shuffle``
    (network3 then trains in that fixed order); here image i's five versions
    are rows 5i..5i+4 unless ``shuffle_seed`` is given, which permutes the rows
    once with ``np.random.default_rng(shuffle_seed)`` (use it when training
    without a shuffle per epoch, so a mini-batch does not hold five shifts of
    one image). It takes well under a second for MNIST's
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
    images, labels = out.reshape(5 * n, side * side), np.repeat(split.labels, 5)
    if shuffle_seed is not None:
        order = np.random.default_rng(shuffle_seed).permutation(5 * n)
        images, labels = images[order], labels[order]
    return Split(images, labels)
