"""A resumed run is the run that wrote its checkpoint (issue 30).

Everything that fixes a run's trajectory is its identity, recorded in the checkpoint:
the initial PRNG key and parameters, the training, evaluation and test data
(fingerprinted), the model, dtype, rule, penalty, schedule, batch size, shuffling,
gradient and implementation. A resume that differs in any of it is refused in one line
naming what differs; an identical one equals the uninterrupted run bit for bit. fit,
fit_population, ``jaxnet train`` (``--ensemble``) and ``jaxnet sweep`` share the check
(jaxnet.train._checkpoint.check_config)."""

import io
import json
import re
import shutil
import struct
import tempfile
import zipfile
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import jaxnet
from jaxnet import cli

# Resuming runs the same compiled programs on the same inputs (XLA on the CPU is
# deterministic): the parameters must be bit for bit the same.
RESUME_RTOL = 0.0

# One small run (784-6-10 on a few of the shipped sample's images); every field is
# something that fixes the trajectory.
BASE = dict(key=0, init_seed=0, init="large", sizes=(784, 6, 10), dtype="float64",
            cost="cross_entropy", activation="sigmoid", precision="highest", reg="l2",
            eta=0.5, momentum=0.0, lmbda=0.0, n=None, batch_size=10, shuffle=True, train=0,
            labels=0, eval=0, test=None, x_scale=1 / 256, monitor=None, schedule=None,
            early_stop=None, grad="backprop", impl="jax")
N_TRAIN, N_EVAL = 30, 10
# The names a caller may give a run (the command line's flags).
NAMES = ("seed", "seeds", "ensemble", "init", "eval", "data")


def _params(sizes, seed, init, dtype, members=()):
    """Initial parameters drawn on the host (no program to compile): N(0, 1) weights
    ("large") or N(0, 1/n_in) ("scaled"); ``members``: a leading axis ``(P,)``."""
    rng = np.random.default_rng(seed)
    scale = {"large": lambda n: 1.0, "scaled": lambda n: n ** -0.5}[init]
    return tuple(jaxnet.Layer(jnp.asarray(rng.normal(size=(*members, o, i)) * scale(i), dtype),
                              jnp.asarray(rng.normal(size=(*members, o)), dtype))
                 for i, o in zip(sizes[:-1], sizes[1:]))


def _inputs(sample, cfg):
    """``(key, params, x, labels, fit's keywords)`` of the run ``cfg`` describes."""
    model = jaxnet.Model.dense(list(cfg["sizes"]), cost=cfg["cost"], reg=cfg["reg"],
                               activation=cfg["activation"], precision=cfg["precision"])
    params = _params(cfg["sizes"], cfg["init_seed"], cfg["init"], cfg["dtype"])
    t, e = cfg["train"] * N_TRAIN, cfg["eval"] * N_EVAL
    x = sample.train.images[t:t + N_TRAIN]
    labels = np.roll(sample.train.labels[t:t + N_TRAIN], cfg["labels"])
    kw = dict(model=model, eta=cfg["eta"], momentum=cfg["momentum"], lmbda=cfg["lmbda"],
              n=cfg["n"], batch_size=cfg["batch_size"], shuffle=cfg["shuffle"],
              x_scale=cfg["x_scale"], monitor=cfg["monitor"], schedule=cfg["schedule"],
              early_stop=cfg["early_stop"], grad=cfg["grad"], impl=cfg["impl"],
              eval_data=(sample.test.images[e:e + N_EVAL], sample.test.labels[e:e + N_EVAL]))
    if cfg["test"] is not None:
        s = 100 + cfg["test"] * N_EVAL
        kw["test_data"] = (sample.test.images[s:s + N_EVAL], sample.test.labels[s:s + N_EVAL])
    return jax.random.PRNGKey(cfg["key"]), params, x, labels, kw


def _fit(sample, cfg, epochs, **kw):
    key, params, x, labels, args = _inputs(sample, cfg)
    return jaxnet.fit(key, params, x, labels, epochs=epochs, **args, **kw)


def _assert_same(a, b):
    """Bit for bit: every parameter and the evaluation history."""
    for la, lb in zip(jax.tree.leaves(a.params), jax.tree.leaves(b.params), strict=True):
        np.testing.assert_array_equal(np.asarray(la), np.asarray(lb))
    assert [r.correct for r in a.history] == [r.correct for r in b.history]


def _named(message: str) -> set:
    """The identity fields a refusal names (``eta: checkpoint ...``, ``(params_sha256: ...``)."""
    assert "\n" not in message
    return set(re.findall(r"(\w+): checkpoint ", message))


@pytest.fixture(scope="module")
def base_run(sample, tmp_path_factory):
    """The base run's checkpoint after 1 epoch (bytes), and the uninterrupted 2-epoch run."""
    ck = tmp_path_factory.mktemp("base") / "ck.npz"
    _fit(sample, BASE, 1, checkpoint=ck)
    return ck.read_bytes(), _fit(sample, BASE, 2)


# Each field of the identity, another value of it, and what the refusal says.
FIELDS = [
    ("key", 1, "initial PRNG keys differ (keys_sha256: checkpoint "),
    ("init_seed", 1, "initial parameters differ (params_sha256: checkpoint "),
    ("init", "scaled", "initial parameters differ (params_sha256: checkpoint "),
    ("train", 1, "training images differ (images_sha256: checkpoint "),
    ("labels", 1, "training labels differ (labels_sha256: checkpoint "),
    ("eval", 1, "evaluation data differ (eval_sha256: checkpoint "),
    ("test", 0, "test data differ (test_sha256: checkpoint None, this run "),
    ("eta", 0.25, "eta: checkpoint 0.5, this run 0.25"),
    ("momentum", 0.5, "momentum: checkpoint 0.0, this run 0.5"),
    ("lmbda", 0.1, "lmbda: checkpoint 0.0, this run 0.1"),
    ("reg", "l1", "reg: checkpoint 'l2', this run 'l1'"),
    ("n", "batches", "reg_n: checkpoint 'examples', this run 'batches'"),
    ("batch_size", 5, "batch_size: checkpoint 10, this run 5"),
    ("shuffle", False, "shuffle: checkpoint True, this run False"),
    ("dtype", "float32", "dtype: checkpoint 'float64', this run 'float32'"),
    ("precision", "default", "precision: checkpoint 'highest', this run 'default'"),
    ("sizes", (784, 7, 10), r"sizes: checkpoint [784, 6, 10], this run [784, 7, 10]"),
    ("cost", "quadratic", "cost: checkpoint 'cross_entropy', this run 'quadratic'"),
    ("activation", "tanh", "layers: checkpoint "),
    ("x_scale", 1 / 255, "x_scale: checkpoint 0.00390625, this run 0.00392156"),
    ("monitor", ("eval_accuracy", "eval_cost"), "monitor: checkpoint ['eval_accuracy'], "
                                                "this run ['eval_accuracy', 'eval_cost']"),
    ("schedule", 2, "schedule: checkpoint None, this run 2"),
    ("early_stop", 2, "early_stop: checkpoint None, this run 2"),
    ("grad", "autodiff", "grad: checkpoint 'backprop', this run 'autodiff'"),
    ("impl", "c", "impl: checkpoint 'jax', this run 'c'"),
]


@pytest.mark.parametrize("field, value, says", FIELDS, ids=[f[0] for f in FIELDS])
def test_a_resume_differing_in_one_field_is_refused_naming_it(sample, base_run, tmp_path,
                                                             field, value, says):
    saved, full = base_run
    ck = tmp_path / "ck.npz"
    ck.write_bytes(saved)
    with pytest.raises(jaxnet.CheckpointError) as e:
        _fit(sample, dict(BASE, **{field: value}), 2, checkpoint=ck, resume=True)
    message = str(e.value)
    assert message.startswith(f"{ck}: belongs to another run (") and "\n" not in message
    assert says in message, message
    assert ck.read_bytes() == saved                      # refused before anything changed
    _assert_same(_fit(sample, BASE, 2, checkpoint=ck, resume=True), full)   # the same run


def test_the_identical_run_resumes_to_the_uninterrupted_one(sample, base_run, tmp_path):
    saved, full = base_run
    ck = tmp_path / "ck.npz"
    ck.write_bytes(saved)
    rest = _fit(sample, BASE, 2, checkpoint=ck, resume=True)
    _assert_same(rest, full)
    assert len(rest.history) == 2 and rest.history[0].correct == full.history[0].correct


def test_names_are_recorded_and_never_refuse_the_same_bytes(sample, base_run, tmp_path):
    """A name (the command line's seed, init, split, data) is said instead of the
    fingerprints it explains; alone it is no difference: the same key, parameters and
    data are the same run (``--data`` read from another folder)."""
    saved, full = base_run
    ck = tmp_path / "ck.npz"
    _fit(sample, BASE, 1, checkpoint=ck, names=dict(seed=0, init="large", data="here"))
    with pytest.raises(jaxnet.CheckpointError) as e:
        _fit(sample, dict(BASE, key=1, init_seed=1), 2, checkpoint=ck, resume=True,
             names=dict(seed=1, init="large", data="here"))
    assert _named(str(e.value)) == {"seed"}, str(e.value)
    assert "seed: checkpoint 0, this run 1" in str(e.value)
    with pytest.raises(jaxnet.CheckpointError, match=r"\(data: checkpoint 'here', this run "
                                                     r"'there'\)$"):
        _fit(sample, dict(BASE, train=1), 2, checkpoint=ck, resume=True,
             names=dict(seed=0, init="large", data="there"))
    _assert_same(_fit(sample, BASE, 2, checkpoint=ck, resume=True,
                      names=dict(seed=0, data="there")), full)
    with pytest.raises(ValueError, match="names: expected keys from"):
        _fit(sample, BASE, 2, names=dict(sed=0))


def test_a_checkpoint_of_an_older_format_cannot_be_shown_to_be_this_run(sample, base_run,
                                                                        tmp_path):
    saved, _ = base_run
    ck = tmp_path / "ck.npz"
    ck.write_bytes(saved)

    def older(meta):
        for k in ("keys_sha256", "params_sha256", "eval_sha256", "test_sha256", *NAMES):
            del meta["config"][k]
        meta["version"] = 3
    _edit_meta(ck, older)
    with pytest.raises(jaxnet.CheckpointError, match=r"format version 3, this jaxnet resumes "
                       r"version 4 only: an older one does not record .* so it cannot be "
                       r"shown to be this run \(start over with overwrite=True\)$"):
        _fit(sample, BASE, 2, checkpoint=ck, resume=True)



def _edit_meta(path, edit, drop=()):
    """Rewrites ``path``'s meta through ``edit`` (and leaves out the entries ``drop``)."""
    with zipfile.ZipFile(path) as z:
        members = {n: z.read(n) for n in z.namelist() if n[:-len(".npy")] not in drop}
    meta = json.loads(np.lib.format.read_array(io.BytesIO(members["meta.npy"])).tobytes())
    edit(meta)
    raw = io.BytesIO()
    np.save(raw, np.frombuffer(json.dumps(meta).encode(), np.uint8))
    members["meta.npy"] = raw.getvalue()
    with zipfile.ZipFile(path, "w") as z:
        for n, b in members.items():
            z.writestr(n, b)


# --- the property: resumed exactly when the same run, refused naming the difference ----

# Two values of each field; a config's other runs flip some of them. Which identity
# fields each may make a refusal name.
PROPERTY = dict(key=(0, 1), init_seed=(0, 1), init=("large", "scaled"), eta=(0.5, 1.0),
                momentum=(0.0, 0.5), lmbda=(0.0, 0.1), train=(0, 1), eval=(0, 1))
SAYS = dict(key={"keys_sha256"}, init_seed={"params_sha256"}, init={"params_sha256"},
            eta={"eta"}, momentum={"momentum"}, lmbda={"lmbda"},
            train={"images_sha256", "labels_sha256"}, eval={"eval_sha256"})
FIRST = dict(BASE, **{f: v[0] for f, v in PROPERTY.items()})
_UNINTERRUPTED = {}


def _uninterrupted(sample, cfg, epochs):
    k = (json.dumps(cfg, sort_keys=True), epochs)
    if k not in _UNINTERRUPTED:
        _UNINTERRUPTED[k] = _fit(sample, cfg, epochs)
    return _UNINTERRUPTED[k]


@settings(max_examples=20, deadline=None, suppress_health_check=list(HealthCheck))
@given(a=st.fixed_dictionaries({f: st.sampled_from(v) for f, v in PROPERTY.items()}),
       flip=st.sets(st.sampled_from(sorted(PROPERTY)), max_size=3),
       first=st.integers(1, 2), more=st.integers(0, 1))
@example(a={f: v[0] for f, v in PROPERTY.items()}, flip=set(), first=1, more=1)
@example(a={f: v[0] for f, v in PROPERTY.items()}, flip={"key", "eval"}, first=2, more=0)
def test_a_resume_is_the_checkpointed_run_or_refused_naming_the_difference(sample, a, flip,
                                                                          first, more):
    one = dict(BASE, **a)
    other = dict(one, **{f: PROPERTY[f][1 - PROPERTY[f].index(one[f])] for f in flip})
    with tempfile.TemporaryDirectory() as tmp:
        ck = Path(tmp) / "ck.npz"
        _fit(sample, one, first, checkpoint=ck)
        saved = ck.read_bytes()
        if not flip:
            _assert_same(_fit(sample, other, first + more, checkpoint=ck, resume=True),
                         _uninterrupted(sample, other, first + more))
            return
        with pytest.raises(jaxnet.CheckpointError) as e:
            _fit(sample, other, first + more, checkpoint=ck, resume=True)
        named = _named(str(e.value))
        assert named <= set().union(*(SAYS[f] for f in flip)), (flip, str(e.value))
        assert all(SAYS[f] & named for f in flip), (flip, str(e.value))
        assert ck.read_bytes() == saved


# --- populations: the same identity, the same check -----------------------------------

P = 2


def _population(sample, *, keys=0, init="large", eval=0, names=None, epochs=1, **kw):
    model = jaxnet.Model.dense([784, 6, 10], cost="cross_entropy")
    keys = jax.random.split(jax.random.PRNGKey(keys), P)
    pop = _params((784, 6, 10), 9, init, "float64", members=(P,))
    e = eval * N_EVAL
    return jaxnet.fit_population(
        keys, pop, sample.train.images[:N_TRAIN], sample.train.labels[:N_TRAIN], model=model,
        epochs=epochs, eta=[0.5, 1.0], x_scale=1 / 256, names=names,
        eval_data=(sample.test.images[e:e + N_EVAL], sample.test.labels[e:e + N_EVAL]), **kw)


POPULATION_FIELDS = [
    (dict(keys=1), "(initial PRNG keys differ (keys_sha256: checkpoint "),
    (dict(init="scaled"), "(initial parameters differ (params_sha256: checkpoint "),
    (dict(eval=1), "(evaluation data differ (eval_sha256: checkpoint "),
    (dict(keys=1, names=dict(seeds=2)), "(seeds: checkpoint 1, this run 2)"),
    (dict(batch_size=5), "(batch_size: checkpoint 10, this run 5)"),
]


def test_a_population_resume_goes_through_the_same_check(sample, tmp_path):
    ck = tmp_path / "sweep.npz"
    _population(sample, checkpoint=ck, names=dict(seeds=1))
    saved = ck.read_bytes()
    for change, says in POPULATION_FIELDS:
        with pytest.raises(jaxnet.CheckpointError) as e:
            _population(sample, epochs=2, checkpoint=ck, resume=True,
                        **dict(dict(names=dict(seeds=1), batch_size=10), **change))
        message = str(e.value)
        assert f"belongs to another run {says}" in message and "\n" not in message, message
        assert ck.read_bytes() == saved


def test_a_population_resumes_across_names_and_from_version_1(sample, tmp_path):
    """A sweep's checkpoint of version 1 already recorded its keys, parameters and data:
    it is resumed (its names as not given), and equals the uninterrupted sweep."""
    full = _population(sample, epochs=2)
    ck = tmp_path / "sweep.npz"
    _population(sample, checkpoint=ck, names=dict(seeds=3, data="sample"))
    rest = _population(sample, epochs=2, checkpoint=ck, resume=True, names=dict(seeds=3))
    for a, b in zip(jax.tree.leaves(rest.params), jax.tree.leaves(full.params), strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    ck1 = tmp_path / "v1.npz"
    _population(sample, checkpoint=ck1)

    def version_1(meta):
        for k in (*NAMES, "test_sha256"):
            del meta["config"][k]
        meta["version"] = 1
    _edit_meta(ck1, version_1, drop=("diverged",))   # version 1 had no member statuses
    rest = _population(sample, epochs=2, checkpoint=ck1, resume=True, names=dict(seeds=2))
    np.testing.assert_array_equal(rest.correct, full.correct)
    _edit_meta(ck1, lambda m: m.update(version=0))
    with pytest.raises(jaxnet.CheckpointError, match="not a population checkpoint"):
        _population(sample, epochs=2, checkpoint=ck1, resume=True)


# --- the command line -----------------------------------------------------------------

TRAIN = ["train", "--data", "sample", "--sizes", "784,10,10", "--progress", "never",
         "--compile-cache", "none"]


def _write_idx(path, array):
    """An independent IDX writer: magic 0x0000 08 <rank>, big-endian dims, bytes."""
    header = struct.pack(">HBB", 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I",
                                                                    *array.shape)
    Path(path).write_bytes(header + np.ascontiguousarray(array, np.uint8).tobytes())


def _cli(capsys, *argv):
    code = cli.main([str(a) for a in argv])
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.fixture(scope="module")
def train_checkpoint(tmp_path_factory):
    """``jaxnet train --data sample --sizes 784,10,10 --epochs 2 --checkpoint ck.npz``."""
    d = tmp_path_factory.mktemp("cli")
    assert cli.main([*TRAIN, "--epochs", "2", "--checkpoint", str(d / "ck.npz")]) == 0
    return d


@pytest.mark.parametrize("flags, says", [
    (["--seed", "1", "--save", "s1.npz"], "(seed: checkpoint 0, this run 1)"),
    (["--init", "scaled"], "(init: checkpoint 'large', this run 'scaled')"),
    (["--eval", "validation"], "(eval: checkpoint 'test', this run 'validation')"),
    (["--eta", "2", "--seed", "3"], "(seed: checkpoint 0, this run 3; eta: checkpoint 3.0, "
                                    "this run 2.0)"),
])
def test_jaxnet_train_refuses_another_runs_checkpoint(train_checkpoint, tmp_path, capsys,
                                                      monkeypatch, flags, says):
    ck = tmp_path / "ck.npz"
    shutil.copy(train_checkpoint / "ck.npz", ck)
    monkeypatch.chdir(tmp_path)
    code, out, err = _cli(capsys, *TRAIN, "--epochs", 3, "--resume", "--checkpoint", ck, *flags)
    assert code == 1 and err == f"jaxnet: error: {ck}: belongs to another run {says}\n", err
    assert "Epoch" not in out and not (tmp_path / "s1.npz").exists()
    assert ck.read_bytes() == (train_checkpoint / "ck.npz").read_bytes()


def test_jaxnet_train_resumes_its_own_run_and_the_same_data_from_another_folder(
        train_checkpoint, sample, tmp_path, capsys):
    """``--data`` of a folder holding the sample's training and test images is the same
    run; a folder of other images is refused naming ``--data``."""
    same, other = tmp_path / "same", tmp_path / "other"
    for folder, train in ((same, sample.train), (other, sample.validation)):
        folder.mkdir()
        _write_idx(folder / "train-images-idx3-ubyte", train.images.reshape(-1, 28, 28))
        _write_idx(folder / "train-labels-idx1-ubyte", train.labels)
        _write_idx(folder / "t10k-images-idx3-ubyte", sample.test.images.reshape(-1, 28, 28))
        _write_idx(folder / "t10k-labels-idx1-ubyte", sample.test.labels)
    ck = tmp_path / "ck.npz"
    shutil.copy(train_checkpoint / "ck.npz", ck)
    code, _, err = _cli(capsys, *TRAIN, "--data", other, "--epochs", 3, "--resume",
                        "--checkpoint", ck)
    assert code == 1 and err == (f"jaxnet: error: {ck}: belongs to another run (data: "
                                 f"checkpoint 'sample', this run '{other}')\n"), err
    code, out, err = _cli(capsys, *TRAIN, "--data", same, "--epochs", 3, "--resume",
                          "--checkpoint", ck, "--save", tmp_path / "r.npz")
    assert code == 0, err
    assert "Epoch 2:" in out and "Epoch 1:" not in out           # continued, not restarted
    assert _cli(capsys, *TRAIN, "--epochs", 3, "--save", tmp_path / "full.npz")[0] == 0
    resumed = jaxnet.load_params(tmp_path / "r.npz")
    full = jaxnet.load_params(tmp_path / "full.npz")
    for a, b in zip(jax.tree.leaves(resumed), jax.tree.leaves(full), strict=True):
        np.testing.assert_array_equal(a, b)


def test_jaxnet_train_ensemble_refuses_another_seed(tmp_path, capsys):
    ck = tmp_path / "ens.npz"
    flags = [*TRAIN, "--ensemble", 2, "--batch-size", 50, "--checkpoint", ck]
    assert _cli(capsys, *flags, "--epochs", 1)[0] == 0
    code, out, err = _cli(capsys, *flags, "--epochs", 2, "--resume", "--seed", 1)
    assert code == 1 and err == (f"jaxnet: error: {ck}: belongs to another run (seed: "
                                 "checkpoint 0, this run 1)\n"), err
    code, out, err = _cli(capsys, *flags, "--epochs", 2, "--resume", "--eval", "validation")
    assert code == 1 and "(eval: checkpoint 'test', this run 'validation')\n" in err, err
