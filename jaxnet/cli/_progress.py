"""A minimal text progress bar for the terminal (stderr), with a rate and an ETA, and
the one line that says XLA is compiling (so a long compile is no silent wait)."""

from __future__ import annotations

import sys
import time


def _clock(seconds: float) -> str:
    """``seconds`` as ``42 s`` or ``3:07`` (minutes:seconds) or ``1:02:03``."""
    s = int(round(seconds))
    if s < 60:
        return f"{s} s"
    h, m = divmod(s // 60, 60)
    return f"{h}:{m:02d}:{s % 60:02d}" if h else f"{m}:{s % 60:02d}"


class ProgressBar:
    """Draws ``label [#####.....] done/total  rate/s, ETA t`` in place on ``stream``.

    Instances are callables ``bar(done, total)`` (mini-batches done of the epoch's)
    and hash by identity, so one instance can be handed to a jitted epoch as its
    static progress callback without causing recompiles. The rate is measured from
    the epoch's first call, so the compile before epoch 0 does not slow it.
    :meth:`compiling` writes ``compiling…`` until the first call, which replaces it
    with the seconds it took.
    """

    def __init__(self, label: str = "", stream=None, width: int = 30, clock=time.perf_counter):
        self.label = label
        self.stream = stream if stream is not None else sys.stderr
        self.width = width
        self.clock = clock
        self.first = None        # (time, done) of the epoch's first call
        self.compile_t0 = None   # set by compiling() until the first call

    def start(self, label: str) -> None:
        self.label = label
        self.first = None

    def compiling(self, what: str = "the epoch and monitoring programs") -> None:
        """Says that XLA is compiling ``what``; the next call says how long it took."""
        self.compile_t0 = self.clock()
        self.stream.write(f"jaxnet: compiling {what}…")
        self.stream.flush()

    def compiled(self) -> None:
        """Ends :meth:`compiling`'s line with the seconds since (no-op without it)."""
        if self.compile_t0 is not None:
            self.stream.write(f" {self.clock() - self.compile_t0:.1f} s\n")
            self.compile_t0 = None

    def rate(self, done: int, total: int) -> str:
        """``  12.3 batches/s, ETA 4 s`` once two calls of an epoch are apart, else ``""``."""
        now = self.clock()
        if self.first is None or done < self.first[1]:
            self.first = (now, done)
            return ""
        dt, dn = now - self.first[0], done - self.first[1]
        if dt <= 0 or dn <= 0:
            return ""
        per_s = dn / dt
        shown = f"{per_s:,.0f}" if per_s >= 100 else f"{per_s:.3g}"
        return f"  {shown} batches/s, ETA {_clock((total - done) / per_s)}"

    def __call__(self, done, total) -> None:
        done, total = int(done), int(total)
        self.compiled()
        filled = self.width * done // max(total, 1)
        bar = "#" * filled + "." * (self.width - filled)
        rate = self.rate(done, total).ljust(40)   # pads over a longer line before it
        self.stream.write(f"\r{self.label} [{bar}] {done}/{total}{rate}")
        self.stream.flush()

    def clear(self) -> None:
        self.compiled()
        self.stream.write("\r" + " " * (len(self.label) + self.width + 60) + "\r")
        self.stream.flush()
