"""Write a file so that readers see the old version or the whole new one, never a part."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def unwritable(path) -> str | None:
    """Why :func:`atomic_write` could not write ``path``, or None if it can.

    Checked without creating anything: ``path`` must not be a directory, and
    its nearest existing ancestor must be a folder this process can write
    (atomic_write creates the missing folders below it)."""
    path = Path(path)
    if path.is_dir():
        return f"{path} is a directory; give a file name"
    probe = path.parent
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


@contextlib.contextmanager
def atomic_write(path, mode="wb"):
    """Yields a file object; on success it is fsynced and renamed onto ``path``.

    On any exception the temporary file is removed and ``path`` is untouched.
    The temporary file (``.NAME.PID.XXXX.tmp`` beside ``path``) names its
    writer's process, so the next write removes those of writers that died.
    """
    path = Path(path)
    folder = path.parent
    folder.mkdir(parents=True, exist_ok=True)
    remove_orphans(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.{os.getpid()}.", suffix=".tmp", dir=folder)
    try:
        os.fchmod(fd, 0o666 & ~_umask())  # mkstemp's 0600 is for the temporary only
        with os.fdopen(fd, mode) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
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
