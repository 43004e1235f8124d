"""The one rescue path of every output: a write that fails (a full disk, a lost
mount, a folder made read-only) leaves the old file untouched, puts the result in
the current or the temporary folder instead, and says where.

Every writer handed to :func:`write_or_rescue` must be atomic (jaxnet._core.atomic):
a failed attempt then leaves ``path`` as it was, and the same writer can be called
again with the rescue path.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path
from typing import Callable

from .atomic import atomic_write


class WriteError(OSError):
    """An output could not be written; the old file at ``path`` (if any) is untouched.

    Attributes:
      what: the output, as the caller names it (``"checkpoint"``, ``"--save"``).
      path: the file that could not be written.
      reason: the operating system's words (``"No space left on device"``).
      rescued: where the result was written instead, or None if nowhere.
      errno: the original error's number (``errno.ENOSPC`` for a full disk).

    A checkpoint's (``jaxnet.fit(checkpoint=...)``) also holds the trained state
    itself, for when no copy could be written: ``epoch`` (epochs trained),
    ``params`` and ``history``.
    """

    def __init__(self, what: str, path, reason: str, rescued, errno=None, *, hint: str = ""):
        self.what, self.path, self.reason = what, Path(path), reason
        self.rescued, self.hint = rescued, hint
        super().__init__(self.message())
        self.errno = errno

    def message(self, what: str | None = None, hint: str | None = None) -> str:
        """The one-line message, optionally for another name of the output or hint."""
        what = self.what if what is None else what
        hint = self.hint if hint is None else hint
        head = f"{what} {self.path}: could not write it ({self.reason})"
        if self.rescued is None:
            return (f"{head}, nor a copy in the current or the temporary folder; "
                    f"{self.path} is as it was")
        return f"{head}; the result is in {self.rescued} instead" + (f" ({hint})" if hint
                                                                     else "")

    def __str__(self) -> str:
        return self.message()

    def __reduce__(self):  # picklable (multiprocessing), attributes added by callers too
        return (type(self), (self.what, self.path, self.reason, self.rescued, self.errno),
                dict(self.__dict__))


def rescue_folders() -> list:
    """Where a rescued output goes, in order: the current folder, the temporary one."""
    try:
        folders = [Path.cwd()]
    except OSError:  # the current folder was removed
        folders = []
    temporary = Path(tempfile.gettempdir())
    return folders + [temporary] if temporary not in folders else folders


def _free_name(folder: Path, name: str) -> Path:
    """``jaxnet-rescued-PID-NAME`` in ``folder``, numbered past any file already there."""
    stem = f"jaxnet-rescued-{os.getpid()}"
    for i in range(1000):
        candidate = folder / (f"{stem}-{name}" if i == 0 else f"{stem}-{i}-{name}")
        if not os.path.lexists(candidate):
            return candidate
    raise FileExistsError(f"{folder}: no free name for a rescued {name}")


def write_or_rescue(path, write: Callable, *, what: str = "output", hint: str = "") -> Path:
    """Calls ``write(path)``; if that raises OSError, calls ``write(rescue)`` with a new
    file in the current, else the temporary folder, then raises WriteError.

    Args:
      path: the output file.
      write: ``write(path)`` writes the whole output to ``path`` atomically.
      what: the output's name in the message (a flag, ``"checkpoint"``).
      hint: what to do with a rescued copy (said after where it is).

    Returns:
      ``path``, once written.

    Raises:
      WriteError (an OSError): ``path`` could not be written; ``rescued`` says
        where the result is instead (None if nowhere). Other exceptions of
        ``write`` propagate unchanged.
    """
    path = Path(path)
    try:
        write(path)
        return path
    except OSError as e:
        reason, number = e.strerror or str(e), e.errno
    for folder in rescue_folders():
        try:
            rescue = _free_name(folder, path.name or "output")
            write(rescue)
        except OSError:
            continue
        raise WriteError(what, path, reason, rescue, number, hint=hint)
    raise WriteError(what, path, reason, None, number, hint=hint)


def _write_one(data):
    raw = data.encode("utf-8") if isinstance(data, str) else bytes(data)

    def write(path):
        with atomic_write(path) as f:
            f.write(raw)
    return write


def write_files(files: dict, *, prog: str) -> int:
    """Writes each ``{path: str (as UTF-8) or bytes}`` atomically through :func:`write_or_rescue`
    (a script's results: tables, JSON, figures).

    Every file is tried; each that fails is one line on stderr, ``PROG: error:
    ...``, saying where its rescued copy is.

    Returns:
      0 if every file was written, else 1.
    """
    status = 0
    for path, data in files.items():
        try:
            write_or_rescue(path, _write_one(data), what="results file")
        except WriteError as e:
            print(f"{prog}: error: {e}", file=sys.stderr)
            status = 1
    return status
