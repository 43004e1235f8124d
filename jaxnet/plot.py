"""Learning curves as the book draws them (needs matplotlib: the ``plot`` extra).

``plot_history(history, path)``: accuracy and cost per epoch on training and
evaluation data, from :func:`jaxnet.fit`'s EpochRecords (a panel for each of the
two that was monitored, ticks at whole epochs).
``plot_population(correct, total, path)``: a population's spread per epoch
(median, inter-quartile band, best and worst member). Both write a PNG of
``WIDTH_PX × HEIGHT_PX`` pixels atomically.
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


def history_series(history) -> dict:
    """What :func:`plot_history` draws: ``{"accuracy": {label: [% or None per
    epoch]}, "cost": {label: [cost or None per epoch]}}``, only the series that were
    monitored (at least one number) and only the panels that hold one."""
    series = {"accuracy": {
        "evaluation": [None if r.correct is None else 100 * r.correct / r.total
                       for r in history],
        "training": [None if r.train_correct is None else 100 * r.train_correct / r.train_total
                     for r in history]},
        "cost": {"evaluation": [r.eval_cost for r in history],
                 "training": [r.train_cost for r in history]}}
    kept = {panel: {label: ys for label, ys in lines.items()
                    if any(v is not None for v in ys)} for panel, lines in series.items()}
    return {panel: lines for panel, lines in kept.items() if lines}


def integer_epochs(ax) -> None:
    """Ticks at whole epochs only (an epoch is not divisible: no 0.5)."""
    from matplotlib.ticker import MaxNLocator
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))


_LABELS = {"accuracy": ("accuracy (%)", "classification accuracy"), "cost": ("cost", "cost")}


def plot_history(history, path, *, title=None):
    """Accuracy (%) and cost per epoch, training and evaluation data: one panel for
    each of the two that was monitored (:func:`history_series`), never an empty one.

    Args:
      history: a list of EpochRecord (``FitResult.history``).
      path: the PNG to write.
      title: optional figure title.
    """
    if not history:
        raise ValueError("history: nothing to plot (no epochs)")
    plt = pyplot()
    epochs = [r.epoch for r in history]
    panels = history_series(history)
    if not panels:
        raise ValueError("history: nothing to plot (nothing was monitored)")
    fig, axes = plt.subplots(1, len(panels), figsize=(WIDTH_IN, HEIGHT_IN), squeeze=False)
    for ax, (panel, lines) in zip(axes.flat, panels.items()):
        for label, ys in lines.items():
            ax.plot(epochs, [np.nan if v is None else v for v in ys], marker=".", label=label)
        ylabel, name = _LABELS[panel]
        ax.set(xlabel="epoch", ylabel=ylabel, title=name)
        integer_epochs(ax)
        ax.grid(True, alpha=0.3)
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
    integer_epochs(ax)
    ax.grid(True, alpha=0.3)
    ax.legend()
    fig.tight_layout()
    try:
        return _save(fig, path)
    finally:
        plt.close(fig)
