"""sgd_step, train_epoch and fit against the book's per-example SGD."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from book import network
from conftest import assert_trees_close, count_compiles, rel_err

import jaxnet

# One step: the update p − η·g adds one rounding to the gradient's ~1e-13.
STEP_RTOL = 1e-12
# A whole epoch of n steps: each step's 1e-13-level differences are carried
# forward through a map whose Jacobian is I − η·H (H ≤ O(1) for sigmoid nets),
# so after ~50 steps they stay below ~50 × 1e-13 ≈ 1e-11 (relative).
EPOCH_RTOL = 1e-10


def _book_layers(weights, biases):
    return tuple(jaxnet.Layer(w, b.ravel()) for w, b in zip(weights, biases))


@pytest.fixture(scope="module")
def small(sample):
    """784-30-10 in float64 and 103 real MNIST examples (103 = 10·10 + 3: a remainder)."""
    params = jaxnet.init_params(jax.random.PRNGKey(1), [784, 30, 10], dtype=jnp.float64)
    x = sample.train.x[:103].astype(np.float64)
    y = sample.train.y()[:103].astype(np.float64)
    return params, x, y


def test_sgd_step_equals_books_update_mini_batch(small):
    params, x, y = small
    for eta in (3.0, 0.5):
        expected = _book_layers(*network.update_mini_batch(*network.to_book(params), x[:10], y[:10], eta))
        new = jaxnet.sgd_step(params, x[:10], y[:10], eta)
        assert_trees_close(new, expected, STEP_RTOL, f"eta {eta}")
        # the step really moved the parameters
        assert rel_err(new[0].w, params[0].w) > 1e-6


def test_sgd_step_with_autodiff_equals_backprop(small):
    params, x, y = small
    assert_trees_close(jaxnet.sgd_step(params, x[:10], y[:10], 3.0, grad="autodiff"),
                       jaxnet.sgd_step(params, x[:10], y[:10], 3.0), STEP_RTOL)


@pytest.mark.parametrize("batch_size", [10, 7, 103, 1])
def test_train_epoch_equals_books_sgd_epoch(small, batch_size):
    params, x, y = small
    order = np.random.default_rng(batch_size).permutation(len(x))
    expected = _book_layers(*network.sgd_epoch(*network.to_book(params), x, y, order, 3.0, batch_size))
    got = jaxnet.train_epoch(params, x, y, order, eta=3.0, batch_size=batch_size)
    assert_trees_close(got, expected, EPOCH_RTOL, f"batch {batch_size}")
    assert rel_err(got[1].w, params[1].w) > 1e-3


def test_train_epoch_on_uint8_pixels_equals_float_inputs(sample):
    params = jaxnet.init_params(jax.random.PRNGKey(2), [784, 30, 10], dtype=jnp.float64)
    images, y = sample.train.images[:95], sample.train.y()[:95].astype(np.float64)
    order = np.random.default_rng(0).permutation(95)
    from_u8 = jaxnet.train_epoch(params, images, y, order, eta=3.0, batch_size=10, x_scale=1 / 256)
    from_f = jaxnet.train_epoch(params, images / 256.0, y, order, eta=3.0, batch_size=10)
    assert_trees_close(from_u8, from_f, STEP_RTOL)


def test_train_epoch_with_autodiff_follows_the_same_trajectory(small):
    params, x, y = small
    order = np.arange(len(x))[::-1].copy()
    a = jaxnet.train_epoch(params, x, y, order, eta=3.0, batch_size=10)
    b = jaxnet.train_epoch(params, x, y, order, eta=3.0, batch_size=10, grad="autodiff")
    assert_trees_close(a, b, EPOCH_RTOL)


def test_train_epoch_does_not_recompile(small):
    params, x, y = small
    rng = np.random.default_rng(0)
    params = jaxnet.train_epoch(params, x, y, rng.permutation(103), eta=3.0, batch_size=10)
    with count_compiles() as n:
        for eta in (3.0, 1.0):  # new orders, new η, new parameter values
            params = jaxnet.train_epoch(params, x, y, rng.permutation(103), eta=eta, batch_size=10)
        jax.block_until_ready(params)
    assert n[0] == 0, f"{n[0]} recompilations"
    # sanity: the counter does see a compile (a new batch size is a new program)
    with count_compiles() as n:
        jaxnet.train_epoch(params, x, y, rng.permutation(103), eta=3.0, batch_size=11)
    assert n[0] >= 1


def test_train_epoch_is_jittable_and_pure(small):
    params, x, y = small
    order = jnp.arange(103)
    f = jax.jit(lambda p, o: jaxnet.train_epoch(p, x, y, o, eta=3.0, batch_size=10))
    assert_trees_close(f(params, order),
                       jaxnet.train_epoch(params, x, y, order, eta=3.0, batch_size=10), 0.0)
    # the input parameters were not modified
    assert_trees_close(params, jaxnet.init_params(jax.random.PRNGKey(1), [784, 30, 10],
                                                  dtype=jnp.float64), 0.0)


def test_evaluate_counts_argmax_matches():
    # Two outputs; w picks input 0 for class 0 and input 1 for class 1 (large gain).
    params = (jaxnet.Layer(jnp.array([[10.0, 0.0], [0.0, 10.0]]), jnp.zeros(2)),)
    x = jnp.array([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0], [0.2, 0.9]])
    assert int(jaxnet.evaluate(params, x, jnp.array([0, 1, 1, 1]))) == 3
    assert int(jaxnet.evaluate(params, x, jnp.array([1, 0, 0, 0]))) == 1


def test_fit_is_reproducible_and_learns(sample):
    params = jaxnet.init_params(jax.random.PRNGKey(0), [784, 30, 10])
    runs = [jaxnet.fit(jax.random.PRNGKey(3), params, sample.train.images, sample.train.labels,
                       epochs=3, eta=3.0, batch_size=10, x_scale=1 / 256,
                       eval_data=(sample.test.images, sample.test.labels)) for _ in range(2)]
    assert [r.correct for r in runs[0].history] == [r.correct for r in runs[1].history]
    assert_trees_close(runs[0].params, runs[1].params, 0.0)
    hist = runs[0].history
    assert [r.epoch for r in hist] == [0, 1, 2] and all(r.total == 1000 for r in hist)
    # 5000 real digits, 3 epochs: far above chance (100 / 1000)
    assert hist[-1].correct > 600, hist


def test_fit_epoch_replays_with_train_epoch(sample):
    """fit's epoch e uses order = permutation(split(key_e)[1], N), key_{e+1} = split(key_e)[0]."""
    images, labels = sample.train.images[:200], sample.train.labels[:200]
    params = jaxnet.init_params(jax.random.PRNGKey(0), [784, 30, 10], dtype=jnp.float64)
    key = jax.random.PRNGKey(9)
    got = jaxnet.fit(key, params, images, labels, epochs=2, eta=3.0, batch_size=10,
                     x_scale=1 / 256).params
    y = np.eye(10)[labels]
    p = params
    for _ in range(2):
        key, sub = jax.random.split(key)
        p = jaxnet.train_epoch(p, images, y, jax.random.permutation(sub, 200), eta=3.0,
                               batch_size=10, x_scale=1 / 256)
    assert_trees_close(got, p, EPOCH_RTOL)


# --- chapter 3 in the fit loop ----------------------------------------------------------

def test_fit_with_momentum_and_l2_replays_with_train_epoch(sample):
    images, labels = sample.train.images[:200], sample.train.labels[:200]
    params = jaxnet.init_params(jax.random.PRNGKey(0), [784, 30, 10], dtype=jnp.float64,
                                init="scaled")
    model = jaxnet.Model.dense([784, 30, 10], cost="cross_entropy")
    key = jax.random.PRNGKey(9)
    res = jaxnet.fit(key, params, images, labels, epochs=2, batch_size=10, x_scale=1 / 256,
                     model=model, eta=0.5, lmbda=5.0, momentum=0.6)
    y = np.eye(10)[labels]
    p, state, rule = params, None, jaxnet.momentum(0.5, 0.6)
    for _ in range(2):
        key, sub = jax.random.split(key)
        p, state = jaxnet.train_epoch_with(rule, p, state, images, y,
                                           jax.random.permutation(sub, 200), batch_size=10,
                                           x_scale=1 / 256, model=model, lmbda=5.0)
    v = state.velocity
    assert_trees_close(res.params, p, EPOCH_RTOL, "params")
    assert_trees_close(res.velocity, v, EPOCH_RTOL, "velocity")
    assert rel_err(v[0].w, np.zeros_like(v[0].w)) > 0  # the velocity is carried, not reset


def test_fit_monitors_network2s_four_quantities(sample):
    tr, ev = sample.train, sample.validation
    params = jaxnet.init_params(jax.random.PRNGKey(0), [784, 30, 10], dtype=jnp.float64)
    kw = dict(model=jaxnet.Model.dense([784, 30, 10], cost="cross_entropy"), lmbda=5.0)
    res = jaxnet.fit(jax.random.PRNGKey(1), params, tr.images, tr.labels, epochs=2, eta=0.5,
                     batch_size=10, x_scale=1 / 256, eval_data=(ev.images, ev.labels),
                     monitor=jaxnet.MONITORS, **kw)
    r = res.history[-1]
    p = res.params
    n = len(tr.labels)
    # Independently: the cost over each whole set with λ/n over the training set's size.
    assert r.eval_cost == pytest.approx(float(jaxnet.cost(p, ev.x.astype(np.float64), ev.y().astype(np.float64),
                                                          n=n, **kw)), rel=1e-12)
    assert r.train_cost == pytest.approx(float(jaxnet.cost(p, tr.x.astype(np.float64), tr.y().astype(np.float64),
                                                           n=n, **kw)), rel=1e-12)
    assert r.correct == int(jaxnet.evaluate(p, ev.x, ev.labels))
    assert r.train_correct == int(jaxnet.evaluate(p, tr.x, tr.labels)) and r.train_total == n
    # network2 would divide λ by the validation set's size (1000): a different number.
    wrong = float(jaxnet.cost(p, ev.x.astype(np.float64), ev.y().astype(np.float64), n=1000, **kw))
    assert r.eval_cost != pytest.approx(wrong, rel=1e-3)


def test_early_stopping_and_the_learning_rate_schedule():
    # η so small that the parameters cannot change in float64 (η·∇ far below an
    # ulp of w): the evaluation accuracy never improves after epoch 0.
    rng = np.random.default_rng(0)
    x = rng.uniform(size=(40, 5))
    labels = rng.integers(0, 3, 40)
    params = tuple(jaxnet.Layer(rng.standard_normal((o, i)) + 4.0, rng.standard_normal(o) + 4.0)
                   for i, o in ((5, 4), (4, 3)))
    common = dict(eta=1e-30, batch_size=8, eval_data=(x, labels))
    res = jaxnet.fit(jax.random.PRNGKey(0), params, x, labels, epochs=50, early_stop=3, **common)
    assert len(res.history) == 4 and "early stop" in res.stopped  # epoch 0 best, then 3 without
    with count_compiles() as n_compiles:
        res = jaxnet.fit(jax.random.PRNGKey(0), params, x, labels, epochs=50, schedule=2, **common)
    # epochs 0..2 at η, then η/2 for two epochs, ..., η/128 for two, then stop:
    # 1 + 2 + 7·2 = 17 epochs; halving η never recompiles (η is traced).
    etas = [r.eta for r in res.history]
    assert etas == [1e-30] * 3 + [1e-30 / 2 ** k for k in range(1, 8) for _ in range(2)], etas
    assert "eta/128" in res.stopped
    assert n_compiles[0] <= 3  # the epoch program and the evaluation, compiled once up front


@pytest.mark.parametrize("kw, match", [
    (dict(early_stop=2), "early_stop watches the evaluation accuracy"),
    (dict(schedule=0, eval_data="set below"), "schedule: expected a positive int"),
    (dict(monitor=("eval_cost",)), "eval_accuracy and eval_cost need eval_data"),
    (dict(monitor=("test_cost",)), "monitor: expected names from"),
    (dict(momentum=2.0), r"momentum: expected a number in \[0, 1\]"),
    (dict(lmbda=-1.0), "lmbda: expected a finite number >= 0"),
])
def test_fit_rejects_bad_chapter3_arguments(kw, match):
    rng = np.random.default_rng(0)
    x, labels = rng.uniform(size=(20, 5)), rng.integers(0, 3, 20)
    params = jaxnet.init_params(jax.random.PRNGKey(0), [5, 4, 3], dtype=jnp.float64)
    if kw.get("eval_data") == "set below":
        kw = dict(kw, eval_data=(x, labels))
    with pytest.raises(ValueError, match=match):
        jaxnet.fit(jax.random.PRNGKey(0), params, x, labels, epochs=1, eta=1.0, batch_size=5, **kw)
