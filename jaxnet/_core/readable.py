"""Reading only regular files: a FIFO opened for reading blocks until a writer comes
(forever), a device may never end, and a directory is not data.

Every file jaxnet reads goes through :func:`open_regular`: the path is checked with
``os.stat`` before it is opened (so a device is never opened), then opened with
``O_NONBLOCK`` (so a FIFO swapped in meanwhile cannot block the open) and checked
again with ``os.fstat`` on the open descriptor, which is what is read.
"""

from __future__ import annotations

import errno
import fcntl
import os
import stat
from pathlib import Path

_KINDS = ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO (named pipe)"),
          (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
          (stat.S_ISSOCK, "a socket"), (stat.S_ISLNK, "a symbolic link"),
          (stat.S_ISREG, "a regular file"))


def kind(mode: int) -> str:
    """What an ``st_mode`` is, in words: ``"a FIFO (named pipe)"``, ``"a directory"``."""
    return next((words for test, words in _KINDS if test(mode)), "not a regular file")


class NotRegularFileError(OSError):
    """``path`` is not a regular file (a FIFO, a directory, a device, a socket).

    Attributes:
      path: the file as given.
      kind: what it is, in words (:func:`kind`).
    """

    def __init__(self, path, what: str):
        super().__init__(errno.EISDIR if what == "a directory" else errno.EINVAL,
                         f"{path} is {what}, not a regular file", str(path))
        self.path, self.kind = Path(path), what

    def __str__(self) -> str:
        return self.strerror

    def __reduce__(self):
        return (type(self), (self.path, self.kind))


def check_regular(path) -> os.stat_result:
    """``os.stat(path)`` (symbolic links followed) if it is a regular file, else
    NotRegularFileError; FileNotFoundError and other OSErrors stay as they are."""
    st = os.stat(path)
    if not stat.S_ISREG(st.st_mode):
        raise NotRegularFileError(path, kind(st.st_mode))
    return st


def open_regular(path, mode: str = "rb", encoding: str | None = None):
    """``open(path, mode)`` for reading, refusing anything but a regular file.

    Args:
      path: the file (symbolic links are followed).
      mode: ``"rb"`` or ``"r"``.
      encoding: for ``"r"``.

    Raises:
      NotRegularFileError (an OSError): ``path`` is a FIFO, a directory, a device
        or a socket; nothing blocks and no device is opened.
      FileNotFoundError, PermissionError: as ``open`` raises them.
    """
    if mode not in ("rb", "r"):
        raise ValueError(f"mode: expected 'rb' or 'r', got {mode!r}")
    check_regular(path)
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):  # swapped since the check above
            raise NotRegularFileError(path, kind(st.st_mode))
        fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) & ~os.O_NONBLOCK)
        return os.fdopen(fd, mode, encoding=encoding)
    except BaseException:
        os.close(fd)
        raise
