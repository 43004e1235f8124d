"""The command line, run as a user runs it (a subprocess)."""

import re
import subprocess
import sys
import tempfile

import pytest

import jaxnet
from jaxnet import cli

EPOCH_LINE = re.compile(r"^Epoch (\d+): (\d+) / (\d+)  \((\d+\.\d+) s\)$", re.M)


def _run(*args, timeout=600):
    # From a neutral folder: run in the repository root, `python -m` would put
    # the source tree (without the compiled C extension) ahead of the install.
    return subprocess.run([sys.executable, "-m", "jaxnet", *args], capture_output=True,
                          text=True, timeout=timeout, cwd=tempfile.gettempdir())


def test_defaults_are_the_books_chapter_1_experiment():
    args = cli.build_parser().parse_args(["train"])
    assert (args.data, args.sizes, args.eta, args.batch_size, args.epochs, args.init) == \
           ("mnist", None, 3.0, 10, 30, "large")  # sizes default to INPUT,30,10


def test_train_on_the_sample_prints_epochs_and_saves(tmp_path):
    out = tmp_path / "net.npz"
    r = _run("train", "--data", "sample", "--epochs", "2", "--seed", "1", "--save", str(out))
    assert r.returncode == 0, r.stderr
    epochs = EPOCH_LINE.findall(r.stdout)
    assert [int(e[0]) for e in epochs] == [0, 1], r.stdout
    assert all(int(e[2]) == 1000 for e in epochs)
    assert int(epochs[-1][1]) > 500  # real digits: far above chance after 2 epochs
    params, meta = jaxnet.load_params(out, with_metadata=True)
    assert meta["sizes"] == [784, 30, 10] and meta["seed"] == 1
    # the saved network scores what the last epoch printed
    from jaxnet import data
    test = data.load_sample().test
    assert int(jaxnet.evaluate(params, test.x, test.labels)) == int(epochs[-1][1])


@pytest.mark.parametrize("argv, message", [
    (["train", "--eta", "-1"], "--eta: expected a positive float"),
    (["train", "--sizes", "784"], "--sizes: expected at least two positive sizes"),
    (["train", "--epochs", "x"], "--epochs: expected a non-negative int"),
    (["train", "--data", "sample", "--sizes", "700,10", "--epochs", "0"], "must start with 784"),
    (["train", "--data", "/nonexistent/folder"], "neither one of"),
    (["train", "--data", "sample", "--batch-size", "9999", "--epochs", "0"], "exceeds the 5000"),
    (["train", "--cost", "hinge"], "--cost: expected one of quadratic, cross-entropy"),
    (["train", "--activation", "gelu"], "--activation: expected one of sigmoid, tanh, relu"),
    (["train", "--momentum", "2"], "--momentum: expected a number in [0, 1]"),
    (["train", "--lmbda", "-1"], "--lmbda: expected a finite number >= 0"),
    (["train", "--monitor", "test_cost"], "--monitor: expected names from"),
    (["train", "--data", "sample", "--epochs", "0", "--activation", "relu", "--save", "x.json",
      "--save-format", "network2"], "network2 holds sigmoid networks"),
])
def test_bad_flags_are_clear_errors(argv, message):
    r = _run(*argv)
    assert r.returncode != 0
    assert message in r.stderr, r.stderr
    assert "Traceback" not in r.stderr


def test_train_chapter3_flags_monitor_and_save_network2(tmp_path):
    out = tmp_path / "net.json"
    r = _run("train", "--data", "sample", "--epochs", "2", "--cost", "cross-entropy",
             "--eta", "0.5", "--lmbda", "5", "--momentum", "0.3", "--monitor", "all",
             "--eval", "validation", "--save", str(out), "--save-format", "network2")
    assert r.returncode == 0, r.stderr
    lines = re.findall(r"^Epoch (\d+): (\d+) / 1000, validation cost ([\d.]+), training "
                       r"(\d+) / 5000, training cost ([\d.]+)  \(", r.stdout, re.M)
    assert [int(l[0]) for l in lines] == [0, 1], r.stdout
    params, cost = jaxnet.load_network2(out, dtype="float32")  # as trained: same argmaxes
    assert cost == "cross_entropy"
    from jaxnet import data
    val = data.load_sample().validation
    model = jaxnet.Model.dense(jaxnet.layer_sizes(params), cost=cost)
    assert int(jaxnet.evaluate(params, val.x, val.labels, model=model)) == int(lines[-1][1])


def test_check_command_passes_and_prints_every_pair():
    r = _run("check")
    assert r.returncode == 0, r.stdout + r.stderr
    for pair in ("backprop vs jax.grad", "backprop vs C", "jax.grad vs C", "C vs central diff."):
        assert pair in r.stdout
    assert "float32" in r.stdout and "epoch" in r.stdout
    assert re.search(r"^epoch, 500 MNIST, conv .* float64 +backprop vs C ", r.stdout, re.M)
    assert re.search(r"^\d+ passed, 0 failed$", r.stdout, re.M), r.stdout


def test_check_flags_a_broken_implementation():
    import io

    import jax

    from jaxnet.bench import _check

    def broken(params, x, y, **model):  # BP1 off by 1 %: every gradient scaled
        return jax.tree.map(lambda g: g * 1.01, jaxnet.backprop(params, x, y, **model))

    out = io.StringIO()
    def epoch(rule, p, x, y, o, **k):
        return jaxnet.train_epoch_with(rule, p, None, x, y, o, **k)[0]

    rows = _check.comparison_rows({"backprop": jaxnet.backprop, "broken": broken},
                      {"backprop": epoch,
                       "broken": lambda *a, **k: jax.tree.map(lambda a: a * 1.001, epoch(*a, **k))},
                      out=out, sections=("gradients", "epochs"))
    failed = [r for r in rows if not r.ok]
    # The gradient pairs and the epoch pairs, each with a broken side, were all there.
    assert {r.pair for r in failed} >= {"backprop vs broken"} and len(failed) >= 6
    assert failed and all("broken" in r.pair for r in failed)
    assert all(r.ok for r in rows if "broken" not in r.pair)
    assert "FAIL" in out.getvalue()


def test_check_sections_are_named():
    from jaxnet.bench import _check
    with pytest.raises(ValueError, match="sections: expected a non-empty subset"):
        _check.comparison_rows({"backprop": jaxnet.backprop}, sections=("gradient",))
