"""A minimal text progress bar for the terminal (stderr)."""

from __future__ import annotations

import sys


class ProgressBar:
    """Draws ``label [#####.....] done/total`` in place on ``stream``.

    Instances are callables ``bar(done, total)`` and hash by identity, so one
    instance can be handed to a jitted epoch as its static progress callback
    without causing recompiles.
    """

    def __init__(self, label: str = "", stream=None, width: int = 30):
        self.label = label
        self.stream = stream if stream is not None else sys.stderr
        self.width = width

    def start(self, label: str) -> None:
        self.label = label

    def __call__(self, done, total) -> None:
        done, total = int(done), int(total)
        filled = self.width * done // max(total, 1)
        bar = "#" * filled + "." * (self.width - filled)
        self.stream.write(f"\r{self.label} [{bar}] {done}/{total}")
        self.stream.flush()

    def clear(self) -> None:
        self.stream.write("\r" + " " * (len(self.label) + self.width + 40) + "\r")
        self.stream.flush()
