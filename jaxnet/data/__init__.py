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

from ._datasets import PIXEL_SCALE as PIXEL_SCALE
from ._datasets import Data as Data
from ._datasets import DataError as DataError
from ._datasets import Split as Split
from ._datasets import cache_dir as cache_dir
from ._datasets import expand as expand
from ._datasets import one_hot as one_hot
from ._idx import FASHION_MNIST_DIR as FASHION_MNIST_DIR
from ._idx import MAX_IDX_BYTES as MAX_IDX_BYTES
from ._idx import load_fashion_mnist as load_fashion_mnist
from ._idx import load_idx as load_idx
from ._idx import read_idx as read_idx
from ._mnist import MNIST_CACHE_NAME as MNIST_CACHE_NAME
from ._mnist import MNIST_MEMBER as MNIST_MEMBER
from ._mnist import MNIST_SIZES as MNIST_SIZES
from ._mnist import MNIST_WHEEL as MNIST_WHEEL
from ._mnist import load_mnist as load_mnist
from ._sample import SAMPLE_PATH as SAMPLE_PATH
from ._sample import SAMPLE_SIZES as SAMPLE_SIZES
from ._sample import load_sample as load_sample
from ._sample import make_sample as make_sample
