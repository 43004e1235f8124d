"""Plots (matplotlib, the plot extra) and optax interoperability (the optax extra).

Both extras are part of the test extra, so these tests run on every CI run.
"""

import struct
import subprocess
import sys
import tempfile

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from conftest import assert_trees_close

import jaxnet
from jaxnet import plot

# optax.sgd computes p + (−η·g), ours p − η·g: the same IEEE operations, but
# XLA may fuse differently inside the two programs; 1e-15 is a few ulps.
SGD_RTOL = 1e-15


def _png_size(path):
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    assert data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def test_plot_history_writes_the_books_learning_curves(sample, tmp_path):
    params = jaxnet.init_params(jax.random.PRNGKey(0), [784, 10, 10])
    res = jaxnet.fit(jax.random.PRNGKey(1), params, sample.train.images[:500],
                     sample.train.labels[:500], epochs=2, eta=3.0, batch_size=10,
                     x_scale=1 / 256, eval_data=(sample.test.images, sample.test.labels),
                     monitor=jaxnet.MONITORS)
    out = plot.plot_history(res.history, tmp_path / "curves.png", title="test")
    assert _png_size(out) == (plot.WIDTH_PX, plot.HEIGHT_PX)
    pop = plot.plot_population(np.array([[500, 600, 700], [650, 700, 720]]), 1000,
                               tmp_path / "spread.png")
    assert _png_size(pop) == (plot.WIDTH_PX, plot.HEIGHT_PX)
    with pytest.raises(ValueError, match="nothing to plot"):
        plot.plot_history([], tmp_path / "empty.png")
    assert not (tmp_path / "empty.png").exists()


def test_without_matplotlib_the_message_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # makes `import matplotlib` fail
    with pytest.raises(ImportError, match=r"pip install matplotlib \(or, in jaxnet's source folder, pip install '\.\[plot\]'\)"):
        plot.pyplot()


def test_train_plot_flag_writes_a_png(tmp_path):
    out = tmp_path / "c.png"
    r = subprocess.run([sys.executable, "-m", "jaxnet", "train", "--data", "sample", "--epochs",
                        "1", "--sizes", "784,10,10", "--plot", str(out)], capture_output=True,
                       text=True, timeout=600, cwd=tempfile.gettempdir())
    assert r.returncode == 0, r.stderr
    assert _png_size(out) == (plot.WIDTH_PX, plot.HEIGHT_PX)


def test_optax_sgd_reproduces_our_sgd_trajectory(sample):
    n = 403  # 40 mini-batches of 10 and a last one of 3
    images, y = sample.train.images[:n], sample.train.y()[:n].astype(np.float64)
    order = np.random.default_rng(0).permutation(n)
    params = jaxnet.init_params(jax.random.PRNGKey(2), [784, 30, 10], dtype=jnp.float64)
    ours = jaxnet.train_epoch(params, images, y, order, eta=3.0, batch_size=10, x_scale=1 / 256)
    opt = optax.sgd(3.0)
    theirs, _ = jaxnet.train_epoch_with(opt, params, opt.init(params), images, y, order,
                                        batch_size=10, x_scale=1 / 256)
    assert_trees_close(theirs, ours, SGD_RTOL, "optax.sgd epoch")
    # and by hand, outside any jaxnet loop: our gradient, optax's update
    p, s = params, opt.init(params)
    xb, yb = images[order[:10]] / 256.0, y[order[:10]]
    updates, s = opt.update(jaxnet.backprop(p, xb, yb), s, p)
    assert_trees_close(optax.apply_updates(p, updates), jaxnet.sgd_step(params, xb, yb, 3.0),
                       SGD_RTOL, "one optax step")


def test_adam_through_train_epoch_with_learns(sample):
    params = jaxnet.init_params(jax.random.PRNGKey(3), [784, 30, 10], init="scaled")
    opt = optax.adam(1e-3)
    state = opt.init(params)
    order = np.random.default_rng(1).permutation(len(sample.train))
    model = jaxnet.Model.dense([784, 30, 10], cost="cross_entropy")
    before = int(jaxnet.evaluate(params, sample.test.x, sample.test.labels, model=model))
    # optax's bias correction computes decay ** int32 count, which the suite's strict
    # dtype promotion (conftest) refuses; users run with JAX's standard promotion.
    with jax.numpy_dtype_promotion("standard"):
        params, state = jaxnet.train_epoch_with(opt, params, state, sample.train.images,
                                                sample.train.y(), order, batch_size=10,
                                                x_scale=1 / 256, model=model)
    after = int(jaxnet.evaluate(params, sample.test.x, sample.test.labels, model=model))
    assert int(state[0].count) == 500  # one Adam step per mini-batch
    assert after > 600 and after > before + 300, (before, after)  # chance: 100
    with pytest.raises(TypeError, match="optimizer: expected an update rule"):
        jaxnet.train_epoch_with(object(), params, state, sample.train.images, sample.train.y(),
                                order, batch_size=10, x_scale=1 / 256)
