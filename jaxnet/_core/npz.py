"""Reading our own ``.npz`` files without trusting them.

``np.load`` decompresses and allocates whatever a member's header claims as
soon as the member is asked for: a 299 KB file can inflate to 300 MB, and a
header that claims 90 TiB raises a bare ``MemoryError``. :class:`NpzReader`
checks first and allocates after:

- every member's name is known to the caller (others are refused);
- members are stored, not compressed (``numpy.savez`` stores them; only the
  package's own shipped sample, whose shapes are fixed, may be compressed);
- the small ``meta`` member (JSON, at most :data:`MAX_META_BYTES`) is read
  first, so the caller can derive every other member's dtype and shape;
- a member's ``.npy`` header must match that dtype and shape exactly, and the
  member's stored bytes must lie inside the file, before anything is read.

So reading a file allocates at most the file's own size plus the metadata.
Every failure, of the zip layer, the ``.npy`` header, the JSON or the CRC, is
raised as the caller's error class with the file and what is wrong.
"""

from __future__ import annotations

import json
import os
import struct
import tokenize
import zipfile
import zlib
from pathlib import Path

import numpy as np

from .readable import NotRegularFileError, open_regular

#: The largest metadata member read (JSON text: sizes, config, history).
MAX_META_BYTES = 16 << 20

# What a damaged or crafted file can raise from the zip, .npy and JSON layers (found by
# tests/test_robustness.py's bit flips): zipfile's own errors, RuntimeError for an entry
# flagged as encrypted, numpy's header parser's ValueError, SyntaxError and, from its
# fallback to the tokenize module, TokenError.
_DAMAGE = (zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error, struct.error, EOFError,
           OSError, ValueError, KeyError, NotImplementedError, UnicodeDecodeError,
           RecursionError, OverflowError, TypeError, IndexError, SyntaxError, RuntimeError,
           tokenize.TokenError)


class NpzReader:
    """A validated reader of one ``.npz`` file; use as a context manager.

    Args:
      path: the file.
      error: the exception class to raise (a ValueError subclass).
      kind: the messages' lead, e.g. ``"not a valid jaxnet parameter file"``:
        ``"{path}: {kind} ({what is wrong})"``.
      allow_compressed: accept deflated members (only for files whose every
        shape the caller fixes, such as the shipped sample).
    """

    def __init__(self, path, error, kind: str, *, allow_compressed: bool = False):
        self.path, self.error, self.kind = Path(path), error, kind
        self.allow_compressed = allow_compressed
        try:  # FileNotFoundError stays as it is; a FIFO or a folder is refused, not read
            self._file = open_regular(self.path)
        except NotRegularFileError as e:
            raise error(str(e)) from None
        try:
            self._size = os.fstat(self._file.fileno()).st_size
            self._zip = zipfile.ZipFile(self._file)
            infos = self._zip.infolist()
        except _DAMAGE as e:
            self._file.close()
            raise self._fail(f"not a readable .npz archive ({type(e).__name__}: "
                             f"{str(e)[:200]})") from None
        self.members = {}
        for info in infos:
            name = info.filename[:-4] if info.filename.endswith(".npy") else None
            if name is None or name in self.members:
                self.close()
                raise self._fail(f"unexpected entry {info.filename!r}")
            self.members[name] = info

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        self._zip.close()
        self._file.close()

    def _fail(self, what):
        return self.error(f"{self.path}: {self.kind} ({what})")

    def expect_members(self, names) -> None:
        """Refuses a file whose members are not exactly ``names``."""
        names = set(names)
        extra, missing = sorted(set(self.members) - names), sorted(names - set(self.members))
        problems = ([f"unexpected {extra}"] if extra else []) + (
            [f"missing {missing}"] if missing else [])
        if problems:
            raise self._fail("entries " + "; ".join(problems))

    def meta(self, name: str = "meta") -> dict:
        """The JSON object stored as uint8 bytes in member ``name``."""
        info = self.members.get(name)
        if info is None:
            raise self._fail(f"no {name!r} entry")
        if info.file_size > MAX_META_BYTES + 1024:
            raise self._fail(f"{name!r} entry of {info.file_size} bytes exceeds "
                             f"{MAX_META_BYTES} bytes")
        raw = self.array(name, np.uint8, None)
        try:
            meta = json.loads(raw.tobytes().decode("utf-8"))
        except _DAMAGE as e:
            raise self._fail(f"bad metadata ({type(e).__name__}: {str(e)[:200]})") from None
        if not isinstance(meta, dict):
            raise self._fail(f"metadata is a {type(meta).__name__}, not a JSON object")
        return meta

    def array(self, name: str, dtype, shape) -> np.ndarray:
        """Member ``name`` as a new array, after its header matched ``dtype`` and
        ``shape`` (``None``: any 1-D length, for the metadata)."""
        info = self.members.get(name)
        if info is None:
            raise self._fail(f"no {name!r} entry")
        try:
            return self._read(info, name, np.dtype(dtype), shape)
        except self.error:
            raise
        except MemoryError:
            raise self._fail(f"entry {name!r} does not fit in memory") from None
        except _DAMAGE as e:
            raise self._fail(f"entry {name!r} is damaged ({type(e).__name__}: "
                             f"{str(e)[:200]})") from None

    def _read(self, info, name, dtype, shape):
        if info.compress_type != zipfile.ZIP_STORED and not (
                self.allow_compressed and info.compress_type == zipfile.ZIP_DEFLATED):
            raise self._fail(f"entry {name!r} is compressed (method {info.compress_type}); "
                             "jaxnet writes stored members")
        if info.header_offset + info.compress_size > self._size:
            raise self._fail(f"entry {name!r} claims {info.compress_size} bytes beyond the "
                             f"file's {self._size}")
        with self._zip.open(info) as f:
            version = np.lib.format.read_magic(f)
            if version == (1, 0):
                got_shape, fortran, got_dtype = np.lib.format.read_array_header_1_0(f)
            elif version == (2, 0):
                got_shape, fortran, got_dtype = np.lib.format.read_array_header_2_0(f)
            else:
                raise self._fail(f"entry {name!r}: .npy version {version} not supported")
            if shape is None and len(got_shape) == 1:
                shape = got_shape
            if got_dtype != dtype or got_dtype.hasobject or tuple(got_shape) != tuple(shape) \
                    or fortran:
                raise self._fail(f"entry {name!r} is {got_dtype} {tuple(got_shape)}"
                                 f"{' (Fortran order)' if fortran else ''}, expected "
                                 f"{dtype} {tuple(shape)}")
            out = np.empty(shape, dtype)
            nbytes = out.nbytes
            if info.file_size != f.tell() + nbytes:
                raise self._fail(f"entry {name!r} holds {info.file_size - f.tell()} data bytes, "
                                 f"its header needs {nbytes}")
            view, done = memoryview(out.reshape(-1).view(np.uint8)), 0
            while done < nbytes:
                n = f.readinto(view[done:])
                if not n:
                    raise self._fail(f"entry {name!r} is truncated")
                done += n
            f.read(1)  # reach the end: zipfile checks the CRC there
        return out
