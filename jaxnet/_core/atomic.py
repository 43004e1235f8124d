"""Write a file so that readers see the old version or the whole new one, never a part.

A signal handler that stops the program (:func:`interrupt`: the command line's Ctrl-C,
fit's second one) never cuts such a write: while one is in progress the
KeyboardInterrupt waits until it is complete (renamed into place), then is raised.
"""

from __future__ import annotations

import contextlib
import errno
import os
import signal
import stat
import tempfile
from pathlib import Path

from .readable import NotRegularFileError, kind

_writing = 0          # atomic writes in progress (nested: a report's files)
_held: list = []      # the signals that came meanwhile


def interrupt(signum: int) -> None:
    """What a signal that stops the program does (called from its handler): raises
    KeyboardInterrupt, whose argument is the signal's name (``"SIGINT"``), now, or,
    while a write is in progress (:func:`atomic_write`, :func:`whole`), as soon as
    it is complete."""
    if _writing:
        _held.append(signum)
        return
    raise KeyboardInterrupt(signal.Signals(signum).name)


@contextlib.contextmanager
def whole():
    """A stretch that :func:`interrupt` does not cut: a signal waits for its end, and is
    raised then (unless the stretch itself failed)."""
    global _writing
    _writing += 1
    try:
        yield
    finally:
        _writing -= 1
    if not _writing and _held:
        signum = _held[0]
        _held.clear()
        raise KeyboardInterrupt(signal.Signals(signum).name)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_STREAM = "a stream of the process, the descriptor link"


def target(path) -> Path:
    """The file a write of ``path`` replaces: a symbolic link's target
    (``os.path.realpath``), so the link is kept and the file it names is written;
    else ``path`` itself."""
    path = Path(path)
    return Path(os.path.realpath(path)) if os.path.islink(path) else path


def _stream(path) -> str | None:
    """The descriptor link (``/proc/self/fd/1``, ``/dev/stdout``) that ``path`` is or
    leads to through symbolic links, else None: a stream of the process, not a file."""
    p = os.path.abspath(path)
    for _ in range(40):
        if os.path.realpath(os.path.dirname(p)).startswith("/proc/"):
            return p
        if not os.path.islink(p):
            return None
        p = os.path.join(os.path.dirname(p), os.readlink(p))
    return None


def unwritable(path) -> str | None:
    """Why :func:`atomic_write` could not write ``path``, or None if it can.

    Checked without creating anything, so a command can refuse before it trains:

    - ``path`` (a symbolic link followed) must be a regular file or not exist: a
      directory, a FIFO, a device or a socket is refused, never replaced. A link
      to a stream (``/proc/self/fd/1`` when that is a pipe or a terminal) is a FIFO
      or a character device, and is refused whatever it is: outputs are files,
      written atomically, not streams (redirect the command's output instead).
    - A symbolic link is written at its target: a dangling link's target folder
      must exist (it is not created).
    - The folder the file is written in (the nearest existing ancestor, for a
      plain path: atomic_write creates the missing folders below it) must be one
      this process can write.
    """
    path = Path(path)
    stream = _stream(path)
    if stream is not None:
        return (f"{path} is {_STREAM} {stream}, not a file; jaxnet writes only files "
                "(give a file name)")
    try:
        st = os.stat(path)
    except (FileNotFoundError, NotADirectoryError):  # the folder check below names it
        st = None
    except OSError as e:  # a loop of links, a file used as a folder, no permission
        return f"{path}: {e.strerror or e}"
    link = os.path.islink(path)
    where = Path(os.path.realpath(path)) if link else path
    if st is not None and not stat.S_ISREG(st.st_mode):
        what = kind(st.st_mode)
        lead = f"{path} is a symbolic link to {where}, {what}" if link else f"{path} is {what}"
        return (f"{lead}; give a file name" if stat.S_ISDIR(st.st_mode) else
                f"{lead}, not a regular file; jaxnet writes only regular files and does not "
                "replace it")
    probe = where.parent
    if link:
        if not probe.is_dir():
            return (f"{path} is a symbolic link to {where}, whose folder {probe} does not "
                    "exist")
    else:
        while not probe.exists() and probe != probe.parent:
            probe = probe.parent
        if not probe.is_dir():
            return f"{probe} is not a folder"
    if not os.access(probe, os.W_OK | os.X_OK):
        return f"folder {probe} is not writable"
    return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True
    return True


def remove_orphans(path) -> list:
    """Removes temporary files of ``path`` left by writers that were killed
    (``kill -9``, power loss): ``.NAME.PID.*.tmp`` whose process is gone.
    Returns the paths removed."""
    path = Path(path)
    removed = []
    prefix = f".{path.name}."
    with contextlib.suppress(OSError):
        for p in path.parent.iterdir():
            rest = p.name[len(prefix):] if p.name.startswith(prefix) else ""
            pid = rest.split(".", 1)[0]
            if p.name.endswith(".tmp") and pid.isdigit() and int(pid) != os.getpid() \
                    and not _alive(int(pid)):
                with contextlib.suppress(OSError):
                    p.unlink()
                    removed.append(p)
    return removed


def _keep_owner_and_mode(fd: int, old: os.stat_result | None) -> None:
    """The new file gets the old one's mode (a 0600 file stays 0600) and, where
    permitted (as root, or a group of ours), its owner; a new file gets 0666 less
    the umask (mkstemp's 0600 is for the temporary only)."""
    if old is None:
        os.fchmod(fd, 0o666 & ~_umask())
        return
    if (old.st_uid, old.st_gid) != (os.geteuid(), os.getegid()):
        with contextlib.suppress(PermissionError):
            os.fchown(fd, old.st_uid, old.st_gid)
    os.fchmod(fd, stat.S_IMODE(old.st_mode))  # after fchown, which clears set-id bits


def _existing_regular(path: Path, shown: Path) -> os.stat_result | None:
    """``os.stat(path)`` if it is a regular file, None if there is none; else
    NotRegularFileError (nothing but a regular file is replaced)."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    if not stat.S_ISREG(st.st_mode):
        raise NotRegularFileError(shown, kind(st.st_mode))
    return st


@contextlib.contextmanager
def atomic_write(path, mode="wb"):
    """Yields a file object; on success it is fsynced and renamed onto ``path``.

    On any exception the temporary file is removed and ``path`` is untouched; a
    stopping signal (:func:`interrupt`) waits for the write to be complete.
    The temporary file (``.NAME.PID.XXXX.tmp`` beside ``path``) names its
    writer's process, so the next write removes those of writers that died.

    A file the user owns is kept as theirs: a symbolic link is written at its
    target (:func:`target`; the link stays, and a dangling link's target folder
    must exist), an existing file keeps its mode and, where permitted, its owner,
    and anything but a regular file (a directory, a FIFO, a device, a socket) is
    refused with NotRegularFileError (an OSError), never replaced.
    """
    path = Path(path)
    stream = _stream(path)
    if stream is not None:
        raise NotRegularFileError(path, f"{_STREAM} {stream}")
    dest = target(path)
    folder = dest.parent
    if dest != path and not folder.is_dir():
        raise FileNotFoundError(errno.ENOENT, f"{path} is a symbolic link to {dest}, whose "
                                f"folder {folder} does not exist", str(path))
    old = _existing_regular(dest, path)
    folder.mkdir(parents=True, exist_ok=True)
    remove_orphans(dest)
    with whole():  # a stopping signal waits until the file is in place
        fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.{os.getpid()}.", suffix=".tmp", dir=folder)
        try:
            _keep_owner_and_mode(fd, old)
            with os.fdopen(fd, mode) as f:
                yield f
                f.flush()
                os.fsync(f.fileno())
            _existing_regular(dest, path)  # not swapped for a FIFO or a folder meanwhile
            os.replace(tmp, dest)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise
        # Make the rename itself durable.
        with contextlib.suppress(OSError):
            dfd = os.open(folder, os.O_RDONLY)
            try:
                os.fsync(dfd)
            finally:
                os.close(dfd)
