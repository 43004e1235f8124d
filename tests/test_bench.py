"""The benchmark harness: it refuses to time a wrong gradient, counts FLOPs right, and runs."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxnet
from jaxnet import Layer, bench


def _net(sizes=(6, 5, 3), m=4, seed=0):
    rng = np.random.default_rng(seed)
    params = tuple(Layer(jnp.asarray(rng.standard_normal((o, i))), jnp.asarray(rng.standard_normal(o)))
                   for i, o in zip(sizes[:-1], sizes[1:]))
    x = rng.random((m, sizes[0]))
    y = np.eye(sizes[-1])[rng.integers(0, sizes[-1], m)]
    return params, x, y


def test_flops_per_example_matches_a_hand_count():
    # 784-30-10: forward 784·30 + 30·10 = 23,820 multiply-adds; BP4 (δ·aᵀ) the same again;
    # BP2 propagates δ through w² only: 30·10 = 300. Total 47,940 multiply-adds = 95,880 FLOP.
    assert bench.flops_per_example([784, 30, 10]) == 95_880
    # 2-3-4-5: forward 6 + 12 + 20 = 38; BP4 38; BP2 through w², w³: 12 + 20 = 32 → 108 → 216.
    assert bench.flops_per_example([2, 3, 4, 5]) == 216


def _impl(gradient, prepare=None):
    def never(*a):
        raise AssertionError("prepare must not run for a refused implementation")
    return bench.Implementation("test path", "float64", gradient, prepare or never)


@pytest.mark.parametrize("bad, match", [
    (lambda p, x, y: jax.tree.map(lambda g: g * (1 + 1e-6), jaxnet.autodiff_grad(p, x, y)),
     r"differs from jax.grad by 1\.00e-06"),
    (lambda p, x, y: jax.tree.map(jnp.zeros_like, p), r"differs from jax.grad by 1\.00e\+00"),
    (lambda p, x, y: jaxnet.autodiff_grad(p, x, y)[:1], r"gradient failed"),
    (lambda p, x, y: jax.tree.map(lambda g: g.T, jaxnet.autodiff_grad(p, x, y)),
     r"differs from jax.grad by inf"),
])
def test_a_disagreeing_gradient_is_refused_and_not_timed(bad, match):
    params, x, y = _net()
    with pytest.raises(bench.GradientMismatch, match=match):
        bench.check_gradient(_impl(bad), params, x, y)
    task = bench.Task(np.zeros((4, 6), np.uint8), np.zeros(4, np.int32), np.arange(4, dtype=np.int32),
                      (6, 5, 3), 1.0, 2, 1.0)
    row = bench.measure(_impl(bad), params, task, repeats=3, check_batch=(params, x, y))
    assert row.refused and not row.times
    assert "not timed" in bench.table([row.summary()])


def test_a_zero_reference_gradient_is_not_a_pass():
    # Saturated output with targets equal to it gives a zero gradient: nothing would be checked.
    params, x, y = _net()
    params = (params[0], Layer(jnp.zeros((3, 5)), jnp.full(3, 50.0)))  # σ(50) == 1.0 in float64
    with pytest.raises(bench.GradientMismatch, match="zero everywhere"):
        bench.check_gradient(_impl(jaxnet.backprop), params, x, np.ones((4, 3)))


def test_every_peer_and_jaxnet_path_passes_the_check():
    import run
    impls, _ = run.implementations()
    params, x, y = _net(seed=3)
    for key, impl in impls.items():
        assert bench.check_gradient(impl, params, x, y) <= bench.GRAD_RTOL, key
    assert {"jax", "jax-grad", "c32", "c64", "numpy", "book"} <= set(impls)


def test_measure_times_the_requested_epochs():
    calls = []

    def prepare(params, task):
        return (lambda: calls.append(1)), 0.5
    params, x, y = _net()
    task = bench.Task(np.zeros((4, 6), np.uint8), np.zeros(4, np.int32), np.arange(4, dtype=np.int32),
                      (6, 5, 3), 1.0, 2, 1.0)
    row = bench.measure(_impl(jaxnet.backprop, prepare), params, task, repeats=3,
                        check_batch=(params, x, y))
    assert len(calls) == 4 and len(row.times) == 3  # one warm-up, three timed
    s = row.summary(peak_gflops=10.0)
    assert s["compile_s"] == 0.5 and s["samples_per_s"] == pytest.approx(4 / s["median_s"])
    assert s["gflops"] == pytest.approx(bench.flops_per_example((6, 5, 3)) * 4 / s["median_s"] / 1e9)


def test_jaxnet_bench_command_checks_and_times_every_path(tmp_path, capsys):
    from jaxnet.cli import main
    out = tmp_path / "bench.json"
    assert main(["bench", "--data", "sample", "--repeats", "1", "--no-peak", "--json", str(out)]) == 0
    doc = json.loads(out.read_text())
    names = [r["name"] for r in doc["rows"]]
    assert names == ["jaxnet train_epoch (manual deltas)", "jaxnet train_epoch (jax.grad)",
                     "C kernel (fast path, uint8 pixels, float32)",
                     "C kernel (fast path, uint8 pixels, float64)", "C kernel (reference, float32)"]
    for r in doc["rows"]:
        assert r["refused"] is None and r["grad_rel_err"] <= bench.GRAD_RTOL
        assert len(r["times"]) == 1 and r["times"][0] > 0 and r["n_examples"] == 5000
    table = capsys.readouterr().out
    assert all(n in table for n in names) and "not timed" not in table


def test_conv_training_flops_match_a_hand_count():
    # network3's two-ConvPool net: conv 20·1·5²·24² = 288,000 multiply-adds, conv 40·20·5²·8²
    # = 1,280,000, FC 100·640 = 64,000, softmax 10·100 = 1,000: forward 1,633,000. Training:
    # forward + ∂C/∂w of each layer + ∂C/∂a of each but the first = 3·1,633,000 − 288,000.
    import conv_speed

    from jaxnet._core.layerspec import parse_layers
    model = parse_layers(conv_speed.SPEC, 784)
    assert conv_speed.training_flops(model) == 2 * (3 * 1_633_000 - 288_000)


def test_a_bench_json_that_cannot_be_written_is_rescued(tmp_path, monkeypatch, capsys):
    """--json goes through the one rescue path: one line, a copy, exit status 1."""
    import jaxnet._core.atomic as atomic
    from jaxnet.cli import main
    real, target = atomic.atomic_write, tmp_path / "bench.json"

    def full(path, *a, **k):
        if str(path) == str(target):
            raise OSError(28, "No space left on device")
        return real(path, *a, **k)
    monkeypatch.setattr(atomic, "atomic_write", full)
    monkeypatch.chdir(tmp_path)
    code = main(["bench", "--data", "sample", "--repeats", "1", "--no-peak", "--json",
                 str(target)])
    err = capsys.readouterr().err.strip().splitlines()
    rescued = [p for p in tmp_path.iterdir() if p.name.startswith("jaxnet-rescued-")]
    assert code == 1 and len(err) == 1 and "--json" in err[0] and "No space" in err[0], err
    assert len(rescued) == 1 and json.loads(rescued[0].read_text())["rows"]
    assert not target.exists()
