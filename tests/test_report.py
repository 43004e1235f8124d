"""``jaxnet train --report DIR``: the numbers (one pure function), the files, what every
picture drew (panels.json: no empty panel, chapter 5's speed of learning per hidden
layer and epoch), and the page as a real headless browser renders it."""

import json
import os
import re
import shutil
import subprocess
import sys

import jax
import numpy as np
import pytest

import jaxnet
from jaxnet import data
from jaxnet.cli import _report, main

pytest.importorskip("matplotlib", reason="the report needs the plot extra (matplotlib)")

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
RUN = ("train", "--data", "sample", "--epochs", "1", "--progress", "never",
       "--compile-cache", "none")
CHROMIUM = "/usr/bin/chromium"
#: The report's run: two hidden layers (two speed-of-learning lines), two epochs.
SIZES, EPOCHS = "784,30,16,10", 2


def require_browser() -> bool:
    """CI sets JAXNET_REQUIRE_BROWSER=1 (it installs Debian's chromium)."""
    return os.environ.get("JAXNET_REQUIRE_BROWSER") == "1"


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One tiny run with --report and --save: (folder, params); 2 hidden layers, 2 epochs."""
    folder = tmp_path_factory.mktemp("report")
    net = folder.parent / "net.npz"
    assert main([*RUN, "--sizes", SIZES, "--epochs", str(EPOCHS), "--report",
                 str(folder / "out"), "--save", str(net)]) == 0
    return folder / "out", jaxnet.load_params(net)


def test_the_confusion_matrix_counts_the_split_and_its_diagonal_is_evaluates(trained, sample):
    _, params = trained
    test = sample.test
    c = _report.classify(params, test.images, test.labels, model=None,
                         x_scale=data.PIXEL_SCALE)
    assert c.confusion.shape == (10, 10) and c.confusion.dtype == np.int64
    assert c.confusion.sum() == len(test) == 1000
    correct = int(jaxnet.evaluate(params, test.images, test.labels, x_scale=data.PIXEL_SCALE))
    assert int(np.trace(c.confusion)) == c.correct == correct
    assert 0 < correct < 1000   # neither vacuous nor perfect: there are mistakes to draw
    # rows are the true labels, columns the predictions
    np.testing.assert_array_equal(c.confusion.sum(axis=1), np.bincount(test.labels, minlength=10))
    np.testing.assert_array_equal(c.confusion.sum(axis=0), np.bincount(c.predicted, minlength=10))


@pytest.mark.parametrize("limit", [5, _report.MAX_MISTAKES, 10_000])
def test_the_misclassified_are_exactly_the_mistakes_capped(trained, sample, limit):
    _, params = trained
    test = sample.test
    c = _report.classify(params, test.images, test.labels, model=None,
                         x_scale=data.PIXEL_SCALE, limit=limit)
    assert len(c.wrong) == min(len(test) - c.correct, limit) > 0
    assert np.all(c.predicted[c.wrong] != test.labels[c.wrong])
    assert np.all(np.diff(c.wrong) > 0)   # the split's order, no repeats
    if limit >= len(test):   # uncapped: every mistake, and nothing else
        np.testing.assert_array_equal(c.wrong, np.flatnonzero(c.predicted != test.labels))


def _pngs(html: str) -> list:
    return re.findall(r'<img src="([^"]+)"', html)


def test_every_file_is_written_and_the_page_shows_every_picture(trained):
    folder, _ = trained
    assert sorted(p.name for p in folder.iterdir()) == sorted([*_report.FILES, _report.MARKER])
    for name in _report.FILES:
        if name.endswith(".png"):
            assert (folder / name).read_bytes()[:8] == PNG_MAGIC, name
    html = (folder / "index.html").read_text()
    assert sorted(_pngs(html)) == sorted(n for n in _report.FILES if n.endswith(".png"))
    assert "http://" not in html and "https://" not in html   # self-contained
    assert "784-30-16-10" in html and "/ 1000" in html        # configuration and results
    assert "w − w_init" in html and "speed of learning" in html


def test_a_convpool_report_draws_its_filters(tmp_path):
    out = tmp_path / "conv"
    assert main([*RUN, "--layers", "conv:4:5,pool:2,softmax:10", "--report", str(out)]) == 0
    assert (out / "first-layer.png").read_bytes()[:8] == PNG_MAGIC
    model = jaxnet.parse_layers("conv:4:5,pool:2,softmax:10", 784)
    params = jaxnet.init_params(jax.random.PRNGKey(0), model)
    images, title = _report.first_layer_images(model, params)
    assert images.shape == (4, 5, 5) and "5×5 filters" in title


def test_the_page_loads_every_image_in_a_headless_browser(trained, tmp_path):
    if shutil.which(CHROMIUM) is None:
        if require_browser():
            pytest.fail(f"{CHROMIUM} missing but JAXNET_REQUIRE_BROWSER=1")
        pytest.skip("Debian's chromium is not installed (CI installs it): the report's page "
                    "is not rendered")
    folder, _ = trained
    html = (folder / "index.html").read_text()
    shown = len(_pngs(html))
    dom = subprocess.run([CHROMIUM, "--headless", "--disable-gpu", "--no-sandbox",
                          f"--user-data-dir={tmp_path / 'profile'}", "--virtual-time-budget=5000",
                          "--dump-dom", (folder / "index.html").as_uri()],
                         capture_output=True, text=True, timeout=120, cwd=tmp_path).stdout
    loaded = re.search(r'data-images-loaded="(\d+)"', dom)
    assert loaded, f"the page's load handler did not run; DOM starts {dom[:300]!r}"
    assert int(loaded.group(1)) == shown == 6, dom[:500]


def test_the_page_counts_a_missing_image_as_not_loaded(trained, tmp_path):
    """The browser check is not vacuous: a picture that is gone is not counted."""
    if shutil.which(CHROMIUM) is None:
        pytest.skip("Debian's chromium is not installed (CI installs it)")
    folder, _ = trained
    broken = tmp_path / "broken"
    shutil.copytree(folder, broken)
    (broken / "confusion.png").unlink()
    dom = subprocess.run([CHROMIUM, "--headless", "--disable-gpu", "--no-sandbox",
                          f"--user-data-dir={tmp_path / 'profile'}", "--virtual-time-budget=5000",
                          "--dump-dom", (broken / "index.html").as_uri()],
                         capture_output=True, text=True, timeout=120, cwd=tmp_path).stdout
    assert 'data-images-loaded="5"' in dom, dom[:500]


@pytest.mark.parametrize("extra, message", [
    (["--report", "{tmp}/file"], "is not a folder"),
    (["--report", "{tmp}/r", "--save", "{tmp}/r/confusion.png"], "are the same file"),
    (["--report", "{tmp}/r", "--ensemble", "2"], "--report"),
])
def test_bad_report_flags_are_one_line_errors(tmp_path, capsys, extra, message):
    (tmp_path / "file").write_text("not a folder")
    code = main([*RUN, *[a.format(tmp=tmp_path) for a in extra]])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and message in err[0], err
    assert not (tmp_path / "r").exists()   # refused before anything was trained or written


def test_without_matplotlib_report_is_refused_before_training(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)   # makes `import matplotlib` fail
    code = main([*RUN, "--report", str(tmp_path / "r")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1 and len(err) == 1 and "--report" in err[0] and "pip install matplotlib" in err[0]
    assert not (tmp_path / "r").exists()


def _panels(folder) -> dict:
    return json.loads((folder / "panels.json").read_text())


def _has_data(series: dict) -> bool:
    numbers = [v for ys in series.values() for v in ys if v is not None]
    return bool(numbers) and any(v != 0 for v in numbers)


def test_no_panel_is_empty(trained):
    """Every picture on the page drew numbers (panels.json), and the learning curves'
    cost panel is there: --report monitors the evaluation and training cost."""
    folder, _ = trained
    panels = _panels(folder)
    assert sorted(panels) == sorted(_pngs((folder / "index.html").read_text()))
    empty = [name for name, series in panels.items() if not series or not _has_data(series)]
    assert not empty, f"empty panels: {empty}"
    curves = panels["learning-curves.png"]
    assert sorted(curves) == ["accuracy", "cost"]
    assert sorted(curves["cost"]) == ["evaluation", "training"]
    for panel in curves.values():
        for label, ys in panel.items():
            assert len(ys) == EPOCHS and None not in ys, (label, ys)


def _speed_of_learning(params, images, labels, n):
    """‖∂C/∂b^l‖ of the mean quadratic cost over ``n`` images, by jax.grad (not backprop)."""
    x = images[:n].astype(np.float32) * data.PIXEL_SCALE
    y = np.eye(10, dtype=np.float32)[labels[:n]]
    grads = jaxnet.autodiff_grad(params, x, y)
    return [float(np.linalg.norm(np.asarray(g[1], np.float64))) for g in grads[:-1]]


def test_the_speed_panel_has_a_line_per_hidden_layer_and_a_point_per_epoch(trained, sample):
    folder, params = trained
    speed = _panels(folder)["speed-of-learning.png"]
    hidden = len(SIZES.split(",")) - 2
    assert sorted(speed) == [f"hidden layer {l}" for l in range(1, hidden + 1)]
    for ys in speed.values():
        assert len(ys) == EPOCHS and all(v is not None and v > 0 for v in ys), ys
    # the last epoch's point is chapter 5's ‖∂C/∂b^l‖ of the trained network on the
    # first 1,000 training images (jax.grad here: an independent derivation)
    want = _speed_of_learning(params, sample.train.images, sample.train.labels, 1000)
    got = [ys[-1] for ys in speed.values()]
    np.testing.assert_allclose(got, want, rtol=1e-3, err_msg="speed of learning")


def test_the_first_layer_is_drawn_as_its_change_since_initialisation(trained):
    folder, params = trained
    model = jaxnet.Model.dense([int(n) for n in SIZES.split(",")])
    init = jaxnet.init_params(jax.random.split(jax.random.PRNGKey(0))[0], model, init="large")
    drawn = _panels(folder)["first-layer.png"]["largest |value| per image"]
    change = np.abs(np.asarray(params[0][0]) - np.asarray(init[0][0])).max(axis=1)
    np.testing.assert_allclose(drawn, change[:_report.MAX_UNITS], rtol=1e-4,
                               err_msg="first layer: w - w_init")
    # the change, not the N(0, 1) weights (whose largest of 784 is about 3)
    assert max(drawn) < 0.5 * np.abs(np.asarray(init[0][0])).max(axis=1).min()
    images, title = _report.first_layer_images(model, params, init)
    np.testing.assert_allclose(images[0].ravel(), params[0][0][0] - init[0][0][0], atol=1e-6)
    assert "w − w_init" in title


def test_the_forward_pass_is_the_first_evaluation_digit_through_the_network(trained, sample):
    folder, params = trained
    seen = _panels(folder)["forward-pass.png"]
    sizes = [int(n) for n in SIZES.split(",")]
    assert [len(seen[f"hidden layer {l}"]) for l in range(1, len(sizes) - 1)] == sizes[1:-1]
    x = sample.test.images[:1].astype(np.float32) * data.PIXEL_SCALE
    np.testing.assert_allclose(seen["output a^L"], np.asarray(jaxnet.feedforward(params, x))[0],
                               atol=1e-5, err_msg="a^L")
    assert seen["target y"] == list(np.eye(10)[sample.test.labels[0]])


def test_the_learning_curves_have_whole_epoch_ticks_and_no_empty_panel(sample, tmp_path,
                                                                       monkeypatch):
    """Only evaluation accuracy monitored: one panel (no empty cost panel), ticks at
    whole epochs (not 0.5, 1.5)."""
    import matplotlib.pyplot as plt

    from jaxnet import plot
    params = jaxnet.init_params(jax.random.PRNGKey(0), [784, 10, 10])
    res = jaxnet.fit(jax.random.PRNGKey(1), params, sample.train.images[:200],
                     sample.train.labels[:200], epochs=2, batch_size=10, x_scale=1 / 256,
                     eval_data=(sample.test.images[:100], sample.test.labels[:100]))
    kept = []
    monkeypatch.setattr(plt, "close", kept.append)   # keeps the figure to look at
    plot.plot_history(res.history, tmp_path / "curves.png")
    (fig,) = kept
    assert [ax.get_title() for ax in fig.axes] == ["classification accuracy"]
    for ax in fig.axes:
        lo, hi = ax.get_xlim()
        ticks = [t for t in ax.get_xticks() if lo <= t <= hi]
        assert ticks and all(float(t).is_integer() for t in ticks), ticks
        assert all(line.get_xdata().size for line in ax.lines)
    monkeypatch.undo()
    plt.close(fig)


def test_report_adds_the_cost_monitors_but_not_on_a_resume(capsys):
    import argparse

    from jaxnet.cli._report_teach import report_monitors
    args = argparse.Namespace(monitor=("eval_accuracy",), resume=False)
    report_monitors(args)
    assert args.monitor == ("eval_accuracy", "eval_cost", "train_cost")
    assert "--report monitors eval_cost and train_cost" in capsys.readouterr().out
    resumed = argparse.Namespace(monitor=("eval_accuracy",), resume=True)
    report_monitors(resumed)   # the checkpoint's monitors are the run's identity
    assert resumed.monitor == ("eval_accuracy",) and capsys.readouterr().out == ""
