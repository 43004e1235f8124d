"""The C reference stands alone: its float64 is float64 whatever JAX's flags.

Every other test runs with ``jax_enable_x64`` on (conftest.py), which hid a bug: η
reached C through a JAX scalar, so without the flag the float64 kernel trained
with a float32 η (2e-10 relative off the book after one short epoch). These tests
run the C epoch in a child process where JAX's x64 flag is OFF and warnings are
errors, and compare it with the float64 NumPy transcription of network2
(benchmarks/book/network2.py, one example at a time, as the book).
"""

import os
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import numpy as np
import pytest

jaxnet_cref = pytest.importorskip("jaxnet.cref", reason="the C extension is not built")

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"   # book/: the transcription
# float64 kernels against the float64 transcription over one epoch of 5 mini-batches
# of a 6-5-3 net: each step's rounding is ~1e-16 relative, summed order differs.
# A float32 η (the bug) is off by ~1e-8 relative in η itself: 4 orders above this.
EXACT_RTOL = 1e-12

CHILD = textwrap.dedent(r"""
    import itertools, json, sys, warnings
    warnings.simplefilter("error")
    import jax
    import numpy as np
    assert not jax.config.jax_enable_x64, "the child must run with JAX's x64 flag off"
    import jaxnet
    from jaxnet import cref
    from book import network2

    rng = np.random.default_rng(3)
    sizes, n, batch = (6, 5, 3), 23, 5
    x = rng.uniform(size=(n, sizes[0]))
    y = np.eye(sizes[-1])[rng.integers(0, sizes[-1], n)]
    order = rng.permutation(n).astype(np.int64)
    params = tuple(jaxnet.Layer(rng.standard_normal((o, i)), rng.standard_normal(o))
                   for i, o in zip(sizes[:-1], sizes[1:]))
    eta, mu = 0.3, 0.7
    worst, moved = {}, np.inf
    for cost, rule_name, (reg, lmbda), kernel in itertools.product(
            ("quadratic", "cross_entropy"), ("sgd", "momentum"),
            ((None, None), ("l2", 2.5), ("l1", 2.5)), ("fast", "reference")):
        model = jaxnet.Model.dense(sizes, cost=cost, reg=reg or "l2")
        rule = jaxnet.sgd(eta) if rule_name == "sgd" else jaxnet.momentum(eta, mu)
        got, state = cref.train_epoch_with(rule, params, None, x, y, order, batch_size=batch,
                                           model=model, lmbda=lmbda, kernel=kernel)
        book = network2.Network([p.w for p in params], [p.b for p in params], cost=cost)
        vel = None if rule_name == "sgd" else (
            [np.zeros_like(p.w) for p in params], [np.zeros((p.b.size, 1)) for p in params])
        for s in range(0, n, batch):
            rows = order[s:s + batch]
            vel = book.update_mini_batch(x[rows], y[rows], eta, lmbda=lmbda or 0.0, n=n,
                                         reg=reg or "l2", momentum=mu, velocity=vel)
        err = 0.0
        for p, w, b in zip(got, book.weights, book.biases):
            assert p.w.dtype == np.float64 and p.b.dtype == np.float64
            for a, e in ((p.w, w), (p.b, b.ravel())):
                err = max(err, float(np.abs(a - e).max() / np.abs(e).max()))
        if rule_name == "momentum":
            assert state.velocity[0].w.dtype == np.float64
        worst[f"{cost}/{rule_name}/{reg}/{kernel}"] = err
        moved = min(moved, max(float(np.abs(p.w - q.w).max()) for p, q in zip(got, params)))
    # A state the caller made with the rule, on the NumPy parameters: exact too.
    rule = jaxnet.momentum(eta, mu)
    state = rule.init(params)
    assert all(np.asarray(a).dtype == np.float64 for a in (state.eta, state.mu))
    cref.train_epoch_with(rule, params, state, x, y, order, batch_size=batch)
    # A JAX state rounded to float32 (made on JAX arrays without x64) is refused by name.
    f32 = tuple(jaxnet.Layer(jax.numpy.asarray(p.w, np.float32), jax.numpy.asarray(p.b, np.float32))
                for p in params)
    try:
        cref.train_epoch_with(jaxnet.sgd(eta), params, jaxnet.sgd(eta).init(f32), x, y, order,
                              batch_size=batch)
        refused = ""
    except TypeError as e:
        refused = str(e)
    print(json.dumps({"worst": worst, "refused": refused, "moved": moved}))
""")


@pytest.fixture(scope="module")
def child():
    env = dict(os.environ, JAX_ENABLE_X64="0", JAX_PLATFORMS="cpu",
               PYTHONPATH=os.pathsep.join([str(BENCHMARKS)] + [p for p in sys.path if p]))
    # Not from the source tree: `python -c` puts the working directory first on the path,
    # and the tree's jaxnet/ has no C extension when the package is installed (as in CI).
    out = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True, env=env,
                         timeout=300, cwd=tempfile.gettempdir())
    assert out.returncode == 0, out.stderr[-3000:]
    import json
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_float64_c_epochs_equal_the_book_without_jax_x64(child):
    """Every cost, rule, penalty and kernel: the float64 C epoch equals network2's
    float64 transcription to EXACT_RTOL with JAX's x64 flag off (and no warning)."""
    worst = child["worst"]
    assert len(worst) == 2 * 2 * 3 * 2
    bad = {k: v for k, v in worst.items() if not v <= EXACT_RTOL}
    assert not bad, f"off the float64 book by more than {EXACT_RTOL}: {bad}"
    # Not vacuous: every epoch moved the weights far more than the tolerance.
    assert child["moved"] > 1e-3, child["moved"]


def test_a_float32_state_for_float64_parameters_is_refused_by_name(child):
    assert "state.eta" in child["refused"] and "float32" in child["refused"] \
        and "float64" in child["refused"], child["refused"]


def test_a_float32_eta_would_be_caught_at_this_tolerance():
    """The tolerance separates the bug from rounding: η rounded to float32 moves one
    update by ~1e-8 relative, four orders above EXACT_RTOL."""
    eta = 0.3
    assert abs(float(np.float32(eta)) - eta) / eta > 1e4 * EXACT_RTOL
