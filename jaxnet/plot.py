"""Learning curves as the book draws them (needs matplotlib: the ``plot`` extra).

``plot_history(history, path)``: accuracy and cost per epoch on training and
evaluation data, from :func:`jaxnet.fit`'s EpochRecords (whatever was
monitored). ``plot_population(correct, total, path)``: a population's spread
per epoch (median, inter-quartile band, best and worst member). Both write
a PNG of ``WIDTH_PX × HEIGHT_PX`` pixels atomically.
"""

from __future__ import annotations

import io

import numpy as np

from ._core.atomic import atomic_write

WIDTH_IN, HEIGHT_IN, DPI = 9.0, 3.6, 100
WIDTH_PX, HEIGHT_PX = int(WIDTH_IN * DPI), int(HEIGHT_IN * DPI)


def pyplot():
    """matplotlib's pyplot with the file-only Agg backend, or an ImportError saying how
    to install the ``plot`` extra."""
    try:
        import matplotlib
    except ImportError:
        raise ImportError("plotting needs matplotlib: pip install matplotlib (or, in "
                          "jaxnet's source folder, pip install '.[plot]')") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def _save(fig, path):
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI)
    with atomic_write(path) as f:
        f.write(buf.getvalue())
    return path


def plot_history(history, path, *, title=None):
    """Two panels, accuracy (%) and cost per epoch, training and evaluation data.

    Args:
      history: a list of EpochRecord (``FitResult.history``).
      path: the PNG to write.
      title: optional figure title.
    """
    if not history:
        raise ValueError("history: nothing to plot (no epochs)")
    plt = pyplot()
    epochs = [r.epoch for r in history]
    fig, (acc, cost) = plt.subplots(1, 2, figsize=(WIDTH_IN, HEIGHT_IN))
    series = [(acc, "evaluation", [None if r.correct is None else 100 * r.correct / r.total
                                   for r in history]),
              (acc, "training", [None if r.train_correct is None
                                 else 100 * r.train_correct / r.train_total for r in history]),
              (cost, "evaluation", [r.eval_cost for r in history]),
              (cost, "training", [r.train_cost for r in history])]
    for ax, label, ys in series:
        if any(v is not None for v in ys):
            ax.plot(epochs, [np.nan if v is None else v for v in ys], marker=".", label=label)
    acc.set(xlabel="epoch", ylabel="accuracy (%)", title="classification accuracy")
    cost.set(xlabel="epoch", ylabel="cost", title="cost")
    for ax in (acc, cost):
        ax.grid(True, alpha=0.3)
        if ax.lines:
            ax.legend()
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    try:
        return _save(fig, path)
    finally:
        plt.close(fig)


def plot_population(correct, total, path, *, title=None, diverged=None):
    """A population's evaluation accuracy per epoch: median, quartiles, best, worst.

    Args:
      correct: ``(epochs, P)`` counts (``PopulationResult.correct``).
      total: the evaluation set's size.
      path: the PNG to write.
      diverged: ``(P,)`` epochs (``PopulationResult.diverged``, -1: ok): members
        that became NaN or Inf are left out of the spread, and the title says how
        many.
    """
    c = np.asarray(correct, np.float64)
    if c.ndim != 2 or c.shape[0] < 1:
        raise ValueError(f"correct: expected (epochs, P) counts, got shape {c.shape}")
    ok = np.ones(c.shape[1], bool) if diverged is None else np.asarray(diverged) < 0
    if ok.shape != (c.shape[1],) or not ok.any():
        raise ValueError(f"diverged: expected {c.shape[1]} epochs (-1: ok), not all "
                         f"diverged, got {diverged!r}")
    plt = pyplot()
    a = 100 * c[:, ok] / total
    note = "" if ok.all() else f" ({int((~ok).sum())} diverged, left out)"
    e = np.arange(a.shape[0])
    fig, ax = plt.subplots(figsize=(WIDTH_IN, HEIGHT_IN))
    q1, med, q3 = np.percentile(a, [25, 50, 75], axis=1)
    ax.fill_between(e, q1, q3, alpha=0.3, label="inter-quartile range")
    ax.plot(e, med, label="median member")
    ax.plot(e, a.max(axis=1), ls="--", label="best member")
    ax.plot(e, a.min(axis=1), ls=":", label="worst member")
    ax.set(xlabel="epoch", ylabel="accuracy (%)",
           title=(title or f"population of {c.shape[1]}: evaluation accuracy") + note)
    ax.grid(True, alpha=0.3)
    ax.legend()
    fig.tight_layout()
    try:
        return _save(fig, path)
    finally:
        plt.close(fig)
