"""The C kernel against the JAX implementations: gradients, steps, whole epochs, bad input."""

import subprocess
import sys
import tempfile
import textwrap

import jax
import numpy as np
import pytest
from conftest import assert_trees_close, rel_err
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

import jaxnet
from jaxnet import cref
from jaxnet._core.precision import scaled_rtol

# float64: three evaluations of the same sums in different orders (the C
# kernel adds inputs one at a time, skipping zeros): ~1e3·eps64 at most.
F64_RTOL = 1e-12
# float32: as in test_gradients, 100 float32 ulps for true float32 products;
# scaled to the precision in effect (scaled_rtol: 8192× with TF32 on a GPU,
# capped at 5 %), since the C kernel always computes in true float32.
F32_RTOL = 1e-5
# 50 float32 steps: rounding differences ~1e-6 relative grow at most ~50×.
EPOCH32_RTOL = 1e-3
# A whole epoch (500 steps on the 5,000-image sample): per-step differences of
# ~1e-15 are carried forward through I − ηH; measured ~3e-14. 1e-10 leaves
# three orders of margin while one wrong step (≥ 1e-4 relative) still fails.
EPOCH_RTOL = 1e-10
MIN_GRAD = 1e-3


def _mnist_batch(sample, start, m, dtype):
    return (sample.train.x[start:start + m].astype(dtype),
            sample.train.y()[start:start + m].astype(dtype))


@pytest.mark.parametrize("dtype, precision", [(np.float64, "highest"), (np.float32, "highest"),
                                              (np.float32, "default")])
def test_three_gradients_agree_on_real_mnist(sample, dtype, precision):
    rtol = F64_RTOL if dtype == np.float64 else scaled_rtol(F32_RTOL, precision,
                                                            jax.default_backend())
    for seed, start in [(0, 0), (1, 1000), (2, 4990)]:
        params = jaxnet.init_params(jax.random.PRNGKey(seed), [784, 30, 10], dtype=dtype)
        x, y = _mnist_batch(sample, start, 10, dtype)
        c = cref.backprop(params, x, y)
        assert all(isinstance(l, jaxnet.Layer) and l.w.dtype == dtype for l in c)
        assert max(float(np.max(np.abs(a))) for a in jax.tree.leaves(c)) > MIN_GRAD
        model = jaxnet.Model.dense([784, 30, 10], precision=precision)
        assert_trees_close(c, jaxnet.autodiff_grad(params, x, y, model=model), rtol,
                           f"C vs jax.grad, precision {precision}")
        assert_trees_close(c, jaxnet.backprop(params, x, y, model=model), rtol,
                           f"C vs backprop, precision {precision}")


@settings(max_examples=12, deadline=None, phases=[Phase.explicit, Phase.reuse, Phase.generate],
          suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**31 - 1), sizes=st.lists(st.integers(1, 64), min_size=2, max_size=5),
       batch=st.integers(1, 32))
def test_c_equals_jax_on_random_nets(seed, sizes, batch):
    rng = np.random.default_rng(seed)
    params = tuple(jaxnet.Layer(rng.standard_normal((o, i)), rng.standard_normal(o))
                   for i, o in zip(sizes[:-1], sizes[1:]))
    x = np.where(rng.uniform(size=(batch, sizes[0])) < 0.5, 0.0, rng.uniform(size=(batch, sizes[0])))
    y = np.eye(sizes[-1])[rng.integers(0, sizes[-1], batch)]
    c = cref.backprop(params, x, y)
    assert_trees_close(c, jaxnet.backprop(params, x, y), F64_RTOL, f"C vs backprop, {sizes} {batch}")
    assert_trees_close(c, jaxnet.autodiff_grad(params, x, y), F64_RTOL, f"C vs jax.grad, {sizes} {batch}")
    np.testing.assert_allclose(cref.feedforward(params, x), jaxnet.feedforward(params, x),
                               rtol=F64_RTOL, atol=0)


def test_one_step_agrees(sample):
    params = jaxnet.init_params(jax.random.PRNGKey(3), [784, 30, 10], dtype=np.float64)
    x, y = _mnist_batch(sample, 0, 10, np.float64)
    c = cref.sgd_step(params, x, y, 3.0)
    assert_trees_close(c, jaxnet.sgd_step(params, x, y, 3.0), F64_RTOL)
    assert rel_err(c[0].w, params[0].w) > 1e-6


@pytest.mark.parametrize("batch_size", [10, 7])
def test_whole_epoch_trajectory_agrees(sample, batch_size):
    params = jaxnet.init_params(jax.random.PRNGKey(4), [784, 30, 10], dtype=np.float64)
    x, y = sample.train.x.astype(np.float64), sample.train.y().astype(np.float64)
    order = np.random.default_rng(batch_size).permutation(len(x))
    c = cref.train_epoch(params, x, y, order, eta=3.0, batch_size=batch_size)
    j = jaxnet.train_epoch(params, x, y, order, eta=3.0, batch_size=batch_size)
    assert_trees_close(c, j, EPOCH_RTOL, f"epoch, batch {batch_size}")
    assert rel_err(c[1].w, params[1].w) > 1e-2  # it trained


@pytest.mark.parametrize("precision", ["highest", "default"])
def test_float32_epoch_is_close(sample, precision):
    params = jaxnet.init_params(jax.random.PRNGKey(4), [784, 30, 10])
    x, y = sample.train.x[:500], sample.train.y()[:500]
    order = np.arange(500)
    c = cref.train_epoch(params, x, y, order, eta=3.0, batch_size=10)
    j = jaxnet.train_epoch(params, x, y, order, eta=3.0, batch_size=10,
                           model=jaxnet.Model.dense([784, 30, 10], precision=precision))
    assert_trees_close(c, j, scaled_rtol(EPOCH32_RTOL, precision, jax.default_backend()),
                       f"float32 epoch, precision {precision}")


P = jaxnet.init_params(jax.random.PRNGKey(0), [4, 3, 2], dtype=np.float64)
X = np.ones((5, 4))
Y = np.eye(2)[[0, 1, 0, 1, 0]]


@pytest.mark.parametrize("call, err, match", [
    (lambda: cref.backprop(P, np.ones((5, 3)), Y), ValueError, r"x: expected shape \(batch, 4\), got \(5, 3\)"),
    (lambda: cref.backprop(P, X, Y[:3]), ValueError, r"y: expected shape \(5, 2\)"),
    (lambda: cref.backprop(P, X, np.zeros((5, 2), np.int64)), TypeError, "y: expected float targets"),
    (lambda: cref.backprop(P, np.full((5, 4), np.nan), Y), ValueError, "x: contains NaN or Inf"),
    (lambda: cref.backprop(P, np.ones((4, 5)).T, Y), ValueError, "x: expected a C-contiguous array"),
    (lambda: cref.backprop((), X, Y), TypeError, "params: expected a non-empty tuple"),
    (lambda: cref.feedforward((jaxnet.Layer(np.ones((3, 4), np.float16), np.ones(3, np.float16)),), X),
     TypeError, r"params\[0\].w: expected float32 or float64, got float16"),
    (lambda: cref.sgd_step(P, X, Y, -1.0), ValueError, "eta: expected a positive finite number"),
    (lambda: cref.train_epoch(P, X, Y, np.array([0, 1, 2, 3, 9]), eta=1.0, batch_size=2), ValueError, r"order: expected values in \[0, 5\)"),
    (lambda: cref.train_epoch(P, X, Y, np.array([0, 1, 1, 3, 4]), eta=1.0, batch_size=2), ValueError, "order: expected a permutation"),
    (lambda: cref.train_epoch(P, X, Y, np.arange(5), eta=1.0, batch_size=6), ValueError, "batch_size: expected 1 <= batch_size <= 5"),
    (lambda: cref.train_epoch(P, X, Y, np.arange(5), eta=float("inf"), batch_size=2), ValueError, "eta: expected a positive finite"),
])
def test_bad_inputs_are_rejected_before_the_ffi(call, err, match):
    with pytest.raises(err, match=match):
        call()


def test_hostile_inputs_never_crash_the_process():
    """A battery of bad calls in a fresh interpreter: every one raises, none crashes."""
    code = textwrap.dedent("""
        import numpy as np, jaxnet
        from jaxnet import cref
        from hypothesis import given, settings, strategies as st
        from hypothesis.extra import numpy as hnp
        P = (jaxnet.Layer(np.ones((3, 4)), np.ones(3)), jaxnet.Layer(np.ones((2, 3)), np.ones(2)))
        shapes = hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=6)
        dtypes = st.sampled_from([np.float64, np.float32, np.int64, np.uint8, np.complex128, np.bool_])
        count = [0, 0]
        @settings(max_examples=300, deadline=None, database=None)
        @given(x=hnp.arrays(dtypes, shapes), y=hnp.arrays(dtypes, shapes),
               order=hnp.arrays(st.sampled_from([np.int64, np.int32, np.float64]), shapes),
               bs=st.integers(-3, 8), eta=st.floats(allow_nan=True, allow_infinity=True))
        def run(x, y, order, bs, eta):
            for call in (lambda: cref.backprop(P, x, y), lambda: cref.feedforward(P, x),
                         lambda: cref.train_epoch(P, x, y, order, eta=eta, batch_size=bs)):
                try:
                    call()
                    count[0] += 1
                except (ValueError, TypeError):
                    count[1] += 1
        run()
        for bad in ([], [(np.ones((3, 4)),)], [(np.ones((0, 4)), np.ones(0))], "params"):
            try:
                cref.feedforward(bad, np.ones((1, 4)))
            except (ValueError, TypeError):
                count[1] += 1
        print("survived", count)
    """)
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600,
                       cwd=tempfile.gettempdir())  # not the source tree: it has no extension
    assert r.returncode == 0, r.stderr[-3000:]
    assert "survived" in r.stdout
    ok, rejected = map(int, r.stdout.split("[")[1].rstrip("]\n").split(","))
    assert rejected > 100, r.stdout  # the generator does reach the checks


def test_import_without_the_extension_is_one_clear_error():
    code = textwrap.dedent("""
        import sys
        sys.modules["jaxnet.cref._ext"] = None   # as if the extension had not been built
        import jaxnet                          # the pure-JAX library still imports
        assert jaxnet.backprop is not None
        try:
            import jaxnet.cref
        except ImportError as e:
            print(e)
        else:
            raise SystemExit("jaxnet.cref imported without its extension")
    """)
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                       cwd=tempfile.gettempdir())
    assert r.returncode == 0, r.stderr
    assert "was not built" in r.stdout and "C compiler" in r.stdout


def test_c_unit_tests_pass_optimised_and_under_sanitizers(tmp_path):
    from pathlib import Path
    csrc = Path(__file__).resolve().parent.parent / "csrc"
    for target in ("check", "asan-check"):
        r = subprocess.run(["make", "-C", str(csrc), f"BUILD={tmp_path}", target],
                           capture_output=True, text=True, timeout=600, cwd=tmp_path)
        assert r.returncode == 0, f"make {target} failed:\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}"
        assert "all C checks passed" in r.stdout
        if target == "check":   # the conv fast path's chunk size changes no bit
            assert "chunks of 1, 8 and 64 give the same bits" in r.stdout, r.stdout[-2000:]
