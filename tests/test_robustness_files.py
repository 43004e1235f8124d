"""Hostile files and failing disks, second round (issue 20, classes 5, 6 and 7).

5. A parameter file's or checkpoint's description is validated against a schema
   and against the arrays it describes; nothing read from a file is evaluated or
   imported.
6. Every write of a run goes through one rescue path: a full disk leaves the old
   file untouched, puts the result elsewhere and says where (exit 1).
7. Two outputs, or an output and an input, that name one file are refused before
   anything is trained (exit 2).

A full disk is simulated (:class:`FullDisk`): ``os.fsync`` of, and ``open`` for
writing of, a file inside a "full" folder fail with ENOSPC, the way a real full
disk fails a write.
"""

import builtins
import errno
import importlib
import importlib.util
import io
import json
import os
import struct
import tempfile
import zipfile
from pathlib import Path

import jax
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import jaxnet
from jaxnet import cli
from jaxnet._core.layerspec import parse_layers

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
TRAIN = ["train", "--data", "sample", "--sizes", "784,10", "--epochs", "1", "--progress",
         "never", "--compile-cache", "none"]
SWEEP = ["sweep", "--data", "sample", "--sizes", "784,10", "--epochs", "1", "--seeds", "1"]


# --- helpers ---------------------------------------------------------------------------

def _read_meta(path, name="meta") -> dict:
    with zipfile.ZipFile(path) as z:
        raw = np.lib.format.read_array(io.BytesIO(z.read(f"{name}.npy")))
    return json.loads(raw.tobytes())


def _edit_meta(path, mutate) -> None:
    """Rewrites the ``meta`` member of ``path`` with ``mutate(meta)`` applied."""
    meta = _read_meta(path)
    mutate(meta)
    raw = io.BytesIO()
    np.save(raw, np.frombuffer(json.dumps(meta).encode(), np.uint8))
    with zipfile.ZipFile(path) as z:
        members = {i.filename: z.read(i) for i in z.infolist()}
    members["meta.npy"] = raw.getvalue()
    with zipfile.ZipFile(path, "w") as z:
        for k, v in members.items():
            z.writestr(k, v)


class FullDisk:
    """Files inside ``folders`` can be written ``room`` more times, then ENOSPC."""

    def __init__(self):
        self.folders, self.room, self.refused = [], 0, []

    def fill(self, *folders, room=0):
        self.folders += [os.path.realpath(f) for f in folders]
        self.room = room
        return self

    def covers(self, path) -> bool:
        p = os.path.realpath(path)
        return any(p.startswith(f + os.sep) for f in self.folders)

    def write(self, path) -> None:
        if not self.covers(path):
            return
        if self.room <= 0:
            self.refused.append(path)
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        self.room -= 1


@pytest.fixture
def full_disk(monkeypatch, tmp_path):
    """A FullDisk; the temporary folder is ``tmp_path/tmp`` (where rescues may go)."""
    disk = FullDisk()
    real_fsync, real_open = os.fsync, builtins.open

    def fsync(fd):
        try:
            path = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            path = ""
        if path and os.path.isfile(path):
            disk.write(path)
        return real_fsync(fd)

    def open_(file, mode="r", *a, **k):
        if isinstance(file, (str, os.PathLike)) and set(mode) & set("wax+"):
            disk.write(file)
        return real_open(file, mode, *a, **k)
    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(builtins, "open", open_)
    monkeypatch.setattr(io, "open", open_)
    (tmp_path / "tmp").mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    return disk


def _one_error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert "Traceback" not in err[0]
    return err[0]


def _rescued(folder) -> list:
    return sorted(p for p in Path(folder).iterdir() if p.name.startswith("jaxnet-rescued-"))


def _no_temporaries(folder) -> None:
    left = [p.name for p in Path(folder).rglob("*.tmp")]
    assert not left, f"temporary files left behind: {left}"


# --- 5. parameter-file metadata is validated ---------------------------------------------

CONV_SPEC = "conv:2:3,pool:2,fc:5,softmax:3"


@pytest.fixture(scope="module")
def conv_file(tmp_path_factory):
    """A conv net's parameter file (6x6 images), its model and its parameters."""
    model = parse_layers(CONV_SPEC, 36, activation="relu", dropout=0.1)
    params = jaxnet.init_params(jax.random.PRNGKey(0), model, dtype=np.float64)
    path = tmp_path_factory.mktemp("conv") / "conv.npz"
    jaxnet.save_params(path, params, model=model, metadata={"eta": 0.1})
    return path, model, params


def _layer(i, **changes):
    def mutate(meta):
        meta["model"]["layers"][i].update(changes)
    return mutate


def _drop(i, key):
    def mutate(meta):
        del meta["model"]["layers"][i][key]
    return mutate


def _model(**changes):
    def mutate(meta):
        meta["model"].update(changes)
    return mutate


HOSTILE_DESCRIPTIONS = {
    "unknown kind": (_layer(0, kind="Conv2d"), r"layers\[0\]\.kind"),
    "code as kind": (_layer(0, kind="__import__('os').system('true')"), r"layers\[0\]\.kind"),
    "a module as kind": (_layer(1, kind="os"), r"layers\[1\]\.kind"),
    "kind not a string": (_layer(0, kind=["ConvPool"]), r"layers\[0\]\.kind"),
    "filters 10**9": (_layer(0, filters=10 ** 9), r"layers\[0\]\.filters"),
    "filters past int64": (_layer(0, filters=10 ** 30), r"layers\[0\]\.filters"),
    "negative kernel": (_layer(0, kernel=-3), r"layers\[0\]\.kernel"),
    "zero pool": (_layer(0, pool=0), r"layers\[0\]\.pool"),
    "float filters": (_layer(0, filters=2.0), r"layers\[0\]\.filters"),
    "string filters": (_layer(0, filters="2"), r"layers\[0\]\.filters"),
    "bool filters": (_layer(0, filters=True), r"layers\[0\]\.filters"),
    "null n_out": (_layer(1, n_out=None), r"layers\[1\]\.n_out"),
    "missing n_out": (_drop(1, "n_out"), r"layers\[1\]\.n_out"),
    "missing kind": (_drop(0, "kind"), r"layers\[0\]\.kind"),
    "unknown key": (_layer(0, code="print(1)"), r"layers\[0\]\.code"),
    "code as activation": (_layer(1, activation="os.system"), r"layers\[1\]\.activation"),
    "dropout above 1": (_layer(1, dropout=1.5), r"layers\[1\]\.dropout"),
    "dropout a string": (_layer(1, dropout="0.1"), r"layers\[1\]\.dropout"),
    "layer a string": (lambda m: m["model"]["layers"].__setitem__(0, "ConvPool(2, 3)"),
                       r"layers\[0\]"),
    "layers an object": (_model(layers={"0": {"kind": "Dense"}}), r"model\.layers"),
    "no layers": (_model(layers=[]), r"model\.layers"),
    "model a string": (lambda m: m.update(model="Model((1, 6, 6), ...)"), r"\bmodel\b"),
    "model without cost": (lambda m: m["model"].pop("cost"), r"model\.cost"),
    "model with an unknown key": (_model(loader="pickle"), r"model\.loader"),
    "negative input side": (_model(input_shape=[1, -6, 6]), r"model\.input_shape"),
    "huge input side": (_model(input_shape=[1, 2 ** 40, 6]), r"model\.input_shape"),
    "code as precision": (_model(precision="__import__('os')"), r"model\.precision"),
    "cost against its output layer": (_model(cost="cross_entropy"), r"cost|layers\[2\]"),
    "filters the arrays do not hold": (_layer(0, filters=3), r"layers\[0\]"),
    "a pool that changes the next layer": (_layer(0, pool=1), r"layers\[1\]"),
    "shapes kept, model removed": (lambda m: m.pop("model"), r"\bmodel\b"),
    "sizes against the model": (lambda m: m["sizes"].__setitem__(1, 9), r"sizes"),
    "cost against the model": (lambda m: m.update(cost="quadratic"), r"cost"),
    "shapes against the model": (lambda m: m["shapes"][0][0].__setitem__(0, 3), r"shapes"),
}


@pytest.mark.parametrize("case", sorted(HOSTILE_DESCRIPTIONS))
def test_an_edited_description_is_a_params_file_error_naming_the_field(tmp_path, conv_file,
                                                                         case):
    path = tmp_path / "edited.npz"
    path.write_bytes(conv_file[0].read_bytes())
    mutate, field = HOSTILE_DESCRIPTIONS[case]
    _edit_meta(path, mutate)
    with pytest.raises(jaxnet.ParamsFileError, match=field) as e:
        jaxnet.load_params(path, with_metadata=True)
    message = str(e.value)
    assert str(path) in message and "\n" not in message and len(message) < 600, message


def test_a_valid_conv_file_hands_back_the_validated_description(conv_file):
    path, model, params = conv_file
    loaded, meta = jaxnet.load_params(path, with_metadata=True)
    assert meta["model"] == model.describe() and meta["eta"] == 0.1
    from jaxnet.io import model_from_description
    assert model_from_description(meta["model"]) == model
    for a, b in zip(jax.tree.leaves(loaded), jax.tree.leaves(params)):
        np.testing.assert_array_equal(a, b)


def test_an_edit_the_arrays_can_hold_is_accepted(tmp_path, conv_file):
    """Not over-strict: another hidden activation fits the same arrays (said the same
    in the description and in ``activation``)."""
    path = tmp_path / "tanh.npz"
    path.write_bytes(conv_file[0].read_bytes())

    def tanh(meta):
        for layer in meta["model"]["layers"][:2]:
            layer["activation"] = "tanh"
        meta["activation"] = "tanh"
    _edit_meta(path, tanh)
    _, meta = jaxnet.load_params(path, with_metadata=True)
    assert [layer["activation"] for layer in meta["model"]["layers"]] == ["tanh", "tanh",
                                                                          "softmax"]
    _edit_meta(path, lambda m: m["model"]["layers"][0].update(activation="relu"))
    with pytest.raises(jaxnet.ParamsFileError, match="activation"):
        jaxnet.load_params(path)  # the hidden layers differ: the file said tanh


def test_a_linear_hidden_layer_round_trips(tmp_path):
    """The file's ``activation`` is checked against its model, not against the chapter-1
    names only (``--activation linear`` files could be saved but not loaded)."""
    model = parse_layers("fc:4,fc:3", 6, activation="linear")
    params = jaxnet.init_params(jax.random.PRNGKey(0), model, dtype=np.float64)
    jaxnet.save_params(tmp_path / "p.npz", params, model=model)
    _, meta = jaxnet.load_params(tmp_path / "p.npz", with_metadata=True)
    assert meta["activation"] == "linear" and meta["model"] == model.describe()


def test_a_model_load_params_could_not_read_back_is_not_saved(tmp_path):
    """A layer kind of another package saves a file no load could read: refused first."""
    class MyDense(jaxnet.Dense):
        pass
    model = jaxnet.Model((4,), (MyDense(3, "sigmoid"),))
    params = jaxnet.init_params(jax.random.PRNGKey(0), model, dtype=np.float64)
    with pytest.raises(ValueError, match=r"model\.layers\[0\]\.kind.*MyDense"):
        jaxnet.save_params(tmp_path / "p.npz", params, model=model)
    assert list(tmp_path.iterdir()) == []


def test_no_name_read_from_a_file_is_imported(tmp_path, conv_file, monkeypatch):
    path = tmp_path / "imports.npz"
    path.write_bytes(conv_file[0].read_bytes())
    names = ("antigravity", "this", "__hello__")
    _edit_meta(path, lambda m: [m["model"]["layers"][i].update(kind=n)
                                for i, n in enumerate(names)])
    imported = []
    real_import, real_import_module = builtins.__import__, importlib.import_module

    def spy(name, *a, **k):
        imported.append(name)
        return real_import(name, *a, **k)
    monkeypatch.setattr(builtins, "__import__", spy)
    monkeypatch.setattr(importlib, "import_module",
                        lambda name, *a: imported.append(name) or real_import_module(name, *a))
    with pytest.raises(jaxnet.ParamsFileError, match=r"layers\[0\]\.kind"):
        jaxnet.load_params(path)
    assert not set(imported) & set(names), imported


JSON_VALUES = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-2 ** 70, 2 ** 70),
              st.floats(allow_nan=False), st.text(max_size=20),
              st.sampled_from(["Dense", "ConvPool", "softmax", "relu", "__import__('os')"])),
    lambda inner: st.one_of(st.lists(inner, max_size=3),
                            st.dictionaries(st.text(max_size=8), inner, max_size=3)),
    max_leaves=6)


RESERVED = ("model", "sizes", "shapes", "cost", "activation")


def _paths(value, prefix=()):
    """Every place inside a JSON value: key/index paths."""
    yield prefix
    items = value.items() if isinstance(value, dict) else (
        enumerate(value) if isinstance(value, list) else ())
    for k, v in items:
        yield from _paths(v, prefix + (k,))


@settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_fuzzed_descriptions_are_refused_or_describe_the_arrays(conv_file, data):
    """One to three places of the description, sizes, shapes, cost or activation get
    random JSON (or lose their key): refused by name on one line, or still a model
    whose every parameter shape is the array's."""
    path0, model, params = conv_file
    edited = _read_meta(path0)
    for _ in range(data.draw(st.integers(1, 3))):
        places = [p for p in _paths(edited) if p and p[0] in RESERVED]
        place = data.draw(st.sampled_from(places))
        target = edited
        for k in place[:-1]:
            target = target[k]
        if isinstance(target, dict) and data.draw(st.booleans()):
            del target[place[-1]]
        else:
            target[place[-1]] = data.draw(JSON_VALUES)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "f.npz"
        path.write_bytes(path0.read_bytes())
        _edit_meta(path, lambda m: (m.clear(), m.update(edited)))
        try:
            loaded, got = jaxnet.load_params(path, with_metadata=True)
        except jaxnet.ParamsFileError as e:
            assert "\n" not in str(e)
            return
    if "model" not in got:  # a Dense chain of sizes, as chapter 1 wrote them
        assert [np.shape(p.w) for p in loaded] == [(o, i) for i, o in zip(got["sizes"][:-1],
                                                                          got["sizes"][1:])]
        return
    from jaxnet.io import model_from_description
    rebuilt = model_from_description(got["model"])
    shapes = [tuple(map(tuple, layer.param_shapes(s)))
              for layer, s in zip(rebuilt.layers, rebuilt.shapes)]
    assert shapes == [(np.shape(p.w), np.shape(p.b)) for p in loaded]
    assert got["model"] == rebuilt.describe()


@pytest.mark.parametrize("doc, field", [
    ({"sizes": [2, 1], "weights": [[[1, 0]]], "biases": [[[0]]], "cost": "QuadraticCost",
      "exec": "import os"}, "exec"),
    ({"sizes": [2, 1], "weights": [[["1.0", "0"]]], "biases": [[[0]]],
      "cost": "QuadraticCost"}, "layer 0"),
    ({"sizes": [2, 1], "weights": [[[1.0, 0.0]]], "biases": [[[True]]],
      "cost": "QuadraticCost"}, "layer 0"),
    ({"sizes": [2, 1], "weights": [[[1.0, {"__class__": "os"}]]], "biases": [[[0]]],
      "cost": "QuadraticCost"}, "layer 0"),
])
def test_network2_files_hold_exactly_network2_keys_and_numbers(tmp_path, doc, field):
    path = tmp_path / "net.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(jaxnet.ParamsFileError, match=field):
        jaxnet.load_network2(path, dtype="float64")


@pytest.fixture(scope="module")
def small_run(sample, tmp_path_factory):
    """A 2-epoch checkpoint of a 784-3-10 run and the fit arguments that resume it."""
    ck = tmp_path_factory.mktemp("ck") / "ck.npz"
    p = jaxnet.init_params(jax.random.PRNGKey(0), [784, 3, 10], dtype=np.float64)
    args = dict(epochs=2, eta=0.5, batch_size=10, x_scale=1 / 256, momentum=0.3,
                eval_data=(sample.validation.images[:30], sample.validation.labels[:30]))
    x, labels = sample.train.images[:60], sample.train.labels[:60]
    jaxnet.fit(jax.random.PRNGKey(1), p, x, labels, checkpoint=ck, **args)
    return ck, p, x, labels, args


def _set(*keys, value):
    def mutate(meta):
        target = meta
        for k in keys[:-1]:
            target = target[k]
        target[keys[-1]] = value
    return mutate


HOSTILE_CHECKPOINTS = {
    "unknown config key": (_set("config", "loader", value="pickle"), "loader"),
    "float where the run has an int": (_set("config", "layers", 0, "n_out", value=3.0),
                                       "layers"),
    "float batch size": (_set("config", "batch_size", value=10.0), "batch_size"),
    "float input shape": (_set("config", "input_shape", value=[784.0]), "input_shape"),
    "kind of no layer": (_set("config", "layers", 0, "kind", value="os"), "layers"),
    "a number past float": (_set("history", 0, "correct", value=10 ** 400), "history record 0"),
    "an epoch out of order": (_set("history", 1, "epoch", value=7), "history record 1"),
    "terminal escapes as the stop reason": (
        _set("schedule_state", "stopped", value="\x1b[2J" + "x" * 100), "schedule"),
    "a megabyte stop reason": (_set("schedule_state", "stopped", value="early stop: " +
                                    "x" * (1 << 20)), "schedule"),
    "a forged interruption": (_set("schedule_state", "stopped",
                                   value="interrupted by SIGTERM after epoch 1"), "schedule"),
}


@pytest.mark.parametrize("case", sorted(HOSTILE_CHECKPOINTS))
def test_a_crafted_checkpoint_description_is_a_checkpoint_error(tmp_path, small_run, case):
    ck0, p, x, labels, args = small_run
    ck = tmp_path / "ck.npz"
    ck.write_bytes(ck0.read_bytes())
    mutate, field = HOSTILE_CHECKPOINTS[case]
    _edit_meta(ck, mutate)
    with pytest.raises(jaxnet.CheckpointError, match=field) as e:
        jaxnet.fit(jax.random.PRNGKey(1), p, x, labels, checkpoint=ck, resume=True,
                   **dict(args, epochs=3))
    assert "\n" not in str(e.value) and "\x1b" not in str(e.value)


# --- 6. a failed write never loses a run ---------------------------------------------------

def _checkpoint_epoch(path) -> int:
    return _read_meta(path)["epoch"]


def test_a_full_disk_at_a_checkpoint_keeps_the_epoch_and_the_old_file(tmp_path, full_disk,
                                                                      capsys, monkeypatch):
    out = tmp_path / "out"
    out.mkdir()
    ck = out / "ck.npz"
    monkeypatch.chdir(out)
    assert cli.main([*TRAIN, "--checkpoint", str(ck)]) == 0
    before = ck.read_bytes()
    capsys.readouterr()
    full_disk.fill(out)   # the current folder is full too: the rescue goes to the temporary one
    code = cli.main([*TRAIN, "--epochs", "3", "--checkpoint", str(ck), "--resume"])
    line = _one_error_line(capsys)
    assert code == 1 and "--checkpoint" in line and str(ck) in line, line
    assert "No space left on device" in line and "--resume" in line, line
    assert ck.read_bytes() == before
    (rescued,) = _rescued(tmp_path / "tmp")
    assert str(rescued) in line and _checkpoint_epoch(rescued) == 2
    _no_temporaries(out)
    full_disk.folders.clear()
    assert cli.main([*TRAIN, "--epochs", "3", "--checkpoint", str(rescued), "--resume"]) == 0
    assert _checkpoint_epoch(rescued) == 3


def test_fit_says_where_the_state_went_and_resuming_it_is_exact(tmp_path, sample, full_disk,
                                                                monkeypatch):
    x, labels = sample.train.images[:100], sample.train.labels[:100]
    p = jaxnet.init_params(jax.random.PRNGKey(0), [784, 4, 10], dtype=np.float64)
    args = dict(eta=0.5, batch_size=10, x_scale=1 / 256, momentum=0.4)
    whole = jaxnet.fit(jax.random.PRNGKey(1), p, x, labels, epochs=3, **args)
    (tmp_path / "full").mkdir()
    ck = tmp_path / "full" / "ck.npz"
    monkeypatch.chdir(tmp_path / "full")
    full_disk.fill(tmp_path / "full", room=1)
    with pytest.raises(OSError) as e:
        jaxnet.fit(jax.random.PRNGKey(1), p, x, labels, epochs=3, checkpoint=ck, **args)
    err = e.value
    assert isinstance(err, jaxnet.io.WriteError) and err.errno == errno.ENOSPC
    assert err.path == ck and err.rescued is not None and str(err.rescued) in str(err)
    assert "checkpoint" in str(err) and "resume" in str(err) and err.epoch == 2
    assert len(err.params) == 2 and len(err.history) == 2
    assert _checkpoint_epoch(ck) == 1 and _checkpoint_epoch(err.rescued) == 2
    full_disk.folders.clear()
    resumed = jaxnet.fit(jax.random.PRNGKey(1), p, x, labels, epochs=3, checkpoint=err.rescued,
                         resume=True, **args)
    for a, b in zip(jax.tree.leaves(resumed.params), jax.tree.leaves(whole.params)):
        np.testing.assert_array_equal(a, b)


def test_with_no_room_anywhere_fit_still_hands_back_the_trained_state(tmp_path, sample,
                                                                     full_disk, monkeypatch):
    x, labels = sample.train.images[:40], sample.train.labels[:40]
    p = jaxnet.init_params(jax.random.PRNGKey(0), [784, 4, 10], dtype=np.float64)
    monkeypatch.chdir(tmp_path)
    full_disk.fill(tmp_path)  # the checkpoint's folder, the current and the temporary one
    with pytest.raises(jaxnet.io.WriteError, match="nor a copy") as e:
        jaxnet.fit(jax.random.PRNGKey(1), p, x, labels, epochs=2, eta=0.5, batch_size=10,
                   x_scale=1 / 256, checkpoint=tmp_path / "ck.npz")
    assert e.value.rescued is None and e.value.epoch == 1
    assert jaxnet.layer_sizes(e.value.params) == (784, 4, 10)
    assert not (tmp_path / "ck.npz").exists() and not _rescued(tmp_path / "tmp")


@pytest.mark.parametrize("command, flag, name", [
    ("train", "--save", "net.npz"),
    ("train", "--save-network2", "net.json"),
    ("train", "--plot", "curves.png"),
    ("sweep", "--json", "sweep.json"),
    ("sweep", "--plot", "sweep.png"),
])
def test_a_full_disk_at_an_output_rescues_it_and_leaves_the_old_file(tmp_path, full_disk,
                                                                    capsys, monkeypatch,
                                                                    command, flag, name):
    out = tmp_path / "out"
    out.mkdir()
    target = out / name
    target.write_bytes(b"the user's old file")
    monkeypatch.chdir(out)
    full_disk.fill(out)
    argv = [*(TRAIN if command == "train" else SWEEP)]
    argv += (["--save", str(target), "--save-format", "network2"] if flag == "--save-network2"
             else [flag, str(target)])
    code = cli.main(argv)
    line = _one_error_line(capsys)
    shown = flag.replace("-network2", "")
    assert code == 1 and shown in line and str(target) in line, line
    assert "No space left on device" in line
    assert target.read_bytes() == b"the user's old file"
    (rescued,) = _rescued(tmp_path / "tmp")
    assert str(rescued) in line and rescued.stat().st_size > 100
    _no_temporaries(out)


def test_a_rescue_never_replaces_a_file_already_there(tmp_path, full_disk, monkeypatch, capsys):
    (tmp_path / "full").mkdir()
    target = tmp_path / "full" / "net.npz"
    monkeypatch.chdir(tmp_path)
    taken = tmp_path / f"jaxnet-rescued-{os.getpid()}-net.npz"
    taken.write_bytes(b"someone else's")
    full_disk.fill(tmp_path / "full")
    assert cli.main([*TRAIN, "--save", str(target)]) == 1
    line = _one_error_line(capsys)
    assert taken.read_bytes() == b"someone else's"
    rescued = [p for p in _rescued(tmp_path) if p != taken]
    assert len(rescued) == 1 and str(rescued[0]) in line
    assert jaxnet.layer_sizes(jaxnet.load_params(rescued[0])) == (784, 10)


def test_a_removed_current_folder_still_rescues_to_the_temporary_one(tmp_path, full_disk,
                                                                     monkeypatch, capsys):
    (tmp_path / "full").mkdir()
    (tmp_path / "gone").mkdir()
    target = tmp_path / "full" / "net.npz"
    monkeypatch.chdir(tmp_path / "gone")
    (tmp_path / "gone").rmdir()
    full_disk.fill(tmp_path / "full")
    assert cli.main([*TRAIN, "--save", str(target)]) == 1
    line = _one_error_line(capsys)
    (rescued,) = _rescued(tmp_path / "tmp")
    assert str(rescued) in line and not target.exists()
    assert jaxnet.layer_sizes(jaxnet.load_params(rescued)) == (784, 10)


def test_write_files_rescues_every_file_and_says_so(tmp_path, full_disk, monkeypatch, capsys):
    (tmp_path / "results").mkdir()
    old = tmp_path / "results" / "a.json"
    old.write_text("old")
    monkeypatch.chdir(tmp_path / "results")
    full_disk.fill(tmp_path / "results")
    files = {old: '{"new": 1}', tmp_path / "results" / "a.md": "# new\n",
             tmp_path / "elsewhere.png": b"\x89PNG"}
    assert jaxnet.io.write_files(files, prog="bench") == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and all(e.startswith("bench: error: ") for e in err), err
    assert old.read_text() == "old" and (tmp_path / "elsewhere.png").read_bytes() == b"\x89PNG"
    rescued = _rescued(tmp_path / "tmp")
    assert sorted(p.read_text() for p in rescued) == ["# new\n", '{"new": 1}']
    assert all(any(str(p) in e for e in err) for p in rescued)


def _benchmark(name):
    spec = importlib.util.spec_from_file_location(f"_bench_{name}", BENCHMARKS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("name", ["run", "book_tables", "c_kernel", "conv_speed", "population",
                                  "refactor_speed", "learning_speed"])
def test_every_benchmark_saves_its_results_through_the_rescue_path(tmp_path, full_disk,
                                                                   monkeypatch, capsys, name):
    import common  # benchmarks/common.py: the one save() every script shares
    bench = _benchmark(name)
    assert bench.save is common.save, f"{name}.py writes results with its own save()"
    (tmp_path / "results").mkdir()
    stem = tmp_path / "results" / "2026-01-01-x"
    stem.with_suffix(".json").write_text("old")
    monkeypatch.chdir(tmp_path / "results")
    full_disk.fill(tmp_path / "results")
    doc = {"date": "2026-01-01", "rows": [1, 2]}
    assert bench.save(stem, doc, "# table\n", prog=name) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and all("No space left on device" in e for e in err), err
    assert stem.with_suffix(".json").read_text() == "old"
    rescued = {p.suffix: p for p in _rescued(tmp_path / "tmp")}
    assert json.loads(rescued[".json"].read_text()) == doc
    assert rescued[".md"].read_text() == "# table\n"
    full_disk.folders.clear()
    assert bench.save(stem, doc, "# table\n", prog=name) == 0   # beside the old, not over it
    assert json.loads(stem.with_name(stem.name + "-2.json").read_text()) == doc
    assert stem.with_suffix(".json").read_text() == "old"


def test_no_benchmark_writes_a_result_around_the_rescue_path():
    """A result written with ``write_text``/``savefig(path)``/``open(.., "w")`` would
    fail with a traceback and no copy (scratch files in temporary folders aside)."""
    import ast
    found = []
    for path in sorted(BENCHMARKS.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                attr, target = node.func.attr, ast.unparse(node.func.value)
                if attr in ("write_text", "write_bytes", "savefig") and "tmp" not in target \
                        and not (attr == "savefig" and ast.unparse(node.args[0]) == "buf"):
                    found.append(f"{path.name}:{node.lineno} {ast.unparse(node)[:60]}")
    assert not found, found


# --- 7. two outputs (or an output and an input) that name one file -------------------------

def _refused(capsys, argv, *flags):
    code = cli.main(argv)
    out, err = capsys.readouterr()
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1, err
    assert all(f in lines[0] for f in flags), lines[0]
    assert "Epoch" not in out and "Traceback" not in err
    return lines[0]


@pytest.mark.parametrize("first, second", [
    ("--save", "--plot"), ("--save", "--checkpoint"), ("--checkpoint", "--plot")])
def test_two_train_outputs_naming_one_file_are_refused(tmp_path, capsys, first, second):
    x = tmp_path / "x.npz"
    x.write_bytes(b"keep me")
    extra = ["--overwrite"] if "--checkpoint" in (first, second) else []
    _refused(capsys, [*TRAIN, first, str(x), second, str(x), *extra], first, second)
    assert x.read_bytes() == b"keep me"


def test_relative_and_dotted_spellings_of_one_file_are_refused(tmp_path, capsys, monkeypatch):
    (tmp_path / "sub").mkdir()
    monkeypatch.chdir(tmp_path / "sub")
    _refused(capsys, [*TRAIN, "--save", "../x.npz", "--plot",
                      str(tmp_path / "nowhere" / ".." / "x.npz")], "--save", "--plot")
    assert not (tmp_path / "x.npz").exists()


def test_a_symlink_to_the_checkpoint_is_refused_as_save(tmp_path, capsys):
    ck = tmp_path / "ck.npz"
    link = tmp_path / "link.npz"
    link.symlink_to(ck)   # dangling: the checkpoint does not exist yet
    _refused(capsys, [*TRAIN, "--checkpoint", str(ck), "--save", str(link)],
             "--checkpoint", "--save")
    assert not ck.exists()


def test_a_hard_link_is_the_same_file(tmp_path, capsys):
    a, b = tmp_path / "a.npz", tmp_path / "b.png"
    a.write_bytes(b"keep me")
    os.link(a, b)
    _refused(capsys, [*TRAIN, "--save", str(a), "--plot", str(b)], "--save", "--plot")
    assert a.read_bytes() == b"keep me"


def _write_idx(path, array):
    header = struct.pack(">HBB", 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I",
                                                                     *array.shape)
    path.write_bytes(header + np.ascontiguousarray(array, np.uint8).tobytes())


@pytest.fixture
def idx_folder(tmp_path, sample):
    folder = tmp_path / "idx"
    folder.mkdir()
    for split, n, prefix in ((sample.train, 200, "train"), (sample.test, 50, "t10k")):
        _write_idx(folder / f"{prefix}-images-idx3-ubyte", split.images[:n].reshape(n, 28, 28))
        _write_idx(folder / f"{prefix}-labels-idx1-ubyte", split.labels[:n].astype(np.uint8))
    return folder


@pytest.mark.parametrize("command, flag", [("train", "--save"), ("train", "--plot"),
                                           ("train", "--checkpoint"), ("sweep", "--json"),
                                           ("sweep", "--plot")])
def test_an_output_over_a_data_file_is_refused(idx_folder, capsys, command, flag):
    data_file = idx_folder / "t10k-labels-idx1-ubyte"
    before = data_file.read_bytes()
    base = [a if a != "sample" else str(idx_folder) for a in (TRAIN if command == "train"
                                                              else SWEEP)]
    _refused(capsys, [*base, "--batch-size", "10", flag, str(data_file)], flag, "--data")
    assert data_file.read_bytes() == before


def test_an_output_over_the_shipped_sample_is_refused(tmp_path, capsys, monkeypatch):
    from jaxnet.data import _sample
    copy_ = tmp_path / "sample.npz"
    copy_.write_bytes(_sample.SAMPLE_PATH.read_bytes())
    monkeypatch.setattr(_sample, "SAMPLE_PATH", copy_)      # what the loader reads
    monkeypatch.setattr(jaxnet.data, "SAMPLE_PATH", copy_)  # what the CLI names (the face)
    before = copy_.read_bytes()
    _refused(capsys, [*TRAIN, "--save", str(copy_)], "--save", "--data")
    assert copy_.read_bytes() == before


def test_two_sweep_outputs_naming_one_file_are_refused(tmp_path, capsys):
    x = tmp_path / "x"
    _refused(capsys, [*SWEEP, "--json", str(x), "--plot", str(tmp_path / "." / "x")],
             "--json", "--plot")
    assert not x.exists()


def test_distinct_outputs_with_one_name_in_two_folders_still_run(tmp_path, capsys):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    code = cli.main([*TRAIN, "--save", str(tmp_path / "a" / "x"), "--checkpoint",
                     str(tmp_path / "b" / "x")])
    assert code == 0, capsys.readouterr().err
    assert jaxnet.layer_sizes(jaxnet.load_params(tmp_path / "a" / "x")) == (784, 10)


def test_a_second_benchmark_run_the_same_day_keeps_the_first_ones_results(tmp_path, monkeypatch):
    """benchmarks/common.save: a run whose STEM an earlier run wrote goes to STEM-2 (the
    next to STEM-3), never over the results already recorded (refactor_speed.py had);
    one run saving after each part keeps one set of files; replace=True re-renders."""
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    import common
    stem = tmp_path / "2026-01-01-x"
    for run in (1, 2, 3):
        monkeypatch.setattr(common, "_CHOSEN", {})   # a new process
        for part in ("a", "b"):                      # run.py saves after each section
            assert common.save(stem, {"run": run, "part": part}, f"# {run}{part}\n",
                               prog="bench") == 0
    assert json.loads(stem.with_suffix(".json").read_text()) == {"run": 1, "part": "b"}
    assert (tmp_path / "2026-01-01-x-2.md").read_text() == "# 2b\n"
    assert json.loads((tmp_path / "2026-01-01-x-3.json").read_text()) == {"run": 3, "part": "b"}
    assert {p.name for p in tmp_path.iterdir()} == {
        f"2026-01-01-x{s}.{e}" for s in ("", "-2", "-3") for e in ("json", "md")}
    assert common.save(stem, {"run": 1}, "# again\n", prog="bench", replace=True) == 0
    assert stem.with_suffix(".md").read_text() == "# again\n"
