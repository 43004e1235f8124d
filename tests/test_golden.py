"""Each implementation against the golden state, equation by equation.

tests/golden/golden.npz holds, for a fixed 8-6-5-3 net and a batch of 4,
every Z, A and δ, the gradients and the parameters after one step, all from
benchmarks/book/network.py (the book's per-example algorithm in NumPy, float64). A
mismatch names the quantity and the equation that produces it.
"""

from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import rel_err

import jaxnet
from jaxnet import cref, sigmoid
from jaxnet._core.network import unchecked_backprop_trace as backprop_trace
from jaxnet._core.network import unchecked_cost as cost
from jaxnet._core.precision import contract

# float64, two implementations of the same per-layer sums: ~1e3·eps64.
GOLDEN_RTOL = 1e-12

G = dict(np.load(Path(__file__).with_name("golden") / "golden.npz", allow_pickle=False))
SIZES = G["sizes"].tolist()
L = len(SIZES) - 1
M = G["x"].shape[0]
PARAMS = tuple(jaxnet.Layer(G[f"w{l}"], G[f"b{l}"]) for l in range(L))


def _equation(kind, l):
    """Which of the book's equations computes golden quantity `kind` of layer l (1-based)."""
    return {"a": "feedforward a = σ(z)", "z": "feedforward z = w a + b",
            "delta": "BP1 (output δ)" if l == L else "BP2 (δ from the layer above)",
            "gb": "BP3 (∂C/∂b = δ)", "gw": "BP4 (∂C/∂w = δ aᵀ)", "step": "SGD update"}[kind]


def _check(name, kind, l, got, expected):
    err = rel_err(got, expected)
    assert err <= GOLDEN_RTOL, (f"{name}: {kind}{l} differs from the golden state by {err:.2e} "
                                f"(> {GOLDEN_RTOL:.0e}): look at {_equation(kind, l)}")


def test_golden_state_is_not_trivial():
    for l in range(1, L + 1):
        assert np.max(np.abs(G[f"delta{l}"])) > 1e-3, f"δ{l} ~ 0 would make the test vacuous"
    assert (G["x"] == 0).any() and (G["x"] != 0).any()  # zero-skipping paths are exercised


def _compare_trace(name, a, delta, grads, z=None):
    for l in range(L + 1):
        _check(name, "a", l, a[l], G[f"a{l}"])
    if z is not None:
        for l in range(1, L + 1):
            _check(name, "z", l, z[l - 1], G[f"z{l}"])
    for l in range(L, 0, -1):  # top-down, as backprop computes them
        # the book's δ is per example; the implementations' carries the mean's 1/m
        _check(name, "delta", l, np.asarray(delta[l - 1]) * M, G[f"delta{l}"])
    for l in range(L):
        _check(name, "gb", l + 1, grads[l].b, G[f"gb{l}"])
        _check(name, "gw", l + 1, grads[l].w, G[f"gw{l}"])


def _compare_step(name, new):
    for l in range(L):
        _check(name, "step", l + 1, new[l].w, G[f"w{l}_after"])
        _check(name, "step", l + 1, new[l].b, G[f"b{l}_after"])


MODEL = jaxnet.Model.dense(SIZES)
TRACE = jax.jit(backprop_trace, static_argnames="model")


def test_jax_backprop_against_golden():
    t = TRACE(PARAMS, G["x"], G["y"], model=MODEL)
    _compare_trace("jaxnet.backprop", t["a"], t["delta"], t["grads"], t["z"])
    _compare_trace("jaxnet.backprop (public)", t["a"], t["delta"], jaxnet.backprop(PARAMS, G["x"], G["y"]))
    _compare_step("jaxnet.sgd_step", jaxnet.sgd_step(PARAMS, G["x"], G["y"], float(G["eta"])))


def test_jax_grad_against_golden():
    # With an additive perturbation e^l on each Z^l, ∂C/∂e^l at e = 0 is δ^l:
    # jax.grad recovers the deltas without using any of the BP equations.
    def cost_perturbed(eps, params, x, y):
        a = x
        for (w, b), e in zip(params, eps):
            a = sigmoid(contract(a, w, 1, 1, "highest") + b[None, :] + e)
        return 0.5 * jnp.sum((a - y) ** 2) / x.shape[0]

    zeros = [jnp.zeros((M, n)) for n in SIZES[1:]]
    deltas = jax.grad(cost_perturbed)(zeros, PARAMS, G["x"], G["y"])
    acts = [G["x"]] + [jaxnet.feedforward(PARAMS[:l], G["x"]) for l in range(1, L + 1)]
    _compare_trace("jax.grad", acts, deltas, jaxnet.autodiff_grad(PARAMS, G["x"], G["y"]))
    _compare_step("jax.grad step", jaxnet.sgd_step(PARAMS, G["x"], G["y"], float(G["eta"]),
                                                   grad="autodiff"))
    assert float(cost(PARAMS, G["x"], G["y"], model=MODEL)) > 0


def test_c_kernel_against_golden():
    t = cref.backprop_trace(PARAMS, G["x"], G["y"])
    _compare_trace("C kernel", t["a"], t["delta"], t["grads"])
    _compare_step("C sgd_step", cref.sgd_step(PARAMS, G["x"], G["y"], float(G["eta"])))


def test_a_broken_equation_is_named():
    # The checker itself must fail, and say where, when one δ is wrong.
    t = TRACE(PARAMS, G["x"], G["y"], model=MODEL)
    bad = list(t["delta"])
    bad[0] = bad[0] * (1 + 1e-6)
    with pytest.raises(AssertionError, match=r"delta1 .* BP2"):
        _compare_trace("mutant", t["a"], bad, t["grads"], t["z"])


# --- chapter 3: golden_ch3.npz, from benchmarks/book/network2.py ----------------------

G3 = dict(np.load(Path(__file__).with_name("golden") / "golden_ch3.npz", allow_pickle=False))
CH3 = {  # must match tests/golden/make_golden_ch3.py
    "ce_tanh_l2_momentum": dict(cost="cross_entropy", activation="tanh", reg="l2", lmbda=5.0,
                                momentum=0.9, eta=0.5),
    "ll_relu_l1": dict(cost="log_likelihood", activation="relu", reg="l1", lmbda=2.0,
                       momentum=0.0, eta=0.25),
    "quad_sigmoid_momentum": dict(cost="quadratic", activation="sigmoid", reg="l2", lmbda=0.0,
                                  momentum=0.5, eta=3.0),
}
P3 = tuple(jaxnet.Layer(G3[f"w{l}"], G3[f"b{l}"]) for l in range(L))
N3 = int(G3["n_train"])


@pytest.mark.parametrize("name", list(CH3))
@pytest.mark.parametrize("impl", ["backprop", "autodiff", "C"])
def test_chapter3_against_golden(name, impl):
    c = CH3[name]
    model = dict(model=jaxnet.Model.dense(SIZES, cost=c["cost"], activation=c["activation"],
                                          reg=c["reg"]), lmbda=c["lmbda"], n=N3)
    x, y = G3["x"], G3["y"]
    grad = {"backprop": jaxnet.backprop, "autodiff": jaxnet.autodiff_grad, "C": cref.backprop}[impl]
    step = {"backprop": jaxnet.step_with, "C": cref.step_with,
            "autodiff": lambda *a, **k: jaxnet.step_with(*a, grad="autodiff", **k)}[impl]
    g = grad(P3, x, y, **model)
    for l in range(L):
        _check(f"{impl} {name}", "gw", l + 1, g[l].w, G3[f"{name}/gw{l}"])
        _check(f"{impl} {name}", "gb", l + 1, g[l].b, G3[f"{name}/gb{l}"])
    # momentum 0 is the book's plain step: jaxnet.momentum(η, 0) follows sgd(η)'s trajectory
    rule = jaxnet.momentum(c["eta"], c["momentum"])
    p, state = P3, None
    for _ in range(2):
        p, state = step(rule, p, state, x, y, **model)
    for l in range(L):
        _check(f"{impl} {name}", "step", l + 1, p[l].w, G3[f"{name}/w{l}_after2"])
        _check(f"{impl} {name}", "step", l + 1, p[l].b, G3[f"{name}/b{l}_after2"])
    moved = max(rel_err(p[l].w, P3[l].w) for l in range(L))
    assert moved > 1e-3, "two steps barely moved the parameters: a vacuous golden state"


# --- a layer kind defined here alone gets the golden-state comparison for free ---------

from dataclasses import dataclass  # noqa: E402


@dataclass(frozen=True)
class Transposed:
    """A test-only layer kind: a Dense layer storing its weights as ``(n_in, n_out)``,
    with its own forward and hand-derived backward. The chain, BP1/BP2, the
    penalty and the golden comparison know nothing about it."""

    n_out: int
    activation: str = "sigmoid"

    def output_shape(self, in_shape):
        return (self.n_out,)

    def param_shapes(self, in_shape):
        return jaxnet.Layer(w=(in_shape[0], self.n_out), b=(self.n_out,))

    def init(self, keys, in_shape, dtype, scheme):
        return jaxnet.Layer(jax.random.normal(keys[0], (in_shape[0], self.n_out), dtype),
                            jax.random.normal(keys[1], (self.n_out,), dtype))

    def forward(self, p, a, precision):
        return contract(a, p.w, 1, 0, precision) + p.b[None, :], None  # A W + b

    def backward(self, p, a, saved, delta, precision, input_grad=True):
        g = jaxnet.Layer(contract(a, delta, 0, 0, precision), jnp.sum(delta, axis=0))  # Aᵀ Δ
        return g, (contract(delta, p.w, 1, 1, precision) if input_grad else None)      # Δ Wᵀ


def test_a_new_layer_kind_gets_the_golden_comparison_for_free():
    model = jaxnet.Model((SIZES[0],), tuple(Transposed(n) for n in SIZES[1:]))
    params = tuple(jaxnet.Layer(p.w.T.copy(), p.b) for p in PARAMS)
    t = TRACE(params, G["x"], G["y"], model=model)
    back = tuple(jaxnet.Layer(g.w.T, g.b) for g in t["grads"])
    _compare_trace("Transposed layers", t["a"], t["delta"], back, t["z"])
    stepped = jaxnet.sgd_step(params, G["x"], G["y"], float(G["eta"]), model=model)
    _compare_step("Transposed sgd_step", tuple(jaxnet.Layer(p.w.T, p.b) for p in stepped))
    # and jax.grad of the same cost agrees with its hand-derived backward
    auto = jaxnet.autodiff_grad(params, G["x"], G["y"], model=model)
    assert rel_err(auto[0].w, t["grads"][0].w) <= GOLDEN_RTOL
