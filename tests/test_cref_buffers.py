"""Every buffer handed to C is alive for the whole call (robustness class 1).

Each public ``jaxnet.cref`` function is called with arguments that force a copy
before C can read them (another dtype, nested lists, JAX arrays, int32 orders)
and compared with its JAX twin on the converted values. A temporary freed before
C reads it gives numbers off by 1e-2 and more (the bug these tests were written
for: ``cref.backprop`` of a ConvPool model with float32 ``x`` was off by 0.1), so
a float64 tolerance of 1e-10 catches it. Then a property-based fuzz of dtypes,
memory layouts and shapes: the same numbers as JAX, or a documented error.
"""

import ast
import pathlib

import jax
import numpy as np
import pytest
from conftest import assert_trees_close, rel_err
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import jaxnet
from jaxnet import cref

# float64 throughout: C and XLA sum in different orders (measured ~1e-14 on a
# step, ~1e-13 on an epoch of these sizes); a freed buffer is off by ≥ 1e-3.
RTOL = 1e-10

DENSE = jaxnet.Model.dense([12, 7, 4], cost="cross_entropy")
CONV = jaxnet.Model(input_shape=(1, 8, 8),
                    layers=(jaxnet.ConvPool(3, 3, 2, "relu"), jaxnet.Dense(5, "sigmoid"),
                            jaxnet.Dense(4, "softmax")),
                    cost="log_likelihood")
DROP = jaxnet.Model(input_shape=(1, 8, 8),
                    layers=(jaxnet.ConvPool(2, 3, 2, "sigmoid"),
                            jaxnet.Dense(4, "softmax", dropout=0.5)),
                    cost="log_likelihood")
M = 6


def _problem(model, seed=0):
    """float64 params, float64 x (M, n_0) in [0, 1), one-hot y (M, n_L)."""
    params = jax.tree.map(np.asarray, jaxnet.init_params(jax.random.PRNGKey(seed),
                                                         model=model, dtype=np.float64))
    rng = np.random.default_rng(seed)
    n_in = int(np.prod(model.input_shape))
    x = rng.random((M, n_in))
    y = np.eye(model.layers[-1].n_out)[rng.integers(0, model.layers[-1].n_out, M)]
    return params, x, y


# Ways to hand C an argument that must be converted first: each returns the
# argument as passed and the float64 array its values equal.
COPIES = {
    "float32": lambda a: (a.astype(np.float32), a.astype(np.float32).astype(np.float64)),
    "list": lambda a: (a.tolist(), a),
    "jax float32": lambda a: (jax.numpy.asarray(a, np.float32),
                              a.astype(np.float32).astype(np.float64)),
}


def _call(name, model, params, x, y, order, key):
    """(C result, JAX result) of the twin pair ``name``."""
    kw = dict(model=model)
    if name == "feedforward":
        return cref.feedforward(params, x, **kw), None
    if name == "backprop":
        return cref.backprop(params, x, y, lmbda=0.5, n=100, **kw), None
    if name.startswith("sgd_step"):
        impl = None if model is not DENSE else name.split(":")[1]
        return cref.sgd_step(params, x, y, 0.3, kernel=impl, key=key, **kw), None
    if name.startswith("epoch"):
        impl = None if model is not DENSE else name.split(":")[1]
        return cref.train_epoch(params, x, y, order, eta=0.3, batch_size=4, kernel=impl,
                                key=key, **kw), None
    if name == "momentum_epoch":
        rule = jaxnet.momentum(0.2, 0.9)
        return cref.train_epoch_with(rule, params, None, x, y, order, batch_size=4,
                                     key=key, **kw)[0], None
    raise AssertionError(name)


def _jax(name, model, params, x, y, order, key):
    kw = dict(model=model)
    if name == "feedforward":
        return jaxnet.feedforward(params, x, **kw)
    if name == "backprop":
        return jaxnet.backprop(params, x, y, lmbda=0.5, n=100, **kw)
    if name.startswith("sgd_step"):
        return jaxnet.sgd_step(params, x, y, 0.3, key=key, **kw)
    if name.startswith("epoch"):
        return jaxnet.train_epoch(params, x, y, order, eta=0.3, batch_size=4, key=key, **kw)
    if name == "momentum_epoch":
        return jaxnet.train_epoch_with(jaxnet.momentum(0.2, 0.9), params, None, x, y, order,
                                       batch_size=4, key=key, **kw)[0]
    raise AssertionError(name)


CALLS = [(n, m) for m in (DENSE, CONV, DROP)
         for n in ["feedforward", "backprop"]
         + (["sgd_step:fast", "sgd_step:reference", "epoch:fast", "epoch:reference"]
            if m is DENSE else ["sgd_step", "epoch"]) + ["momentum_epoch"]]


@pytest.mark.parametrize("copy", list(COPIES))
@pytest.mark.parametrize("name, model", CALLS,
                         ids=[f"{n}-{'dense' if m is DENSE else 'conv' if m is CONV else 'drop'}"
                              for n, m in CALLS])
def test_converted_arguments_give_the_jax_numbers(name, model, copy):
    params, x, y = _problem(model)
    order = np.random.default_rng(1).permutation(M)
    key = jax.random.PRNGKey(3) if model.has_dropout else None
    xc, xv = COPIES[copy](x)
    yc, yv = COPIES[copy](y)
    pc = tuple(jaxnet.Layer(*(COPIES["list"](a)[0] if copy == "list" else a for a in l))
               for l in params)
    oc = order.tolist() if copy == "list" else order.astype(np.int32)
    got = _call(name, model, pc, xc, yc, oc, key)[0]
    want = _jax(name, model, params, xv, yv, order, key)
    assert_trees_close(got, want, RTOL, f"C ({name}, {copy} arguments) vs JAX")
    assert max(float(np.max(np.abs(a))) for a in jax.tree.leaves(got)) > 1e-3


@pytest.mark.parametrize("copy", list(COPIES))
def test_convpool_layer_with_converted_arguments(copy):
    layer = jaxnet.ConvPool(3, 3, 2, "tanh")
    rng = np.random.default_rng(2)
    a = rng.random((4, 2, 8, 8))
    p = jax.tree.map(np.asarray, layer.init(jax.random.split(jax.random.PRNGKey(0)),
                                            (2, 8, 8), np.float64, "scaled"))
    ac, av = COPIES[copy](a)
    z_j, idx_j = layer.forward(p, av, "highest")
    z_c, idx_c = cref.convpool_forward(layer, p, ac)
    assert rel_err(z_c, z_j) <= RTOL
    delta = rng.standard_normal(z_c.shape)
    dc, dv = COPIES[copy](delta)
    ic = idx_c.tolist() if copy == "list" else idx_c.astype(np.int64)
    g_j, in_j = layer.backward(p, av, idx_j, dv, "highest")
    g_c, in_c = cref.convpool_backward(layer, p, ac, ic, dc)
    assert_trees_close(g_c, g_j, RTOL, f"conv-pool backward, {copy} arguments")
    assert rel_err(in_c, in_j) <= RTOL


def test_convpool_backward_refuses_indices_that_would_wrap():
    """An int64 block index of 2**32 must not become 0 on its way to C's int32."""
    layer = jaxnet.ConvPool(1, 3, 2)
    p = jaxnet.Layer(np.ones((1, 1, 3, 3)), np.zeros(1))
    a = np.ones((1, 1, 6, 6))
    idx = np.full((1, 1, 2, 2), 2**32, np.int64)
    with pytest.raises(ValueError, match=r"idx: expected block indices in \[0, 4\)"):
        cref.convpool_backward(layer, p, a, idx, np.ones((1, 1, 2, 2)))


def test_no_buffer_reaches_c_except_through_pinned():
    """The rule, structurally: outside Pinned, no ``ffi.from_buffer`` or ``ffi.cast``
    appears in the package (a cast of from_buffer holds nothing alive)."""
    root = pathlib.Path(jaxnet.__file__).parent
    bad = []
    for path in root.rglob("*.py"):
        tree = ast.parse(path.read_text())
        for cls in [n for n in ast.walk(tree) if isinstance(n, ast.ClassDef)
                    and n.name == "Pinned"]:
            cls.body = []                          # its own uses are the one place
        for node in ast.walk(tree):
            if (isinstance(node, ast.Attribute) and node.attr in ("from_buffer", "cast")
                    and isinstance(node.value, ast.Name) and node.value.id == "ffi"):
                bad.append(f"{path.relative_to(root)}:{node.lineno}")
    assert not bad, f"buffers handed to C outside Pinned: {bad}"
    assert any(root.rglob("*.py"))


# -- the fuzz ------------------------------------------------------------------

LAYOUTS = ["C", "F", "reversed", "strided", "list", "jax"]
DTYPES = [np.float64, np.float32, np.float16, np.int32, np.uint8, np.bool_, np.complex128]


def _lay(a, layout, dtype):
    """``a`` cast to ``dtype`` in ``layout``: (as passed, values as float64 or None)."""
    with np.errstate(all="ignore"):
        v = a.astype(dtype)
    if layout == "F":
        v = np.asfortranarray(v)
    elif layout == "reversed":
        v = v[::-1].copy()[::-1]                     # same values, negative strides
    elif layout == "strided":
        v = np.repeat(v, 2, axis=0)[::2]             # same values, non-contiguous
    elif layout == "list":
        v = v.tolist()
    elif layout == "jax":
        if np.dtype(dtype) in (np.complex128,):
            return v, None
        v = jax.numpy.asarray(v)
    vals = None if np.dtype(dtype).kind == "c" else np.array(
        np.asarray(v), dtype=np.float64)
    return v, vals


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(name_model=st.sampled_from(CALLS), xdt=st.sampled_from(DTYPES),
       ydt=st.sampled_from(DTYPES), lay=st.sampled_from(LAYOUTS),
       rows=st.sampled_from([M, M - 1, 0]), seed=st.integers(0, 3))
def test_fuzz_every_cref_function_at_the_c_boundary(name_model, xdt, ydt, lay, rows, seed):
    """Random dtypes, layouts and row counts: the JAX twin's numbers on the values C
    was given, or a ValueError/TypeError naming the argument; never anything else."""
    name, model = name_model
    params, x, y = _problem(model, seed)
    x, y = x[:rows] if rows else x[:0], y
    order = np.random.default_rng(seed).permutation(M)
    key = jax.random.PRNGKey(seed) if model.has_dropout else None
    xc, xv = _lay(x, lay, xdt)
    yc, yv = _lay(y, lay, ydt)
    try:
        got = _call(name, model, params, xc, yc, order, key)[0]
    except (ValueError, TypeError) as e:
        msg = str(e)
        assert msg.split(":")[0].split("[")[0].strip() in (
            "x", "y", "order", "params", "model", "batch_size", "state", "impl", "key"), msg
        return
    # Accepted: then what C computed equals JAX on the same values.
    assert xv is not None and (yv is not None or name == "feedforward")
    with np.errstate(all="ignore"):
        want = _jax(name, model, params, xv, yv, order, key)
    assert_trees_close(got, want, RTOL, f"C ({name}, x {xdt.__name__} {lay}) vs JAX")
