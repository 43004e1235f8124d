"""impl="pallas": the fused epoch kernel (jaxnet.train._pallas) against the JAX epoch, in
Pallas's interpret mode on the CPU, and lowered for CUDA (Triton) without a GPU so that a
Triton lowering error fails here."""

import re
import subprocess
import sys
import tempfile

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import assert_trees_close, count_compiles, rel_err

import jaxnet
from jaxnet._core.costs import Penalty
from jaxnet._core.precision import scaled_rtol
from jaxnet.train import _pallas
from jaxnet.train._pallas_kernel import chunks, next_pow2

# Without a GPU every pallas call runs interpreted and says so (tested once, below).
pytestmark = pytest.mark.filterwarnings("ignore:impl='pallas'")
ON_GPU = jax.default_backend() == "gpu"

# float32, one epoch of ≤ 10 steps from "scaled" weights: the kernel sums its products in
# other orders than XLA (zero-padded blocks, 256-column chunks of the input), one rounding
# (~1e-7 of the tensor's scale) a step; measured ≤ 1e-6. A wrong term (the 1/m of a
# partial batch, a mask, λ/n, μ) is ≥ 1e-3 (test_the_tolerance_can_fail).
RTOL = 1e-5

# Every option at least once: cost, hidden activation, penalty, rule, the book's smaller
# last mini-batch (N mod batch ≠ 0), precision, integer or float inputs, depth and an
# input width that is not a multiple of 16 (the kernel's masked gather).
# (sizes, cost, activation, reg, λ, momentum μ, N, batch, precision, uint8 inputs)
COMBOS = [
    ([784, 16, 10], "quadratic", "sigmoid", "l2", None, 0.0, 64, 10, "highest", True),
    ([784, 16, 10], "cross_entropy", "sigmoid", "l2", 2.0, 0.0, 64, 16, "default", True),
    ([784, 16, 10], "log_likelihood", "relu", "l1", 1.0, 0.6, 64, 10, "high", True),
    ([784, 16, 10], "quadratic", "tanh", "l2", 1.0, 0.5, 60, 7, "default", False),
    ([50, 20, 16, 10], "cross_entropy", "tanh", "l1", 0.5, 0.0, 60, 8, "highest", False),
    ([784, 32, 10], "log_likelihood", "linear", "l2", 3.0, 0.9, 64, 16, "highest", True),
]


def _problem(sizes, n, uint8, seed=0):
    rng = np.random.default_rng(seed)
    x = (rng.integers(0, 256, (n, sizes[0])).astype(np.uint8) if uint8
         else rng.random((n, sizes[0]), dtype=np.float32))
    y = np.eye(sizes[-1], dtype=np.float32)[rng.integers(0, sizes[-1], n)]
    return x, y, rng.permutation(n).astype(np.int32)


def _run(combo, impl, eta=0.5, **change):
    sizes, cost, act, reg, lmbda, mu, n, batch, precision, uint8 = combo
    model = jaxnet.Model.dense(sizes, cost=cost, activation=act, reg=reg, precision=precision)
    params = jaxnet.init_params(jax.random.PRNGKey(len(sizes) + n), model, init="scaled")
    x, y, order = _problem(sizes, n, uint8)
    rule = jaxnet.momentum(eta, mu) if mu else jaxnet.sgd(eta)
    kw = dict(batch_size=batch, model=model, x_scale=1 / 256 if uint8 else None, lmbda=lmbda,
              impl=impl)
    kw.update(change)
    if not mu:
        return params, jaxnet.train_epoch(params, x, y, order, eta=eta, **kw)
    return params, jaxnet.train_epoch_with(rule, params, None, x, y, order, **kw)


@pytest.mark.parametrize("combo", COMBOS, ids=lambda c: "-".join(map(str, c[1:6] + c[8:9])))
def test_the_fused_epoch_is_train_epochs(combo):
    before, want = _run(combo, "jax")
    _, got = _run(combo, "pallas")
    # TF32 ("high", "default") on a GPU: both sides round their operands to 2^-11.
    assert_trees_close(got, want, scaled_rtol(RTOL, combo[8], jax.default_backend()),
                       "pallas vs jax epoch")
    moved = rel_err(jax.tree.leaves(want)[0], before[0].w)
    assert moved > 100 * RTOL, f"the epoch hardly moved the weights ({moved:.1e})"


def test_the_tolerance_can_fail():
    """A 1 % different η (or λ) is far outside RTOL: the comparison is not vacuous."""
    combo = COMBOS[2]
    _, want = _run(combo, "jax")
    _, eta_off = _run(combo, "pallas", eta=0.505)
    _, lmbda_off = _run(combo, "pallas", lmbda=1.01)
    for wrong in (eta_off, lmbda_off):
        with pytest.raises(AssertionError):
            assert_trees_close(wrong, want, RTOL, "a wrong hyper-parameter")


def test_a_new_order_or_eta_does_not_recompile():
    combo = COMBOS[0]
    sizes, n = combo[0], combo[6]
    _run(combo, "pallas")
    model = jaxnet.Model.dense(sizes)
    params = jaxnet.init_params(jax.random.PRNGKey(9), model)
    x, y, order = _problem(sizes, n, True, seed=9)
    with count_compiles() as compiles:
        jax.block_until_ready(jaxnet.train_epoch(params, x, y, order, eta=0.7, batch_size=10,
                                                 x_scale=1 / 256, impl="pallas"))
    assert compiles[0] == 0


def test_jaxnet_train_impl_pallas_follows_impl_jax():
    """The command line's --impl pallas: the same epochs' accuracies as --impl jax (500
    steps an epoch), and it says once that it is interpreted."""
    def run(impl):
        return subprocess.run([sys.executable, "-m", "jaxnet", "train", "--data", "sample",
                               "--epochs", "2", "--sizes", "784,16,10", "--init", "scaled",
                               "--eta", "0.5", "--seed", "2", "--impl", impl],
                              capture_output=True, text=True, timeout=600,
                              cwd=tempfile.gettempdir())
    want, got = run("jax"), run("pallas")
    assert want.returncode == 0 and got.returncode == 0, got.stderr
    epochs = [[int(c) for c in re.findall(r"^Epoch \d+: (\d+) / 1000", r.stdout, re.M)]
              for r in (want, got)]
    # The CPU runs both deterministically to ~1e-6 (no test digit changes class); a GPU's
    # Triton and XLA may round a borderline digit apart.
    slack = 3 if ON_GPU else 0
    assert len(epochs[0]) == 2 and len(epochs[1]) == 2, (want.stdout, got.stdout)
    assert all(abs(a - b) <= slack for a, b in zip(*epochs)), (want.stdout, got.stdout)
    assert got.stderr.count("interpret mode") == (0 if ON_GPU else 1), got.stderr


def test_jaxnet_train_ensemble_impl_pallas_follows_impl_jax():
    """--ensemble 2 --impl pallas: the members' accuracies and the votes of --impl jax."""
    def run(impl):
        return subprocess.run([sys.executable, "-m", "jaxnet", "train", "--data", "sample",
                               "--epochs", "1", "--sizes", "784,16,10", "--init", "scaled",
                               "--eta", "0.5", "--seed", "3", "--ensemble", "2", "--impl", impl],
                              capture_output=True, text=True, timeout=600,
                              cwd=tempfile.gettempdir())
    want, got = run("jax"), run("pallas")
    assert want.returncode == 0 and got.returncode == 0, got.stderr
    found = [re.findall(r"^(?:Epoch 0: members|ensemble of 2, majority vote on \w+:) ([\d ]+) /",
                        r.stdout, re.M) for r in (want, got)]
    assert len(found[0]) == 2 and len(found[1]) == 2, (want.stdout, got.stdout)
    slack = 3 if ON_GPU else 0   # as test_jaxnet_train_impl_pallas_follows_impl_jax's
    for a, b in zip(*found):
        assert all(abs(int(x) - int(y)) <= slack for x, y in zip(a.split(), b.split())), \
            (want.stdout, got.stdout)


def test_fit_with_pallas_is_fit():
    """Same keys, shuffles and evaluation: fit(impl="pallas") follows fit's history."""
    model = jaxnet.Model.dense([784, 16, 10], cost="cross_entropy", reg="l2")
    params = jaxnet.init_params(jax.random.PRNGKey(3), model, init="scaled")
    x, y, _ = _problem([784, 16, 10], 64, True, seed=3)
    labels = np.argmax(y, axis=1)
    kw = dict(model=model, epochs=2, eta=0.5, batch_size=10, x_scale=1 / 256, lmbda=1.0,
              momentum=0.5, eval_data=(x[:30], labels[:30]), monitor=("eval_accuracy",
                                                                       "train_cost"))
    want = jaxnet.fit(jax.random.PRNGKey(4), params, x, labels, **kw)
    got = jaxnet.fit(jax.random.PRNGKey(4), params, x, labels, impl="pallas", **kw)
    assert_trees_close((got.params, got.velocity), (want.params, want.velocity), 10 * RTOL,
                       "fit, 2 epochs")    # two epochs: twice the steps of RTOL's
    assert [r.correct for r in got.history] == [r.correct for r in want.history]
    np.testing.assert_allclose([r.train_cost for r in got.history],
                               [r.train_cost for r in want.history], rtol=10 * RTOL)


def _population(p=3):
    model = jaxnet.Model.dense([784, 16, 10], cost="log_likelihood", activation="relu")
    params = jaxnet.init_population(jax.random.split(jax.random.PRNGKey(5), p), model,
                                    init="scaled")
    x, y, _ = _problem([784, 16, 10], 60, True, seed=5)
    rng = np.random.default_rng(6)
    orders = np.stack([rng.permutation(60) for _ in range(p)]).astype(np.int32)
    hyper = dict(eta=np.array([0.5, 0.2, 0.8][:p]), mu=np.array([0.5, 0.0, 0.9][:p]),
                 lmbda=np.array([1.0, 0.0, 3.0][:p]))
    return model, params, x, y, orders, hyper


def test_a_population_member_is_its_solo_run():
    model, params, x, y, orders, h = _population()
    state = jaxnet.MomentumState(h["eta"], h["mu"], jax.tree.map(jnp.zeros_like, params))
    kw = dict(batch_size=8, model=model, x_scale=1 / 256)
    got, got_state = jaxnet.pallas_population_epoch(params, state, x, y, orders,
                                                    lmbda=h["lmbda"], **kw)
    for i in range(3):
        member = jax.tree.map(lambda a, i=i: a[i], params)
        rule = jaxnet.momentum(h["eta"][i], h["mu"][i])
        for impl, rtol in (("pallas", 0.0), ("jax", RTOL)):   # the same program: exact
            solo, solo_state = jaxnet.train_epoch_with(rule, member, None, x, y, orders[i],
                                                       lmbda=h["lmbda"][i], impl=impl, **kw)
            mine = jax.tree.map(lambda a, i=i: a[i], (got, got_state.velocity))
            assert_trees_close(mine, (solo, solo_state.velocity), rtol, f"member {i}, {impl}")


def test_the_population_shares_one_order_too():
    model, params, x, y, orders, h = _population(p=2)
    state = jaxnet.SgdState(h["eta"])
    shared, _ = jaxnet.pallas_population_epoch(params, state, x, y, orders[0], batch_size=8,
                                               model=model, x_scale=1 / 256)
    each, _ = jaxnet.pallas_population_epoch(params, state, x, y, np.stack([orders[0]] * 2),
                                             batch_size=8, model=model, x_scale=1 / 256)
    assert_trees_close(shared, each, 0.0, "one order for all vs the same order each")


def test_the_fit_population_seam_is_population_epoch():
    """population_shuffled_epoch (fit_population's impl="pallas") shuffles and trains
    each member as the JAX population epoch does."""
    from jaxnet.train._population.fit import population_epoch
    model, params, x, y, _, h = _population()
    state = jaxnet.SgdState(jnp.asarray(h["eta"], jnp.float32))
    keys = jax.random.split(jax.random.PRNGKey(7), 3)
    pen = Penalty(jnp.asarray(h["lmbda"], jnp.float32), jnp.float32(60))
    kw = dict(model=model, rule=jaxnet.sgd(1.0), grad="backprop", batch_size=8)
    want = population_epoch(params, state, keys, x, y, jnp.float32(1 / 256), pen, **kw)
    got = _pallas.population_shuffled_epoch(params, state, keys, x, y, jnp.float32(1 / 256),
                                            pen, **kw)
    assert np.array_equal(got[2], want[2]) and np.all(got[3])      # the same next keys
    assert_trees_close(got[0], want[0], RTOL, "seam vs population_epoch")


def test_fit_population_with_pallas_is_fit_population():
    """fit_population(impl="pallas"): the same shuffles, momentum, λ and evaluation."""
    model, params, x, y, _, h = _population()
    labels = np.argmax(y, axis=1)
    keys = jax.random.split(jax.random.PRNGKey(8), 3)
    kw = dict(model=model, epochs=2, eta=h["eta"], momentum=h["mu"], lmbda=h["lmbda"],
              batch_size=8, x_scale=1 / 256, eval_data=(x[:30], labels[:30]))
    want = jaxnet.fit_population(keys, params, x, labels, **kw)
    got = jaxnet.fit_population(keys, params, x, labels, impl="pallas", **kw)
    assert_trees_close((got.params, got.velocity), (want.params, want.velocity), 10 * RTOL,
                       "fit_population, 2 epochs")    # two epochs: twice the steps of RTOL's
    assert np.array_equal(got.correct, want.correct)
    with pytest.raises(ValueError, match="impl: expected one of"):
        jaxnet.fit_population(keys, params, x, labels, impl="cuda", **kw)


def _dropout_model():
    return jaxnet.Model((784,), (jaxnet.Dense(16, dropout=0.5), jaxnet.Dense(10)))


@pytest.mark.parametrize("case, match", [
    ("dropout", "layers\\[0\\] has dropout"), ("conv", "layers\\[0\\] is a ConvPool"),
    ("float64", "parameters are float64"), ("optax", "rule is"), ("autodiff", "grad='autodiff'"),
    ("impl", "impl: expected one of"),
])
def test_what_the_kernel_does_not_do_is_refused(case, match):
    model = {"dropout": _dropout_model(),
             "conv": jaxnet.Model((1, 28, 28), (jaxnet.ConvPool(2, 5, 2), jaxnet.Dense(10)))
             }.get(case, jaxnet.Model.dense([784, 16, 10]))
    dtype = np.float64 if case == "float64" else np.float32
    params = jaxnet.init_params(jax.random.PRNGKey(0), model, dtype=dtype)
    x, y, order = _problem([784, 16, 10], 20, True)
    rule = jaxnet.sgd(0.5)
    if case == "optax":
        import optax
        rule = optax.sgd(0.5)
    kw = dict(batch_size=10, model=model, x_scale=1 / 256, impl="cuda" if case == "impl"
              else "pallas", grad="autodiff" if case == "autodiff" else "backprop",
              key=jax.random.PRNGKey(1) if case == "dropout" else None)
    with pytest.raises(ValueError, match=match) as e:
        jaxnet.train_epoch_with(rule, params, None, x, y, order, **kw)
    if case != "impl":
        assert "supports Dense layers without dropout" in str(e.value)
    with pytest.raises(ValueError, match="impl: expected one of"):
        jaxnet.fit(jax.random.PRNGKey(0), params, x, np.argmax(y, 1), model=model,
                   x_scale=1 / 256, impl="cuda")


def test_interpret_mode_is_announced_once(monkeypatch):
    import warnings
    monkeypatch.setattr(_pallas, "_warned", [])
    if ON_GPU:                                     # Triton: nothing to say
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            assert not _pallas.interpret_mode()
        return
    with pytest.warns(_pallas.PallasInterpretWarning, match="interpret mode"):
        assert _pallas.interpret_mode()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert _pallas.interpret_mode()           # the second time: silent


def test_the_padding():
    assert chunks(784) == ((0, 256), (256, 256), (512, 256), (768, 16))
    assert chunks(50) == ((0, 64),) and chunks(30) == ((0, 32),)
    assert [next_pow2(n) for n in (1, 10, 16, 17, 30, 100)] == [16, 16, 16, 32, 32, 128]


def _lower_for_cuda(model, rule, pen, p=4, n=100, batch=10):
    """The Triton module of the fused epoch, lowered for CUDA on this (GPU-less) machine."""
    from jax._src.lib.mlir import ir
    from jax._src.pallas.triton import lowering
    params = jaxnet.init_population(jax.random.split(jax.random.PRNGKey(0), p), model)
    state = jax.vmap(rule.init)(params)
    x = jax.ShapeDtypeStruct((n, model.sizes[0]), jnp.uint8)
    y = jax.ShapeDtypeStruct((n, model.sizes[-1]), jnp.float32)
    orders = jax.ShapeDtypeStruct((p, n), jnp.int32)
    plan = _pallas.plan_for(model, rule, x, n, batch, pen, interpret=False)
    f = jax.jit(lambda *a: _pallas.fused_epoch(*a, plan=plan, interpret=False))
    text = f.trace(params, state, x, y, orders, jnp.float32(1 / 256), pen).lower(
        lowering_platforms=("cuda",)).as_text()
    calls = re.findall(r'custom_call @__gpu\$xla\.gpu\.triton.*?ir = "((?:[^"\\]|\\.)*)"', text)
    assert len(calls) == 1, "expected one Triton launch for the whole epoch"
    raw = re.sub(rb"\\([0-9A-Fa-f]{2})", lambda m: bytes([int(m.group(1), 16)]),
                 calls[0].encode("latin-1")).replace(b'\\"', b'"').replace(b"\\\\", b"\\")
    with lowering._new_ir_context():
        module = ir.Module.parse(raw)
        assert module.operation.verify()
        return str(module)


@pytest.mark.parametrize("precision, want", [("highest", "ieee"), ("default", "tf32")])
def test_the_kernel_lowers_for_cuda_with_triton(precision, want):
    """Lowered (not compiled: no GPU here) for CUDA through Pallas's Triton backend, the
    whole epoch is one kernel whose every tensor is a power of two in size, its dots
    at the precision asked, with barriers between the weights' reads and writes."""
    model = jaxnet.Model.dense([784, 30, 10], cost="log_likelihood", activation="relu",
                               reg="l1", precision=precision)
    pen = Penalty(jnp.ones((4,), jnp.float32), jnp.float32(100))
    asm = _lower_for_cuda(model, jaxnet.momentum(0.5, 0.9), pen)
    shapes = set(re.findall(r"tensor<((?:\d+x)+)[a-z]", asm))
    sizes = {int(np.prod([int(d) for d in s.rstrip("x").split("x")])) for s in shapes}
    assert sizes and all(s & (s - 1) == 0 for s in sizes), sorted(shapes)
    dots = re.findall(r"tt\.dot .*", asm)
    assert len(dots) >= 4 and all(f"inputPrecision = {want}" in d or
                                  (want == "ieee" and "inputPrecision" not in d) for d in dots)
    assert "gpu.barrier" in asm


def test_a_masked_input_lowers_for_cuda_too():
    model = jaxnet.Model.dense([50, 20, 16, 10], cost="quadratic", activation="tanh")
    asm = _lower_for_cuda(model, jaxnet.sgd(0.5), None, p=2, n=33, batch=8)
    assert "tt.load" in asm and "tt.store" in asm
