"""``jaxnet explain`` as a student reads it: the steps in the algorithm's order 1–5, and
y, a^L, σ'(z^l), (w^{l+1})ᵀδ^{l+1}, δ^l and the update printed with the values the
book's own NumPy (benchmarks/book/network.py, column vectors) gives, in at most 80
columns, in English and in Hindi (the same numbers, the same order); the matrix form
(--batch), --lmbda with --reg l1, network2 JSON files, jaxnet.explain's value; and
the gettext catalogs: each .mo is its .po compiled, every message translated."""

import gettext
import re

import jax
import numpy as np
import pytest
from book import network
from gettext_catalog import catalogs, mo_bytes, parse_po

import jaxnet
from jaxnet.cli import main
from jaxnet.cli._explain_i18n import LOCALE
from jaxnet.cli._explain_words import MESSAGES

# explain prints 4 significant digits (.4g): half a unit of the 4th digit, relative.
PRINT_RTOL = 5e-4 + 1e-12
WIDTH = 80
STEP_WORD = {"en": "Step", "hi": "चरण"}
_NUM = r"-?\d+(?:\.\d+)?(?:e[-+]\d+)?"


@pytest.fixture(scope="module")
def net(tmp_path_factory, sample):
    """A fixed 784-30-10 network (float64 file), test digit 0, and the book's walk of it."""
    model = jaxnet.Model.dense([784, 30, 10])
    params = jaxnet.init_params(jax.random.PRNGKey(3), model, dtype=np.float64)
    path = tmp_path_factory.mktemp("walk") / "net.npz"
    jaxnet.save_params(path, params, model=model)
    x = sample.test.images[0].astype(np.float64) / 256
    y = np.eye(10)[sample.test.labels[0]]
    return path, model, params, x, y, book_walk(params, x, y)


def book_walk(params, x, y, eta=3.0):
    """The book's quantities for one example, computed with its column vectors."""
    weights, biases = network.to_book(params)
    net = network.Network(weights, biases)
    seen = {}
    nabla_b, nabla_w = net.backprop(x.reshape(-1, 1), y.reshape(-1, 1), trace=seen)
    zs, acts = seen["zs"], seen["activations"]
    new_w, new_b = network.update_mini_batch(weights, biases, x[None], y[None], eta)
    return {"y": y, "a3": acts[2].ravel(), "sp3": network.sigmoid_prime(zs[1]).ravel(),
            "d3": nabla_b[1].ravel(), "back2": (weights[1].T @ nabla_b[1]).ravel(),
            "sp2": network.sigmoid_prime(zs[0]).ravel(), "d2": nabla_b[0].ravel(),
            "b3new": new_b[1].ravel(), "gw2": nabla_w[0]}


def _run(capsys, *argv):
    code = main(["explain", "--data", "sample", *map(str, argv)])
    out, err = capsys.readouterr()
    assert code == 0, err
    return out


def _block(lines, head: str, nth: int = 0) -> list:
    """The lines under the ``nth`` symbol line starting with ``"  " + head``."""
    starts = [i for i, line in enumerate(lines) if line.startswith("  " + head)]
    assert len(starts) > nth, f"no {head!r} in the walk"
    i, out = starts[nth] + 2, []
    while i < len(lines) and lines[i].startswith(" " * 6):
        out.append(lines[i])
        i += 1
    return out


def _values(block) -> np.ndarray:
    entries = re.findall(rf"(\d+): ({_NUM})", " ".join(block))
    assert [int(k) for k, _ in entries] == list(range(len(entries))), entries
    return np.array([float(v) for _, v in entries])


def _close(got, want, what):
    got, want = np.asarray(got, float), np.asarray(want, float)
    assert got.shape == want.shape, (what, got.shape, want.shape)
    err = np.abs(got - want) / np.maximum(np.abs(want), 1e-300)
    worst = float(np.max(np.where(np.abs(want) < 1e-12, np.abs(got - want), err)))
    assert worst <= PRINT_RTOL, f"{what}: printed values off by {worst:.2e} (relative)"


def _summary_matches(block, want, what):
    """A summarised vector: its norm, min, max and largest entries as printed."""
    norm, lo, hi = (float(v) for v in re.findall(_NUM, block[0])[:3])
    _close([norm, lo, hi], [np.linalg.norm(want), want.min(), want.max()], what)
    largest = re.findall(rf"\[(\d+)\] ({_NUM})", block[1])
    assert len(largest) == 3, block[1]
    for k, v in largest:
        _close([float(v)], [want[int(k)]], f"{what}[{k}]")
    assert int(largest[0][0]) == int(np.argmax(np.abs(want))), what


@pytest.mark.parametrize("lang", ["en", "hi"])
def test_the_walk_in_order_with_the_books_values(net, capsys, lang):
    path, _, _, _, _, book = net
    out = _run(capsys, "--params", path, "--lang", lang)
    lines = out.splitlines()
    too_wide = [line for line in lines if len(line) > WIDTH]
    assert not too_wide, f"{len(too_wide)} lines over {WIDTH} columns: {too_wide[0]!r}"
    steps = [int(m.group(1)) for line in lines
             if (m := re.match(rf"{STEP_WORD[lang]} (\d):", line))]
    assert steps == [1, 2, 3, 4, 5], steps
    at = {k: next(i for i, line in enumerate(lines) if line.startswith(f"{STEP_WORD[lang]} {k}:"))
          for k in steps}
    where = {h: next(i for i, line in enumerate(lines) if line.startswith("  " + h))
             for h in ("y:", "∇ₐC", "σ'(z³)", "BP1: δ³", "∂C/∂a² = (w³)ᵀδ³", "σ'(z²)",
                       "BP2: δ²", "BP3: ∂C/∂b²", "b³′")}
    assert at[3] < where["y:"] < where["∇ₐC"] < where["σ'(z³)"] < where["BP1: δ³"] < at[4]
    assert at[4] < where["∂C/∂a² = (w³)ᵀδ³"] < where["σ'(z²)"] < where["BP2: δ²"] < at[5]
    assert at[5] < where["BP3: ∂C/∂b²"] < where["b³′"]
    _close(_values(_block(lines, "y:")), book["y"], "y")
    _close(_values(_block(lines, "a³ = σ(z³)", nth=1)), book["a3"], "a³ beside y")
    _close(_values(_block(lines, "σ'(z³)")), book["sp3"], "σ'(z³)")
    _close(_values(_block(lines, "BP1: δ³")), book["d3"], "δ³")
    _summary_matches(_block(lines, "∂C/∂a² = (w³)ᵀδ³"), book["back2"], "(w³)ᵀδ³")
    _summary_matches(_block(lines, "σ'(z²)"), book["sp2"], "σ'(z²)")
    _summary_matches(_block(lines, "BP2: δ²"), book["d2"], "δ²")
    _close(_values(_block(lines, "b³′")), book["b3new"], "b³′ = b³ − η δ³")
    for head in ("BP2: δ²", "BP1: δ³"):
        line = lines[next(i for i, t in enumerate(lines) if t.startswith("  " + head)) + 1]
        assert "(30, 1)" in line or "(10, 1)" in line, line      # the book's column
        assert re.search(r"jax.grad \d\.\de-1[5-7], C \d\.\de-1[5-7]", line), line


def test_values_prints_every_entry(net, capsys):
    path, _, _, _, _, book = net
    lines = _run(capsys, "--params", path, "--lang", "en", "--values").splitlines()
    for head, key in (("∂C/∂a² = (w³)ᵀδ³", "back2"), ("σ'(z²)", "sp2"), ("BP2: δ²", "d2")):
        _close(_values(_block(lines, head)), book[key], head)
    assert max(map(len, lines)) <= WIDTH


def test_a_mini_batch_in_matrix_form(net, capsys, sample):
    path, _, params, _, _, _ = net
    lines = _run(capsys, "--params", path, "--lang", "en", "--batch", 3,
                 "--index", 4).splitlines()
    xs = sample.test.images[4:7].astype(np.float64) / 256
    ys = np.eye(10)[sample.test.labels[4:7]]
    per = [book_walk(params, x, y) for x, y in zip(xs, ys)]
    assert "book (30, 3), jaxnet (3, 30)" in lines[lines.index(
        next(line for line in lines if line.startswith("  BP2: Δ²"))) + 1]
    _close(_values(_block(lines, "BP3: ∂C/∂b³")),
           np.mean([p["d3"] for p in per], axis=0), "∂C/∂b³ = (1/m) Σₓ δ^{x,3}")
    deltas = re.findall(rf"(\d+),(\d+): ({_NUM})", " ".join(_block(lines, "BP1: Δ³")))
    got = np.zeros((3, 10))
    for r, c, v in deltas:
        got[int(r), int(c)] = float(v)
    _close(got, [p["d3"] for p in per], "Δ³'s rows, each example's δ³")
    assert max(map(len, lines)) <= WIDTH


def test_lmbda_with_l1_changes_the_update(net, capsys):
    path, model, params, x, y, book = net
    lam, n, eta = 5.0, 1000, 0.5
    result = jaxnet.explain(params, x, y, model=model.replace(reg="l1"), eta=eta, lmbda=lam,
                            n=n)
    syms = {(s["symbol"], s["layer"]): s for layer in result["layers"] for s in layer["symbols"]}
    w = np.asarray(params[0].w)
    want = w - eta * lam / n * np.sign(w) - eta * book["gw2"]
    assert np.max(np.abs(syms["w_new", 2]["value"] - want)) <= 1e-12
    assert "(ηλ/n) sgn(w²)" in syms["w_new", 2]["equation"]
    assert max(syms["w_new", 2]["diff"].values()) <= 1e-12
    out = _run(capsys, "--params", path, "--reg", "l1", "--lmbda", 5, "--lang", "en")
    assert "w²′ = w² − (ηλ/n) sgn(w²) − η ∂C/∂w²" in out


def test_a_network2_json_file(net, tmp_path, capsys):
    path, _, params, _, _, _ = net
    js = tmp_path / "net.json"
    jaxnet.save_network2(js, params, cost="quadratic")
    assert _run(capsys, "--params", js, "--json") == _run(capsys, "--params", path, "--json") \
        .replace(str(path), str(js))


def test_jaxnet_explain_is_one_value_for_text_json_and_notebooks(net):
    _, model, params, x, y, _ = net
    result = jaxnet.explain(params, x, y, model=model)
    assert isinstance(result, dict) and str(result) == result.text()
    assert result._repr_html_().startswith("<pre>") and "BP1: δ³" in result._repr_html_()
    assert result.to_json()["layers"][0]["symbols"][0]["shape"] == [784]
    assert "चरण 3" in result.text("hi") and "Step 3" in result.text("en")


# --- the catalogs ------------------------------------------------------------------------

def test_every_catalog_is_its_po_compiled_and_complete():
    pairs = catalogs()
    assert pairs, f"no catalog under {LOCALE}"
    for po, mo in pairs:
        entries = parse_po(po)
        assert mo.read_bytes() == mo_bytes(entries), f"{mo} is stale: python tests/gettext_catalog.py"
        lang = po.parents[1].name
        t = gettext.translation("jaxnet", LOCALE, languages=[lang])
        for msg in MESSAGES:
            assert entries.get(msg), f"{po}: no translation of {msg!r}"
            assert t.gettext(msg) == entries[msg]
            fields = sorted(re.findall(r"\{[a-zA-Z]+\}", msg))
            assert sorted(re.findall(r"\{[a-zA-Z]+\}", entries[msg])) == fields, msg
        assert set(entries) - {""} == set(MESSAGES), "messages the code no longer has"
