"""Chapter 6 from the command line and the files: --layers, --dropout, --expand,
--ensemble, --test-at-best; conv parameters saved and loaded; the layer spec's errors."""

import re
import subprocess
import sys
import tempfile

import jax
import numpy as np
import pytest

import jaxnet
from jaxnet import data
from jaxnet._core.layerspec import parse_layers


def _run(*args, timeout=600):
    return subprocess.run([sys.executable, "-m", "jaxnet", *args], capture_output=True,
                          text=True, timeout=timeout, cwd=tempfile.gettempdir())


def test_train_a_conv_net_with_dropout_reports_test_at_best_validation_and_saves(tmp_path):
    out = tmp_path / "conv.npz"
    r = _run("train", "--data", "sample", "--layers", "conv:6:5,pool:2,fc:20,softmax:10",
             "--activation", "relu", "--dropout", "0.2", "--init", "network3", "--eta", "0.1",
             "--epochs", "2", "--eval", "validation", "--test-at-best", "--no-shuffle",
             "--reg-n", "batches", "--lmbda", "0.1", "--save", str(out))
    assert r.returncode == 0, r.stderr
    assert "conv6x5/2-fc20-softmax10 network" in r.stdout and "dropout=0.2" in r.stdout
    assert re.search(r"^Epoch 0: \d+ / 1000, test \d+ / 1000 \(a new best\)", r.stdout, re.M)
    best = re.search(r"best (\d+) / 1000 -> test (\d+) / 1000", r.stdout)
    assert best and int(best.group(1)) > 800, r.stdout
    params, meta = jaxnet.load_params(out, with_metadata=True)
    assert [np.shape(p.w) for p in params] == [(6, 1, 5, 5), (20, 864), (10, 20)]
    model = parse_layers("conv:6:5,pool:2,fc:20,softmax:10", 784, activation="relu",
                         dropout=0.2)
    assert meta["model"] == model.describe() and meta["dropout"] == 0.2
    s = data.load_sample()
    assert jaxnet.evaluate(params, s.validation.images, s.validation.labels, model=model,
                           x_scale=1 / 256) == int(best.group(1))


def test_train_an_ensemble_on_expanded_data():
    r = _run("train", "--data", "sample", "--layers", "conv:4:5,pool:2,softmax:10",
             "--activation", "relu", "--eta", "0.1", "--epochs", "1", "--init", "scaled",
             "--expand", "--ensemble", "3", "--eval", "validation")
    assert r.returncode == 0, r.stderr
    assert "25000 training / 1000 validation" in r.stdout, r.stdout
    votes = re.search(r"majority vote on validation: (\d+) / 1000", r.stdout)
    assert votes and int(votes.group(1)) > 850, r.stdout
    assert "majority vote on test:" in r.stdout


def test_an_ensemble_resumed_from_its_checkpoint_is_one_run(tmp_path):
    """--ensemble with --checkpoint: one epoch, then --resume to two, prints the
    members' accuracies and the votes of two epochs straight (and an existing
    checkpoint without --resume is refused before any training)."""
    ck = tmp_path / "ens.npz"
    flags = ("--data", "sample", "--sizes", "784,16,10", "--init", "scaled", "--eta", "0.5",
             "--ensemble", "2", "--seed", "4")
    whole = _run("train", *flags, "--epochs", "2")
    first = _run("train", *flags, "--epochs", "1", "--checkpoint", str(ck))
    again = _run("train", *flags, "--epochs", "2", "--checkpoint", str(ck))
    rest = _run("train", *flags, "--epochs", "2", "--checkpoint", str(ck), "--resume")
    assert whole.returncode == first.returncode == rest.returncode == 0, rest.stderr
    assert again.returncode == 2 and "exists; add --resume" in again.stderr, again.stderr
    lines = [ln for ln in whole.stdout.splitlines() if ln.startswith(("Epoch", "ensemble"))]
    assert len(lines) == 3, whole.stdout     # two epochs and the vote on test
    assert lines[0] in first.stdout and lines[0] not in rest.stdout, rest.stdout
    assert all(ln in rest.stdout for ln in lines[1:]), (whole.stdout, rest.stdout)


@pytest.mark.parametrize("argv, message", [
    (["--layers", "conv:20:5,pool:2,pool:2,softmax:10"], "a pool follows a conv layer (once)"),
    (["--layers", "conv:20:29,softmax:10"], "the 29x29 kernel is larger than its 28x28 input"),
    (["--layers", "conv:20:4,pool:2,softmax:10"], "pool does not divide the 25x25"),
    (["--layers", "dense:10"], "expected conv:F:K, pool:P, fc:N or softmax:N"),
    (["--layers", "fc:30,softmax:5"], "the data has 10 classes"),
    (["--layers", "fc:30,softmax:10", "--sizes", "784,30,10"], "not allowed with argument"),
    (["--ensemble", "3", "--save", "x.npz"], "--ensemble 3 trains a population; --save"),
    (["--layers", "conv:4:5,pool:2,softmax:10", "--ensemble", "2", "--impl", "pallas"],
     "impl='pallas': layers[0] is a ConvPool"),
    (["--test-at-best"], "--test-at-best evaluates the test split"),
    (["--layers", "fc:30,softmax:10", "--save", "x.json", "--save-format", "network2"],
     "network2 holds sigmoid networks"),
])
def test_bad_chapter6_flags_are_clear_errors(argv, message):
    r = _run("train", "--data", "sample", "--epochs", "0", *argv)
    assert r.returncode == 2 and message in r.stderr, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1, r.stderr


def test_expand_can_shuffle_once_with_a_seed(sample):
    plain = data.expand(sample.train)
    a = data.expand(sample.train, shuffle_seed=3)
    b = data.expand(sample.train, shuffle_seed=3)
    np.testing.assert_array_equal(a.images, b.images)
    order = np.random.default_rng(3).permutation(len(plain))
    np.testing.assert_array_equal(a.images, plain.images[order])
    np.testing.assert_array_equal(a.labels, plain.labels[order])


def test_conv_parameters_round_trip_through_save_params(tmp_path):
    model = parse_layers("conv:3:5,pool:2,conv:4:3,pool:2,fc:7,softmax:10", 784)
    params = jaxnet.init_params(jax.random.PRNGKey(0), model)
    path = jaxnet.save_params(tmp_path / "p.npz", params, model=model)
    loaded, meta = jaxnet.load_params(path, with_metadata=True)
    for a, b in zip(jax.tree.leaves(loaded), jax.tree.leaves(params)):
        np.testing.assert_array_equal(a, b)
    assert meta["shapes"][0] == [[3, 1, 5, 5], [3]] and meta["cost"] == "log_likelihood"
