"""Makes the shipped sample ``jaxnet/data/_sample_files/mnist_sample.npz`` from full MNIST.

    python -m jaxnet.data._make_sample [OUTPUT]

It keeps the first ``jaxnet.data.SAMPLE_SIZES`` images of each split of the
book's data (fetched and verified by ``load_mnist``), as compressed uint8.
The tests check that running it again reproduces the shipped file's arrays.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from .. import data
from .._core.atomic import atomic_write
from ._sample import SAMPLE_PATH


def write_sample_file(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    out = Path(argv[0]) if argv else SAMPLE_PATH
    arrays = data.make_sample(data.load_mnist())
    with atomic_write(out) as f:
        np.savez_compressed(f, **arrays)
    print(f"wrote {out} ({out.stat().st_size} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(write_sample_file())
