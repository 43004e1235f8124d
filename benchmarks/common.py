"""What the benchmark scripts share: where results go and how they are written,
how a path is timed, and how two runs' updates are compared.

The scripts import it as ``common`` (``python benchmarks/x.py`` puts benchmarks/
first on the path, as pyproject's ``pythonpath`` does for the tests)."""

from __future__ import annotations

import json
import statistics
import time
from pathlib import Path

import numpy as np

#: The scripts' default ``--out``.
RESULTS = Path(__file__).resolve().parent / "results"


def save(stem: Path, doc: dict, md: str, *, prog: str, png: bytes | None = None,
         replace: bool = False) -> int:
    """Writes STEM.json (``doc``), STEM.md (``md``) and, given, STEM.png through
    jaxnet.io's rescue path (a full disk: a copy elsewhere, one line saying where,
    ``PROG: error: ...``); returns the exit status, 0 or 1. Where an earlier run wrote
    STEM already, this process's results go to STEM-2 (STEM-3, ...: :func:`free_stem`),
    chosen at its first save, so a script that saves after each part keeps one set of
    files; ``replace=True`` writes STEM itself (re-rendering its own .json)."""
    from jaxnet.io import write_files
    stem.parent.mkdir(parents=True, exist_ok=True)
    if not replace:
        if stem not in _CHOSEN:
            _CHOSEN[stem] = free_stem(stem)
        stem = _CHOSEN[stem]
    files = {stem.with_suffix(".json"): json.dumps(doc, indent=1), stem.with_suffix(".md"): md}
    if png is not None:
        files[stem.with_suffix(".png")] = png
    return write_files(files, prog=prog)


#: The stem each requested stem was given at this process's first save of it.
_CHOSEN: dict = {}


def free_stem(stem: Path) -> Path:
    """STEM, else STEM-2, STEM-3, ...: the first with no .json or .md yet, so a second
    run on the same day keeps the first one's results."""
    k, out = 1, stem
    while out.with_suffix(".json").exists() or out.with_suffix(".md").exists():
        k += 1
        out = stem.with_name(f"{stem.name}-{k}")
    return out


def timed(run, repeats):
    """(first call's seconds, median of the next ``repeats``, all of them)."""
    t0 = time.perf_counter()
    run()
    first = time.perf_counter() - t0
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        run()
        times.append(time.perf_counter() - t0)
    return first, statistics.median(times), times


def rel(a, b):
    """max|a − b| / max|b| (0 against an all-zero b only when a is zero too)."""
    diff, scale = np.max(np.abs(np.asarray(a, np.float64) - b)), np.max(np.abs(b))
    return float(diff / scale) if scale > 0 else (0.0 if diff == 0 else float("inf"))


def updates_diff(p, q, p0):
    """Largest relative difference of two runs' updates p − p0, q − p0 over the leaves
    (p, q, p0: sequences of layers, each a sequence of arrays)."""
    return max(rel(np.asarray(a) - np.asarray(z), np.asarray(b, np.float64) - np.asarray(z))
               for pa, pb, pz in zip(p, q, p0) for a, b, z in zip(pa, pb, pz))


def torch_threads(n) -> None:
    """``torch.set_num_threads(n)`` when torch is installed and ``n`` is given (the
    peers' ``--torch-threads``)."""
    if n is not None:
        try:
            import torch
        except ImportError:
            return
        torch.set_num_threads(n)
