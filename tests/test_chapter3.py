"""Chapter 3 (network2.py and the text around it), checked four ways.

Every cost × hidden activation × regularisation × momentum combination: the
hand-derived deltas, jax.grad, the C kernel and central differences agree on
gradients; the updates agree with an independent NumPy transcription of
network2 (benchmarks/book/network2.py). Saturated outputs stay finite; network2's JSON
files move both ways.
"""

import itertools
import json
import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from book import network2
from conftest import assert_trees_close

import jaxnet
from jaxnet import cref
from jaxnet.bench._compare import central_differences

# float64, the same sums in another order: ~1e3 ulps (see test_gradients).
F64_RTOL = 1e-12
# Central differences, h = FD_STEP = 1e-6: O(h²) truncation + O(eps/h) round-off ≈ 1e-10 relative.
FD_RTOL = 1e-6
# Whole epochs carry ~1e-15 per step over 500 steps (measured ≤ 1e-13).
EPOCH_RTOL = 1e-10
# A gradient below this would make a comparison near-vacuous.
MIN_GRAD = 1e-3

REGS = [None, ("l2", 3.0), ("l1", 3.0)]
COMBOS = list(itertools.product(jaxnet.COSTS, jaxnet.ACTIVATIONS, REGS))
N_TRAIN = 40  # the n of λ/n in these small tests


def _net(seed, sizes=(6, 5, 4, 3), batch=5, alive=False):
    """A random N(0, 1) net and batch; ``alive``: positive biases, so ReLU units
    are not all dead (a dead layer would make every gradient below it zero)."""
    rng = np.random.default_rng(seed)
    params = tuple(jaxnet.Layer(rng.standard_normal((o, i)),
                                np.abs(rng.standard_normal(o)) if alive else rng.standard_normal(o))
                   for i, o in zip(sizes[:-1], sizes[1:]))
    x = rng.uniform(size=(batch, sizes[0]))
    y = np.eye(sizes[-1])[rng.integers(0, sizes[-1], batch)]
    return params, x, y


def _kw(cost, act, reg, sizes=(6, 5, 4, 3)):
    kw = dict(model=jaxnet.Model.dense(sizes, cost=cost, activation=act,
                                       reg=reg[0] if reg else "l2"))
    if reg:
        kw.update(lmbda=reg[1], n=N_TRAIN)
    return kw


def _rule(eta, momentum):
    return jaxnet.momentum(eta, momentum) if momentum else jaxnet.sgd(eta)


def _model(params, **kw):
    return jaxnet.Model.dense(jaxnet.layer_sizes(params), **kw)


def _book(params, cost, act):
    return network2.Network([l.w for l in params], [l.b for l in params], cost=cost,
                            activation=act)


@pytest.mark.parametrize("cost, act, reg", COMBOS,
                         ids=[f"{c}-{a}-{r[0] if r else 'none'}" for c, a, r in COMBOS])
def test_gradients_agree_four_ways_and_with_network2(cost, act, reg):
    params, x, y = _net(COMBOS.index((cost, act, reg)), alive=act == "relu")
    kw = _kw(cost, act, reg)
    manual = jaxnet.backprop(params, x, y, **kw)
    assert min(float(jnp.max(jnp.abs(l.w))) for l in manual) > MIN_GRAD, "a vacuous layer"
    assert_trees_close(manual, jaxnet.autodiff_grad(params, x, y, **kw), F64_RTOL, "jax.grad")
    assert_trees_close(cref.backprop(params, x, y, **kw), manual, F64_RTOL, "C kernel")
    net = _book(params, cost, act)
    gb, gw = net.gradient(x, y, **({} if not reg else dict(lmbda=reg[1], n=N_TRAIN, reg=reg[0])))
    book = tuple(jaxnet.Layer(w, b.ravel()) for w, b in zip(gw, gb))
    assert_trees_close(manual, book, F64_RTOL, "network2 transcription")
    # The cost compiled once (the validating jaxnet.cost costs ~20 ms a call); the
    # same pure cost that jaxnet.cost runs.
    from jaxnet._core.costs import Penalty
    from jaxnet._core.network import cost_jit
    pen = Penalty(reg[1], N_TRAIN) if reg else None
    fd = central_differences(lambda q: cost_jit(q, x, y, pen, model=kw["model"]), params)
    assert_trees_close(manual, fd, FD_RTOL, "central differences")


def test_costs_match_network2_total_cost_with_the_training_set_size():
    # The regularisation term divides by the training-set size, not by the
    # evaluated set's size as network2.total_cost does.
    params, x, y = _net(1)
    for cost, reg in itertools.product(jaxnet.COSTS, ("l2", "l1")):
        net = _book(params, cost, "sigmoid")
        ours = float(jaxnet.cost(params, x, y, model=_model(params, cost=cost, reg=reg),
                                 lmbda=3.0, n=N_TRAIN))
        theirs = net.total_cost(x, y, 3.0, N_TRAIN, reg)
        assert ours == pytest.approx(theirs, rel=F64_RTOL), (cost, reg)
        assert theirs != pytest.approx(net.total_cost(x, y, 3.0, len(x), reg), rel=1e-3)


@pytest.mark.parametrize("momentum", [0.0, 0.9])
def test_two_steps_agree_across_implementations_and_network2(momentum):
    """Two consecutive updates (so momentum's velocity matters) for every cost ×
    activation × regularisation, with and without momentum. Run op by op
    (jit disabled): 27 configurations would otherwise compile 54 programs for
    these tiny nets, and the update code is the same either way."""
    with jax.disable_jit():
        _two_steps(momentum)


def _two_steps(momentum):
    for i, (cost, act, reg) in enumerate(COMBOS):
        params, x, y = _net(100 + i, alive=act == "relu")
        kw = _kw(cost, act, reg)
        eta = 0.3
        net = _book(params, cost, act)
        rk = {} if not reg else dict(lmbda=reg[1], n=N_TRAIN, reg=reg[0])
        vel = ([np.zeros_like(w) for w in net.weights], [np.zeros_like(b) for b in net.biases])
        use_v = momentum > 0
        results = {}
        for name, step in (("backprop", jaxnet.step_with),
                           ("autodiff", lambda *a, **k: jaxnet.step_with(*a, grad="autodiff", **k)),
                           ("C", cref.step_with)):
            p, state = params, None
            for _ in range(2):
                p, state = step(_rule(eta, momentum), p, state, x, y, **kw)
            results[name] = p
        for _ in range(2):
            vel = net.update_mini_batch(x, y, eta, **rk, **(dict(momentum=momentum, velocity=vel)
                                                            if use_v else {}))
        book = tuple(jaxnet.Layer(w, b.ravel()) for w, b in zip(net.weights, net.biases))
        what = f"{cost}/{act}/{reg}/mu={momentum}"
        assert_trees_close(results["backprop"], book, F64_RTOL, f"backprop vs network2 {what}")
        assert_trees_close(results["autodiff"], book, F64_RTOL, f"autodiff vs network2 {what}")
        assert_trees_close(results["C"], book, F64_RTOL, f"C vs network2 {what}")
        moved = min(float(np.max(np.abs(np.asarray(a.w) - b.w))) for a, b in zip(book, params))
        assert moved > 1e-4, f"{what}: a layer did not move"


@pytest.mark.parametrize("kw", [
    dict(eta=0.5, cost="cross_entropy", activation="sigmoid", lmbda=5.0),
    dict(eta=0.1, cost="log_likelihood", activation="relu", lmbda=2.0, reg="l1", momentum=0.8),
    dict(eta=0.2, cost="quadratic", activation="tanh", momentum=0.5),
], ids=["ce-l2", "ll-relu-l1-momentum", "quad-tanh-momentum"])
def test_whole_epochs_agree_jax_c_and_network2(sample, kw):
    n = 600
    x, y = sample.train.x[:n].astype(np.float64), sample.train.y()[:n].astype(np.float64)
    order = np.random.default_rng(3).permutation(n)
    params = jaxnet.init_params(jax.random.PRNGKey(2), [784, 20, 10], dtype=jnp.float64,
                                init="scaled")
    mom = "momentum" in kw
    model = jaxnet.Model.dense([784, 20, 10], cost=kw["cost"], activation=kw["activation"],
                               reg=kw.get("reg", "l2"))
    rule = _rule(kw["eta"], kw.get("momentum"))
    ours, s_ours = jaxnet.train_epoch_with(rule, params, None, sample.train.images[:n], y, order,
                                           batch_size=7, x_scale=1 / 256, model=model,
                                           lmbda=kw.get("lmbda"))
    c, s_c = cref.train_epoch_with(rule, params, None, x, y, order, batch_size=7, model=model,
                                   lmbda=kw.get("lmbda"))
    if mom:
        assert_trees_close(s_c.velocity, s_ours.velocity, EPOCH_RTOL, "velocity C vs JAX")
    assert_trees_close(c, ours, EPOCH_RTOL, "C vs JAX epoch")
    net = _book(params, kw["cost"], kw["activation"])
    vel = ([np.zeros_like(w) for w in net.weights], [np.zeros_like(b) for b in net.biases])
    xs, ys = x[order], y[order]
    rk = dict(lmbda=kw.get("lmbda", 0.0), n=n, reg=kw.get("reg", "l2"))
    for k in range(0, n, 7):  # 85 full mini-batches and a last one of 5, as network2
        vel = net.update_mini_batch(xs[k:k + 7], ys[k:k + 7], kw["eta"], **rk,
                                    **(dict(momentum=kw["momentum"], velocity=vel) if mom else {}))
    book = tuple(jaxnet.Layer(w, b.ravel()) for w, b in zip(net.weights, net.biases))
    assert_trees_close(ours, book, EPOCH_RTOL, "JAX epoch vs network2")


@pytest.mark.parametrize("cost", ["cross_entropy", "log_likelihood"])
def test_saturated_outputs_give_finite_cost_and_gradient(cost):
    # z = ±800 makes the outputs exactly 0 and 1 in float64 (σ(800) == 1.0,
    # σ(−800) == 0.0, softmax([800, −800, 0]) == [1, 0, 0]); the book's formula
    # would take log(0). Our costs are computed from z: softplus(z) − y·z and
    # logsumexp(z) − z_y, whose exact values here are plain arithmetic.
    w = jnp.zeros((3, 2))
    b = jnp.array([800.0, -800.0, 0.0])
    params = (jaxnet.Layer(w, b),)
    x = np.zeros((2, 2))
    y = np.array([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0]])  # one wrong, one right
    model = jaxnet.Model.dense([2, 3], cost=cost)
    a = np.asarray(jaxnet.feedforward(params, x, model=model))
    if cost == "cross_entropy":
        assert a[0, 0] == 1.0 and a[0, 1] == 0.0
        # row 0: softplus(800) + softplus(-800) - 1*(-800) + softplus(0) = 800 + 800 + ln 2;
        # row 1: 800 - 800 + ~0 + ln 2; mean over 2 rows.
        expect = (1600 + 2 * np.log(2)) / 2
    else:
        assert a[0, 0] == 1.0 and a[0, 1] == 0.0
        expect = (1600 + 0) / 2  # logsumexp = 800; row 0: 800 − (−800); row 1: 800 − 800
    c = float(jaxnet.cost(params, x, y, model=model))
    assert np.isfinite(c) and c == pytest.approx(expect, rel=1e-12)
    for g in (jaxnet.backprop(params, x, y, model=model),
              jaxnet.autodiff_grad(params, x, y, model=model),
              cref.backprop(params, x, y, model=model)):
        gb = np.asarray(g[0].b)
        assert np.all(np.isfinite(gb))
        np.testing.assert_allclose(gb, (a - y).sum(axis=0) / 2, rtol=1e-12)


def test_network2_json_roundtrips_both_ways(tmp_path):
    params, _, _ = _net(5, sizes=(4, 3, 2))
    ours = tmp_path / "ours.json"
    jaxnet.save_network2(ours, params, cost="cross_entropy")
    net = network2.load(ours)  # the book's load
    assert net.cost is network2.CrossEntropyCost
    for (w, b), bw, bb in zip(params, net.weights, net.biases):
        np.testing.assert_array_equal(bw, w)
        np.testing.assert_array_equal(bb, np.asarray(b).reshape(-1, 1))
    theirs = tmp_path / "theirs.json"
    _book(params, "quadratic", "sigmoid").save(theirs)  # the book's save
    loaded, cost = jaxnet.load_network2(theirs)
    assert cost == "quadratic"
    for a, b in zip(loaded, params):
        np.testing.assert_array_equal(a.w, b.w)
        np.testing.assert_array_equal(a.b, b.b)


def test_network2_format_refuses_what_it_cannot_hold(tmp_path):
    params, _, _ = _net(5, sizes=(4, 3, 2))
    for kw in (dict(cost="log_likelihood"), dict(activation="relu")):
        with pytest.raises(ValueError, match="network2's format holds sigmoid networks"):
            jaxnet.save_network2(tmp_path / "x.json", params, **kw)
    assert not (tmp_path / "x.json").exists()


@pytest.mark.parametrize("mutate, match", [
    (lambda t: t[: len(t) // 2], "unreadable JSON"),
    (lambda t: "[1, 2]", "expected a JSON object"),
    (lambda t: json.dumps({k: v for k, v in json.loads(t).items() if k != "biases"}),
     r"missing keys \['biases'\]"),
    (lambda t: json.dumps(dict(json.loads(t), cost="SoftmaxCost")), "unknown cost 'SoftmaxCost'"),
    (lambda t: json.dumps(dict(json.loads(t), sizes=[4, 5, 2])), r"layer 0: shapes \(3, 4\)"),
    (lambda t: re.sub(r'("weights": \[\[\[)[^,\]]+', r"\1NaN", t, count=1), "contains NaN or Inf"),
    (lambda t: json.dumps(dict(json.loads(t), sizes=[4, "3", 2])), "bad sizes"),
    (lambda t: json.dumps(dict(json.loads(t), weights=[[["a"]], [[1]]])), "not a numeric array|shapes"),
])
def test_malformed_network2_files_are_clear_errors(tmp_path, mutate, match):
    params, _, _ = _net(5, sizes=(4, 3, 2))
    path = tmp_path / "net.json"
    jaxnet.save_network2(path, params)
    path.write_text(mutate(path.read_text()))
    with pytest.raises(ValueError, match=match):
        jaxnet.load_network2(path)


def test_save_params_records_the_model(tmp_path):
    params, _, _ = _net(6, sizes=(4, 3, 2))
    path = jaxnet.save_params(tmp_path / "p.npz", params, cost="log-likelihood", activation="relu")
    loaded, meta = jaxnet.load_params(path, with_metadata=True)
    assert (meta["cost"], meta["activation"], meta["sizes"], meta["dtype"]) == \
        ("log_likelihood", "relu", [4, 3, 2], "float64")
    for a, b in zip(loaded, params):
        np.testing.assert_array_equal(a.w, b.w)
    with pytest.raises(ValueError, match="cost: expected one of"):
        jaxnet.save_params(tmp_path / "q.npz", params, cost="hinge")


def _nan_state(p):
    return jaxnet.MomentumState(0.5, 0.5, jax.tree.map(lambda a: np.full(np.shape(a), np.nan), p))


@pytest.mark.parametrize("call, err, match", [
    (lambda p, x, y: jaxnet.Model.dense([4, 3, 2], cost="hinge"), ValueError,
     "cost: expected one of"),
    (lambda p, x, y: jaxnet.Model.dense([4, 3, 2], activation="gelu"), ValueError,
     "activation: expected"),
    (lambda p, x, y: jaxnet.Model.dense([4, 3, 2], reg="l3"), ValueError, "reg: expected"),
    (lambda p, x, y: jaxnet.backprop(p, x, y, model="quadratic"), TypeError,
     "model: expected a jaxnet.Model"),
    (lambda p, x, y: jaxnet.backprop(p, x, y, model=jaxnet.Model.dense([4, 5, 2])), ValueError,
     r"params\[0\].w: expected shape \(5, 4\) for layers\[0\]"),
    (lambda p, x, y: jaxnet.backprop(p, x, y, lmbda=1.0), ValueError, "needs n, the training-set size"),
    (lambda p, x, y: jaxnet.backprop(p, x, y, lmbda=-1.0, n=5), ValueError, "lmbda: expected a finite"),
    (lambda p, x, y: jaxnet.backprop(p, x, y, lmbda=float("nan"), n=5), ValueError, "lmbda"),
    (lambda p, x, y: jaxnet.momentum(1.0, 1.5), ValueError, r"\[0, 1\]"),
    (lambda p, x, y: jaxnet.step_with(jaxnet.momentum(1.0, 0.5), p, jaxnet.SgdState(1.0), x, y),
     TypeError, "state: expected a MomentumState"),
    (lambda p, x, y: jaxnet.step_with(jaxnet.momentum(1.0, 0.5), p,
                                      jaxnet.MomentumState(1.0, 0.5, p[:1]), x, y), ValueError,
     "velocity: expected the same structure"),
    (lambda p, x, y: jaxnet.step_with(jaxnet.momentum(1.0, 0.5), p, _nan_state(p), x, y),
     ValueError, "contains NaN"),
    (lambda p, x, y: cref.step_with(jaxnet.momentum(1.0, 0.5), p, _nan_state(p), x, y),
     ValueError, "contains NaN"),
    # a tanh output layer: not the Dense-chain kernels' (their quadratic output is sigmoid),
    # so chapter 6's network kernel takes it, which has no "reference" variant
    (lambda p, x, y: cref.sgd_step(p, x, y, 1.0, model=jaxnet.Model((4,), (jaxnet.Dense(3, "tanh"),
                                                                      jaxnet.Dense(2, "tanh"))),
                                   kernel="blas"),
     ValueError, r"kernel: expected one of \('fast', 'fast-dense', 'reference'\), "
                r"got 'blas'"),
])
def test_bad_model_arguments_are_named(call, err, match):
    params, x, y = _net(7, sizes=(4, 3, 2), batch=3)
    with pytest.raises(err, match=match):
        call(params, x, y)
