"""Buffers handed to C, each held alive until C returns (see :class:`Pinned`)."""

from __future__ import annotations

import numpy as np

from ._lib import ffi

_CNAME = {np.dtype(np.float64): "double", np.dtype(np.float32): "float",
          np.dtype(np.int64): "int64_t", np.dtype(np.int32): "int32_t",
          np.dtype(np.uint8): "uint8_t"}


class Pinned:
    """The buffers of one C call, each held by this object until it is dropped.

    ``ffi.from_buffer`` keeps an array alive only while the cdata it returns lives;
    a ``ffi.cast`` of that cdata, or a pointer array built from it, holds nothing. A
    copy made to convert a dtype or an array-like would then be freed before C reads
    it (silently wrong numbers). So every buffer handed to C is made here, bound to a
    ``pin = Pinned()`` that the calling function holds until C returns::

        pin = Pinned()
        rc = lib.jn_f(pin.out(grad), pin(x, np.float64), pin.ptrs(ws, np.float64))
    """

    def __init__(self):
        self._held = []

    def __call__(self, a, dtype=None):
        """A C array of ``a`` as C-contiguous ``dtype`` (a copy if needed), read by C;
        ``ffi.NULL`` for None."""
        if a is None:
            return ffi.NULL
        h = np.ascontiguousarray(a, dtype=dtype)
        c = ffi.from_buffer(f"{_CNAME[h.dtype]}[]", h)  # typed: the cdata holds h
        self._held.append(c)
        return c

    def out(self, a):
        """A C array that C writes into: ``a`` itself, never a copy."""
        if a is None:
            return ffi.NULL
        if not (isinstance(a, np.ndarray) and a.flags.c_contiguous and a.flags.writeable):
            raise AssertionError("an output buffer must be a writable C-contiguous ndarray")
        return self(a)

    def ptrs(self, arrays, dtype, out=False):
        """A ``T *[]`` of the arrays (None entries as NULL; None for no array)."""
        if arrays is None:
            return ffi.NULL
        one = self.out if out else (lambda a: self(a, dtype))
        p = ffi.new(f"{_CNAME[np.dtype(dtype)]} *[]", [one(a) for a in arrays])
        self._held.append(p)
        return p
