"""save_params / load_params: exact round trip, atomic writes, clear errors."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxnet


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.float64])
def test_round_trip_is_exact(tmp_path, dtype):
    params = jaxnet.init_params(jax.random.PRNGKey(0), [5, 4, 3, 2], dtype=dtype)
    path = jaxnet.save_params(tmp_path / "p.npz", params, metadata={"eta": 3.0})
    loaded, meta = jaxnet.load_params(path, with_metadata=True)
    assert meta["sizes"] == [5, 4, 3, 2] and meta["dtype"] == np.dtype(dtype).name
    assert meta["eta"] == 3.0
    assert len(loaded) == 3 and all(isinstance(l, jaxnet.Layer) for l in loaded)
    for a, b in zip(jax.tree.leaves(loaded), jax.tree.leaves(params)):
        assert a.dtype == b.dtype
        np.testing.assert_array_equal(a, np.asarray(b))  # bit-exact


def test_file_has_no_pickle(tmp_path):
    params = jaxnet.init_params(jax.random.PRNGKey(0), [3, 2])
    path = jaxnet.save_params(tmp_path / "p.npz", params)
    with np.load(path, allow_pickle=False) as z:  # would raise on any object array
        assert sorted(z.files) == ["b0", "meta", "w0"]


def test_truncated_or_foreign_files_are_clear_errors(tmp_path):
    params = jaxnet.init_params(jax.random.PRNGKey(0), [3, 2])
    path = jaxnet.save_params(tmp_path / "p.npz", params)
    raw = path.read_bytes()
    path.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(ValueError, match="not a valid jaxnet parameter file"):
        jaxnet.load_params(path)
    np.savez(tmp_path / "other.npz", a=np.ones(3))
    with pytest.raises(ValueError, match="no 'meta' entry"):
        jaxnet.load_params(tmp_path / "other.npz")
    meta = np.frombuffer(json.dumps({"format": "jaxnet.params", "version": 1, "sizes": [3, 2],
                                     "dtype": "float32"}).encode(), np.uint8)
    np.savez(tmp_path / "bad.npz", meta=meta, w0=np.ones((2, 4), np.float32), b0=np.ones(2, np.float32))
    with pytest.raises(ValueError, match=r"entry .w0. is float32 \(2, 4\), expected float32 \(2, 3\)"):
        jaxnet.load_params(tmp_path / "bad.npz")
    with pytest.raises(FileNotFoundError):
        jaxnet.load_params(tmp_path / "missing.npz")


def test_failed_write_keeps_the_old_file_whole(tmp_path, monkeypatch):
    old = jaxnet.init_params(jax.random.PRNGKey(0), [3, 2])
    path = jaxnet.save_params(tmp_path / "p.npz", old)
    before = path.read_bytes()

    def crash(f, **arrays):
        f.write(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez", crash)
    with pytest.raises(OSError, match="disk full"):
        jaxnet.save_params(path, jaxnet.init_params(jax.random.PRNGKey(1), [3, 2]))
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p.npz"]  # no temporary left


def test_bad_metadata_is_rejected(tmp_path):
    params = jaxnet.init_params(jax.random.PRNGKey(0), [3, 2])
    with pytest.raises(ValueError, match="reserved"):
        jaxnet.save_params(tmp_path / "p.npz", params, metadata={"sizes": [1]})
    with pytest.raises(TypeError, match="JSON-serialisable"):
        jaxnet.save_params(tmp_path / "p.npz", params, metadata={"x": object()})
    assert not (tmp_path / "p.npz").exists()
