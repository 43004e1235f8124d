"""The model value and the layer protocol: a layer kind defined here alone gets the
backprop-vs-jax.grad cross-check (and central differences) for free; models are
checked once, when made, with errors that name the layer and the sizes; new η, λ,
μ and orders never recompile."""

from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import count_compiles

import jaxnet
from jaxnet import cref
from jaxnet.bench import _compare


@dataclass(frozen=True)
class Scale:
    """A test-only layer kind: ``Z = A ⊙ w + b`` elementwise, ``w, b (n,)``, with its own
    hand-derived backward. Nothing in jaxnet knows it."""

    activation: str = "tanh"

    def output_shape(self, in_shape):
        return in_shape

    def param_shapes(self, in_shape):
        return jaxnet.Layer(w=in_shape, b=in_shape)

    def init(self, keys, in_shape, dtype, scheme):
        return jaxnet.Layer(1 + 0.5 * jax.random.normal(keys[0], in_shape, dtype),
                            jax.random.normal(keys[1], in_shape, dtype))

    def forward(self, p, a, precision):
        return a * p.w[None] + p.b[None], None

    def backward(self, p, a, saved, delta, precision, input_grad=True):
        grads = jaxnet.Layer(jnp.sum(delta * a, axis=0), jnp.sum(delta, axis=0))
        return grads, (delta * p.w[None] if input_grad else None)


@dataclass(frozen=True)
class BrokenScale(Scale):
    """The same layer with a wrong backward (∂C/∂A forgets the factor w)."""

    def backward(self, p, a, saved, delta, precision, input_grad=True):
        grads, _ = super().backward(p, a, saved, delta, precision, input_grad)
        return grads, (delta if input_grad else None)


def _model(kind=Scale, cost="cross_entropy", reg="l2"):
    return jaxnet.Model((6,), (jaxnet.Dense(5, "tanh"), kind("sigmoid"), jaxnet.Dense(3)),
                        cost=cost, reg=reg)


def _batch(model, seed=0, m=7):
    rng = np.random.default_rng(seed)
    params = jaxnet.init_params(jax.random.PRNGKey(seed), model, dtype=np.float64)
    return params, rng.uniform(size=(m, 6)), np.eye(3)[rng.integers(0, 3, m)]


@pytest.mark.parametrize("cost, reg", [("cross_entropy", "l2"), ("quadratic", "l1")])
def test_a_new_layer_kind_gets_the_cross_check_for_free(cost, reg):
    model = _model(cost=cost, reg=reg)
    params, x, y = _batch(model)
    rows = _compare.model_rows("Scale", model, params, x, y, lmbda=2.0, n=50)
    pairs = [r.pair for r in rows]
    assert "backprop vs jax.grad" in pairs and "backprop vs central diff." in pairs, pairs
    assert all(r.ok for r in rows), rows
    assert not any("C" in p for p in pairs)  # the C kernel takes Dense chains only: left out
    g = jaxnet.backprop(params, x, y, model=model)
    assert float(jnp.max(jnp.abs(g[1].w))) > 1e-3  # the new layer's gradient is not vacuous


def test_the_cross_check_catches_a_wrong_backward():
    model = _model(BrokenScale)
    params, x, y = _batch(model)
    bad = [r for r in _compare.model_rows("broken", model, params, x, y) if not r.ok]
    assert bad and all(r.where.endswith("[0]") for r in bad), bad  # below the broken layer


def test_a_new_layer_kind_trains_and_the_c_kernel_refuses_it(sample):
    model = jaxnet.Model((784,), (jaxnet.Dense(30), Scale("sigmoid"), jaxnet.Dense(10)))
    params = jaxnet.init_params(jax.random.PRNGKey(0), model)
    res = jaxnet.fit(jax.random.PRNGKey(1), params, sample.train.images, sample.train.labels,
                     model=model, epochs=2, eta=3.0, x_scale=1 / 256,
                     eval_data=(sample.test.images, sample.test.labels))
    assert res.history[-1].correct > 700  # of 1000; chance is 100
    with pytest.raises(ValueError, match="the C kernel implements Dense and ConvPool layers"):
        cref.backprop(params, sample.train.x[:5], sample.train.y()[:5], model=model)


@pytest.mark.parametrize("make, err, match", [
    (lambda: jaxnet.Model((784,), ()), ValueError, "layers: expected at least one layer"),
    (lambda: jaxnet.Model((784,), (jaxnet.Dense(10, "softmax"),)), ValueError,
     "the quadratic cost needs a sigmoid or tanh or relu or linear output layer, got softmax"),
    (lambda: jaxnet.Model((784,), (jaxnet.Dense(30, "softmax"), jaxnet.Dense(10))), ValueError,
     r"layers\[0\] Dense\(n_out=30, activation='softmax', dropout=0.0\): a hidden layer's "
     r"activation"),
    (lambda: jaxnet.Model((784,), (jaxnet.Dense(10),), cost="log_likelihood"), ValueError,
     "the log_likelihood cost needs a softmax output layer"),
    (lambda: jaxnet.Model((784,), ("dense",)), TypeError, r"layers\[0\]: str is not a layer kind"),
    (lambda: jaxnet.Model((0,), (jaxnet.Dense(10),)), ValueError, r"input_shape\[0\]"),
    (lambda: jaxnet.Dense(0), ValueError, "Dense.n_out: expected a positive int, got 0"),
    (lambda: jaxnet.Dense(10, "gelu"), ValueError, "Dense.activation: expected one of"),
])
def test_bad_models_are_refused_when_made(make, err, match):
    with pytest.raises(err, match=match):
        make()


def test_params_are_checked_against_the_model():
    model = jaxnet.Model.dense([6, 5, 3])
    params, x, y = _batch(_model())
    with pytest.raises(ValueError, match=r"params: expected 2 layers \(one per model layer\), got 3"):
        jaxnet.backprop(params, x, y, model=model)


def test_the_model_is_one_hashable_value():
    a = jaxnet.Model.dense([784, 30, 10], cost="cross-entropy")
    b = jaxnet.Model((784,), (jaxnet.Dense(30), jaxnet.Dense(10)), cost="cross_entropy")
    assert a == b and hash(a) == hash(b) and a.sizes == (784, 30, 10)
    assert a != a.replace(precision="default")
    assert a.describe()["layers"][0] == dict(kind="Dense", n_out=30, activation="sigmoid",
                                             dropout=0.0)


def test_new_eta_lambda_mu_and_orders_never_recompile(sample):
    model = jaxnet.Model.dense([784, 20, 10], cost="cross_entropy")
    params = jaxnet.init_params(jax.random.PRNGKey(0), model)
    x, y = sample.train.images[:200], sample.train.y()[:200]
    rng = np.random.default_rng(0)

    def epoch(eta, mu, lmbda):
        return jaxnet.train_epoch_with(jaxnet.momentum(eta, mu), params, None, x, y,
                                       rng.permutation(200), batch_size=10, x_scale=1 / 256,
                                       model=model, lmbda=lmbda)
    epoch(0.5, 0.5, 1.0)  # compiles
    jaxnet.train_epoch(params, x, y, rng.permutation(200), eta=0.5, batch_size=10,
                       x_scale=1 / 256, model=model, lmbda=1.0)
    with count_compiles() as n:
        for eta, mu, lmbda in ((0.1, 0.9, 5.0), (3.0, 0.0, 0.5), (0.01, 0.3, 2.0)):
            epoch(eta, mu, lmbda)
            jaxnet.train_epoch(params, x, y, rng.permutation(200), eta=eta, batch_size=10,
                               x_scale=1 / 256, model=model, lmbda=lmbda)
    assert n[0] == 0, f"{n[0]} recompilations for new values"


# w / sqrt(fan) (the library) against w * fan**-0.5 (here): a rounding or two apart.
SCALE_RTOL = 1e-15


@pytest.mark.parametrize("init, scale", [("large", lambda f, c, k: 1.0),
                                         ("scaled", lambda f, c, k: (c * k * k) ** -0.5)])
def test_a_convpools_weights_are_the_documented_4d_draw(init, scale):
    """ConvPool.init draws its weights flat and reshapes (a 4-D draw compiles several times
    slower on XLA:CPU); the numbers must be the docstring's: ``N(0, 1)`` drawn as
    ``normal(keys[2l], (filters, C, k, k))`` from ``split(key, 2L)``, then scaled."""
    model = jaxnet.Model((2, 9, 9), (jaxnet.ConvPool(3, 4, 2, "relu"),
                                     jaxnet.ConvPool(5, 2, 1, "tanh"),
                                     jaxnet.Dense(4, "softmax")), cost="log_likelihood")
    key = jax.random.PRNGKey(21)
    params = jaxnet.init_params(key, model, dtype=np.float64, init=init)
    keys = jax.random.split(key, 2 * len(model.layers))
    for l, (f, c, k) in enumerate([(3, 2, 4), (5, 3, 2)]):
        want = jax.random.normal(keys[2 * l], (f, c, k, k), np.float64) * scale(f, c, k)
        np.testing.assert_allclose(params[l].w, want, rtol=SCALE_RTOL, atol=0)
        assert np.std(params[l].w) > 0.1 * scale(f, c, k)      # a draw, not zeros
