"""``jaxnet explain``: every δ and gradient it shows equals the golden state — jax.grad of
the cost with respect to each layer's z (and the parameters), through a forward pass
written here — for Dense nets of every cost and activation and for chapter 6's
models; the shapes it prints are the arrays'; ``--json`` round-trips; bad input gets
one line and exit status 2; the C kernel's network trace equals JAX's."""

import json
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import rel_err
from jax import lax

import jaxnet
from jaxnet import cref
from jaxnet.cli import main
from jaxnet.cli._explain import explain
from jaxnet.cli._explain_text import SHADES, format_text

# float64, the same sums in other orders (XLA, jax.grad, C loops): ~1e3·eps64.
GOLDEN_RTOL = 1e-12
# What explain's own cross-check must report in float64 (the same bound).
DIFF_MAX = 1e-12
# A δ scaled by 1 + 1e-6 must show: its reported difference is ~1e-6, far above rounding.
MUTANT_MIN = 1e-7

G = dict(np.load(Path(__file__).with_name("golden") / "golden.npz", allow_pickle=False))
HIGHEST = lax.Precision.HIGHEST
ACT = {"sigmoid": jax.nn.sigmoid, "tanh": jnp.tanh, "relu": jax.nn.relu,
       "softmax": lambda z: jax.nn.softmax(z, axis=-1)}


# --- the golden state, from a forward pass written here ---------------------------------

def _conv(a, w):
    """A valid cross-correlation as a sum over kernel offsets: ``a (m, C, H, W)``,
    ``w (F, C, k, k)`` → ``(m, F, H−k+1, W−k+1)``."""
    k = w.shape[-1]
    ho, wo = a.shape[2] - k + 1, a.shape[3] - k + 1
    return sum(jnp.einsum("nchw,fc->nfhw", a[:, :, i:i + ho, j:j + wo], w[:, :, i, j],
                          precision=HIGHEST) for i in range(k) for j in range(k))


def _pool(c, p):
    """p×p max-pool of ``c (m, F, Ho, Wo)`` keeping each block's first maximum in row-major
    order (the documented tie rule), by strided slices and a strict comparison."""
    best = c[:, :, 0::p, 0::p]
    for i in range(p):
        for j in range(p):
            cand = c[:, :, i::p, j::p]
            best = jnp.where(cand > best, cand, best)
    return best


def _cost(name, a, y):
    """The book's costs of one example ``a``, ``y`` (1, n_L)."""
    if name == "quadratic":
        return 0.5 * jnp.sum((a - y) ** 2)
    if name == "cross_entropy":
        return -jnp.sum(y * jnp.log(a) + (1 - y) * jnp.log(1 - a))
    return -jnp.sum(y * jnp.log(a))


def golden(model, params, x, y, masks=None):
    """jax.grad of the cost of one example ``x (n_0,)``, ``y (n_L,)`` with respect to an
    additive perturbation of every ``z^l`` (δ), every conv output before its pool (D),
    every layer's input (∂C/∂a), and the parameters: ``{(symbol, book layer): array}``."""
    def cost(eps, params):
        a = jnp.asarray(x).reshape((1,) + model.input_shape)
        for i, (layer, (w, b)) in enumerate(zip(model.layers, params)):
            p = getattr(layer, "dropout", 0)
            if p:
                a = a * (masks[i][None] if masks is not None else 1 - p)
            a = a + eps["in"][i]
            if isinstance(layer, jaxnet.ConvPool):
                z = _pool(_conv(a, w) + eps["conv"][i], layer.pool) + b[None, :, None, None]
            else:
                z = jnp.dot(a.reshape(1, -1), w.T, precision=HIGHEST) + b[None, :]
            a = ACT[layer.activation](z + eps["z"][i])
        return _cost(model.cost, a, jnp.asarray(y)[None])

    def conv_shape(layer, s):
        return (1, layer.filters, s[1] - layer.kernel + 1, s[2] - layer.kernel + 1)
    shapes = model.shapes
    eps = {"z": [jnp.zeros((1,) + s) for s in shapes[1:]],
           "in": [jnp.zeros((1,) + s) for s in shapes[:-1]],
           "conv": [jnp.zeros(conv_shape(layer, s)) if isinstance(layer, jaxnet.ConvPool)
                    else None for layer, s in zip(model.layers, shapes)]}
    g_eps, g_params = jax.jit(jax.grad(cost, argnums=(0, 1)))(eps, tuple(params))
    out = {}
    for i, layer in enumerate(model.layers):
        l = i + 2
        out["delta", l] = g_eps["z"][i][0]
        out["gw", l], out["gb", l] = g_params[i]
        if isinstance(layer, jaxnet.ConvPool):
            out["routed", l] = g_eps["conv"][i][0]
            if i > 0:
                out["input_grad", l] = g_eps["in"][i][0]
    return out


def _symbols(result):
    return {(s["symbol"], s["layer"]): s for layer in result["layers"] for s in layer["symbols"]}


def _check_against_golden(result, gold):
    syms = _symbols(result)
    assert set(gold) <= set(syms), set(gold) - set(syms)
    for key, want in gold.items():
        err = rel_err(syms[key]["value"], want)
        assert err <= GOLDEN_RTOL, f"{syms[key]['name']} differs from the golden state by {err:.2e}"
    for s in syms.values():   # and explain's own cross-check says so too
        for twin, d in (s["diff"] or {}).items():
            assert d is None or d <= DIFF_MAX, f"{s['name']}: {twin} reported {d:.2e}"
    for key in gold:
        if key[0] in ("delta", "gw", "gb"):
            assert syms[key]["diff"]["C"] is not None, f"{syms[key]['name']}: no C column"
    assert max(np.max(np.abs(gold["delta", l])) for l in range(2, len(result["layers"]) + 1)) \
        > 1e-4, "all δ ~ 0 would make the comparison vacuous"


def _example(sample, model, index=0, dtype=np.float64):
    x = sample.test.images[index].astype(dtype) / 256
    return x, np.eye(model.sizes[-1], dtype=dtype)[sample.test.labels[index]]


@pytest.mark.parametrize("activation", ["sigmoid", "tanh", "relu"])
@pytest.mark.parametrize("cost", ["quadratic", "cross_entropy", "log_likelihood"])
def test_dense_deltas_and_gradients_equal_the_golden_state(sample, cost, activation):
    model = jaxnet.Model.dense([784, 16, 12, 10], cost=cost, activation=activation)
    params = jaxnet.init_params(jax.random.PRNGKey(1), model, dtype=np.float64, init="scaled")
    x, y = _example(sample, model, index=3)
    result = explain(params, x, y, model=model)
    _check_against_golden(result, golden(model, params, x, y))
    assert result["c_kernel"] == {"available": True, "note": "csrc/jaxnet_dense_chain.h"}


CHAPTER6 = {  # spec, activation, dropout: two ConvPools (BP2 through a full convolution),
    "conv-relu-softmax": ("conv:3:5,pool:2,fc:12,softmax:10", "relu", 0.0),
    "two-convs-sigmoid": ("conv:2:5,pool:2,conv:3:3,pool:2,fc:10", "sigmoid", 0.0),
    "conv-tanh-dropout": ("conv:2:3,pool:2,fc:12,softmax:10", "tanh", 0.5),
    "dense-dropout": ("fc:16,fc:12,softmax:10", "sigmoid", 0.3),
}


@pytest.mark.parametrize("name", list(CHAPTER6))
def test_chapter6_deltas_routed_deltas_and_gradients_equal_the_golden_state(sample, name):
    spec, act, p = CHAPTER6[name]
    model = jaxnet.parse_layers(spec, 784, activation=act, dropout=p)
    params = jaxnet.init_params(jax.random.PRNGKey(2), model, dtype=np.float64, init="scaled")
    x, y = _example(sample, model, index=1)
    masks = None
    if p:
        masks = [None if k is None else np.asarray(k)[0]
                 for k in jaxnet.dropout_masks(jax.random.PRNGKey(5), model, 1, np.float64)]
        assert any(k is not None and 0 < k.mean() < 1 for k in masks)  # masks that matter
    result = explain(params, x, y, model=model, masks=masks)
    _check_against_golden(result, golden(model, params, x, y, masks))
    assert result["c_kernel"]["note"] == "csrc/jaxnet_net.h"
    if p:
        syms = _symbols(result)
        assert any(k[0] == "mask" for k in syms)
        without = _symbols(explain(params, x, y, model=model))       # the evaluation network
        assert not any(k[0] == "mask" for k in without)
        assert rel_err(without["delta", 2]["value"], syms["delta", 2]["value"]) > 1e-3


def test_the_book_golden_state_per_example():
    """tests/golden/golden.npz (the book's per-example NumPy algorithm): explain on each
    example gives its z, a and δ, and the mean of its gradients the batch's."""
    sizes = G["sizes"].tolist()
    model = jaxnet.Model.dense(sizes)
    params = tuple(jaxnet.Layer(G[f"w{l}"], G[f"b{l}"]) for l in range(len(sizes) - 1))
    results = [_symbols(explain(params, x, y, model=model)) for x, y in zip(G["x"], G["y"])]
    for i, syms in enumerate(results):
        assert rel_err(syms["x", 1]["value"], G["a0"][i]) == 0
        for l in range(1, len(sizes)):
            for kind in ("z", "a", "delta"):
                err = rel_err(syms[kind, l + 1]["value"], G[f"{kind}{l}"][i])
                assert err <= GOLDEN_RTOL, f"example {i}: {kind}{l} off by {err:.2e}"
    for l in range(len(sizes) - 1):
        for kind in ("gw", "gb"):
            mean = np.mean([syms[kind, l + 2]["value"] for syms in results], axis=0)
            assert rel_err(mean, G[f"{kind}{l}"]) <= GOLDEN_RTOL, f"{kind}{l}"


def test_shapes_are_the_books_and_the_arrays(sample):
    model = jaxnet.parse_layers("conv:2:5,pool:2,fc:12,softmax:10", 784)
    params = jaxnet.init_params(jax.random.PRNGKey(0), model, dtype=np.float64)
    syms = _symbols(explain(params, *_example(sample, model), model=model))
    for s in syms.values():
        assert s["shape"] == list(np.shape(s["value"])), s["name"]
    want = {("x", 1): (1, 28, 28), ("z", 2): (2, 12, 12), ("routed", 2): (2, 24, 24),
            ("gw", 2): (2, 1, 5, 5), ("gb", 2): (2,), ("delta", 2): (2, 12, 12),
            ("z", 3): (12,), ("gw", 3): (12, 288), ("delta", 3): (12,), ("gw", 4): (10, 12)}
    assert {k: tuple(syms[k]["shape"]) for k in want} == want


def _net_file(tmp_path, sizes=(784, 30, 10), name="net.npz", seed=3):
    model = jaxnet.Model.dense(list(sizes))
    params = jaxnet.init_params(jax.random.PRNGKey(seed), model, dtype=np.float64)
    path = tmp_path / name
    jaxnet.save_params(path, params, model=model)
    return path, model, params


def _cli(capsys, *argv):
    try:
        code = main(["explain", "--data", "sample", *map(str, argv)])
    except SystemExit as e:   # argparse's errors
        code = e.code
    out, err = capsys.readouterr()
    return code, out, err


def test_json_round_trips(sample, tmp_path, capsys):
    path, model, params = _net_file(tmp_path)
    code, out, err = _cli(capsys, "--params", path, "--index", 5, "--json", "--values")
    assert code == 0, err
    got = json.loads(out)
    want = explain(params, *_example(sample, model, index=5), model=model)
    assert got["example"] == {"data": "sample", "split": "test", "index": 5,
                              "label": int(sample.test.labels[5]), "params": str(path)}
    assert (got["cost"], got["prediction"], got["model"]) == (
        want["cost"], want["prediction"], want["model"])
    pairs = [(g, w) for gl, wl in zip(got["layers"], want["layers"], strict=True)
             for g, w in zip(gl["symbols"], wl["symbols"], strict=True)]
    assert len(pairs) == 1 + 9 + 10   # x; z a (w³)ᵀδ³ σ' δ gb gw w′ b′; + y ∇ₐC, − (w)ᵀδ
    for g, w in pairs:
        assert (g["name"], g["equation"], g["step"], g["shape"]) == (
            w["name"], w["equation"], w["step"], w["shape"])
        assert np.array_equal(np.array(g["value"]), w["value"]), g["name"]  # repr is exact
        assert g["summary"] == w["summary"] and g["diff"] == w["diff"], g["name"]


def test_text_prints_each_symbols_shape_equation_and_difference(sample, tmp_path, capsys):
    path, model, params = _net_file(tmp_path)
    code, out, err = _cli(capsys, "--params", path, "--index", 2, "--lang", "en")
    assert code == 0 and err == "", err
    result = explain(params, *_example(sample, model, index=2), model=model)
    lines = out.splitlines()
    for s in (s for layer in result["layers"] for s in layer["symbols"]):
        head = next(i for i, line in enumerate(lines) if line.startswith("  ")
                    and s["equation"] in line)
        shapes = lines[head + 1]
        assert f"jaxnet {tuple(s['shape'])}" in shapes, (s["name"], shapes)
        if s["symbol"] in ("delta", "gw", "gb"):
            assert f"jax.grad {s['diff']['jax.grad']:.1e}" in shapes, shapes
            assert f"C {s['diff']['C']:.1e}" in shapes, shapes
    assert "book (30, 784), jaxnet (30, 784)" in out and "BP1: δ³ = ∇ₐC ⊙ σ'(z³)" in out
    assert max(map(len, lines)) <= 80


def test_a_conv_net_from_the_command_line(capsys):
    code, out, err = _cli(capsys, "--layers", "conv:2:5,pool:2,fc:10", "--json")
    assert code == 0, err
    syms = _symbols(json.loads(out))
    assert syms["routed", 2]["shape"] == [2, 24, 24] and syms["gw", 2]["shape"] == [2, 1, 5, 5]
    assert "value" not in syms["gw", 2]                      # values only with --values
    checked = [s["diff"][t] for s in syms.values() if s["symbol"] in ("delta", "gw", "gb")
               for t in ("jax.grad", "C")]
    assert len(checked) == 12 and max(checked) <= DIFF_MAX


def test_digit_is_drawn_from_its_pixels(sample, tmp_path, capsys):
    path, _, _ = _net_file(tmp_path)
    code, out, _ = _cli(capsys, "--params", path, "--digit", "--index", 4)
    assert code == 0
    lines = out.splitlines()
    top = next(i for i, line in enumerate(lines) if line.strip().startswith("┌"))
    rows = [line.strip()[1:-1] for line in lines[top + 1:top + 15]]
    assert lines[top + 15].strip() == "└" + "─" * 28 + "┘"
    pixels = sample.test.images[4].reshape(28, 28) / 256
    pair = np.maximum(pixels[0::2], pixels[1::2])              # two pixel rows per line
    assert all(len(r) == 28 and set(r) <= set(SHADES) for r in rows)
    chars = np.array([list(r) for r in rows])
    assert np.array_equal(chars == " ", pair < 1 / len(SHADES))
    assert (chars[pair >= 0.8] == "█").all() and (chars == "█").sum() > 20


def _one_line_error(code, out, err, fragment):
    assert code == 2, (code, err)
    assert out == "" and err.count("\n") == 1 and err.startswith("jaxnet"), err
    assert fragment in err, err


@pytest.mark.parametrize("argv, fragment", [
    (["--index", "1000"], "--index 1000: the test split of --data sample has 1000 examples"),
    (["--index", "seven"], "argument --index: expected a non-negative int, got 'seven'"),
    (["--index", "-1"], "argument --index"),
    (["--reg", "l1"], "add --lmbda"),
    (["--lang", "xx"], "no catalog for language 'xx'"),
    (["--index", "999", "--batch", "2"], "--index 999 --batch 2: the test split"),
    (["--layers", "conv:3:5,pool:3"], "--layers"),
])
def test_bad_flags_get_one_line_and_status_2(capsys, argv, fragment):
    _one_line_error(*_cli(capsys, *argv), fragment)


def test_a_params_file_for_another_model_or_input_size_is_refused(tmp_path, capsys):
    path, _, _ = _net_file(tmp_path)
    _one_line_error(*_cli(capsys, "--params", path, "--sizes", "784,20,10"),
                    "holds a 784-30-10 quadratic network; the model flags describe 784-20-10")
    small, _, _ = _net_file(tmp_path, sizes=(64, 12, 10), name="small.npz")
    _one_line_error(*_cli(capsys, "--params", small), "the network takes 64 inputs; --data "
                                                      "sample has 784")
    few, _, _ = _net_file(tmp_path, sizes=(784, 12, 4), name="few.npz")
    _one_line_error(*_cli(capsys, "--params", few), "4 outputs; --data sample has 10 classes")
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not a zip")
    _one_line_error(*_cli(capsys, "--params", bad), "not a valid jaxnet parameter file")
    _one_line_error(*_cli(capsys, "--params", tmp_path / "gone.npz"), "No such file")
    assert _cli(capsys, "--params", path, "--sizes", "784,30,10")[0] == 0   # flags that agree


def test_a_trained_network_from_jaxnet_train(tmp_path, capsys):
    path = tmp_path / "trained.npz"
    assert main(["train", "--data", "sample", "--epochs", "1", "--save", str(path),
                 "--progress", "never", "--compile-cache", "none"]) == 0
    capsys.readouterr()
    code, out, err = _cli(capsys, "--params", path, "--json")
    assert code == 0, err
    got = json.loads(out)
    assert got["dtype"] == "float64" and got["network"] == "784-30-10"   # float32 file, x64 run
    assert max(s["diff"]["jax.grad"] for layer in got["layers"] for s in layer["symbols"]
               if s["diff"]) <= DIFF_MAX


def test_a_missing_c_extension_is_said_not_crashed(sample, monkeypatch):
    model = jaxnet.Model.dense([784, 12, 10])
    params = jaxnet.init_params(jax.random.PRNGKey(0), model, dtype=np.float64)
    monkeypatch.setitem(sys.modules, "jaxnet.cref", None)   # import jaxnet.cref now fails
    result = explain(params, *_example(sample, model), model=model)
    assert result["c_kernel"]["available"] is False
    assert result["c_kernel"]["note"].startswith("not built")
    diffs = [s["diff"] for layer in result["layers"] for s in layer["symbols"] if s["diff"]]
    assert diffs and all(d["C"] is None and d["jax.grad"] <= DIFF_MAX for d in diffs)
    assert "C not built" in format_text(result)


def test_a_wrong_hand_derived_delta_shows_in_the_differences(sample, monkeypatch):
    import jaxnet.cli._explain as ex
    real = ex.backprop_trace

    def mutant(*args, **kwargs):
        t = dict(real(*args, **kwargs))
        t["delta"] = [t["delta"][0] * (1 + 1e-6)] + list(t["delta"][1:])
        return t
    monkeypatch.setattr(ex, "backprop_trace", mutant)
    model = jaxnet.Model.dense([784, 12, 10])
    params = jaxnet.init_params(jax.random.PRNGKey(0), model, dtype=np.float64)
    syms = _symbols(explain(params, *_example(sample, model), model=model))
    assert min(syms["delta", 2]["diff"].values()) > MUTANT_MIN
    assert max(syms["delta", 3]["diff"].values()) <= DIFF_MAX


# --- the C kernel's network trace (jn_net_trace_offsets) ---------------------------------

@pytest.mark.parametrize("with_masks", [True, False])
def test_the_c_network_trace_equals_jaxnet_backprop_trace(with_masks):
    model = jaxnet.Model((1, 8, 8), (jaxnet.ConvPool(2, 3, 2, "relu"),
                                     jaxnet.Dense(7, "tanh", dropout=0.5),
                                     jaxnet.Dense(5, "softmax", dropout=0.25)),
                         cost="log_likelihood")
    params = jaxnet.init_params(jax.random.PRNGKey(0), model, dtype=np.float64)
    rng = np.random.default_rng(0)
    x, y = rng.random((3, 64)), np.eye(5)[rng.integers(0, 5, 3)]
    masks = jaxnet.dropout_masks(jax.random.PRNGKey(1), model, 3, np.float64) \
        if with_masks else None
    want = jaxnet.backprop_trace(params, x, y, model=model, masks=masks)
    got = cref.backprop_trace(params, x, y, model=model, masks=masks)
    for kind in ("a", "delta"):
        assert len(got[kind]) == len(want[kind])
        for l, (g, w) in enumerate(zip(got[kind], want[kind])):
            assert g.shape == w.shape, (kind, l)
            assert rel_err(g, w) <= GOLDEN_RTOL, f"{kind}[{l}] off by {rel_err(g, w):.2e}"
    for l, (g, w) in enumerate(zip(got["grads"], want["grads"])):
        assert rel_err(g.w, w.w) <= GOLDEN_RTOL and rel_err(g.b, w.b) <= GOLDEN_RTOL, l
    assert np.max(np.abs(want["delta"][0])) > 1e-3      # a δ that reached the conv layer
