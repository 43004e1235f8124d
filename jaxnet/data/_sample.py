"""The shipped sample: 5,000 / 1,000 / 1,000 real MNIST digits, for tests and CI."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ._datasets import Data, data_from_arrays, read_arrays

SAMPLE_PATH = Path(__file__).with_name("_sample_files") / "mnist_sample.npz"

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
    ``python -m jaxnet.data._make_sample``). Needs no download."""
    return data_from_arrays(read_arrays(SAMPLE_PATH, SAMPLE_SIZES, 784,
                                         "the shipped sample is damaged; reinstall jaxnet",
                                         allow_compressed=True))
