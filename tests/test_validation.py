"""Bad input raises an error naming the argument, the expected and the actual — before JAX traces."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import jaxnet

P = jaxnet.init_params(jax.random.PRNGKey(0), [4, 3, 2])
X = np.ones((5, 4), np.float32)
Y = np.eye(2, dtype=np.float32)[[0, 1, 0, 1, 0]]


def _no_xla_frames(excinfo):
    """The error was raised by jaxnet's checks, not from inside a JAX trace."""
    paths = [str(entry.path) for entry in excinfo.traceback]
    assert not any("jax/_src" in p for p in paths), paths


@pytest.mark.parametrize("fn", [jaxnet.backprop, jaxnet.autodiff_grad, jaxnet.cost])
@pytest.mark.parametrize("x, y, err, match", [
    (np.ones((5, 3), np.float32), Y, ValueError, r"x: expected shape \(batch, 4\), got \(5, 3\)"),
    (np.ones(4, np.float32), Y, ValueError, r"x: expected shape \(batch, 4\), got \(4,\)"),
    (np.ones((0, 4), np.float32), Y[:0], ValueError, "x: expected at least one example"),
    (X, Y[:4], ValueError, r"y: expected shape \(5, 2\), got \(4, 2\)"),
    (X, np.array([0, 1, 0, 1, 0]), TypeError, "y: expected float targets .* got dtype int64"),
    (X.astype(np.int32), Y, TypeError, "x: expected a float dtype, got int32"),
    (np.where(np.eye(5, 4) > 0, np.nan, 1).astype(np.float32), Y, ValueError, "x: contains NaN or Inf"),
    (X, np.full((5, 2), np.inf, np.float32), ValueError, "y: contains NaN or Inf"),
    ("not an array", Y, TypeError, "x: expected an array, got str"),
])
def test_bad_batches(fn, x, y, err, match):
    with pytest.raises(err, match=match) as excinfo:
        fn(P, x, y)
    _no_xla_frames(excinfo)


@pytest.mark.parametrize("params, err, match", [
    ((), TypeError, r"params: expected a non-empty tuple or list of \(w, b\) pairs"),
    ([jnp.ones((3, 4))], TypeError, r"params\[0\]: expected a \(w, b\) pair"),
    ((jaxnet.Layer(jnp.ones(4), jnp.ones(3)),), ValueError, r"params\[0\].w: expected shape \(n_out, n_in\), got \(4,\)"),
    ((jaxnet.Layer(jnp.ones((3, 4)), jnp.ones(2)),), ValueError, r"params\[0\].b: expected shape \(3,\)"),
    ((P[0], jaxnet.Layer(jnp.ones((2, 5)), jnp.ones(2))), ValueError, r"params\[1\].w: expected n_in = 3"),
    ((jaxnet.Layer(jnp.ones((3, 4), jnp.int32), jnp.ones(3, jnp.int32)),), TypeError, r"params\[0\].w: expected float32 or float64, got int32"),
    ((P[0], jaxnet.Layer(P[1].w.astype(jnp.float64), P[1].b.astype(jnp.float64))), TypeError, r"params\[1\].w: expected dtype float32"),
    ((P[0], jaxnet.Layer(P[1].w.at[0, 0].set(jnp.nan), P[1].b)), ValueError, r"params\[1\].w: contains NaN"),
])
def test_bad_params(params, err, match):
    with pytest.raises(err, match=match):
        jaxnet.feedforward(params, X)


@pytest.mark.parametrize("sizes, err, match", [
    ([], ValueError, "sizes: expected at least 2 layer sizes"),
    ([784], ValueError, "sizes: expected at least 2 layer sizes"),
    ([784, 0, 10], ValueError, r"sizes\[1\]: expected a positive int, got 0"),
    ([784, -3, 10], ValueError, r"sizes\[1\]: expected a positive int, got -3"),
    ([784, 30.0, 10], TypeError, r"sizes\[1\]: expected a positive int, got 30.0"),
    ([784, True], TypeError, r"sizes\[1\]"),
    ("784,30,10", TypeError, "sizes: expected a sequence of ints"),
])
def test_bad_sizes(sizes, err, match):
    with pytest.raises(err, match=match):
        jaxnet.init_params(jax.random.PRNGKey(0), sizes)


def test_bad_init_options():
    with pytest.raises(ValueError, match="init: expected one of"):
        jaxnet.init_params(jax.random.PRNGKey(0), [2, 2], init="xavier")
    with pytest.raises(TypeError, match="dtype: expected float32 or float64, got int32"):
        jaxnet.init_params(jax.random.PRNGKey(0), [2, 2], dtype=jnp.int32)


@pytest.mark.parametrize("kwargs, err, match", [
    (dict(order=np.arange(4)), ValueError, r"order: expected shape \(5,\)"),
    (dict(order=np.array([0, 1, 2, 3, 3])), ValueError, r"order: expected a permutation of range\(5\), but 3 appears 2 times"),
    (dict(order=np.array([0, 1, 2, 3, 5])), ValueError, r"order: expected values in \[0, 5\)"),
    (dict(order=np.array([0, 1, 2, 3, -1])), ValueError, r"order: expected values in \[0, 5\)"),
    (dict(order=np.arange(5.0)), TypeError, "order: expected an integer permutation"),
    (dict(batch_size=0), ValueError, r"batch_size: expected 1 <= batch_size <= 5"),
    (dict(batch_size=6), ValueError, r"batch_size: expected 1 <= batch_size <= 5"),
    (dict(batch_size=2.0), TypeError, "batch_size: expected a positive int"),
    (dict(eta=-1.0), ValueError, "eta: expected a positive finite number, got -1.0"),
    (dict(eta=float("nan")), ValueError, "eta: expected a positive finite number"),
    (dict(grad="numeric"), ValueError, "grad: expected one of"),
    (dict(x=X.astype(np.uint8)), TypeError, "x: integer inputs .* need x_scale"),
])
def test_bad_train_epoch_arguments(kwargs, err, match):
    args = dict(x=X, y=Y, order=np.arange(5), eta=1.0, batch_size=2)
    args.update(kwargs)
    with pytest.raises(err, match=match) as excinfo:
        jaxnet.train_epoch(P, args.pop("x"), args.pop("y"), args.pop("order"), **args)
    _no_xla_frames(excinfo)


def test_bad_labels():
    with pytest.raises(ValueError, match=r"labels: expected values in \[0, 2\), got min 0, max 7"):
        jaxnet.evaluate(P, X, np.array([0, 1, 7, 0, 0]))
    with pytest.raises(TypeError, match="labels: expected integer class labels"):
        jaxnet.evaluate(P, X, np.zeros(5, np.float32))
    with pytest.raises(ValueError, match=r"labels: expected shape \(5,\)"):
        jaxnet.fit(jax.random.PRNGKey(0), P, X, np.zeros(4, np.int32), epochs=1)


@settings(max_examples=40, deadline=None)
@given(rows=st.integers(0, 6), cols=st.integers(0, 6),
       dtype=st.sampled_from([np.float32, np.float64, np.int8, np.uint8, np.bool_, np.complex64]))
def test_arbitrary_inputs_are_accepted_or_rejected_cleanly(rows, cols, dtype):
    x = np.ones((rows, cols), dtype)
    ok = rows > 0 and cols == 4 and np.dtype(dtype).kind == "f"
    if ok:
        assert jaxnet.feedforward(P, x).shape == (rows, 2)
    else:
        with pytest.raises((ValueError, TypeError), match="^x: "):
            jaxnet.feedforward(P, x)


def test_checks_also_apply_under_jit():
    f = jax.jit(lambda x: jaxnet.feedforward(P, x))
    with pytest.raises(ValueError, match=r"x: expected shape \(batch, 4\), got \(5, 3\)"):
        f(np.ones((5, 3), np.float32))
