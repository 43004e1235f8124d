"""One writer per file: an advisory lock (``fcntl.flock``) on a lock file beside it.

The lock of ``run.npz`` is ``.run.npz.lock`` in the folder of the file the name
leads to (``os.path.realpath``: a checkpoint that is a symbolic link is locked at
its target, whatever link names it). The holder writes its PID into the lock
file, so a refusal names the process; the kernel drops the lock when that process
ends, however it ends (``kill -9`` included), so a lock file left behind blocks
nobody. A holder removes the lock file when it lets go; whoever takes the lock
checks that the file it locked is still the one at that name (else a releasing
holder just removed it, and it tries again), so two processes never both hold it.
"""

from __future__ import annotations

import errno
import fcntl
import os
from pathlib import Path


def lock_file(path) -> Path:
    """``.NAME.lock`` beside the file ``path`` leads to (symbolic links followed)."""
    real = Path(os.path.realpath(path))
    return real.parent / f".{real.name}.lock"


def _owner(fd: int) -> str:
    """The holder's PID as its lock file says it (``"?"`` while it has not written it yet)."""
    try:
        text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
    except OSError:
        return "?"
    return text if text.isdigit() else "?"


class FileLock:
    """The lock of ``path``, taken at once or refused: ``error(message)`` (an exception
    type) naming the holder's PID. A context manager; :meth:`release` lets go.

    A folder where no lock file can be made (read-only, full) is not locked: nobody can
    write the file there either, and the write itself says so."""

    def __init__(self, path, error, what: str = "checkpoint"):
        self.path, self.file, self.fd = Path(path), lock_file(path), None
        for _ in range(100):   # a holder removing the file between our open and lock: again
            try:
                fd = os.open(self.file, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW,
                             0o666)
            except OSError as e:
                if e.errno == errno.ELOOP:
                    raise error(f"{what} {path}: its lock file {self.file} is a symbolic link; "
                                "remove it") from None
                return
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as e:
                owner = _owner(fd)
                os.close(fd)
                if e.errno not in (errno.EAGAIN, errno.EACCES):
                    return                       # a file system without flock: not locked
                raise error(f"{what} {path}: in use by process {owner} (it holds {self.file}); "
                            f"let it finish or stop it, or give another {what} file") from None
            try:
                same = os.stat(self.file, follow_symlinks=False).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                same = False
            if same:
                self.fd = fd
                os.ftruncate(fd, 0)
                os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
                return
            os.close(fd)

    def release(self) -> None:
        """Removes the lock file and lets go (the file first: see the module's note)."""
        if self.fd is None:
            return
        try:
            os.unlink(self.file)
        except OSError:
            pass
        os.close(self.fd)
        self.fd = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.release()
