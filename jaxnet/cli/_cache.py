"""The command line's persistent compilation cache (``--compile-cache``): its folder
checked before any data is loaded, and corrupt entries removed so they are rewritten.

JAX never repairs an entry it cannot read: it warns, recompiles, and leaves the entry
(its cache writes only keys that do not exist), so every later run warns and
recompiles again. Two defences, one line said once per process:

- :func:`repair` checks every entry's compression (zlib's Adler-32 catches a flipped
  byte) when the cache is set up, before anything is compiled, and removes a
  corrupt one;
- :func:`watch` turns JAX's "Error reading persistent compilation cache entry"
  warning (an entry that decompresses but does not deserialize) into removing that
  program's entries, so this run's compilation writes them afresh.
"""

from __future__ import annotations

import os
import re
import stat
import sys
import warnings
import zlib
from pathlib import Path

#: The files of one entry in JAX's cache folder: ``{program}-{hash}-cache`` and,
#: with eviction, ``{program}-{hash}-atime``.
SUFFIXES = ("-cache", "-atime")
_READ_ERROR = "Error reading persistent compilation cache entry"
_ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
_said: set = set()


def cache_folder_problem(path) -> str | None:
    """Why ``--compile-cache path`` cannot be the cache's folder (an existing file,
    a FIFO, a folder under a file), or None; checked before any data is loaded."""
    path = Path(path)
    for p in (path, *path.parents):
        try:
            st = os.stat(p)
        except FileNotFoundError:
            continue
        except OSError as e:
            return f"--compile-cache {path}: {e.strerror or e}"
        if not stat.S_ISDIR(st.st_mode):
            where = "is" if p == path else f"is inside {p}, which is"
            return f"--compile-cache {path}: {where} not a folder (give a folder, or 'none')"
        return None
    return None


def _say(folder, what: str) -> None:
    if folder not in _said:
        _said.add(folder)
        print(f"jaxnet: --compile-cache {folder}: {what}; this run compiles and rewrites it",
              file=sys.stderr)


def _remove(entries) -> list:
    gone = []
    for entry in entries:
        for suffix in SUFFIXES:
            try:
                os.unlink(f"{entry}{suffix}")
                gone.append(Path(entry).name)
            except FileNotFoundError:
                pass
            except OSError:   # another process's file, or a read-only cache: leave it
                pass
    return sorted(set(gone))


def _corrupt(data: bytes) -> bool:
    """Whether an entry's bytes fail their compression's own check (zlib's; zstd's
    frame when python's zstd reader is installed). Entries of an unknown kind pass."""
    if data[:4] == _ZSTD_MAGIC:
        try:
            import zstandard
        except ImportError:
            return False
        try:
            zstandard.ZstdDecompressor().decompress(data)
        except zstandard.ZstdError:
            return True
        return False
    try:
        zlib.decompress(data)
    except zlib.error:
        return True
    return False


def repair(folder) -> list:
    """Removes the entries of ``folder`` that fail their compression's check and says
    so in one line; returns their names."""
    folder = Path(folder)
    bad = []
    try:
        files = [p for p in folder.iterdir() if p.name.endswith("-cache")]
    except OSError:
        return []
    for p in files:
        try:
            if _corrupt(p.read_bytes()):
                bad.append(str(p)[:-len("-cache")])
        except OSError:
            continue
    gone = _remove(bad)
    if gone:
        _say(folder, f"removed {len(bad)} corrupt entr{'y' if len(bad) == 1 else 'ies'} "
                     f"({', '.join(Path(n).name.rsplit('-', 1)[0] for n in bad)[:200]})")
    return gone


def watch(folder) -> None:
    """From now on in this process, JAX's warning that an entry of ``folder`` could not
    be read removes that program's entries (JAX then writes the one it compiles) and
    says so once, instead of a warning every run."""
    folder = Path(folder)
    shown = warnings.showwarning
    if getattr(shown, "jaxnet_cache", None) == folder:
        return

    def show(message, category, filename, lineno, file=None, line=None):
        text = str(message)
        found = re.match(rf"{_READ_ERROR} for '([^']+)'", text)
        if not found:
            return shown(message, category, filename, lineno, file, line)
        program = found.group(1)
        _remove(str(p)[:-len("-cache")] for p in folder.glob(f"{glob_escape(program)}-*-cache"))
        _say(folder, f"an entry of {program} could not be read ({text.split(': ', 1)[-1][:120]}); "
                     "removed it")
    show.jaxnet_cache = folder
    warnings.showwarning = show
    warnings.filterwarnings("always", message=_READ_ERROR, category=UserWarning)


def glob_escape(name: str) -> str:
    return re.sub(r"([*?\[])", r"[\1]", name)
