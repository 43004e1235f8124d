"""``jaxnet train --report DIR``: the numbers (one pure function), the files, and the
page as a real headless browser renders it."""

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


def require_browser() -> bool:
    """CI sets JAXNET_REQUIRE_BROWSER=1 (it installs Debian's chromium)."""
    return os.environ.get("JAXNET_REQUIRE_BROWSER") == "1"


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One tiny run of the book's network with --report and --save: (folder, params)."""
    folder = tmp_path_factory.mktemp("report")
    net = folder.parent / "net.npz"
    assert main([*RUN, "--report", str(folder / "out"), "--save", str(net)]) == 0
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
    assert "784-30-10" in html and "/ 1000" in html           # configuration and results


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
                         capture_output=True, text=True, timeout=120).stdout
    loaded = re.search(r'data-images-loaded="(\d+)"', dom)
    assert loaded, f"the page's load handler did not run; DOM starts {dom[:300]!r}"
    assert int(loaded.group(1)) == shown == 4, dom[:500]


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
                         capture_output=True, text=True, timeout=120).stdout
    assert 'data-images-loaded="3"' in dom, dom[:500]


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
