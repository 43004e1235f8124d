"""One vocabulary: the JAX functions and their C twins take the same words for the same
things (``n`` for λ/n's n, ``key``/``masks`` for dropout, ``kernel`` for the C
sub-paths, ``impl`` only for the JAX side's choice of implementation: fit's, and the
epochs' fused Pallas kernel), and each new word means what it says in both."""

import inspect

import jax
import numpy as np
import pytest
from conftest import assert_trees_close

import jaxnet
from jaxnet import cref

# float64, one step or a 40-example epoch: C and XLA sum in different orders (~1e-15
# a step); a wrong λ/n or a wrong mask is off by ≥ 1e-4.
RTOL = 1e-10
TWINS = ["feedforward", "backprop", "backprop_trace", "sgd_step", "step_with", "train_epoch",
         "train_epoch_with"]
# Words only the JAX side has: what to differentiate with, progress callbacks, a mesh,
# and the implementation (the epochs' impl="pallas").
JAX_ONLY = {"grad", "progress", "mesh", "impl"}
# Words only the C side has: which C kernel, and its threads.
C_ONLY = {"kernel", "threads"}


@pytest.mark.parametrize("name", TWINS)
def test_the_twins_take_the_same_arguments(name):
    jp = inspect.signature(getattr(jaxnet, name)).parameters
    cp = inspect.signature(getattr(cref, name)).parameters
    assert [p for p in jp if p not in JAX_ONLY] == [p for p in cp if p not in C_ONLY], name
    assert "impl" not in cp                      # impl: fit's choice of implementation only


def _dropout_problem():
    model = jaxnet.Model((1, 8, 8), (jaxnet.ConvPool(2, 3, 2, "relu"),
                                     jaxnet.Dense(5, "softmax", dropout=0.5)),
                         cost="log_likelihood")
    params = jaxnet.init_params(jax.random.PRNGKey(0), model, dtype=np.float64)
    rng = np.random.default_rng(0)
    x, y = rng.random((6, 64)), np.eye(5)[rng.integers(0, 5, 6)]
    return model, params, x, y


def test_the_masks_are_the_documented_draw_of_each_layers_input_shape():
    """dropout_masks draws flat and reshapes (a 4-D draw compiles ~9x slower on XLA:CPU);
    its bits must be those of the definition its docstring gives: layer l's
    ``bernoulli(fold_in(key, l), 1 - p, (m, *input shape))``."""
    model = jaxnet.Model((1, 8, 8), (jaxnet.ConvPool(3, 3, 2, "relu"),
                                     jaxnet.Dense(7, "relu", dropout=0.25),
                                     jaxnet.Dense(5, "softmax", dropout=0.5)),
                         cost="log_likelihood")
    key = jax.random.PRNGKey(11)
    masks = jaxnet.dropout_masks(key, model, 6, np.float64)
    assert masks[0] is None
    for l, shape in ((1, (6, 3, 3, 3)), (2, (6, 7))):
        want = jax.random.bernoulli(jax.random.fold_in(key, l), 1 - model.layers[l].dropout,
                                    shape)
        assert masks[l].shape == shape and masks[l].dtype == np.float64
        assert np.array_equal(masks[l], np.asarray(want, np.float64)), l
        assert 0 < masks[l].mean() < 1                   # a draw, not a constant


def test_a_step_with_masks_is_the_step_with_the_key_that_draws_them():
    model, params, x, y = _dropout_problem()
    key = jax.random.PRNGKey(4)
    masks = jaxnet.dropout_masks(key, model, 6, np.float64)
    by_key = jaxnet.sgd_step(params, x, y, 0.5, model=model, key=key)
    by_masks = jaxnet.sgd_step(params, x, y, 0.5, model=model, masks=masks)
    assert all(np.array_equal(a, b) for a, b in zip(jax.tree.leaves(by_key),
                                                    jax.tree.leaves(by_masks)))
    other = jaxnet.sgd_step(params, x, y, 0.5, model=model, key=jax.random.PRNGKey(5))
    assert not np.array_equal(other[1].w, by_key[1].w)    # the masks matter
    assert_trees_close(cref.sgd_step(params, x, y, 0.5, model=model, masks=masks), by_masks,
                       RTOL, "C step with the same masks")


def test_n_is_lambda_over_n_in_every_epoch():
    """``n`` divides λ: (λ, n) trains as (λ·N/n, N), in JAX and in C."""
    params = jaxnet.init_params(jax.random.PRNGKey(1), [12, 6, 3], dtype=np.float64)
    rng = np.random.default_rng(1)
    x, y = rng.random((40, 12)), np.eye(3)[rng.integers(0, 3, 40)]
    order = rng.permutation(40)
    kw = dict(eta=0.5, batch_size=8)
    four = jaxnet.train_epoch(params, x, y, order, lmbda=2.0, n=4, **kw)
    scaled = jaxnet.train_epoch(params, x, y, order, lmbda=2.0 * 40 / 4, **kw)
    plain = jaxnet.train_epoch(params, x, y, order, lmbda=2.0, **kw)
    assert_trees_close(four, scaled, RTOL, "λ=2, n=4 vs λ=20, n=N")
    assert not np.allclose(four[0].w, plain[0].w, rtol=1e-6)   # n changed something
    assert_trees_close(cref.train_epoch(params, x, y, order, lmbda=2.0, n=4, **kw), four,
                       RTOL, "C, λ=2, n=4")


def test_an_epoch_with_masks_is_the_epoch_with_the_key_that_draws_them():
    """``masks`` by position (what cref's epochs take) trains as the ``key`` that draws
    them, in JAX and in C; other masks train differently."""
    from jaxnet.cref._masks import epoch_masks
    model, params, _, _ = _dropout_problem()
    rng = np.random.default_rng(2)
    x, y = rng.random((23, 64)), np.eye(5)[rng.integers(0, 5, 23)]
    order, key = rng.permutation(23), jax.random.PRNGKey(8)
    kw = dict(eta=0.5, batch_size=5, model=model)          # 4 full mini-batches and 3 rows
    masks = epoch_masks(model, key, 23, 5, np.float64)
    by_key = jaxnet.train_epoch(params, x, y, order, key=key, **kw)
    by_masks = jaxnet.train_epoch(params, x, y, order, masks=masks, **kw)
    assert_trees_close(by_masks, by_key, RTOL, "JAX epoch: masks vs the key that drew them")
    assert_trees_close(cref.train_epoch(params, x, y, order, masks=masks, **kw), by_key, RTOL,
                       "C epoch with the same masks")
    flipped = tuple(None if k is None else 1 - k for k in masks)
    other = jaxnet.train_epoch(params, x, y, order, masks=flipped, **kw)
    assert not np.allclose(other[1].w, by_key[1].w, rtol=1e-6)


def _fit_problem():
    params = jaxnet.init_params(jax.random.PRNGKey(2), [12, 6, 3], dtype=np.float64)
    rng = np.random.default_rng(3)
    x, labels = rng.random((50, 12)), rng.integers(0, 3, 50)
    return params, x, labels, dict(epochs=2, batch_size=10)


def test_fit_takes_the_rule_itself():
    """``rule=`` is what ``eta``/``momentum`` abbreviate; an optax rule trains too."""
    optax = pytest.importorskip("optax")
    params, x, labels, kw = _fit_problem()
    key = jax.random.PRNGKey(0)
    short = jaxnet.fit(key, params, x, labels, eta=0.5, momentum=0.9, **kw)
    ruled = jaxnet.fit(key, params, x, labels, rule=jaxnet.momentum(0.5, 0.9), **kw)
    assert_trees_close(ruled.params, short.params, 0.0, "rule= vs eta/momentum")
    assert [r.eta for r in ruled.history] == [0.5, 0.5]
    plain = jaxnet.fit(key, params, x, labels, eta=0.5, **kw)
    by_optax = jaxnet.fit(key, params, x, labels, rule=optax.sgd(0.5), **kw)
    assert_trees_close(by_optax.params, plain.params, RTOL, "optax.sgd vs jaxnet.sgd")
    assert np.isnan(by_optax.history[0].eta)
    assert not np.allclose(by_optax.params[0].w, params[0].w)


@pytest.mark.parametrize("extra, err, match", [
    (dict(rule="sgd"), TypeError, "expected an update rule"),
    (dict(rule=jaxnet.sgd(0.5), momentum=0.9), ValueError, "momentum: give rule="),
    (dict(schedule=2, eval_data="ev"), ValueError, "rule: schedule halves a jaxnet rule"),
    (dict(checkpoint="ck.npz"), ValueError, "rule: checkpoint saves a jaxnet rule"),
    (dict(impl="c"), TypeError, "rule: the C kernel implements jaxnet.sgd and jaxnet.momentum"),
])
def test_fit_refuses_a_rule_it_cannot_run_by_name(extra, err, match, tmp_path):
    optax = pytest.importorskip("optax")
    params, x, labels, kw = _fit_problem()
    extra = {"rule": optax.sgd(0.5), **extra}
    if extra.get("eval_data") == "ev":
        extra["eval_data"] = (x, labels)
    if "checkpoint" in extra:
        extra["checkpoint"] = tmp_path / extra["checkpoint"]
    with pytest.raises(err, match=match):
        jaxnet.fit(jax.random.PRNGKey(0), params, x, labels, **kw, **extra)


def test_fit_spells_lambdas_n_as_n():
    """fit and fit_population take ``n`` as the epochs do: (λ, n) trains as (λ·N/n, N);
    ``"batches"`` is network3's count; anything else is refused by name."""
    params, x, labels, kw = _fit_problem()
    key = jax.random.PRNGKey(1)
    five = jaxnet.fit(key, params, x, labels, lmbda=1.0, n=5, eta=0.5, **kw)
    batches = jaxnet.fit(key, params, x, labels, lmbda=1.0, n="batches", eta=0.5, **kw)
    scaled = jaxnet.fit(key, params, x, labels, lmbda=10.0, eta=0.5, **kw)
    assert_trees_close(five.params, scaled.params, RTOL, "fit: λ=1, n=5 vs λ=10, n=N=50")
    assert_trees_close(batches.params, five.params, 0.0, "n='batches' is N // batch_size = 5")
    for bad in (0, "examples", 2.5, True):
        with pytest.raises(ValueError, match="n: expected None"):
            jaxnet.fit(key, params, x, labels, lmbda=1.0, n=bad, **kw)
    keys = jax.random.split(jax.random.PRNGKey(3), 2)
    pop = jaxnet.init_population(keys, jaxnet.Model.dense([12, 6, 3]), dtype=np.float64)
    with pytest.raises(ValueError, match="n: expected None"):
        jaxnet.fit_population(keys, pop, x, labels, eta=[0.5, 0.5], lmbda=1.0, n=-1, **kw)
