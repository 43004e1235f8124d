"""The C conv-pool layer (csrc/jaxnet_convpool.h) against jaxnet.ConvPool's forward and
hand-derived backward, float64 and float32, ties included; and its errors."""

import itertools

import jax
import numpy as np
import pytest
from conftest import assert_trees_close, rel_err

import jaxnet
from jaxnet import cref

# float64: the same sums in another order (XLA's convolutions against plain loops).
F64_RTOL = 1e-12
# float32: ~100 ulps of the sums of up to C·k² products.
F32_RTOL = 1e-5

SHAPES = [((1, 12, 12), 3, 5, 2), ((2, 9, 9), 4, 4, 3), ((3, 6, 8), 2, 3, 2),
          ((1, 28, 28), 5, 5, 2)]


def _case(shape, f, k, p, dtype, seed, ties=False):
    layer = jaxnet.ConvPool(f, k, p, "relu")
    rng = np.random.default_rng(seed)
    m = 3
    a = rng.uniform(size=(m,) + shape).astype(dtype)
    if ties:  # integer pixels and kernels: equal sums within pooling blocks
        a = rng.integers(0, 2, (m,) + shape).astype(dtype)
    params = layer.init(jax.random.split(jax.random.PRNGKey(seed)), shape, dtype, "scaled")
    if ties:
        params = jaxnet.Layer(np.ones_like(params.w), params.b)
    out = (m,) + layer.output_shape(shape)
    delta = rng.standard_normal(out).astype(dtype)
    return layer, jax.tree.map(np.asarray, params), a, delta


@pytest.mark.parametrize("case, dtype, ties", [
    (c, d, t) for c, d, t in itertools.product(SHAPES, [np.float64, np.float32], [False, True])
    if not (t and d == np.float32)])
def test_c_convpool_equals_the_jax_layer(case, dtype, ties):
    shape, f, k, p = case
    layer, params, a, delta = _case(shape, f, k, p, dtype, 7, ties)
    tol = F64_RTOL if dtype == np.float64 else F32_RTOL
    z_jax, idx_jax = layer.forward(params, a, "highest")
    z_c, idx_c = cref.convpool_forward(layer, params, a)
    np.testing.assert_array_equal(idx_c, np.asarray(idx_jax))  # the same tie rule
    assert rel_err(z_c, z_jax) <= tol
    if ties:
        assert (idx_c != 0).any() and len(np.unique(a)) == 2  # ties did occur, not first-only
    g_jax, in_jax = layer.backward(params, a, idx_jax, delta, "highest")
    g_c, in_c = cref.convpool_backward(layer, params, a, idx_c, delta)
    assert_trees_close(g_c, g_jax, tol, "C vs JAX parameter gradients")
    assert rel_err(in_c, in_jax) <= tol
    assert float(np.max(np.abs(g_c.w))) > 1e-3
    g_none, none = cref.convpool_backward(layer, params, a, idx_c, delta, input_grad=False)
    assert none is None and np.array_equal(g_none.w, g_c.w)


@pytest.mark.parametrize("call, err, match", [
    (lambda l, p, a: cref.convpool_forward(jaxnet.Dense(3), p, a), TypeError,
     "layer: expected a jaxnet.ConvPool"),
    (lambda l, p, a: cref.convpool_forward(l, p, a[0]), ValueError,
     r"a: expected shape \(m, channels, height, width\)"),
    (lambda l, p, a: cref.convpool_forward(jaxnet.ConvPool(3, 13, 2), p, a), ValueError,
     "the 13x13 kernel is larger than its 12x12 input"),
    (lambda l, p, a: cref.convpool_forward(l, (np.zeros((3, 1, 4, 5)), p.b), a), ValueError,
     r"p: expected w \(3, 1, 5, 5\)"),
    (lambda l, p, a: cref.convpool_forward(l, p, np.full_like(a, np.nan)), ValueError,
     "a: contains NaN or Inf"),
    (lambda l, p, a: cref.convpool_backward(l, p, a, np.full((3, 3, 4, 4), 7, np.int32),
                                            np.zeros((3, 3, 4, 4))), ValueError,
     r"idx: expected block indices in \[0, 4\)"),
    (lambda l, p, a: cref.convpool_backward(l, p, a, np.zeros((3, 3, 4, 3), np.int32),
                                            np.zeros((3, 3, 4, 4))), ValueError,
     r"idx: expected shape \(3, 3, 4, 4\)"),
])
def test_c_convpool_refuses_bad_arguments_by_name(call, err, match):
    layer, params, a, _ = _case((1, 12, 12), 3, 5, 2, np.float64, 1)
    with pytest.raises(err, match=match):
        call(layer, params, a)


# --- whole chapter-6 networks in C (csrc/jaxnet_net.h) -----------------------------------

C, D = jaxnet.ConvPool, jaxnet.Dense
NETS = {  # input shape, layers (log-likelihood cost); two with dropout on the Dense inputs
    "conv-fc-softmax": ((1, 12, 12), (C(3, 5, 2, "relu"), D(6, "relu"), D(3, "softmax"))),
    "two-conv-dropout": ((1, 10, 10), (C(3, 3, 2, "tanh"), C(4, 2, 1, "tanh"),
                                       D(6, "tanh", dropout=0.3), D(3, "softmax", dropout=0.2))),
    "conv-linear": ((2, 8, 8), (C(2, 3, 3, "linear"), D(4, "sigmoid", dropout=0.2),
                                D(3, "softmax"))),
}


def _net(shape, layers, dtype=np.float64, seed=0, m=5):
    model = jaxnet.Model(shape, layers, cost="log_likelihood")
    params = jaxnet.init_params(jax.random.PRNGKey(seed), model, dtype=dtype, init="scaled")
    rng = np.random.default_rng(seed)
    x = rng.uniform(size=(m, int(np.prod(shape)))).astype(dtype)
    y = np.eye(3, dtype=dtype)[rng.integers(0, 3, m)]
    masks = jaxnet.dropout_masks(jax.random.PRNGKey(seed + 1), model, m, dtype) \
        if model.has_dropout else None
    return model, params, x, y, masks


@pytest.mark.parametrize("name", list(NETS))
def test_c_network_gradient_equals_jax_and_central_differences(name):
    from jaxnet.bench import _compare
    model, params, x, y, masks = _net(*NETS[name])
    rows = _compare.model_rows(name, model, params, x, y, lmbda=0.5, n=20, masks=masks)
    pairs = {r.pair for r in rows}
    assert {"backprop vs C", "jax.grad vs C", "backprop vs central diff."} <= pairs, pairs
    assert all(r.ok for r in rows), rows
    evaluation = cref.backprop(params, x, y, model=model)   # no masks: inputs scaled by 1 - p
    assert_trees_close(evaluation, jaxnet.backprop(params, x, y, model=model), F64_RTOL, "eval")


def test_c_two_conv_network_on_real_digits(sample):
    from jaxnet._core.layerspec import parse_layers
    model = parse_layers("conv:20:5,pool:2,conv:40:5,pool:2,fc:100,softmax:10", 784,
                         activation="relu", dropout=0.5)
    for dtype, tol in ((np.float64, 1e-10), (np.float32, 1e-4)):
        params = jaxnet.init_params(jax.random.PRNGKey(2), model, dtype=dtype, init="scaled")
        x, y = sample.train.x[:10].astype(dtype), sample.train.y()[:10].astype(dtype)
        masks = jaxnet.dropout_masks(jax.random.PRNGKey(3), model, 10, dtype)
        c = cref.backprop(params, x, y, model=model, masks=masks, lmbda=0.1, n=5000)
        j = jaxnet.backprop(params, x, y, model=model, masks=masks, lmbda=0.1, n=5000)
        assert_trees_close(c, j, tol, f"two-ConvPool net, {np.dtype(dtype).name}")
        assert float(np.max(np.abs(c[0].w))) > 1e-4


# --- steps and epochs of chapter-6 networks in C ------------------------------------------

# The updates p' − p of an epoch: η times gradients that agree to F64_RTOL, each step's
# rounding feeding the next; 500 steps on real digits measured 1.2e-13 (the bar).
EPOCH_F64_RTOL = 1e-10
# float32: the same growth from ~1e-7 per step; 11 steps measured 1.5e-6.
EPOCH_F32_RTOL = 1e-4


def _assert_updates_close(c, j, p0, tol, what):
    """C and JAX moved every parameter by the same amount (and by something)."""
    moved_c = jax.tree.map(lambda a, p: np.asarray(a) - np.asarray(p), c, p0)
    moved_j = jax.tree.map(lambda a, p: np.asarray(a) - np.asarray(p), j, p0)
    assert_trees_close(moved_c, moved_j, tol, what)
    assert min(float(np.max(np.abs(m))) for m in jax.tree.leaves(moved_j)) > 0, what


@pytest.mark.parametrize("name", list(NETS))
@pytest.mark.parametrize("rule", [jaxnet.sgd(0.5), jaxnet.momentum(0.5, 0.7)], ids=str)
def test_c_network_step_equals_the_jax_step(name, rule):
    model, params, x, y, _ = _net(*NETS[name])
    key = jax.random.PRNGKey(5) if model.has_dropout else None
    state = rule.init(params)
    if isinstance(state, jaxnet.MomentumState):  # a non-zero velocity, so μ·v counts
        state = state._replace(velocity=jax.tree.map(lambda v: v + 0.01, state.velocity))
    kw = dict(model=model, lmbda=0.5, n=20, key=key)
    c, c_state = cref.step_with(rule, params, state, x, y, **kw)
    j, j_state = jaxnet.step_with(rule, params, state, x, y, **kw)
    _assert_updates_close(c, j, params, F64_RTOL, f"{name} step")
    if isinstance(state, jaxnet.MomentumState):
        assert_trees_close(c_state.velocity, j_state.velocity, F64_RTOL, "velocity")
    masks = jaxnet.dropout_masks(key, model, x.shape[0], np.float64) if key is not None \
        else None
    by_masks = cref.sgd_step(params, x, y, 0.5, model=model, lmbda=0.5, n=20, masks=masks)
    assert_trees_close(by_masks, jaxnet.sgd_step(params, x, y, 0.5, model=model, lmbda=0.5,
                                                 n=20, key=key), F64_RTOL, "masks= vs key=")


def test_c_epoch_of_a_two_conv_network_on_real_digits(sample):
    """An epoch of network3's two-ConvPool ReLU net over the shipped sample's 5,000 real
    training digits (batch 10, shuffled, L2): C = JAX to 1e-10 in float64."""
    from jaxnet._core.layerspec import parse_layers
    model = parse_layers("conv:20:5,pool:2,conv:40:5,pool:2,fc:100,softmax:10", 784,
                         activation="relu")
    params = jaxnet.init_params(jax.random.PRNGKey(0), model, dtype=np.float64,
                                init="network3")
    x, y = sample.train.x, sample.train.y().astype(np.float64)
    order = np.random.default_rng(0).permutation(len(y))
    kw = dict(eta=0.03, batch_size=10, model=model, x_scale=1 / 255, lmbda=0.1)
    c = cref.train_epoch(params, x, y, order, **kw)
    j = jaxnet.train_epoch(params, x, y, order, **kw)
    _assert_updates_close(c, j, params, EPOCH_F64_RTOL, "two-ConvPool epoch, float64")


@pytest.mark.parametrize("dtype, tol", [(np.float64, EPOCH_F64_RTOL),
                                        (np.float32, EPOCH_F32_RTOL)])
def test_c_epoch_with_dropout_draws_the_jax_masks(dtype, tol):
    """Dropout masks from the key as the JAX epoch draws them (fold_in per step, the
    smaller last mini-batch included), momentum, λ/n with network3's n."""
    model, params, x, y, _ = _net(*NETS["two-conv-dropout"], dtype=dtype, m=53)
    order = np.random.default_rng(1).permutation(53)
    rule, key = jaxnet.momentum(0.3, 0.5), jax.random.PRNGKey(9)
    c, cs = cref.train_epoch_with(rule, params, None, x, y, order, batch_size=5, model=model,
                                  lmbda=0.5, key=key)
    j, js = jaxnet.train_epoch_with(rule, params, None, x, y, order, batch_size=5,
                                    model=model, lmbda=0.5, key=key)
    _assert_updates_close(c, j, params, tol, f"dropout epoch, {np.dtype(dtype).name}")
    other = cref.train_epoch_with(rule, params, None, x, y, order, batch_size=5, model=model,
                                  lmbda=0.5, key=jax.random.PRNGKey(10))[0]
    assert rel_err(other[-1].w, c[-1].w) > 100 * tol  # the key matters: masks were used


def test_fit_with_the_c_epoch_trains_a_conv_network(sample):
    """fit(impl="c") runs network3's loop in C (fixed order, λ per mini-batch) and follows
    the JAX loop's trajectory."""
    from jaxnet._core.layerspec import parse_layers
    model = parse_layers("conv:4:5,pool:2,fc:20,softmax:10", 784, activation="relu",
                         dropout=0.2)
    params = jaxnet.init_params(jax.random.PRNGKey(1), model, dtype=np.float64,
                                init="network3")
    x, labels = sample.train.x[:400], sample.train.labels[:400]
    kw = dict(epochs=2, eta=0.1, batch_size=10, model=model, x_scale=1 / 255, lmbda=0.1,
              shuffle=False, n="batches", eval_data=(x, labels))
    c = jaxnet.fit(jax.random.PRNGKey(3), params, x, labels, impl="c", **kw)
    j = jaxnet.fit(jax.random.PRNGKey(3), params, x, labels, **kw)
    _assert_updates_close(c.params, j.params, params, EPOCH_F64_RTOL, "fit impl='c'")
    assert [r.correct for r in c.history] == [r.correct for r in j.history]


@pytest.mark.parametrize("kw, err, match", [
    (dict(kernel="slow"), ValueError, "kernel: expected one of"),
    (dict(key=None), ValueError, "key: the model has dropout"),
    (dict(order=np.arange(1, 54)), ValueError, "order"),
    (dict(batch_size=0), ValueError, "batch_size"),
])
def test_c_epoch_refuses_bad_arguments_by_name(kw, err, match):
    model, params, x, y, _ = _net(*NETS["two-conv-dropout"], m=53)
    args = dict(order=np.arange(53), batch_size=5, key=jax.random.PRNGKey(0))
    args.update(kw)
    order = args.pop("order")
    with pytest.raises(err, match=match):
        cref.train_epoch_with(jaxnet.sgd(0.1), params, None, x, y, order, model=model,
                              **args)


def test_c_step_needs_n_with_lmbda_as_the_jax_step():
    model, params, x, y, _ = _net(*NETS["conv-fc-softmax"])
    for step in (cref.sgd_step, jaxnet.sgd_step):
        with pytest.raises(ValueError, match="n: regularisation"):
            step(params, x, y, 0.1, model=model, lmbda=0.5)


def test_dense_models_the_dense_kernels_refuse_run_on_the_network_kernel():
    """A tanh output layer under the quadratic cost (the Dense-chain kernels' output is
    sigmoid) and mixed hidden activations: chapter 6's network kernel steps them."""
    model = jaxnet.Model((6,), (D(5, "relu"), D(4, "tanh"), D(3, "tanh")))
    assert cref.uses_network_kernel(model)
    params = jaxnet.init_params(jax.random.PRNGKey(3), model, dtype=np.float64, init="scaled")
    rng = np.random.default_rng(3)
    x, y = rng.uniform(size=(7, 6)), rng.uniform(-0.5, 0.5, size=(7, 3))
    c = cref.sgd_step(params, x, y, 0.5, model=model)
    _assert_updates_close(c, jaxnet.sgd_step(params, x, y, 0.5, model=model), params, F64_RTOL,
                          "tanh output, mixed activations")


def test_bad_masks_are_refused_by_name_in_jax_and_c():
    model, params, x, y, masks = _net(*NETS["two-conv-dropout"])
    short = (None, None, masks[2][:-1], masks[3])          # one row too few for layers[2]
    stray = (np.ones((5, 3, 4, 4)),) + tuple(masks[1:])     # a mask for a layer without dropout
    for bad, match in ((short, r"masks\[2\]: expected a 0/1 array of shape \(5,"),
                       (stray, r"masks\[0\]: layers\[0\] has no dropout")):
        for call in (jaxnet.backprop, cref.backprop):
            with pytest.raises(ValueError, match=match):
                call(params, x, y, model=model, masks=bad)
        with pytest.raises(ValueError, match=match):
            cref.train_epoch_with(jaxnet.sgd(0.1), params, None, x, y, np.arange(5),
                                  batch_size=5, model=model, masks=bad)
