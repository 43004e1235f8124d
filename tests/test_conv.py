"""Chapter 6: network3's ConvPool layer and dropout, checked against jax.grad, central
differences, a NumPy transcription of network3's forward pass (plain loops, below)
and a golden state of every z, a and δ on real digits."""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import assert_trees_close, rel_err

import jaxnet
from jaxnet._core.network import unchecked_backprop_trace as backprop_trace
from jaxnet.bench import _compare

# float64, the same sums in another order (XLA's convolutions against its products).
F64_RTOL = 1e-12
# A gradient below this would make a comparison near-vacuous.
MIN_GRAD = 1e-4

# Every pair of the three factors, not every triple (a 2-way covering design): each first
# layer with each activation, and each of those with and without dropout. A fault only a
# triple shows would need the first layer's shape, its activation and the masks to
# interact, and the masks act on the Dense layers only. The full product compiled 24 nets
# (~150 s of the suite's CPU); these are 12.
_FIRSTS = [(2, 3, 2), (3, 5, 2), (4, 3, 3)]     # filters, kernel, pool of the first ConvPool
_ACTS = ["sigmoid", "tanh", "relu", "linear"]
CONFIGS = [(first, act, bool((i + j) % 2))      # dropout masks on the Dense layers
           for (i, first), (j, act) in itertools.product(enumerate(_FIRSTS), enumerate(_ACTS))]


def _net(first, act, dropout, seed=0, m=4, side=14):
    f, k, p = first
    h = (side - k + 1) // p
    layers = [jaxnet.ConvPool(f, k, p, act)]
    if h >= 4:  # a second ConvPool where it fits: channels f → 3
        layers.append(jaxnet.ConvPool(3, 2 if (h - 1) % 2 == 0 else 3, 1 if h < 6 else 2, act))
    layers += [jaxnet.Dense(6, act, dropout=0.3 if dropout else 0.0),
               jaxnet.Dense(3, "softmax", dropout=0.2 if dropout else 0.0)]
    model = jaxnet.Model((1, side, side), tuple(layers), cost="log_likelihood")
    params = jaxnet.init_params(jax.random.PRNGKey(seed), model, dtype=np.float64, init="scaled")
    rng = np.random.default_rng(seed)
    x = rng.uniform(size=(m, side * side))
    y = np.eye(3)[rng.integers(0, 3, m)]
    masks = jaxnet.dropout_masks(jax.random.PRNGKey(seed + 1), model, m, np.float64) \
        if dropout else None
    return model, params, x, y, masks


@pytest.mark.parametrize("first, act, dropout", CONFIGS,
                         ids=[f"{a}x{b}p{c}-{act}-{'drop' if d else 'nodrop'}"
                              for (a, b, c), act, d in CONFIGS])
def test_conv_backprop_equals_jax_grad(first, act, dropout):
    model, params, x, y, masks = _net(first, act, dropout)
    manual = jaxnet.backprop(params, x, y, model=model, masks=masks, lmbda=0.5, n=40)
    assert min(float(jnp.max(jnp.abs(g.w))) for g in manual) > MIN_GRAD, "a vacuous layer"
    auto = jaxnet.autodiff_grad(params, x, y, model=model, masks=masks, lmbda=0.5, n=40)
    assert_trees_close(manual, auto, F64_RTOL, f"{model}")


@pytest.mark.parametrize("act", ["sigmoid", "relu"])
def test_conv_backprop_matches_central_differences(act):
    model = jaxnet.Model((2, 6, 6), (jaxnet.ConvPool(2, 3, 2, act), jaxnet.Dense(3, "sigmoid")),
                         cost="cross_entropy")
    params = jaxnet.init_params(jax.random.PRNGKey(3), model, dtype=np.float64)
    rng = np.random.default_rng(3)
    x, y = rng.uniform(size=(3, 72)), np.eye(3)[[0, 2, 1]]
    rows = _compare.model_rows("conv", model, params, x, y, lmbda=1.0, n=10)
    assert all(r.ok for r in rows) and any("central" in r.pair for r in rows), rows
    g = jaxnet.backprop(params, x, y, model=model)
    assert float(jnp.max(jnp.abs(g[0].w))) > MIN_GRAD


def test_a_tie_in_max_pooling_goes_to_the_first_maximum():
    # One 1x4x4 input, a 1x1 kernel of weight 1: the conv output is the input, and the
    # top-left 2x2 block holds its maximum 0.9 twice (row-major: (0,1) first, then (1,0)).
    img = np.array([[0.1, 0.9, 0.2, 0.3],
                    [0.9, 0.5, 0.4, 0.8],
                    [0.0, 0.1, 0.7, 0.7],
                    [0.2, 0.3, 0.7, 0.6]])
    layer = jaxnet.ConvPool(1, 1, 2, "linear")
    model = jaxnet.Model((1, 4, 4), (layer, jaxnet.Dense(1, "linear")))
    params = (jaxnet.Layer(np.ones((1, 1, 1, 1)), np.zeros(1)),
              jaxnet.Layer(np.array([[1.0, 2.0, 3.0, 4.0]]), np.zeros(1)))
    x, y = img.reshape(1, 16), np.zeros((1, 1))
    t = jax.jit(backprop_trace, static_argnames="model")(params, x, y, model=model)
    np.testing.assert_array_equal(np.asarray(t["z"][0]).ravel(), [0.9, 0.8, 0.3, 0.7])
    # ∂C/∂(input) of the first layer is δ routed: C = ½(Σ_j w_j z_j)², δ_j = (Σ w z)·w_j
    out = float(np.dot([1, 2, 3, 4], [0.9, 0.8, 0.3, 0.7]))
    expected = np.zeros((4, 4))
    for (r, c), wj in zip([(0, 1), (1, 3), (3, 1), (2, 2)], [1, 2, 3, 4]):
        expected[r, c] = out * wj    # (2,2) and (2,3), (3,2) tie at 0.7: the first, (2,2)
    for grad in (jaxnet.backprop, jaxnet.autodiff_grad):
        g = grad(params, x, y, model=model)
        np.testing.assert_allclose(float(g[0].w[0, 0, 0, 0]), float((expected * img).sum()),
                                   rtol=F64_RTOL)
    auto_in = jax.grad(lambda xx: jaxnet._core.network.unchecked_cost(params, xx, y, model=model))(x)
    np.testing.assert_allclose(np.asarray(auto_in).reshape(4, 4), expected, rtol=F64_RTOL)


# --- network3's forward pass, transcribed with plain loops ------------------------------

def _sigmoid(z):
    return 1 / (1 + np.exp(-z))


def network3_forward(x_img, layers):
    """network3.py's feedforward for one image ``(C, H, W)``: ConvPoolLayer is
    ``act(max_pool_2d(conv2d(x, w)) + b)``, FullyConnectedLayer ``act(x·W + b)``,
    SoftmaxLayer ``softmax(x·W + b)`` (no dropout at evaluation here: p = 0).
    Convolution without flipping (see jaxnet._core.convpool). Returns every z and a."""
    a, zs, acts = x_img, [], [x_img]
    for kind, w, b, extra in layers:
        if kind == "convpool":
            pool = extra
            f_n, c_n, k, _ = w.shape
            ho, wo = a.shape[1] - k + 1, a.shape[2] - k + 1
            conv = np.zeros((f_n, ho, wo))
            for f in range(f_n):
                for yy in range(ho):
                    for xx in range(wo):
                        s = 0.0
                        for c in range(c_n):
                            for i in range(k):
                                for j in range(k):
                                    s += a[c, yy + i, xx + j] * w[f, c, i, j]
                        conv[f, yy, xx] = s
            z = np.zeros((f_n, ho // pool, wo // pool))
            for f in range(f_n):
                for yy in range(ho // pool):
                    for xx in range(wo // pool):
                        z[f, yy, xx] = conv[f, yy * pool:(yy + 1) * pool,
                                            xx * pool:(xx + 1) * pool].max() + b[f]
            a = _sigmoid(z)
        else:
            flat = a.reshape(-1)
            z = np.array([sum(flat[i] * w[j, i] for i in range(flat.size)) + b[j]
                          for j in range(w.shape[0])])
            a = np.exp(z - z.max()) / np.exp(z - z.max()).sum() if kind == "softmax" \
                else _sigmoid(z)
        zs.append(z)
        acts.append(a)
    return zs, acts


def test_forward_pass_matches_a_numpy_transcription_of_network3(sample):
    model = jaxnet.Model((1, 28, 28), (jaxnet.ConvPool(2, 5, 2), jaxnet.ConvPool(3, 5, 2),
                                       jaxnet.Dense(10, "softmax")), cost="log_likelihood")
    params = jaxnet.init_params(jax.random.PRNGKey(6), model, dtype=np.float64, init="scaled")
    x = sample.train.x[:3].astype(np.float64)
    t = jax.jit(backprop_trace, static_argnames="model")(params, x, sample.train.y()[:3], model=model)
    spec = [("convpool", np.asarray(params[0].w), np.asarray(params[0].b), 2),
            ("convpool", np.asarray(params[1].w), np.asarray(params[1].b), 2),
            ("softmax", np.asarray(params[2].w), np.asarray(params[2].b), None)]
    for n in range(3):
        zs, acts = network3_forward(x[n].reshape(1, 28, 28), spec)
        for l in range(3):
            assert rel_err(np.asarray(t["z"][l][n]), zs[l]) <= F64_RTOL, (n, l)
            assert rel_err(np.asarray(t["a"][l + 1][n]), acts[l + 1]) <= F64_RTOL, (n, l)


def test_every_delta_matches_the_golden_state_from_perturbed_weighted_inputs(sample):
    # The book's δ^l = ∂C/∂z^l, measured without any BP equation: add e^l to each
    # z^l of the forward pass and take jax.grad with respect to e at e = 0.
    model = jaxnet.Model((1, 28, 28), (jaxnet.ConvPool(3, 5, 2, "relu"),
                                       jaxnet.Dense(12, "tanh"), jaxnet.Dense(10, "softmax")),
                         cost="log_likelihood")
    params = jaxnet.init_params(jax.random.PRNGKey(8), model, dtype=np.float64, init="scaled")
    x, y = sample.train.x[:4].astype(np.float64), sample.train.y()[:4].astype(np.float64)

    def cost_perturbed(eps):
        a = x.reshape(4, 1, 28, 28)
        for layer, p, e in zip(model.layers, params, eps):
            z, _ = layer.forward(p, a, "highest")
            z = z + e
            a = jax.nn.relu(z) if layer.activation == "relu" else (
                jnp.tanh(z) if layer.activation == "tanh" else jax.nn.softmax(z, axis=-1))
        return -jnp.sum(y * jnp.log(a)) / 4

    golden = jax.grad(cost_perturbed)([jnp.zeros((4,) + s) for s in model.shapes[1:]])
    t = jax.jit(backprop_trace, static_argnames="model")(params, x, y, model=model)
    for l, (got, want) in enumerate(zip(t["delta"], golden)):
        assert float(jnp.max(jnp.abs(want))) > MIN_GRAD, f"δ{l + 1} ~ 0: a vacuous check"
        assert rel_err(got, want) <= F64_RTOL, f"δ{l + 1}: BP1 (l = 3) or BP2 through the pool"


def test_dropout_with_masks_of_ones_is_no_dropout_in_the_gradient():
    model, params, x, y, _ = _net((3, 5, 2), "relu", True)
    plain = jaxnet.Model(model.input_shape, tuple(
        jaxnet.Dense(l.n_out, l.activation) if isinstance(l, jaxnet.Dense) else l
        for l in model.layers), cost=model.cost)
    ones = tuple(None if k is None else np.ones_like(k) for k in
                 jaxnet.dropout_masks(jax.random.PRNGKey(0), model, 4, np.float64))
    a = jaxnet.backprop(params, x, y, model=model, masks=ones)
    b = jaxnet.backprop(params, x, y, model=plain)
    assert_trees_close(a, b, 0.0, "masks of ones vs no dropout")


def test_dropout_zero_trains_exactly_as_no_dropout(sample):
    common = (jaxnet.ConvPool(4, 5, 2, "relu"),)
    zero = jaxnet.Model((1, 28, 28), common + (jaxnet.Dense(10, "softmax", dropout=0.0),),
                        cost="log_likelihood")
    none = jaxnet.Model((1, 28, 28), common + (jaxnet.Dense(10, "softmax"),),
                        cost="log_likelihood")
    assert zero == none and not zero.has_dropout  # p = 0 is no dropout, by construction
    drop = zero.replace(layers=common + (jaxnet.Dense(10, "softmax", dropout=0.5),))
    params = jaxnet.init_params(jax.random.PRNGKey(0), drop, init="scaled")
    x, y, order = sample.train.images[:100], sample.train.y()[:100], np.arange(100)
    with pytest.raises(ValueError, match="the model has dropout; pass key="):
        jaxnet.train_epoch(params, x, y, order, eta=0.1, batch_size=10, x_scale=1 / 256,
                           model=drop)
    k = jax.random.PRNGKey(5)
    a = jaxnet.train_epoch(params, x, y, order, eta=0.1, batch_size=10, x_scale=1 / 256,
                           model=drop, key=k)
    b = jaxnet.train_epoch(params, x, y, order, eta=0.1, batch_size=10, x_scale=1 / 256,
                           model=drop, key=k)
    c = jaxnet.train_epoch(params, x, y, order, eta=0.1, batch_size=10, x_scale=1 / 256,
                           model=drop, key=jax.random.PRNGKey(6))
    assert_trees_close(a, b, 0.0, "the same key, the same masks")
    assert rel_err(c[1].w, a[1].w) > 1e-6  # another key, other masks


@pytest.mark.parametrize("make, match", [
    (lambda: jaxnet.Model((1, 4, 4), (jaxnet.ConvPool(2, 5), jaxnet.Dense(3))),
     r"layers\[0\] ConvPool\(filters=2, kernel=5, pool=2, .*\) on input \(1, 4, 4\): the 5x5 "
     r"kernel is larger than its 4x4 input"),
    (lambda: jaxnet.Model((1, 28, 28), (jaxnet.ConvPool(2, 4, 2), jaxnet.Dense(3))),
     r"layers\[0\] .* the 2x2 pool does not divide the 25x25 convolution output"),
    (lambda: jaxnet.Model((784,), (jaxnet.ConvPool(2, 5), jaxnet.Dense(3))),
     r"on input \(784,\): expected an input of feature maps \(channels, height, width\)"),
    (lambda: jaxnet.ConvPool(0, 5), "ConvPool.filters: expected a positive int, got 0"),
    (lambda: jaxnet.Dense(3, dropout=1.0), r"Dense.dropout: expected a probability in \[0, 1\)"),
])
def test_bad_conv_specs_are_refused_before_anything_compiles(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_channels_that_do_not_match_name_the_layer():
    model = jaxnet.Model((1, 12, 12), (jaxnet.ConvPool(3, 5, 2), jaxnet.ConvPool(4, 3, 2),
                                       jaxnet.Dense(2)))
    params = list(jaxnet.init_params(jax.random.PRNGKey(0), model))
    params[1] = jaxnet.Layer(np.zeros((4, 2, 3, 3), np.float32), params[1].b)  # 2 channels, not 3
    with pytest.raises(ValueError, match=r"params\[1\].w: expected shape \(4, 3, 3, 3\) for "
                                         r"layers\[1\] ConvPool.* on input \(3, 4, 4\)"):
        jaxnet.feedforward(params, np.zeros((1, 144), np.float32), model=model)


def test_a_short_conv_training_learns_on_the_sample(sample):
    # One epoch of a small ConvPool net on the shipped 5,000 digits: well above chance.
    model = jaxnet.Model((1, 28, 28), (jaxnet.ConvPool(8, 5, 2, "relu"),
                                       jaxnet.Dense(10, "softmax")), cost="log_likelihood")
    params = jaxnet.init_params(jax.random.PRNGKey(0), model, init="network3")
    res = jaxnet.fit(jax.random.PRNGKey(1), params, sample.train.images, sample.train.labels,
                     model=model, epochs=1, eta=0.1, batch_size=10, x_scale=1 / 256,
                     eval_data=(sample.validation.images, sample.validation.labels))
    assert res.history[-1].correct >= 900, res.history  # of 1000; chance is 100


def test_network3s_loop_fixed_order_batch_penalty_and_best_validation_test(sample):
    # shuffle=False: the data's own order every epoch, so the keys do not matter;
    # n="batches": network3's ½·λ·Σw² / (N // batch_size).
    model = jaxnet.Model((1, 28, 28), (jaxnet.ConvPool(4, 5, 2, "relu"),
                                       jaxnet.Dense(10, "softmax")), cost="log_likelihood")
    params = jaxnet.init_params(jax.random.PRNGKey(0), model, init="network3", dtype=np.float64)
    x, labels = sample.train.images[:200], sample.train.labels[:200]
    kw = dict(model=model, epochs=3, eta=0.1, batch_size=10, x_scale=1 / 256, lmbda=0.1,
              shuffle=False, n="batches",
              eval_data=(sample.validation.images[:300], sample.validation.labels[:300]),
              test_data=(sample.test.images[:300], sample.test.labels[:300]))
    a = jaxnet.fit(jax.random.PRNGKey(1), params, x, labels, **kw)
    b = jaxnet.fit(jax.random.PRNGKey(2), params, x, labels, **kw)
    assert_trees_close(a.params, b.params, 0.0, "no shuffle: the key does not matter")
    p = params
    for _ in range(3):  # the same by hand: λ/n with n = 200 // 10 = 20 batches
        p = jaxnet.train_epoch(p, x, np.eye(10)[labels], np.arange(200), eta=0.1,
                               batch_size=10, x_scale=1 / 256, model=model, lmbda=0.1 * 200 / 20)
    assert_trees_close(a.params, p, 1e-12, "network3's λ normalisation")
    best = -1
    for r in a.history:
        assert (r.test_correct is not None) == (r.correct > best), r
        best = max(best, r.correct)
    one = jaxnet.fit(jax.random.PRNGKey(1), params, x, labels, **dict(kw, epochs=1))
    assert a.history[0].test_correct == int(jaxnet.evaluate(  # epoch 0 is always a new best
        one.params, sample.test.images[:300], sample.test.labels[:300], model=model,
        x_scale=1 / 256)) and a.history[0].test_total == 300


def test_an_ensemble_of_conv_nets_votes(sample):
    model = jaxnet.Model((1, 28, 28), (jaxnet.ConvPool(4, 5, 2, "relu"),
                                       jaxnet.Dense(10, "softmax")), cost="log_likelihood")
    keys = jax.random.split(jax.random.PRNGKey(0), 3)
    pop = jaxnet.init_population(keys, model, init="scaled")
    x, labels = sample.train.images[:1000], sample.train.labels[:1000]
    res = jaxnet.fit_population(keys, pop, x, labels, model=model, epochs=1, eta=0.1,
                                x_scale=1 / 256)
    tx, tl = sample.test.images, sample.test.labels
    votes = int(jaxnet.evaluate_ensemble(res.params, tx, tl, model=model, x_scale=1 / 256))
    # the vote, independently: each member's argmax, then the most frequent class
    preds = np.stack([np.argmax(np.asarray(jaxnet.feedforward(
        jax.tree.map(lambda a, i=i: a[i], res.params), tx.astype(np.float32) / 256, model=model)),
        axis=1) for i in range(3)])
    winner = np.array([np.bincount(preds[:, j], minlength=10).argmax() for j in range(len(tl))])
    assert votes == int(np.sum(winner == tl)) and votes > 700


def test_the_compiled_epoch_computes_every_convolution_as_a_matrix_product():
    """A structural guard, not a timing: on XLA's CPU backend the layer's products as
    convolutions (or as dots over several axes) ran at a quarter of the matmul peak,
    as 2-D products at near peak (benchmarks/conv_forms.py). The compiled epoch must
    hold no convolution, and every product — 2 forward, 2 weight gradients, 1 input
    gradient's patches, and the Dense layer's 3 — must be a dot of matrices."""
    import re

    from jaxnet.train import _epoch
    if jax.default_backend() != "cpu":
        pytest.skip("a property of XLA's CPU backend; GPUs call their own matmul kernels")
    model = jaxnet.Model((1, 12, 12), (jaxnet.ConvPool(3, 3, 2, "relu"),
                                       jaxnet.ConvPool(4, 3, 1, "relu"),
                                       jaxnet.Dense(3, "softmax")), cost="log_likelihood")
    params = jaxnet.init_params(jax.random.PRNGKey(0), model, init="scaled")
    rule = jaxnet.sgd(0.1)
    x, y = jnp.zeros((20, 144)), jnp.zeros((20, 3))
    text = _epoch.epoch.lower(params, rule.init(params), x, y, jnp.arange(20), None, None,
                              model=model, rule=rule, grad="backprop",
                              batch_size=5).compile().as_text()
    assert "convolution(" not in text
    shapes = re.findall(r"= f32\[([\d,]*)\]\S* dot\(", text)
    assert len(shapes) == 8, shapes
    assert all(s.count(",") == 1 for s in shapes), shapes
