"""Hostile input: untrusted files stay harmless, bad output paths are refused before
training, a finished run is never thrown away, every failure is a documented error.

Where a crash or an exhausted memory is possible the case runs in a child
process with its address space limited (RLIMIT_AS), and the child reports
the exception it saw and how much its peak memory grew.
"""

import gzip
import io
import json
import os
import struct
import subprocess
import sys
import tempfile
import textwrap
import zipfile

import jax
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import jaxnet
from jaxnet import cli, data
from jaxnet._core.atomic import atomic_write
from jaxnet.data import _mnist

# The child's address space: JAX itself maps ~1.6 GB; a runaway allocation stops here
# with a MemoryError instead of taking the machine down.
CHILD_AS_LIMIT = 3 << 30
# A hostile file may make a reader allocate about its own size, never what it claims:
# the bombs below inflate to 400 MB; the child's peak memory may grow by this much.
MAX_GROWTH_MB = 64
BOMB_BYTES = 400 << 20

CHILD = """\
import json, resource, sys
resource.setrlimit(resource.RLIMIT_AS, ({limit}, {limit}))
import jax
jax.config.update("jax_enable_x64", True)
import numpy as np
import jaxnet
from jaxnet import cref, data

def peak_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024

before = peak_mb()
try:
{body}
    result = dict(error=None)
except BaseException as e:
    result = dict(error=type(e).__name__, message=str(e)[:3000],
                  classes=[c.__name__ for c in type(e).__mro__])
result["grew_mb"] = peak_mb() - before
print("RESULT " + json.dumps(result))
"""


def child(body: str, **env) -> dict:
    """Runs ``body`` (statements) in a memory-limited child; returns what it raised."""
    code = CHILD.format(limit=CHILD_AS_LIMIT, body=textwrap.indent(textwrap.dedent(body), " " * 4))
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600,
                       cwd=tempfile.gettempdir(), env={**os.environ, **env})
    assert r.returncode == 0, f"the child crashed (exit {r.returncode}): {r.stderr[-3000:]}"
    line = [ln for ln in r.stdout.splitlines() if ln.startswith("RESULT ")]
    assert line, r.stdout + r.stderr
    return json.loads(line[-1][len("RESULT "):])


def _npy_header(dtype, shape) -> bytes:
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        buf, {"descr": np.lib.format.dtype_to_descr(np.dtype(dtype)), "fortran_order": False,
              "shape": shape})
    return buf.getvalue()


def add_bomb(path, name="junk", nbytes=BOMB_BYTES):
    """Appends a deflated member that inflates to ``nbytes`` zeros (~1000:1)."""
    size = os.path.getsize(path)
    with zipfile.ZipFile(path, "a", compression=zipfile.ZIP_DEFLATED) as z:
        with z.open(f"{name}.npy", "w", force_zip64=True) as f:
            f.write(_npy_header(np.uint8, (nbytes,)))
            chunk = bytes(16 << 20)
            for _ in range(nbytes // len(chunk)):
                f.write(chunk)
    assert os.path.getsize(path) - size < nbytes // 100


def replace_member(path, name, raw: bytes):
    """Rewrites ``path`` with member ``name``.npy replaced by ``raw`` (stored)."""
    with zipfile.ZipFile(path) as z:
        members = {i.filename: z.read(i) for i in z.infolist()}
    members[f"{name}.npy"] = raw
    with zipfile.ZipFile(path, "w") as z:
        for k, v in members.items():
            z.writestr(k, v)


@pytest.fixture(scope="module")
def small_params():
    return jaxnet.init_params(jax.random.PRNGKey(0), [6, 4, 3], dtype=np.float64)


def _checkpoint(tmp_path, sample, epochs=2, **kw):
    ck = tmp_path / "ck.npz"
    p = jaxnet.init_params(jax.random.PRNGKey(0), [784, 5, 10], dtype=np.float64)
    args = dict(epochs=epochs, eta=0.5, batch_size=10, x_scale=1 / 256, momentum=0.3,
                checkpoint=ck)
    jaxnet.fit(jax.random.PRNGKey(1), p, sample.train.images[:60], sample.train.labels[:60],
               **dict(args, **kw))
    return ck, p, args


# --- 1. the C kernel never reads memory an argument does not hold --------------------

LIAR = """
    class Liar:  # an array-like whose .shape and .dtype describe other data than __array__'s
        def __init__(self, real, shape):
            self.real, self.shape, self.dtype = real, shape, real.dtype
        def __array__(self, dtype=None, copy=None):
            return self.real if dtype is None else self.real.astype(dtype)
    p = jaxnet.init_params(jax.random.PRNGKey(0), [784, 30, 10], dtype=np.float64)
    x, y = np.zeros((100, 784)), np.eye(10)[np.arange(100) % 10]
    order, tiny, v = np.arange(100), np.zeros((1, 2)), jax.tree.map(np.zeros_like, p)
    train = dict(eta=1.0, batch_size=10)
"""
LIES = {
    "x": "cref.train_epoch(p, Liar(tiny, (100, 784)), y, order, **train)",
    "y": "cref.backprop(p, x, Liar(tiny, (100, 10)))",
    "w": "cref.train_epoch((jaxnet.Layer(Liar(tiny, (30, 784)), p[0].b), p[1]), x, y, order, **train)",
    "order": "cref.train_epoch(p, x, y, Liar(np.arange(2), (100,)), **train)",
    "velocity": "cref.train_epoch_with(jaxnet.momentum(1.0, 0.5), p, jaxnet.MomentumState("
                "1.0, 0.5, (jaxnet.Layer(Liar(tiny, (30, 784)), v[0].b), v[1])), x, y, order, "
                "batch_size=10)",
}


@pytest.mark.parametrize("target", sorted(LIES))
def test_cref_checks_the_data_it_hands_to_c_not_the_declared_shape(target):
    r = child(textwrap.dedent(LIAR) + LIES[target])
    assert r["error"] in ("ValueError", "TypeError"), r
    assert "expected" in r["message"] and "(1, 2)" in r["message"] or "(2,)" in r["message"], r


# --- 2. untrusted .npz files cannot exhaust memory ------------------------------------

def _load_params_child(path):
    return child(f"jaxnet.load_params({str(path)!r})")


def test_a_params_file_bomb_is_refused_before_inflating(tmp_path, small_params):
    path = jaxnet.save_params(tmp_path / "p.npz", small_params)
    add_bomb(path)
    r = _load_params_child(path)
    assert "ValueError" in r["classes"] and "junk" in r["message"], r
    assert r["grew_mb"] < MAX_GROWTH_MB, r


def test_a_header_claiming_terabytes_is_refused_without_allocating(tmp_path, small_params):
    path = jaxnet.save_params(tmp_path / "p.npz", small_params)
    replace_member(path, "w0", _npy_header(np.float64, (1 << 22, 1 << 22)) + bytes(64))
    r = _load_params_child(path)
    assert r["error"] == "ParamsFileError" and "w0" in r["message"], r
    assert r["grew_mb"] < MAX_GROWTH_MB, r


def test_a_checkpoint_bomb_is_refused_before_inflating(tmp_path, sample):
    ck, p, args = _checkpoint(tmp_path, sample)
    add_bomb(ck)
    np.save(tmp_path / "x.npy", sample.train.images[:60])
    np.save(tmp_path / "l.npy", sample.train.labels[:60])
    r = child(f"""
        p = jaxnet.init_params(jax.random.PRNGKey(0), [784, 5, 10], dtype=np.float64)
        jaxnet.fit(jax.random.PRNGKey(1), p, np.load({str(tmp_path / 'x.npy')!r}),
                   np.load({str(tmp_path / 'l.npy')!r}), epochs=3, eta=0.5, batch_size=10,
                   x_scale=1 / 256, momentum=0.3, checkpoint={str(ck)!r}, resume=True)
    """)
    assert r["error"] == "CheckpointError" and "junk" in r["message"], r
    assert r["grew_mb"] < MAX_GROWTH_MB, r


def test_an_mnist_cache_bomb_is_refused_before_inflating(tmp_path, mnist_cache):
    cache = tmp_path / data.MNIST_CACHE_NAME
    cache.write_bytes(mnist_cache.read_bytes())
    add_bomb(cache)
    r = child(f"data.load_mnist(cache={str(tmp_path)!r})")
    assert r["error"] == "DataError" and "junk" in r["message"], r
    assert r["grew_mb"] < MAX_GROWTH_MB + 60, r  # + the 55 MB the cache legitimately holds


# --- 4. an unwritable data cache is a DataError before the download ------------------

def test_an_unwritable_cache_folder_is_a_data_error_before_any_download(tmp_path, mnist,
                                                                        monkeypatch):
    not_a_folder = tmp_path / "file"
    not_a_folder.write_text("")
    fetched = []

    def source(_):
        fetched.append(1)  # what the verified download would give
        return {f"{s}_{k}": getattr(getattr(mnist, s), k)
                for s in ("train", "validation", "test") for k in ("images", "labels")}
    monkeypatch.setattr(_mnist, "_read_source", source)
    with pytest.raises(data.DataError, match="cannot keep the MNIST cache .* set JAXNET_DATA"):
        data.load_mnist(source="mnist.pkl.gz", cache=not_a_folder / "sub")
    assert fetched == []


# --- 5, 6. every damaged or crafted file is the loader's documented error -------------

@pytest.mark.parametrize("text, match", [
    ('{"sizes": [2, 1], "weights": [[[1e39, 0.0]]], "biases": [[[0.0]]], "cost": "QuadraticCost"}',
     "values beyond float32's range"),
    ('{"sizes": [2, 1], "weights": [[[1, 0]]], "biases": [[[0]]], "cost": ["QuadraticCost"]}',
     "unknown cost"),
    ('{"sizes": [2, 1], "weights": [[[1' + "0" * 400 + ', 0]]], "biases": [[[0]]], '
     '"cost": "QuadraticCost"}', "not a numeric array|NaN or Inf"),
    ("[" * 100_000 + "]" * 100_000, "unreadable JSON"),
    ('{"sizes": [2, 1' + "0" * 400 + '], "weights": [], "biases": [], "cost": "QuadraticCost"}',
     "bad sizes"),
])
def test_hostile_network2_files_are_params_file_errors(tmp_path, text, match):
    path = tmp_path / "net.json"
    path.write_text(text)
    with pytest.raises(jaxnet.ParamsFileError, match=match):
        jaxnet.load_network2(path, dtype="float32")


@pytest.mark.parametrize("mutate, match", [
    (lambda m: m.update(history=[[1, 2]] * len(m["history"])), "history record 0 is malformed"),
    (lambda m: m.update(history=m["history"][:-1]), "one record per trained epoch"),
    (lambda m: m.update(schedule_state=[1, 2]), "malformed schedule state"),
    (lambda m: m["schedule_state"].update(eta="fast"), "malformed schedule state"),
    (lambda m: m.update(epoch="2"), "bad epoch"),
    (lambda m: m.update(config=None), "no run configuration"),
    (lambda m: m.update(momentum_state="yes"), "bad momentum_state"),
    (lambda m: m.update(version=2), "format version 2, this jaxnet resumes version 4"),
])
def test_crafted_checkpoint_metadata_is_a_checkpoint_error(tmp_path, sample, mutate, match):
    ck, p, args = _checkpoint(tmp_path, sample)
    with zipfile.ZipFile(ck) as z:
        meta = json.loads(np.lib.format.read_array(io.BytesIO(z.read("meta.npy"))).tobytes())
    mutate(meta)
    raw = io.BytesIO()
    np.save(raw, np.frombuffer(json.dumps(meta).encode(), np.uint8))
    replace_member(ck, "meta", raw.getvalue())
    with pytest.raises(jaxnet.CheckpointError, match=match):
        jaxnet.fit(jax.random.PRNGKey(1), p, sample.train.images[:60], sample.train.labels[:60],
                   **dict(args, epochs=3, resume=True))


def _flip_or_cut(raw: bytes, offset: int, bit: int, cut: bool) -> bytes:
    offset %= len(raw)
    if cut:
        return raw[:offset]
    b = bytearray(raw)
    b[offset] ^= 1 << bit
    return bytes(b)


# Offsets anywhere, with extra weight on the zip structure: the first member's local
# header and the central directory at the end (negative: from the end).
DAMAGE = dict(offset=st.one_of(st.integers(0, 200), st.integers(-400, -1), st.integers(0, 1 << 30)),
              bit=st.integers(0, 7), cut=st.booleans())
FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))


@FUZZ
@given(**DAMAGE)
def test_damaged_params_files_raise_only_params_file_error(small_params, offset, bit, cut):
    with tempfile.TemporaryDirectory() as tmp:
        path = jaxnet.save_params(os.path.join(tmp, "p.npz"), small_params)
        path.write_bytes(_flip_or_cut(path.read_bytes(), offset, bit, cut))
        try:
            loaded = jaxnet.load_params(path)
        except jaxnet.ParamsFileError:
            return
        for a, b in zip(jax.tree.leaves(loaded), jax.tree.leaves(small_params)):
            np.testing.assert_array_equal(a, b)  # a harmless flip (a timestamp): same values


CK_SHAPES = [((3, 784), (3,)), ((10, 3), (10,))]  # checkpoint_file's 784-3-10 net


@pytest.fixture(scope="module")
def checkpoint_file(sample, tmp_path_factory):
    """A real checkpoint and the config of the run that wrote it."""
    ck = tmp_path_factory.mktemp("ck") / "ck.npz"
    p = jaxnet.init_params(jax.random.PRNGKey(0), [784, 3, 10], dtype=np.float64)
    jaxnet.fit(jax.random.PRNGKey(1), p, sample.train.images[:20], sample.train.labels[:20],
               epochs=1, eta=0.5, batch_size=10, x_scale=1 / 256, momentum=0.5, checkpoint=ck)
    with zipfile.ZipFile(ck) as z:
        meta = json.loads(np.lib.format.read_array(io.BytesIO(z.read("meta.npy"))).tobytes())
    return ck, meta["config"]


@FUZZ
@given(**DAMAGE)
def test_damaged_checkpoints_raise_only_checkpoint_error(checkpoint_file, offset, bit, cut):
    from jaxnet.train._checkpoint import load_checkpoint
    original, config = checkpoint_file
    with tempfile.TemporaryDirectory() as tmp:
        ck = os.path.join(tmp, "ck.npz")
        with open(ck, "wb") as f:
            f.write(_flip_or_cut(original.read_bytes(), offset, bit, cut))
        try:
            got = load_checkpoint(ck, config, shapes=CK_SHAPES, epochs=2,
                                      record=jaxnet.EpochRecord)
        except jaxnet.CheckpointError:
            return
        assert got["epoch"] == 1 and len(got["params"]) == 2 and got["velocity"] is not None


@settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck))
@given(**DAMAGE)
def test_a_damaged_mnist_cache_raises_only_data_error(mnist_cache, offset, bit, cut):
    with tempfile.TemporaryDirectory() as tmp:
        with open(os.path.join(tmp, data.MNIST_CACHE_NAME), "wb") as f:
            f.write(_flip_or_cut(mnist_cache.read_bytes(), offset, bit, cut))
        try:
            d = data.load_mnist(cache=tmp)
        except data.DataError:
            return
        assert len(d.train) == 50_000  # verified by its content hash


@pytest.fixture(scope="module")
def mnist_cache(mnist, tmp_path_factory):
    """A valid MNIST cache file, written as load_mnist writes it."""
    path = tmp_path_factory.mktemp("cache") / data.MNIST_CACHE_NAME
    np.savez(path, **{f"{s}_{k}": getattr(getattr(mnist, s), k)
                      for s in ("train", "validation", "test") for k in ("images", "labels")})
    return path


def _flip_central_directory_method(raw: bytes) -> bytes:
    """Flips the lowest bit of the first central-directory entry's compression method
    (stored → method 1, which zipfile cannot read: its NotImplementedError escaped before)."""
    at = raw.index(b"PK\x01\x02") + 10
    return _flip_or_cut(raw, at, 0, False)


@pytest.mark.parametrize("kind", ["params", "checkpoint", "cache"])
def test_a_flipped_compression_method_is_the_documented_error(kind, tmp_path, small_params,
                                                             checkpoint_file, mnist_cache):
    if kind == "params":
        path = jaxnet.save_params(tmp_path / "p.npz", small_params)
        path.write_bytes(_flip_central_directory_method(path.read_bytes()))
        with pytest.raises(jaxnet.ParamsFileError, match="compressed|damaged|not a valid"):
            jaxnet.load_params(path)
    elif kind == "checkpoint":
        from jaxnet.train._checkpoint import load_checkpoint
        original, config = checkpoint_file
        path = tmp_path / "ck.npz"
        path.write_bytes(_flip_central_directory_method(original.read_bytes()))
        with pytest.raises(jaxnet.CheckpointError):
            load_checkpoint(path, config, shapes=CK_SHAPES, epochs=2, record=jaxnet.EpochRecord)
    else:
        (tmp_path / data.MNIST_CACHE_NAME).write_bytes(
            _flip_central_directory_method(mnist_cache.read_bytes()))
        with pytest.raises(data.DataError):
            data.load_mnist(cache=tmp_path)


# --- 7. checkpoint semantics ------------------------------------------------------------

def test_resume_with_fewer_epochs_than_trained_is_refused(tmp_path, sample):
    ck, p, args = _checkpoint(tmp_path, sample, epochs=3)
    with pytest.raises(jaxnet.CheckpointError, match="has trained 3 epochs, more than the 2"):
        jaxnet.fit(jax.random.PRNGKey(1), p, sample.train.images[:60], sample.train.labels[:60],
                   **dict(args, epochs=2, resume=True))


def test_a_checkpoint_of_other_images_with_the_same_labels_is_refused(tmp_path, sample):
    ck, p, args = _checkpoint(tmp_path, sample)
    other = 255 - sample.train.images[:60]
    with pytest.raises(jaxnet.CheckpointError, match="images_sha256: checkpoint"):
        jaxnet.fit(jax.random.PRNGKey(1), p, other, sample.train.labels[:60],
                   **dict(args, epochs=3, resume=True))


def test_an_existing_checkpoint_is_not_overwritten_without_being_asked(tmp_path, sample):
    ck, p, args = _checkpoint(tmp_path, sample)
    before = ck.read_bytes()
    with pytest.raises(jaxnet.CheckpointError, match="exists; pass resume=True"):
        jaxnet.fit(jax.random.PRNGKey(1), p, sample.train.images[:60], sample.train.labels[:60],
                   **args)
    assert ck.read_bytes() == before
    jaxnet.fit(jax.random.PRNGKey(2), p, sample.train.images[:60], sample.train.labels[:60],
               **dict(args, overwrite=True))
    assert ck.read_bytes() != before


def test_checkpoint_every_must_be_positive_and_is_checked_before_training(tmp_path, sample):
    p = jaxnet.init_params(jax.random.PRNGKey(0), [784, 5, 10])
    with pytest.raises(ValueError, match="checkpoint_every: expected a positive int"):
        jaxnet.fit(jax.random.PRNGKey(1), p, sample.train.images[:60], sample.train.labels[:60],
                   epochs=2, batch_size=10, x_scale=1 / 256, checkpoint=tmp_path / "ck.npz",
                   checkpoint_every=0)
    assert not (tmp_path / "ck.npz").exists()


def test_temporary_files_of_killed_writers_are_removed(tmp_path):
    target = tmp_path / "ck.npz"
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, cwd=tmp_path).stdout.strip()
    orphan = tmp_path / f".ck.npz.{dead}.abc123.tmp"
    orphan.write_bytes(b"half a checkpoint")
    live = tmp_path / f".ck.npz.{os.getppid()}.def456.tmp"  # a writer still running
    live.write_bytes(b"in progress")
    with atomic_write(target) as f:
        f.write(b"new")
    assert not orphan.exists() and live.exists() and target.read_bytes() == b"new"


# --- 8. IDX files ------------------------------------------------------------------------

def _idx(dims, payload=b"", gz=False):
    raw = struct.pack(">HBB", 0, 8, len(dims)) + struct.pack(f">{len(dims)}I", *dims) + payload
    return gzip.compress(raw, 1) if gz else raw


@pytest.mark.parametrize("dims, payload, match", [
    ((0, 28, 28), b"", "zero dimension"),
    ((10, 0, 28), b"", "zero dimension"),
    ((2 ** 32 - 1,) * 3, b"\x00" * 10, "more than the"),
    ((2 ** 21, 2 ** 21, 2 ** 21), b"", "more than the"),  # the product overflows int64
])
def test_idx_headers_that_cannot_be_true_are_data_errors(tmp_path, dims, payload, match):
    for gz in (False, True):
        path = tmp_path / ("f.gz" if gz else "f")
        path.write_bytes(_idx(dims, payload, gz))
        with pytest.raises(data.DataError, match=match):
            data.read_idx(path, 3)


def test_an_idx_gzip_bomb_stops_at_the_declared_size(tmp_path):
    path = tmp_path / "train-images-idx3-ubyte.gz"
    with gzip.open(path, "wb", compresslevel=1) as f:
        f.write(_idx((10, 28, 28)))
        chunk = bytes(16 << 20)
        for _ in range(BOMB_BYTES // len(chunk)):
            f.write(chunk)
    assert path.stat().st_size < BOMB_BYTES // 100
    r = child(f"data.read_idx({str(path)!r}, 3)")
    assert r["error"] == "DataError" and "more than the 7856 bytes" in r["message"], r
    assert r["grew_mb"] < MAX_GROWTH_MB, r


# --- 9. arguments that used to pass the checks and fail inside JAX ----------------------

def test_argument_types_are_checked_before_jax(small_params):
    x, y = np.ones((2, 6)), np.eye(3)[[0, 1]]
    with pytest.raises(TypeError, match="eta: expected a positive number, got str"):
        jaxnet.sgd_step(small_params, x, y, "3")
    with pytest.raises(TypeError, match="eval_data: expected a pair \\(x, labels\\), got ndarray"):
        jaxnet.fit(jax.random.PRNGKey(0), small_params, x, np.array([0, 1]), epochs=1,
                   batch_size=1, eval_data=x)
    with pytest.raises(ValueError, match="x_scale: expected a positive finite number, got -1"):
        jaxnet.fit(jax.random.PRNGKey(0), small_params, np.ones((2, 6), np.uint8),
                   np.array([0, 1]), epochs=1, batch_size=1, x_scale=-1.0)
    r = jaxnet.fit(jax.random.PRNGKey(0), small_params, x, np.array([0, 1]),
                   epochs=np.int64(2), batch_size=1)
    assert len(r.history) == 2


# --- 3, 8. the command line: bad values and bad output paths ----------------------------

def _cli(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "jaxnet", *map(str, args)], capture_output=True,
                          text=True, timeout=600, cwd=cwd or tempfile.gettempdir())


SAMPLE = ("--data", "sample", "--epochs", "1", "--progress", "never")


@pytest.mark.parametrize("argv, code, names", [
    (["train", *SAMPLE, "--early-stop", "2", "--monitor", "train_cost"], 2, "--early-stop"),
    (["train", *SAMPLE, "--schedule", "2", "--monitor", "eval_cost"], 2, "--schedule"),
    (["train", *SAMPLE, "--seed", str(2 ** 70)], 2, "--seed"),
    (["train", *SAMPLE, "--seed", "-1"], 2, "--seed"),
    (["train", *SAMPLE, "--sizes", "784,,10"], 2, "--sizes"),
    (["train", *SAMPLE, "--sizes", "784,10000000000,10"], 2, "--sizes"),
    (["train", *SAMPLE, "--resume"], 2, "--resume"),
    (["sweep", "--data", "sample", "--epochs", "1", "--sizes", "784,,10"], 2, "--sizes"),
    (["bench", "--data", "sample", "--batch-size", "6000"], 2, "--batch-size"),
    (["bench", "--data", "sample", "--precision", "tf32"], 2, "--precision"),
    (["check", "--precision", "tf32"], 2, "--precision"),
])
def test_bad_flag_values_are_one_line_errors(argv, code, names):
    r = _cli(*argv)
    lines = r.stderr.strip().splitlines()
    assert r.returncode == code and len(lines) == 1, r.stderr
    assert names in lines[0] and "Traceback" not in r.stderr, r.stderr
    assert "Epoch" not in r.stdout


@pytest.mark.parametrize("command, flag, path", [
    ("train", "--save", "DIR"), ("train", "--save", "FILE/sub.npz"),
    ("train", "--checkpoint", "DIR"), ("train", "--plot", "DIR"),
    ("train", "--checkpoint", "EXISTING"),
    ("sweep", "--json", "DIR"), ("sweep", "--plot", "FILE/sub.png"),
    ("bench", "--json", "DIR"),
])
def test_bad_output_paths_are_refused_before_any_training(tmp_path, command, flag, path):
    (tmp_path / "DIR").mkdir()
    (tmp_path / "FILE").write_text("")
    (tmp_path / "EXISTING").write_text("")
    args = {"train": SAMPLE, "sweep": ("--data", "sample", "--epochs", "1", "--seeds", "1"),
            "bench": ("--data", "sample", "--repeats", "1", "--no-peak")}[command]
    r = _cli(command, *args, flag, tmp_path / path, cwd=tmp_path)
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 2 and len(lines) == 1, r.stderr
    assert flag in lines[0] and str(tmp_path / path) in lines[0] and "Traceback" not in r.stderr
    assert "Epoch" not in r.stdout and "jaxnet bench:" not in r.stdout, r.stdout


def test_a_save_that_fails_at_the_end_keeps_the_result(tmp_path, monkeypatch, capsys):
    import jaxnet.io._params_file as serialize
    real = serialize.save_params
    target = tmp_path / "net.npz"

    def flaky(path, *a, **k):
        if str(path) == str(target):
            raise PermissionError(13, "Permission denied")
        return real(path, *a, **k)
    monkeypatch.setattr(serialize, "save_params", flaky)
    monkeypatch.setattr(jaxnet.io, "save_params", flaky)   # the CLI reads it through io's face
    monkeypatch.chdir(tmp_path)
    code = cli.main(["train", *SAMPLE, "--compile-cache", "none", "--save", str(target)])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1 and len(err) == 1 and "--save" in err[0] and "Permission denied" in err[0]
    rescued = [p for p in tmp_path.iterdir() if p.name.startswith("jaxnet-rescued-")]
    assert len(rescued) == 1 and str(rescued[0]) in err[0]
    assert jaxnet.layer_sizes(jaxnet.load_params(rescued[0])) == (784, 30, 10)
