"""Chapter 5 ("Why are deep neural networks hard to train?"), checked small.

benchmarks/learning_speed.py's speed of learning, ‖∂C/∂b^l‖ per hidden layer, at
initialisation and after full-batch steps, against an independent NumPy computation
(the book's network2 transcription, one example at a time); and book_tables.py's
four chapter-5 rows with the book's figures.
"""

import jax
import numpy as np
import pytest
from book import network2

import jaxnet
from jaxnet import data

SIZES = [784, 8, 7, 6, 10]   # three hidden layers, small
N = 40


@pytest.fixture(scope="module")
def sample():
    d = data.load_sample()
    x = np.asarray(d.train.images[:N], np.float64) * data.PIXEL_SCALE
    return x, data.one_hot(d.train.labels[:N], dtype=np.float64)


def _book_speeds(net, x, y):
    """‖mean over the examples of network2's nabla_b^l‖ for each hidden layer."""
    sums = [np.zeros(b.shape) for b in net.biases]
    for xi, yi in zip(x, y):
        nabla_b, _ = net.backprop(xi.reshape(-1, 1), yi.reshape(-1, 1))
        sums = [s + g for s, g in zip(sums, nabla_b)]
    return [float(np.linalg.norm(s / len(x))) for s in sums[:-1]]


def test_learning_speeds_match_network2(sample):
    import learning_speed
    x, y = sample
    key = jax.random.PRNGKey(7)
    got = learning_speed.speeds_during_training(key, SIZES, x, y, epochs=3, dtype="float64")
    model = jaxnet.Model.dense(SIZES, cost="cross_entropy")
    params = jaxnet.init_params(key, model, init="scaled", dtype="float64")
    net = network2.Network([np.asarray(p.w) for p in params], [np.asarray(p.b) for p in params],
                           cost="cross_entropy")
    assert len(got) == 4 and all(len(s) == len(SIZES) - 2 for s in got)
    for epoch, speeds in enumerate(got):
        want = _book_speeds(net, x, y)
        np.testing.assert_allclose(speeds, want, rtol=1e-10, err_msg=f"epoch {epoch}")
        # one full-batch step, network2's: η = 0.1, λ = 5.0 over n = N
        net.update_mini_batch(x, y, learning_speed.ETA, lmbda=learning_speed.LMBDA, n=N)
    assert got[0][0] < got[0][-1]   # the earliest hidden layer learns slowest, as in the book
    assert got[1] != got[0]          # and the steps did move the parameters


def test_hidden_speeds_is_the_bias_gradient(sample):
    import learning_speed
    x, y = sample
    model = jaxnet.Model.dense(SIZES, cost="cross_entropy")
    params = jaxnet.init_params(jax.random.PRNGKey(1), model, init="scaled", dtype="float64")
    grads = jaxnet.autodiff_grad(params, x, y, model=model)
    want = [float(np.linalg.norm(np.asarray(g[1]))) for g in grads[:-1]]
    np.testing.assert_allclose(learning_speed.hidden_speeds(params, x, y, model), want,
                               rtol=1e-10)


def test_book_tables_knows_chapter_5():
    import book_tables
    book = {"ch5-30": 96.48, "ch5-30-30": 96.90, "ch5-30-30-30": 96.57,
            "ch5-30-30-30-30": 96.53}
    for name, figure in book.items():
        sizes, kw, init, split, got, _ = book_tables.CONFIGS[name]
        hidden = name.count("30")
        assert sizes == [784] + [30] * hidden + [10]
        assert got == figure and split == "validation" and init == "scaled"
        assert kw == dict(epochs=30, eta=0.1, cost="cross_entropy", lmbda=5.0)
