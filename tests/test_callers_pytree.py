"""The caller's pytree (issue 30): parameters given as any tuple or list of ``(w, b)``
pairs (jaxnet.Layer, plain tuples, plain lists) come back in the caller's own
containers, with exactly the numbers of a tuple of Layers; anything else is
refused everywhere with one message."""

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from conftest import count_compiles

import jaxnet
from jaxnet import Layer, cref

SIZES = (4, 3, 2)
M = 6

CONTAINERS = {
    "tuple_of_layers": lambda ps: tuple(Layer(w, b) for w, b in ps),
    "list_of_layers": lambda ps: [Layer(w, b) for w, b in ps],
    "tuple_of_tuples": lambda ps: tuple((w, b) for w, b in ps),
    "list_of_lists": lambda ps: [[w, b] for w, b in ps],
    "list_of_tuples": lambda ps: [(w, b) for w, b in ps],
}


class Pair(NamedTuple):
    weight: jax.Array
    bias: jax.Array


def _bad(ps):
    """``(name, params, the message's pattern)``: containers every function refuses."""
    return [
        ("dict", {"w": ps[0][0], "b": ps[0][1]}, r"params: expected a non-empty tuple or list "
                                                  r"of \(w, b\) pairs .*got dict"),
        ("layer_as_params", Layer(*ps[0]), r"params: expected a non-empty tuple or list of "
                                           r"\(w, b\) pairs .*got Layer"),
        ("dict_layers", [{"w": w, "b": b} for w, b in ps],
         r"params\[0\]: expected a \(w, b\) pair .*got dict"),
        ("other_namedtuple", [Pair(w, b) for w, b in ps],
         r"params\[0\]: expected a \(w, b\) pair .*got Pair"),
        ("three_tuple", [(w, b, b) for w, b in ps],
         r"params\[0\]: expected a \(w, b\) pair .*got tuple of 3"),
        ("nested_deeper", [((w, b),) for w, b in ps],
         r"params\[0\]: expected a \(w, b\) pair .*got tuple of 1"),
    ]


@pytest.fixture(scope="module")
def data():
    k = jax.random.PRNGKey(0)
    ps = jaxnet.init_params(k, SIZES, dtype=np.float64)
    x = np.asarray(jax.random.uniform(jax.random.PRNGKey(1), (M, SIZES[0]), jnp.float64))
    labels = np.arange(M) % SIZES[-1]
    y = np.eye(SIZES[-1])[labels]
    return {"ps": tuple((w, b) for w, b in ps), "x": x, "y": y, "labels": labels,
            "order": np.arange(M)[::-1].copy()}


def _np(ps):
    return [(np.asarray(w), np.asarray(b)) for w, b in ps]


def _calls(d):
    """Public functions that return parameters (or gradients) in ``params``'s structure:
    ``name -> f(params) -> that tree``."""
    x, y, order, labels = d["x"], d["y"], d["order"], d["labels"]
    sgd, mom = jaxnet.sgd(0.5), jaxnet.momentum(0.5, 0.9)
    adam = optax.adam(1e-2)

    return {
        "backprop": lambda p: jaxnet.backprop(p, x, y),
        "autodiff_grad": lambda p: jaxnet.autodiff_grad(p, x, y),
        "backprop_trace": lambda p: jaxnet.backprop_trace(p, x, y)["grads"],
        "sgd_step": lambda p: jaxnet.sgd_step(p, x, y, 0.5),
        "step_with_sgd": lambda p: jaxnet.step_with(sgd, p, None, x, y)[0],
        "step_with_momentum": lambda p: jaxnet.step_with(mom, p, None, x, y),
        "step_with_momentum_state": lambda p: jaxnet.step_with(mom, p, mom.init(p), x, y),
        "step_with_optax": lambda p: _standard(jaxnet.step_with, adam, p, adam.init(p), x, y),
        "train_epoch": lambda p: jaxnet.train_epoch(p, x, y, order, eta=0.5, batch_size=4),
        "train_epoch_with_momentum": lambda p: jaxnet.train_epoch_with(
            mom, p, mom.init(p), x, y, order, batch_size=4),
        "train_epoch_with_optax": lambda p: _standard(
            jaxnet.train_epoch_with, adam, p, adam.init(p), x, y, order, batch_size=4),
        "apply_updates": lambda p: jaxnet.apply_updates(p, jaxnet.backprop(p, x, y)),
        "sgd_init_update": lambda p: sgd.update(jaxnet.backprop(p, x, y), sgd.init(p), p)[0],
        "momentum_init_update": lambda p: mom.update(jaxnet.backprop(p, x, y), mom.init(p), p),
        "fit": lambda p: jaxnet.fit(jax.random.PRNGKey(2), p, x, labels, epochs=1,
                                    batch_size=4, eta=0.5).params,
        "fit_population": lambda p: jaxnet.fit_population(
            jax.random.split(jax.random.PRNGKey(2), 2),
            jax.tree.map(lambda a: jnp.stack([a, a]), p), x, labels, epochs=1,
            batch_size=4, eta=0.5).params,
        "cref.backprop": lambda p: cref.backprop(_np_like(p), x, y),
        "cref.backprop_trace": lambda p: cref.backprop_trace(_np_like(p), x, y)["grads"],
        "cref.sgd_step": lambda p: cref.sgd_step(_np_like(p), x, y, 0.5),
        "cref.step_with_momentum": lambda p: cref.step_with(mom, _np_like(p), None, x, y),
        "cref.step_with_momentum_state": lambda p: cref.step_with(
            mom, _np_like(p), mom.init(_np_like(p)), x, y),
        "cref.train_epoch": lambda p: cref.train_epoch(_np_like(p), x, y, order, eta=0.5,
                                                       batch_size=4),
        "cref.train_epoch_with": lambda p: cref.train_epoch_with(
            mom, _np_like(p), None, x, y, order, batch_size=4),
    }


def _standard(fn, *args, **kw):
    """``fn(*args, **kw)`` under JAX's standard dtype promotion: optax's Adam computes
    ``decay ** int32 count``, which the suite's strict promotion refuses."""
    with jax.numpy_dtype_promotion("standard"):
        return fn(*args, **kw)


def _np_like(p):
    """``p`` with NumPy leaves, in its own containers (the C twin's host parameters)."""
    return jax.tree.map(np.asarray, p)


CALL_NAMES = list(_calls({"x": 0, "y": 0, "order": 0, "labels": 0}))


def _params_part(out):
    """The parameter-shaped trees of a call's result: a momentum step's params and
    velocity, an Adam step's params and moments."""
    if isinstance(out, tuple) and len(out) == 2 and isinstance(out[1], jaxnet.MomentumState):
        return [out[0], out[1].velocity]
    if isinstance(out, tuple) and len(out) == 2 and isinstance(out[1], tuple) \
            and hasattr(out[1][0], "mu"):
        return [out[0], out[1][0].mu, out[1][0].nu]
    return [out]


@pytest.mark.parametrize("container", list(CONTAINERS))
@pytest.mark.parametrize("name", CALL_NAMES)
def test_returns_the_callers_structure(data, name, container):
    fn = _calls(data)[name]
    p = CONTAINERS[container](data["ps"])
    ref = fn(CONTAINERS["tuple_of_layers"](data["ps"]))
    out = fn(p)
    if name == "fit_population":
        p = jax.tree.map(lambda a: jnp.stack([a, a]), p)
    for got, want in zip(_params_part(out), _params_part(ref)):
        for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(want)):
            assert type(a) is type(b), (name, container, type(a), type(b))
            np.testing.assert_array_equal(np.asarray(a), np.asarray(b))  # exactly
        assert jax.tree.structure(got) == jax.tree.structure(p), (name, container)


@pytest.mark.parametrize("container", list(CONTAINERS))
def test_outputs_that_are_not_parameters_are_the_same(data, container, tmp_path):
    """Functions that return arrays or scalars: accept every container, same numbers."""
    x, y, labels = data["x"], data["y"], data["labels"]
    p, ref = CONTAINERS[container](data["ps"]), CONTAINERS["tuple_of_layers"](data["ps"])
    stacked = jax.tree.map(lambda a: jnp.stack([a, a]), p)
    stacked_ref = jax.tree.map(lambda a: jnp.stack([a, a]), ref)
    fns = {
        "feedforward": lambda q: jaxnet.feedforward(q, x),
        "cost": lambda q: jaxnet.cost(q, x, y),
        "evaluate": lambda q: jaxnet.evaluate(q, x, labels),
        "backprop_trace.delta": lambda q: jaxnet.backprop_trace(q, x, y)["delta"],
        "cref.feedforward": lambda q: cref.feedforward(_np_like(q), x),
        "cref.backprop_trace.a": lambda q: cref.backprop_trace(_np_like(q), x, y)["a"],
    }
    for name, fn in fns.items():
        for a, b in zip(jax.tree.leaves(fn(p)), jax.tree.leaves(fn(ref))):
            np.testing.assert_array_equal(np.asarray(a), np.asarray(b), err_msg=name)
    np.testing.assert_array_equal(jaxnet.evaluate_ensemble(stacked, x, labels),
                                  jaxnet.evaluate_ensemble(stacked_ref, x, labels))
    # Files hold arrays, not containers: what was saved from any container loads
    # back as jaxnet's tuple of Layers, with the same numbers.
    loaded = jaxnet.load_params(jaxnet.save_params(tmp_path / "p.npz", p))
    jaxnet.save_network2(tmp_path / "p.json", p)
    net2, _ = jaxnet.load_network2(tmp_path / "p.json", dtype=np.float64)
    for got in (loaded, net2):
        assert jax.tree.structure(got) == jax.tree.structure(ref)
        for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(ref)):
            np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


@pytest.mark.parametrize("container", ["tuple_of_layers", "list_of_tuples", "list_of_lists"])
def test_convpool_twins_return_the_callers_pair(container):
    layer = jaxnet.ConvPool(filters=2, kernel=2, pool=2)
    rng = np.random.default_rng(0)
    w, b = rng.normal(size=(2, 1, 2, 2)), rng.normal(size=(2,))
    a = rng.normal(size=(3, 1, 5, 5))
    p = CONTAINERS[container]([(w, b)])[0]
    z, idx = cref.convpool_forward(layer, p, a)
    z_ref, idx_ref = cref.convpool_forward(layer, Layer(w, b), a)
    np.testing.assert_array_equal(z, z_ref)
    g, g_in = cref.convpool_backward(layer, p, a, idx, np.ones_like(z))
    g_ref, g_in_ref = cref.convpool_backward(layer, Layer(w, b), a, idx_ref, np.ones_like(z))
    assert jax.tree.structure(g) == jax.tree.structure(p)
    for got, want in zip(jax.tree.leaves((g, g_in)), jax.tree.leaves((g_ref, g_in_ref))):
        np.testing.assert_array_equal(got, want)


def test_optax_apply_updates_on_a_list(data):
    """The issue's example: a list of Layers, its gradient, optax.apply_updates."""
    p = list(jaxnet.init_params(jax.random.PRNGKey(0), SIZES, dtype=np.float64))
    grads = jaxnet.backprop(p, data["x"], data["y"])
    new = optax.apply_updates(p, grads)
    assert isinstance(new, list) and all(isinstance(layer, Layer) for layer in new)
    opt = optax.sgd(0.5)
    updates, _ = opt.update(grads, opt.init(p), p)
    np.testing.assert_array_equal(optax.apply_updates(p, updates)[0].w,
                                  jaxnet.sgd_step(p, data["x"], data["y"], 0.5)[0].w)


def test_containers_share_one_compiled_program(data):
    """The containers are converted outside the compiled functions: a new container
    never recompiles."""
    x, y, order = data["x"], data["y"], data["order"]
    mom = jaxnet.momentum(0.5, 0.9)

    def run(p):
        jaxnet.backprop(p, x, y)
        jaxnet.sgd_step(p, x, y, 0.5)
        jaxnet.train_epoch_with(mom, p, mom.init(p), x, y, order, batch_size=4)
        jaxnet.evaluate(p, x, data["labels"])

    run(CONTAINERS["tuple_of_layers"](data["ps"]))
    for make in CONTAINERS.values():
        with count_compiles() as n:
            run(make(data["ps"]))
        assert n[0] == 0, n[0]


def _refusing_calls(d):
    x, y, order, labels = d["x"], d["y"], d["order"], d["labels"]
    mom = jaxnet.momentum(0.5, 0.9)
    return {
        "feedforward": lambda p: jaxnet.feedforward(p, x),
        "cost": lambda p: jaxnet.cost(p, x, y),
        "backprop": lambda p: jaxnet.backprop(p, x, y),
        "backprop_trace": lambda p: jaxnet.backprop_trace(p, x, y),
        "autodiff_grad": lambda p: jaxnet.autodiff_grad(p, x, y),
        "sgd_step": lambda p: jaxnet.sgd_step(p, x, y, 0.5),
        "step_with": lambda p: jaxnet.step_with(mom, p, None, x, y),
        "train_epoch": lambda p: jaxnet.train_epoch(p, x, y, order, eta=0.5, batch_size=4),
        "train_epoch_with": lambda p: jaxnet.train_epoch_with(mom, p, None, x, y, order,
                                                              batch_size=4),
        "evaluate": lambda p: jaxnet.evaluate(p, x, labels),
        "layer_sizes": jaxnet.layer_sizes,
        "fit": lambda p: jaxnet.fit(jax.random.PRNGKey(2), p, x, labels, epochs=1),
        "save_params": lambda p: jaxnet.save_params("/nonexistent/p.npz", p),
        "save_network2": lambda p: jaxnet.save_network2("/nonexistent/p.json", p),
        "cref.feedforward": lambda p: cref.feedforward(p, x),
        "cref.backprop": lambda p: cref.backprop(p, x, y),
        "cref.backprop_trace": lambda p: cref.backprop_trace(p, x, y),
        "cref.sgd_step": lambda p: cref.sgd_step(p, x, y, 0.5),
        "cref.step_with": lambda p: cref.step_with(mom, p, None, x, y),
        "cref.train_epoch": lambda p: cref.train_epoch(p, x, y, order, eta=0.5, batch_size=4),
        "cref.train_epoch_with": lambda p: cref.train_epoch_with(mom, p, None, x, y, order,
                                                                 batch_size=4),
    }


REFUSING = list(_refusing_calls({"x": 0, "y": 0, "order": 0, "labels": 0, "ps": 0}))
BAD = [name for name, _, _ in _bad([(0, 0)])]


@pytest.mark.parametrize("bad", BAD)
@pytest.mark.parametrize("name", REFUSING)
def test_other_containers_are_refused(data, name, bad):
    _, params, match = next(t for t in _bad(_np(data["ps"])) if t[0] == bad)
    with pytest.raises(TypeError, match=match):
        _refusing_calls(data)[name](params)


@pytest.mark.parametrize("bad", ["dict_layers", "other_namedtuple", "three_tuple"])
def test_convpool_twins_refuse_other_pairs(bad):
    layer = jaxnet.ConvPool(filters=2, kernel=2, pool=2)
    w, b, a = np.ones((2, 1, 2, 2)), np.ones(2), np.ones((3, 1, 5, 5))
    _, params, match = next(t for t in _bad([(w, b)]) if t[0] == bad)
    with pytest.raises(TypeError, match=match.replace(r"params\[0\]", "p")):
        cref.convpool_forward(layer, params[0], a)
