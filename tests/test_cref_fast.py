"""The C fast path against the C reference (and so against JAX): every model option,
uint8 inputs, threads, partial mini-batches, NaN, and the portable build."""

import os
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import jax
import numpy as np
import pytest
from conftest import assert_trees_close

import jaxnet
from jaxnet import cref

# float64, one step: the fast path adds each example's a·dᵀ in turn, the
# reference sums them first: a few ulps of the update (measured ~1e-16).
STEP64_RTOL = 1e-12
# float64, 500 steps on the sample: those differences carried (measured ≤ 3e-14).
EPOCH64_RTOL = 1e-10
# float32, 500 steps: float32 rounding carried the same way (measured ≤ 1.2e-5).
EPOCH32_RTOL = 1e-3

OPTIONS = [dict(cost=c, activation=a, lmbda=l, reg=r, momentum=m)
           for c in jaxnet.COSTS for a in jaxnet.ACTIVATIONS
           for l, r in ((None, "l2"), (5.0, "l2"), (5.0, "l1")) for m in (0.0, 0.5)]


def _run(params, x, y, order, impl, *, cost, activation, lmbda, reg, momentum, x_scale=None):
    model = jaxnet.Model.dense([784, 20, 10], cost=cost, activation=activation, reg=reg)
    rule = jaxnet.momentum(0.1, momentum) if momentum else jaxnet.sgd(0.1)
    return cref.train_epoch_with(rule, params, None, x, y, order, batch_size=7, kernel=impl,
                                 model=model, lmbda=lmbda, x_scale=x_scale)[0]


@pytest.mark.parametrize("opts", OPTIONS, ids=lambda o: "-".join(str(v) for v in o.values()))
def test_fast_epoch_equals_the_reference_for_every_option(sample, opts):
    params = jaxnet.init_params(jax.random.PRNGKey(3), [784, 20, 10], dtype=np.float64,
                                init="scaled")
    x, y = sample.train.x[:500].astype(np.float64), sample.train.y()[:500].astype(np.float64)
    order = np.random.default_rng(1).permutation(500)  # 500 = 71 × 7 + 3: a partial last batch
    ref = _run(params, x, y, order, "reference", **opts)
    fast = _run(params, x, y, order, "fast", **opts)
    assert_trees_close(fast, ref, EPOCH64_RTOL, f"fast vs reference {opts}")
    fast8 = _run(params, sample.train.images[:500], y, order, "fast", x_scale=1 / 256, **opts)
    assert_trees_close(fast8, fast, 0.0, "uint8 pixels vs the same values as floats")
    assert max(float(np.max(np.abs(a - b))) for a, b in zip(jax.tree.leaves(fast),
                                                           jax.tree.leaves(params))) > 1e-3


@pytest.mark.parametrize("momentum", [0.0, 0.9])
def test_fast_step_equals_the_reference_step(sample, momentum):
    params = jaxnet.init_params(jax.random.PRNGKey(4), [784, 30, 10], dtype=np.float64)
    x, y = sample.train.x[:10].astype(np.float64), sample.train.y()[:10].astype(np.float64)
    kw = dict(model=jaxnet.Model.dense([784, 30, 10], cost="cross_entropy"), lmbda=2.0, n=1000)
    rule, state = jaxnet.sgd(3.0), None
    if momentum:
        rule = jaxnet.momentum(3.0, momentum)
        state = jaxnet.MomentumState(3.0, momentum, jax.tree.map(
            lambda a: np.full_like(np.asarray(a), 0.01), params))
    ref = cref.step_with(rule, params, state, x, y, kernel="reference", **kw)
    fast = cref.step_with(rule, params, state, x, y, kernel="fast", **kw)
    assert_trees_close(fast, ref, STEP64_RTOL, "one step")


def test_float32_fast_epoch_is_close_to_the_reference(sample):
    params = jaxnet.init_params(jax.random.PRNGKey(5), [784, 30, 10])
    order = np.random.default_rng(2).permutation(len(sample.train))
    y = sample.train.y()
    ref = cref.train_epoch(params, sample.train.x, y, order, eta=3.0, batch_size=10,
                           kernel="reference")
    fast = cref.train_epoch(params, sample.train.images, y, order, eta=3.0, batch_size=10,
                            x_scale=1 / 256)
    assert_trees_close(fast, ref, EPOCH32_RTOL, "float32 epoch")


@pytest.mark.parametrize("fill", ["no zeros", "all zeros"])
def test_inputs_without_zeros_or_without_non_zeros(fill):
    rng = np.random.default_rng(6)
    x8 = rng.integers(1, 256, (60, 40), dtype=np.uint8) if fill == "no zeros" else \
        np.zeros((60, 40), np.uint8)
    y = np.eye(3)[rng.integers(0, 3, 60)]
    params = jaxnet.init_params(jax.random.PRNGKey(7), [40, 33, 3], dtype=np.float64)
    order = rng.permutation(60)
    ref = cref.train_epoch(params, x8, y, order, eta=0.5, batch_size=8, x_scale=1 / 256,
                           kernel="reference")
    fast = cref.train_epoch(params, x8, y, order, eta=0.5, batch_size=8, x_scale=1 / 256)
    assert_trees_close(fast, ref, EPOCH64_RTOL, fill)


@pytest.mark.parametrize("sizes,batch", [([784, 100, 10], 100), ([784, 30, 10], 10),
                                         ([784, 300, 10], 7)])
def test_threads_give_identical_results(sample, sizes, batch):
    """The rows of a mini-batch and the inputs of each layer are shared out; any
    thread count gives the numbers of one (momentum and L2: every phase threaded)."""
    params = jaxnet.init_params(jax.random.PRNGKey(8), sizes)
    x, y = sample.train.images[:2000], sample.train.y()[:2000]
    order = np.random.default_rng(8).permutation(2000)
    rule = jaxnet.momentum(1.0, 0.5)
    run = lambda threads: cref.train_epoch_with(rule, params, None, x, y, order,
                                                batch_size=batch, x_scale=1 / 256, lmbda=2.0,
                                                threads=threads)
    one = run(1)
    for threads in (2, 3):
        assert_trees_close(run(threads), one, 0.0, f"{threads} threads vs 1")
        _leaves_equal(run(threads), one, f"{threads} threads vs 1")


# The sparse first layer skips the zero inputs the dense one multiplies: a skipped
# 0·w adds exactly 0 (and its update row += (−η·0)·δ changes nothing), so the two
# give identical numbers — tolerance 0, tighter than the fast path's own
# tolerances against the reference (EPOCH64_RTOL, EPOCH32_RTOL).
SPARSE_VS_DENSE_RTOL = 0.0


def _leaves_equal(a, b, what):
    assert_trees_close(a, b, SPARSE_VS_DENSE_RTOL, what)
    assert all(np.array_equal(u, v) for u, v in zip(jax.tree.leaves(a), jax.tree.leaves(b))), what


def _zeros_problem(dtype, seed=12):
    """(params, x8 (64, 50) uint8 with 85 % zeros, all-zero rows 3 and 40 and a row
    (17) with none, y (64, 4), order): the zero patterns the sparse layer meets."""
    rng = np.random.default_rng(seed)
    x8 = np.where(rng.uniform(size=(64, 50)) < 0.85, 0,
                  rng.integers(1, 256, (64, 50))).astype(np.uint8)
    x8[[3, 40]] = 0
    x8[17] = rng.integers(1, 256, 50)
    y = np.eye(4)[rng.integers(0, 4, 64)]
    params = jaxnet.init_params(jax.random.PRNGKey(seed), [50, 37, 4], dtype=dtype)
    return params, x8, y, rng.permutation(64)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("lmbda,reg,momentum", [(None, "l2", 0.0), (4.0, "l2", 0.0),
                                                (4.0, "l1", 0.0), (None, "l2", 0.7),
                                                (4.0, "l2", 0.7), (4.0, "l1", 0.7)])
def test_sparse_and_dense_first_layers_agree_on_many_zeros(dtype, lmbda, reg, momentum):
    params, x8, y, order = _zeros_problem(dtype)
    model = jaxnet.Model.dense([50, 37, 4], cost="cross_entropy", activation="relu", reg=reg)
    rule = jaxnet.momentum(0.5, momentum) if momentum else jaxnet.sgd(0.5)
    run = lambda kernel, threads=1, x=x8, scale=1 / 256: cref.train_epoch_with(
        rule, params, None, x, y, order, batch_size=9, model=model, lmbda=lmbda,
        x_scale=scale, kernel=kernel, threads=threads)
    sparse, dense = run("fast"), run("fast-dense")
    _leaves_equal(sparse, dense, "sparse vs dense")
    _leaves_equal(run("fast-dense", threads=2), dense, "dense, 2 threads vs 1")
    _leaves_equal(run("fast", threads=3), sparse, "sparse, 3 threads vs 1")
    floats = x8.astype(dtype) * dtype(1 / 256)
    _leaves_equal(run("fast-dense", x=floats, scale=None), dense, "dense, float inputs")
    rtol = EPOCH64_RTOL if dtype == np.float64 else EPOCH32_RTOL
    assert_trees_close(sparse, run("reference"), rtol, "sparse vs reference")
    # the weights of the pixels that are zero in every row but 17 moved: row 17 reached them
    moved = np.abs(np.asarray(sparse[0][0].w) - np.asarray(params[0].w))
    assert moved.max() > 1e-4


def test_sparse_and_dense_first_layers_agree_over_a_real_mnist_epoch(mnist):
    """The book's epoch (784-30-10, η 3, mini-batch 10, 50,000 digits, uint8 pixels)."""
    params = jaxnet.init_params(jax.random.PRNGKey(13), [784, 30, 10])
    x8, y = mnist.train.images, mnist.train.y()
    assert 0.75 < float(np.mean(x8 == 0)) < 0.85       # MNIST: 81 % of its pixels are 0
    order = np.random.default_rng(14).permutation(len(x8))
    kw = dict(eta=3.0, batch_size=10, x_scale=1 / 256)
    sparse = cref.train_epoch(params, x8, y, order, **kw)
    _leaves_equal(cref.train_epoch(params, x8, y, order, kernel="fast-dense", **kw), sparse,
                  "dense vs sparse, 50,000 digits")
    _leaves_equal(cref.train_epoch(params, x8, y, order, threads=2, **kw), sparse,
                  "sparse, 2 threads vs 1, 50,000 digits")
    assert float(np.max(np.abs(sparse[0].w - np.asarray(params[0].w)))) > 1e-2


def test_the_dense_fast_kernel_is_for_dense_chains(sample):
    model = jaxnet.Model((784,), (jaxnet.Dense(10, "sigmoid", dropout=0.5),
                                  jaxnet.Dense(10, "sigmoid")))
    params = jaxnet.init_params(jax.random.PRNGKey(9), model)
    x, y = sample.train.images[:20], sample.train.y()[:20]
    with pytest.raises(ValueError, match="kernel: 'fast-dense' is for Dense chains without "
                                         "dropout"):
        cref.train_epoch(params, x, y, np.arange(20), eta=1.0, batch_size=10, x_scale=1 / 256,
                         model=model, kernel="fast-dense", key=jax.random.PRNGKey(0))


def test_a_nan_input_names_its_row_and_changes_nothing(sample):
    params = jaxnet.init_params(jax.random.PRNGKey(9), [784, 10, 10])
    x, y = sample.train.x[:100].copy(), sample.train.y()[:100]
    x[42, 300] = np.nan
    with pytest.raises(ValueError, match="x: row 42 contains NaN or Inf"):
        cref.train_epoch(params, x, y, np.arange(100), eta=1.0, batch_size=10)
    with pytest.raises(ValueError, match="x: row 42 contains NaN or Inf"):   # packed once
        cref.Epoch(jaxnet.sgd(1.0), params, None, x, y, batch_size=10, pack_once=True)
    e = cref.Epoch(jaxnet.sgd(1.0), params, None, sample.train.images[:100], y, batch_size=10,
                   x_scale=1 / 256)
    for short in (np.arange(7), np.arange(200), np.zeros((10, 10), np.int64)):
        with pytest.raises(ValueError, match=r"order: expected shape \(100,\)"):
            e(e.params, e.state, short)
    with pytest.raises(ValueError, match="x: contains NaN or Inf"):
        cref.train_epoch(params, x, y, np.arange(100), eta=1.0, batch_size=10,
                         kernel="reference")
    with pytest.raises(ValueError, match="kernel: expected one of"):
        cref.train_epoch(params, x, y, np.arange(100), eta=1.0, batch_size=10, kernel="gpu")
    for threads in (0, cref.MAX_THREADS + 1, 100_000, 2**63, 2.0, True):
        with pytest.raises(ValueError, match=r"threads: expected an int in \[1, 1024\]"):
            cref.train_epoch(params, sample.train.images[:100], y, np.arange(100), eta=1.0,
                             batch_size=10, x_scale=1 / 256, threads=threads)


@pytest.mark.parametrize("dtype, pixels, momentum, threads", [
    (np.float32, True, 0.0, 1), (np.float32, False, 0.9, 2), (np.float64, True, 0.5, 3)])
def test_rows_packed_once_give_the_numbers_of_rows_packed_each_step(sample, monkeypatch, dtype,
                                                                    pixels, momentum, threads):
    """An Epoch with pack_once (what fit(impl="c") builds once) packs the sparse first
    layer's rows once; with no room for them (PACK_SHARE 0) each epoch packs its
    mini-batches' rows: the same bits, two epochs in a row, from uint8 pixels or floats."""
    from jaxnet.cref import _epoch
    params = jaxnet.init_params(jax.random.PRNGKey(5), [784, 30, 10], dtype=dtype)
    x = sample.train.images[:300] if pixels else sample.train.x[:300].astype(dtype)
    y, scale = sample.train.y()[:300].astype(dtype), (1 / 256 if pixels else None)
    rule = jaxnet.momentum(0.5, momentum) if momentum else jaxnet.sgd(3.0)
    orders = [np.random.default_rng(s).permutation(300) for s in (1, 2)]

    def two_epochs(pack_once=True):
        e = _epoch.Epoch(rule, params, None, x, y, batch_size=10, x_scale=scale, threads=threads,
                         pack_once=pack_once)
        p, st = e.params, e.state
        for order in orders:
            p, st = e(p, st, order)
        return e.packed, p
    packed, once = two_epochs()
    assert two_epochs(pack_once=False)[0] is None   # cref.train_epoch's: one epoch a call
    monkeypatch.setattr(_epoch, "PACK_SHARE", 0.0)
    unpacked, each = two_epochs()
    assert packed is not None and unpacked is None
    start, idx, val = packed
    assert start[-1] == np.count_nonzero(x) and not idx.flags.writeable
    assert all(np.array_equal(a, b) for a, b in zip(jax.tree.leaves(once), jax.tree.leaves(each)))
    assert max(float(np.max(np.abs(np.asarray(a) - np.asarray(b))))
               for a, b in zip(jax.tree.leaves(once), jax.tree.leaves(params))) > 1e-3


def test_the_most_threads_allowed_give_the_one_thread_numbers(sample):
    """threads = MAX_THREADS runs (no crash however many the machine has) and, like
    every thread count, gives the numbers of one thread."""
    params = jaxnet.init_params(jax.random.PRNGKey(9), [784, 200, 10])
    x8, y = sample.train.images[:40], sample.train.y()[:40]
    kw = dict(eta=1.0, batch_size=10, x_scale=1 / 256)
    one = cref.train_epoch(params, x8, y, np.arange(40), threads=1, **kw)
    most = cref.train_epoch(params, x8, y, np.arange(40), threads=cref.MAX_THREADS, **kw)
    assert all(np.array_equal(a, b) for a, b in zip(jax.tree.leaves(one), jax.tree.leaves(most)))


def test_the_extension_builds_and_passes_with_jaxnet_portable(tmp_path):
    """JAXNET_PORTABLE=1: no -march=native (so no AVX-512 packing; the plain paths)."""
    root = Path(__file__).resolve().parent.parent  # the source tree (jaxnet may be installed)
    build = textwrap.dedent(f"""
        import importlib.util, os
        os.environ["JAXNET_PORTABLE"] = "1"
        spec = importlib.util.spec_from_file_location(
            "_build", {str(root / "jaxnet" / "cref" / "_build.py")!r})
        _build = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(_build)
        assert "-march=native" not in _build._flags
        _build.ffibuilder.compile(tmpdir={str(tmp_path)!r})
    """)
    (tmp_path / "csrc").symlink_to(root / "csrc")  # cffi compiles from inside tmpdir
    r = subprocess.run([sys.executable, "-c", build], capture_output=True, text=True,
                       timeout=600, cwd=root)
    assert r.returncode == 0, r.stderr[-3000:]
    built = list((tmp_path / "jaxnet" / "cref").glob("_ext*.so"))
    assert built, list(tmp_path.rglob("*"))
    check = textwrap.dedent(f"""
        import importlib.util, numpy as np, jax
        jax.config.update("jax_enable_x64", True)
        import jaxnet, jaxnet.cref as cref
        spec = importlib.util.spec_from_file_location("jaxnet.cref._ext", {str(built[0])!r})
        portable = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(portable)
        import sys
        for name, mod in list(sys.modules.items()):   # every module bound to the extension
            if name.startswith("jaxnet.cref.") and hasattr(mod, "lib"):
                mod.ffi, mod.lib = portable.ffi, portable.lib
        rng = np.random.default_rng(0)
        x8 = np.where(rng.uniform(size=(64, 50)) < 0.7, 0, rng.integers(1, 256, (64, 50))).astype(np.uint8)
        y = np.eye(4)[rng.integers(0, 4, 64)]
        p = jaxnet.init_params(jax.random.PRNGKey(0), [50, 37, 4], dtype=np.float64)
        kw = dict(eta=0.5, batch_size=9, x_scale=1 / 256,
                  model=jaxnet.Model.dense([50, 37, 4], cost="log_likelihood", activation="relu"))
        order = np.random.default_rng(1).permutation(64)
        a = cref.train_epoch(p, x8, y, order, kernel="fast", **kw)
        b = cref.train_epoch(p, x8, y, order, kernel="reference", **kw)
        d = max(float(np.max(np.abs(u - v)) / np.max(np.abs(v))) for u, v in zip(jax.tree.leaves(a), jax.tree.leaves(b)))
        assert d <= 1e-10, d
        print("portable ok", d)
    """)
    r = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True,
                       timeout=600, cwd=tempfile.gettempdir(),
                       env={**os.environ, "PYTHONPATH": ""})
    assert r.returncode == 0 and "portable ok" in r.stdout, r.stderr[-3000:]


def test_fit_with_the_c_epoch_follows_the_jax_run(sample):
    # The same keys, shuffles and evaluation; the epochs agree to float64 rounding
    # carried over 2 × 50 steps of a contracting run (η = 0.5, cross-entropy).
    params = jaxnet.init_params(jax.random.PRNGKey(10), [784, 20, 10], dtype=np.float64)
    kw = dict(epochs=2, eta=0.5, batch_size=10, x_scale=1 / 256, momentum=0.3, lmbda=1.0,
              model=jaxnet.Model.dense([784, 20, 10], cost="cross_entropy"),
              eval_data=(sample.test.images[:300], sample.test.labels[:300]))
    x, labels = sample.train.images[:500], sample.train.labels[:500]
    j = jaxnet.fit(jax.random.PRNGKey(11), params, x, labels, **kw)
    c = jaxnet.fit(jax.random.PRNGKey(11), params, x, labels, impl="c", **kw)
    assert_trees_close(c.params, j.params, EPOCH64_RTOL, "fit, impl c vs jax")
    assert_trees_close(c.velocity, j.velocity, EPOCH64_RTOL, "velocity")
    assert [r.correct for r in c.history] == [r.correct for r in j.history]
    with pytest.raises(ValueError, match=r"impl: expected one of \('jax', 'c', 'pallas'\)"):
        jaxnet.fit(jax.random.PRNGKey(11), params, x, labels, impl="cuda", **kw)


def test_train_command_with_the_c_kernel():
    def run(*extra):
        r = subprocess.run([sys.executable, "-m", "jaxnet", "train", "--data", "sample",
                            "--epochs", "2", "--progress", "never", *extra], capture_output=True,
                           text=True, timeout=600, cwd=tempfile.gettempdir())
        assert r.returncode == 0, r.stderr
        return r.stdout, [int(line.split()[2]) for line in r.stdout.splitlines()
                          if line.startswith("Epoch")]
    out, c = run("--impl", "c")
    assert "C kernel (fast path)" in out and "total" in out and len(c) == 2
    _, j = run()
    # float32 at eta 3: the two epochs differ by rounding only; 1 % of the test digits
    assert all(abs(a - b) <= 10 for a, b in zip(c, j)), (c, j)
