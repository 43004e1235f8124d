"""Float inputs are checked for NaN/Inf once: a jax.Array (immutable) is read on the
first call and remembered; a NumPy array (mutable) is read on every call."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxnet
from jaxnet._core import finite


@pytest.fixture
def reads(monkeypatch):
    """The arrays whose values were read (by id), in order."""
    seen = []
    real = finite._finite_now

    def spy(a):
        seen.append(id(a))
        return real(a)
    monkeypatch.setattr(finite, "_finite_now", spy)
    return seen


def _setup(n=40):
    params = jaxnet.init_params(jax.random.PRNGKey(0), [6, 4, 3], dtype=jnp.float32)
    rng = np.random.default_rng(0)
    x = rng.random((n, 6), dtype=np.float32)
    y = np.eye(3, dtype=np.float32)[rng.integers(0, 3, n)]
    return params, x, y, rng.permutation(n).astype(np.int32)


def test_a_jax_array_is_read_once_across_epochs(reads):
    params, x, y, order = _setup()
    xj, yj = jnp.asarray(x), jnp.asarray(y)
    for _ in range(3):
        params = jaxnet.train_epoch(params, xj, yj, order, eta=0.5, batch_size=10)
    assert reads.count(id(xj)) == 1 and reads.count(id(yj)) == 1, reads


def test_a_numpy_array_is_read_every_call_and_a_new_nan_is_caught(reads):
    params, x, y, order = _setup()
    jaxnet.train_epoch(params, x, y, order, eta=0.5, batch_size=10)
    x[7, 2] = np.nan    # the same array object, changed after it was checked
    with pytest.raises(ValueError, match="x: contains NaN or Inf"):
        jaxnet.train_epoch(params, x, y, order, eta=0.5, batch_size=10)
    assert reads.count(id(x)) == 2


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_a_bad_jax_array_is_refused_every_time(bad):
    params, x, y, order = _setup()
    x[3, 1] = bad
    xj = jnp.asarray(x)
    for _ in range(2):   # never remembered as finite
        with pytest.raises(ValueError, match="x: contains NaN or Inf"):
            jaxnet.train_epoch(params, xj, y, order, eta=0.5, batch_size=10)


def test_the_memory_forgets_an_array_when_it_dies():
    import gc
    a = jnp.ones((5, 2))
    finite.check_finite(a, "a")
    key = id(a)
    assert key in finite._FINITE
    del a
    gc.collect()
    assert key not in finite._FINITE
