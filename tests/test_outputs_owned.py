"""Files a user owns (issue 30, classes 3, 6 and 7).

3. An output never replaces what it does not own: a symbolic link is written at its
   target (the link stays), an existing file keeps its mode and owner, and a device,
   FIFO, socket, folder or descriptor link (``/proc/self/fd/1``: a stream) is refused
   before training, in one line naming the path and what it is.
6. Every file jaxnet reads is checked to be a regular file first: a FIFO is refused,
   never waited on (each reading test runs under an alarm, so a regression fails
   instead of hanging).
7. ``--report DIR`` never overwrites a user's files: a folder that is not empty and
   holds no report of ours (``.jaxnet-report``) is refused before training.
"""

import gzip
import os
import signal
import socket
import stat
from pathlib import Path

import numpy as np
import pytest

from jaxnet import cli
from jaxnet._core.atomic import atomic_write, unwritable
from jaxnet._core.npz import NpzReader
from jaxnet._core.readable import NotRegularFileError, open_regular
from jaxnet._core.rescue import WriteError, write_or_rescue
from jaxnet.cli import _report

TRAIN = ["train", "--data", "sample", "--sizes", "784,10", "--epochs", "1", "--progress",
         "never", "--compile-cache", "none"]
SWEEP = ["sweep", "--data", "sample", "--sizes", "784,10", "--epochs", "1", "--seeds", "1"]
ROOT = os.geteuid() == 0


# --- helpers ---------------------------------------------------------------------------

def _device(path) -> Path:
    """A character device node like /dev/null (1, 3), made in a test folder."""
    try:
        os.mknod(path, stat.S_IFCHR | 0o666, os.makedev(1, 3))
    except PermissionError:
        pytest.skip("mknod is not permitted here (not root, or a container without CAP_MKNOD)")
    return Path(path)


def _socket(path) -> Path:
    s = socket.socket(socket.AF_UNIX)
    s.bind(str(path))
    s.close()  # the node stays
    return Path(path)


def _make(kind: str, path: Path) -> Path:
    """A node that is not a regular file: ``chr``, ``fifo``, ``sock`` or ``dir``."""
    if kind == "chr":
        return _device(path)
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "sock":
        _socket(path)
    else:
        path.mkdir()
    return path


KIND_WORDS = {"chr": "a character device", "fifo": "a FIFO", "sock": "a socket",
              "dir": "a directory"}
IS_KIND = {"chr": stat.S_ISCHR, "fifo": stat.S_ISFIFO, "sock": stat.S_ISSOCK,
           "dir": stat.S_ISDIR}


class Hung(Exception):
    pass


@pytest.fixture
def no_hang():
    """Fails a test that blocks (a FIFO opened for reading) instead of hanging it."""
    def ring(*_):
        raise Hung("blocked for 30 s: a FIFO was opened for reading")
    old = signal.signal(signal.SIGALRM, ring)
    signal.alarm(30)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, old)


def _one_line_error(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    return err[0]


# --- 3. outputs replace only what they own: the primitives ------------------------------

@pytest.mark.parametrize("kind", ["chr", "fifo", "sock", "dir"])
@pytest.mark.parametrize("via_link", [False, True])
def test_unwritable_names_a_node_that_is_not_a_regular_file(tmp_path, kind, via_link):
    node = _make(kind, tmp_path / "node")
    path = node
    if via_link:
        path = tmp_path / "link"
        path.symlink_to(node)
    problem = unwritable(path)
    assert problem is not None and "\n" not in problem
    assert str(path) in problem and KIND_WORDS[kind] in problem


@pytest.mark.parametrize("kind", ["chr", "fifo", "sock"])
@pytest.mark.parametrize("via_link", [False, True])
def test_atomic_write_refuses_a_node_and_leaves_it_as_it_was(tmp_path, kind, via_link):
    node = _make(kind, tmp_path / "node")
    path = node
    if via_link:
        path = tmp_path / "link"
        path.symlink_to(node)
    with pytest.raises(NotRegularFileError, match=KIND_WORDS[kind]), atomic_write(path) as f:
        f.write(b"new")
    assert IS_KIND[kind](os.lstat(node).st_mode)
    assert os.path.islink(path) == via_link
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


@pytest.mark.parametrize("link_to", ["relative", "absolute", "chain", "new file"])
def test_a_symlink_is_written_at_its_target_and_kept(tmp_path, link_to):
    store = tmp_path / "persistent"
    store.mkdir()
    real = store / "file.npz"
    if link_to != "new file":
        real.write_bytes(b"old")
    link = tmp_path / "link.npz"
    if link_to == "relative":
        link.symlink_to(os.path.relpath(real, tmp_path))
    elif link_to == "chain":
        (tmp_path / "hop").symlink_to(real)
        link.symlink_to(tmp_path / "hop")
    else:
        link.symlink_to(real)
    assert unwritable(link) is None
    with atomic_write(link) as f:
        f.write(b"new")
    assert os.path.islink(link) and real.read_bytes() == b"new"
    assert sorted(p.name for p in store.iterdir()) == ["file.npz"]  # no temporary left


def test_a_dangling_link_whose_folder_is_missing_is_refused(tmp_path):
    link = tmp_path / "link.npz"
    link.symlink_to(tmp_path / "gone" / "file.npz")
    problem = unwritable(link)
    assert problem and "symbolic link" in problem and "does not exist" in problem
    with pytest.raises(FileNotFoundError, match="does not exist"), atomic_write(link) as f:
        f.write(b"new")
    assert not (tmp_path / "gone").exists() and os.path.islink(link)


@pytest.mark.parametrize("stream", ["/proc/self/fd/1", "/dev/stdout", "link"])
def test_a_descriptor_link_is_a_stream_and_refused(tmp_path, stream):
    if stream == "link":
        stream = tmp_path / "out.csv"
        stream.symlink_to("/proc/self/fd/1")
    problem = unwritable(stream)
    assert problem and "stream" in problem and str(stream) in problem
    with pytest.raises(NotRegularFileError), atomic_write(stream) as f:
        f.write(b"x")


@pytest.mark.parametrize("mode", [0o600, 0o640, 0o444, 0o755])
@pytest.mark.parametrize("via_link", [False, True])
def test_an_existing_file_keeps_its_mode(tmp_path, mode, via_link):
    real = tmp_path / "private"
    real.write_bytes(b"old")
    os.chmod(real, mode)
    path = real
    if via_link:
        path = tmp_path / "link"
        path.symlink_to(real)
    with atomic_write(path) as f:
        f.write(b"new")
    assert stat.S_IMODE(os.stat(real).st_mode) == mode and real.read_bytes() == b"new"


@pytest.mark.skipif(not ROOT, reason="giving a file to another owner needs root")
def test_an_existing_file_keeps_its_owner_as_root(tmp_path):
    real = tmp_path / "theirs"
    real.write_bytes(b"old")
    os.chown(real, 1234, 4321)
    with atomic_write(real) as f:
        f.write(b"new")
    st = os.stat(real)
    assert (st.st_uid, st.st_gid) == (1234, 4321)


def test_a_link_into_a_read_only_folder_names_that_folder(tmp_path, monkeypatch):
    store = tmp_path / "ro"
    store.mkdir()
    (store / "f").write_bytes(b"old")
    link = tmp_path / "link"
    link.symlink_to(store / "f")
    store.chmod(0o555)
    if ROOT:   # the kernel lets root write anyway; ask os.access as for another user
        real = os.access
        monkeypatch.setattr(os, "access", lambda p, mode, *a, **k: False if (
            Path(p) == store and mode & os.W_OK) else real(p, mode, *a, **k))
    try:
        problem = unwritable(link)
    finally:
        store.chmod(0o755)
    assert problem and str(store) in problem and "not writable" in problem


def test_the_rescue_path_keeps_the_node_and_rescues_the_result(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    fifo = tmp_path / "out.csv"
    os.mkfifo(fifo)

    def write(p):
        with atomic_write(p) as f:
            f.write(b"result")
    with pytest.raises(WriteError) as e:
        write_or_rescue(fifo, write, what="--csv")
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode) and e.value.rescued.read_bytes() == b"result"
    assert "FIFO" in str(e.value)


# --- 3. the command line: refused before training, one line per flag ------------------

TRAIN_FLAGS = ["--save", "--checkpoint", "--plot", "--report"]
SWEEP_FLAGS = ["--csv", "--json", "--save-best", "--checkpoint", "--plot"]


def _target(tmp_path, flag, node):
    """The flag's value that makes ``node`` the output (--report: its confusion.png)."""
    if flag == "--report":
        folder = tmp_path / "r"
        folder.mkdir()
        (folder / _report.MARKER).write_bytes(b"")  # a report of ours: only the node refuses
        os.replace(node, folder / _report.CONFUSION)
        return folder, folder / _report.CONFUSION
    return node, node


@pytest.mark.parametrize("flag", TRAIN_FLAGS)
def test_train_refuses_a_device_output_before_training(tmp_path, capsys, flag):
    value, node = _target(tmp_path, flag, _device(tmp_path / "null"))
    assert cli.main([*TRAIN, flag, str(value)]) == 2
    line = _one_line_error(capsys)
    assert flag in line and str(node) in line and "character device" in line
    assert stat.S_ISCHR(os.lstat(node).st_mode)
    assert "Epoch" not in capsys.readouterr().out


@pytest.mark.parametrize("flag", SWEEP_FLAGS)
def test_sweep_refuses_a_fifo_or_stream_output_before_training(tmp_path, capsys, flag):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    assert cli.main([*SWEEP, flag, str(fifo)]) == 2
    line = _one_line_error(capsys)
    assert flag in line and str(fifo) in line and "FIFO" in line
    link = tmp_path / "stdout"
    link.symlink_to("/proc/self/fd/1")
    assert cli.main([*SWEEP, flag, str(link)]) == 2
    line = _one_line_error(capsys)
    assert flag in line and "stream" in line and os.path.islink(link)


def test_train_writes_links_at_their_targets_and_keeps_a_private_file(tmp_path, capsys):
    store = tmp_path / "persistent"
    store.mkdir()
    (tmp_path / "net.npz").symlink_to(store / "net.npz")        # dangling: the target is new
    (store / "run.ckpt").write_bytes(b"")
    (tmp_path / "run.ckpt").symlink_to(store / "run.ckpt")
    private = tmp_path / "curves.png"
    private.write_bytes(b"")
    os.chmod(private, 0o600)
    argv = [*TRAIN, "--epochs", "2", "--save", str(tmp_path / "net.npz"),
            "--checkpoint", str(tmp_path / "run.ckpt"), "--overwrite"]
    pytest.importorskip("matplotlib", reason="--plot needs the plot extra")
    assert cli.main([*argv, "--plot", str(private)]) == 0
    assert os.path.islink(tmp_path / "net.npz") and os.path.islink(tmp_path / "run.ckpt")
    from jaxnet.io import load_params
    assert len(load_params(store / "net.npz")) == 1
    with NpzReader(store / "run.ckpt", ValueError, "checkpoint") as z:
        assert z.meta()["epoch"] == 2          # the persistent copy has every epoch
    assert stat.S_IMODE(os.stat(private).st_mode) == 0o600
    assert private.read_bytes()[:4] == b"\x89PNG"
    assert sorted(p.name for p in store.iterdir()) == ["net.npz", "run.ckpt"]


def test_sweep_writes_its_csv_at_a_links_target(tmp_path, capsys):
    store = tmp_path / "persistent"
    store.mkdir()
    (store / "runs.csv").write_text("old\n")
    os.chmod(store / "runs.csv", 0o600)
    link = tmp_path / "runs.csv"
    link.symlink_to(store / "runs.csv")
    assert cli.main([*SWEEP, "--csv", str(link)]) == 0
    assert os.path.islink(link) and (store / "runs.csv").read_text().startswith("member,seed")
    assert stat.S_IMODE(os.stat(store / "runs.csv").st_mode) == 0o600


# --- 6. a FIFO (or a folder, or a device) is never read --------------------------------

@pytest.mark.parametrize("kind", ["fifo", "chr", "dir", "sock"])
def test_open_regular_refuses_what_is_not_a_file(tmp_path, no_hang, kind):
    node = _make(kind, tmp_path / "node")
    with pytest.raises(NotRegularFileError) as e:
        open_regular(node)
    assert str(e.value) == f"{node} is {KIND_WORDS[kind]}" + (
        " (named pipe)" if kind == "fifo" else "") + ", not a regular file"


def test_open_regular_reads_a_regular_file_through_a_link(tmp_path):
    (tmp_path / "f").write_bytes(b"data")
    (tmp_path / "l").symlink_to(tmp_path / "f")
    with open_regular(tmp_path / "l") as f:
        assert f.read() == b"data" and os.get_blocking(f.fileno())


def _readers():
    from jaxnet import data, io
    from jaxnet.data._datasets import sha256_file
    from jaxnet.data._mnist import _read_source
    from jaxnet.train import CheckpointError
    return {
        "load_params": lambda p: io.load_params(p),
        "load_network2": lambda p: io.load_network2(p),
        "read_idx": lambda p: data.read_idx(p, 3),
        "read_idx.gz": lambda p: data.read_idx(p, 1),
        "checkpoint": lambda p: NpzReader(p, CheckpointError, "not a readable checkpoint"),
        "sha256_file": sha256_file,
        "mnist source": _read_source,
    }


READERS = ["load_params", "load_network2", "read_idx", "read_idx.gz", "checkpoint",
           "sha256_file", "mnist source"]


@pytest.mark.parametrize("reader", READERS)
@pytest.mark.parametrize("kind", ["fifo", "dir"])
def test_every_reader_refuses_a_fifo_or_folder_without_blocking(tmp_path, no_hang, reader,
                                                                 kind):
    name = {"read_idx.gz": "labels.gz", "mnist source": "mnist.pkl.gz"}.get(reader, "f.npz")
    node = _make(kind, tmp_path / name)
    with pytest.raises((OSError, ValueError)) as e:
        _readers()[reader](node)
    assert not isinstance(e.value, Hung)
    message = str(e.value)
    assert "\n" not in message and str(node) in message and KIND_WORDS[kind] in message


def test_a_data_folder_with_a_fifo_is_refused_naming_it(tmp_path, no_hang, capsys):
    from jaxnet import data
    from jaxnet.cli._common import IDX_FILES
    for name in IDX_FILES:
        (tmp_path / name).write_bytes(b"")
    (tmp_path / IDX_FILES[0]).unlink()
    os.mkfifo(tmp_path / IDX_FILES[0])
    with pytest.raises(data.DataError, match="FIFO"):
        data.load_idx(tmp_path)
    assert cli.main(["train", "--data", str(tmp_path), "--progress", "never",
                     "--compile-cache", "none"]) == 1
    line = _one_line_error(capsys)
    assert IDX_FILES[0] in line and "FIFO" in line


def test_explain_refuses_a_fifo_params_file(tmp_path, no_hang, capsys):
    fifo = tmp_path / "f.npz"
    os.mkfifo(fifo)
    assert cli.main(["explain", "--data", "sample", "--params", str(fifo)]) != 0
    line = _one_line_error(capsys)
    assert str(fifo) in line and "FIFO" in line


def test_resume_of_a_fifo_checkpoint_is_refused(tmp_path, no_hang, capsys):
    fifo = tmp_path / "run.ckpt"
    os.mkfifo(fifo)
    assert cli.main([*TRAIN, "--checkpoint", str(fifo), "--resume"]) == 2
    line = _one_line_error(capsys)
    assert str(fifo) in line and "FIFO" in line


def test_an_idx_file_still_reads(tmp_path):
    """The regular-file check keeps ordinary reading working, plain and gzipped."""
    raw = bytes([0, 0, 8, 1, 0, 0, 0, 3, 7, 8, 9])
    (tmp_path / "l").write_bytes(raw)
    with gzip.open(tmp_path / "l.gz", "wb") as f:
        f.write(raw)
    from jaxnet import data
    for name in ("l", "l.gz"):
        assert data.read_idx(tmp_path / name, 1).tolist() == [7, 8, 9]


# --- 7. a report folder's own files ----------------------------------------------------

@pytest.mark.parametrize("theirs", [["index.html"], ["confusion.png", "index.html"],
                                    ["notes.txt"], ["a", "b", "c", "d"]])
def test_report_refuses_a_folder_of_someone_elses_files(tmp_path, capsys, theirs):
    folder = tmp_path / "site"
    folder.mkdir()
    for name in theirs:
        (folder / name).write_text(f"mine: {name}")
    assert cli.main([*TRAIN, "--report", str(folder)]) == 2
    line = _one_line_error(capsys)
    assert "--report" in line and str(folder) in line and "did not write" in line
    assert sorted(p.name for p in folder.iterdir()) == sorted(theirs)
    for name in theirs:
        assert (folder / name).read_text() == f"mine: {name}"


@pytest.mark.parametrize("state", ["missing", "empty", "ours"])
def test_report_accepts_a_new_empty_or_earlier_report_folder(tmp_path, state):
    folder = tmp_path / "r"
    if state != "missing":
        folder.mkdir()
    if state == "ours":
        _report._mark(folder)
        (folder / "index.html").write_text("an earlier report")
    assert _report.report_unowned(folder) is None
    if state == "ours":
        assert (folder / _report.MARKER).is_file()


def test_the_marker_is_written_before_the_pictures(tmp_path, monkeypatch):
    """write_report marks the folder first, so an interrupted report is still ours."""
    class Stop(Exception):
        pass

    def classify(*_, **__):
        assert (tmp_path / "r" / _report.MARKER).is_file()
        raise Stop

    class Args:
        report = tmp_path / "r"
    monkeypatch.setattr(_report, "classify", classify)
    with pytest.raises(Stop):
        _report.write_report(Args, None, type("R", (), {"params": None}),
                             type("S", (), {"images": np.zeros((1, 4)), "labels": np.zeros(1)}))
