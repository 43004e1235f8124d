"""``jaxnet train --report DIR``: what a trained network learned, as pictures.

The numbers come from one pure function, :func:`classify` (the confusion matrix and
the misclassified examples of the evaluation split); the pictures (matplotlib: the
``plot`` extra) and ``index.html`` (jaxnet.cli._report_html) are drawn from them,
each file written atomically through the one rescue path of every output.

A folder is a whole report exactly when it holds ``index.html``: an older report's
page is removed before any picture is drawn, and the page is written last, so a
run stopped midway (Ctrl-C, an error) leaves pictures without a page, never a page
showing a mix of two reports.
"""

from __future__ import annotations

import contextlib
import math
from pathlib import Path
from typing import NamedTuple

import numpy as np

from ._report_teach import FORWARD, PANELS, SPEED, save_png

#: The report's files, in the order the page shows them (then panels.json, what each
#: picture drew, and the page).
CURVES, CONFUSION, MISTAKES, WEIGHTS, INDEX = ("learning-curves.png", "confusion.png",
                                              "misclassified.png", "first-layer.png",
                                              "index.html")
FILES = (CURVES, SPEED, WEIGHTS, FORWARD, CONFUSION, MISTAKES, PANELS, INDEX)
#: Written first into every report folder: the folder's files are ours to replace.
MARKER = ".jaxnet-report"
#: At most this many misclassified digits and first-layer units are drawn.
MAX_MISTAKES, MAX_UNITS = 36, 30
DPI = 100


class Classified(NamedTuple):
    """The evaluation split as the network classifies it.

    Attributes:
      confusion: ``(n_classes, n_classes)`` int64 counts; row = true label,
        column = predicted class.
      predicted: ``(N,)`` int64, argmax of the output (ties to the lowest class).
      wrong: ``(min(N - correct, limit),)`` int64 indices of misclassified
        examples, in the split's order.
      correct: how many predictions equal the label.
    """

    confusion: np.ndarray
    predicted: np.ndarray
    wrong: np.ndarray
    correct: int


def classify(params, images, labels, *, model, x_scale=None, limit: int = MAX_MISTAKES):
    """The confusion matrix and the first misclassified examples.

    Args:
      params: the network's Layers, matching ``model``.
      images: ``(N, n_0)`` inputs: float, or integer pixels with ``x_scale``
        (scaled in the parameters' dtype, as :func:`jaxnet.evaluate` does).
      labels: ``(N,)`` int class labels in ``[0, n_L)``.
      model: the jaxnet.Model.
      x_scale: float factor for integer ``images``, or None.
      limit: at most this many misclassified indices are returned.

    Returns:
      A :class:`Classified`; predictions are ``argmax jaxnet.feedforward``.
    """
    import jax.numpy as jnp

    from ..nn import feedforward
    dtype = params[0].w.dtype
    x = jnp.asarray(images).astype(dtype)
    if x_scale is not None:
        x = x * jnp.asarray(x_scale, dtype)
    predicted = np.asarray(jnp.argmax(feedforward(params, x, model=model), axis=1), np.int64)
    labels = np.asarray(labels, np.int64)
    n_classes = int(np.shape(params[-1].b)[-1])
    confusion = np.zeros((n_classes, n_classes), np.int64)
    np.add.at(confusion, (labels, predicted), 1)
    wrong = np.flatnonzero(predicted != labels)[:limit].astype(np.int64)
    return Classified(confusion, predicted, wrong, int(np.trace(confusion)))


def _png(fig, path) -> None:
    save_png(fig, path, DPI)


def _side(n: int) -> int | None:
    """The side of a square image of ``n`` pixels, or None."""
    side = math.isqrt(n)
    return side if side * side == n else None


def draw_confusion(confusion, path) -> dict:
    """``confusion (n, n)`` counts as a heat map with every count written in; returns
    its row and column totals."""
    from ..plot import pyplot
    plt = pyplot()
    n = confusion.shape[0]
    fig, ax = plt.subplots(figsize=(6.4, 5.6))
    try:
        ax.imshow(confusion, cmap="Blues")
        high = confusion.max() / 2
        for (i, j), c in np.ndenumerate(confusion):
            ax.text(j, i, str(c), ha="center", va="center", fontsize=8,
                    color="white" if c > high else "black")
        ax.set(xticks=range(n), yticks=range(n), xlabel="predicted", ylabel="true",
               title=f"confusion matrix: {np.trace(confusion)} / {confusion.sum()} correct")
        fig.tight_layout()
        _png(fig, path)
    finally:
        plt.close(fig)
    return {"true digits (row totals)": confusion.sum(axis=1).tolist(),
            "answers (column totals)": confusion.sum(axis=0).tolist()}


def _grid(plt, count: int, cols: int, title: str):
    rows = max(1, math.ceil(count / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(1.2 * cols, 1.35 * rows + 0.5), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    fig.suptitle(title)
    return fig, axes.flat


def draw_mistakes(images, labels, classified, path) -> dict:
    """The misclassified digits ``images[classified.wrong]``, each titled true → predicted;
    returns their indices."""
    from ..plot import pyplot
    plt = pyplot()
    wrong = classified.wrong
    side = _side(np.shape(images)[1])
    fig, axes = _grid(plt, len(wrong), 6, f"{len(wrong)} misclassified (of "
                      f"{len(labels) - classified.correct}): true → predicted")
    try:
        for ax, i in zip(axes, wrong):
            ax.imshow(np.asarray(images[i], np.float64).reshape(side, side), cmap="gray_r")
            ax.set_title(f"{labels[i]} → {classified.predicted[i]}", fontsize=9,
                         color="firebrick")
        _png(fig, path)
    finally:
        plt.close(fig)
    return {"misclassified (index in the split)": wrong.tolist()}


def first_layer_images(model, params, init=None):
    """``(images (n, h, w), title)`` of the first layer's weights, or None: a Dense
    layer's first units as square images of their input weights, or a ConvPool's
    first filters (channel 0, k×k each). With ``init`` (the parameters before
    training) the images are ``w − w_init``: what training changed, without the
    initial noise that hides it for many epochs."""
    from ..nn import ConvPool, Dense
    layer, w = model.layers[0], np.asarray(params[0][0], np.float64)
    change = "" if init is None else "change since initialisation, w − w_init, of "
    if init is not None:
        w = w - np.asarray(init[0][0], np.float64)
    if isinstance(layer, ConvPool):
        k = layer.kernel
        return w[:MAX_UNITS, 0], (f"first layer: {change}{min(len(w), MAX_UNITS)} of "
                                  f"{len(w)} {k}×{k} filters")
    side = _side(w.shape[1])
    if isinstance(layer, Dense) and side:
        return (w[:MAX_UNITS].reshape(-1, side, side),
                f"first layer: {change}the weights of {min(len(w), MAX_UNITS)} of {len(w)} units")
    return None


def draw_weights(images, title, path) -> dict:
    """``images (n, h, w)`` on one symmetric colour scale (red +, white 0, blue −,
    its bar beside them); returns ``{"largest |value| per image": [...]}``."""
    from ..plot import pyplot
    plt = pyplot()
    fig, axes = _grid(plt, len(images), 10, title)
    v = float(np.abs(images).max()) or 1.0
    try:
        shown = [ax.imshow(im, cmap="RdBu_r", vmin=-v, vmax=v) for ax, im in zip(axes, images)]
        fig.colorbar(shown[0], ax=fig.axes, shrink=0.8,
                     label="w − w_init" if "w − w_init" in title else "weight")
        _png(fig, path)
    finally:
        plt.close(fig)
    return {"largest |value| per image": np.abs(images).max(axis=(1, 2)).tolist()}


def report_paths(folder) -> list:
    """``("--report", file)`` for every file ``--report folder`` may write."""
    return [("--report", Path(folder) / name) for name in FILES]


def report_unowned(folder) -> str | None:
    """The one-line problem if ``--report folder`` could replace files jaxnet did not
    write, else None: a folder that exists, is not empty and holds no report of ours
    (no :data:`MARKER`) is refused before training, never written into (a user's own
    ``index.html`` or ``confusion.png`` stays theirs)."""
    folder = Path(folder)
    if not folder.is_dir() or (folder / MARKER).is_file():
        return None
    try:
        names = sorted(p.name for p in folder.iterdir())
    except OSError as e:
        return f"--report {folder}: {e.strerror or e}"
    if not names:
        return None
    shown = ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
    return (f"--report {folder}: the folder holds files jaxnet did not write ({shown}) and "
            f"no report of ours ({MARKER}); give an empty or a new folder (a report never "
            "replaces files it did not write)")


def _mark(folder: Path) -> None:
    """Writes :data:`MARKER`, before any picture (a failure is the pictures' to report)."""
    from ..io import atomic_write
    with contextlib.suppress(OSError), atomic_write(folder / MARKER) as f:
        f.write(b"jaxnet train --report wrote this folder's report; a later --report "
                b"into it replaces the report's files.\n")


def _pictures(args, model, result, split, watch, c) -> list:
    """``(file, draw)`` for each picture this run has the numbers for, in the page's
    order; ``draw(path)`` writes it and returns the series it drew."""
    from ..data import PIXEL_SCALE
    from ..plot import history_series, plot_history
    from ._report_teach import draw_forward, draw_speed, forward_pass
    drawn = []
    if result.history and history_series(result.history):
        drawn.append((CURVES, lambda p: (plot_history(result.history, p),
                                         history_series(result.history))[1]))
    if watch is not None and watch.speeds and watch.speeds[0]:
        drawn.append((SPEED, lambda p: draw_speed(watch, p)))
    weights = first_layer_images(model, result.params, None if watch is None else watch.init)
    if weights is not None:
        drawn.append((WEIGHTS, lambda p: draw_weights(*weights, p)))
    seen = forward_pass(result.params, split.images[0], int(split.labels[0]), model=model,
                        x_scale=PIXEL_SCALE)
    drawn.append((FORWARD, lambda p: draw_forward(seen, int(split.labels[0]), p)))
    drawn.append((CONFUSION, lambda p: draw_confusion(c.confusion, p)))
    if len(c.wrong) and _side(split.images.shape[1]):
        drawn.append((MISTAKES, lambda p: draw_mistakes(split.images, split.labels, c, p)))
    return drawn


def write_report(args, model, result, split, watch=None) -> int:
    """Writes ``--report``'s pictures, then ``panels.json`` (what each drew), then its
    page (an older page removed first: see the module's note); the exit status (0, or
    1 when a file went to the rescue folder instead). ``watch``: the run's
    jaxnet.cli._report_teach.Watch (the speed of learning, ``w_init``), or None."""
    from ..data import PIXEL_SCALE
    from ._common import record_written, write_output
    from ._report_html import page
    from ._report_teach import panels_json
    folder = Path(args.report)
    _mark(folder)
    with contextlib.suppress(OSError):   # none; or unwritable: its write says so
        (folder / INDEX).unlink()   # a page stays only beside its own pictures
    c = classify(result.params, split.images, split.labels, model=model,
                 x_scale=PIXEL_SCALE if np.issubdtype(split.images.dtype, np.integer) else None)
    drawn, panels, status = _pictures(args, model, result, split, watch, c), {}, 0
    for name, draw in drawn:
        def keep(path, name=name, draw=draw):
            panels[name] = draw(path)
        status = max(status, write_output("--report", folder / name, keep, "wrote"))
    status = max(status, write_output("--report", folder / PANELS,
                                      lambda p: _text(p, panels_json(panels)), "wrote"))
    html = page(args, model, result, c, [name for name, _ in drawn])
    status = max(status, write_output("--report", folder / INDEX, lambda p: _text(p, html),
                                      "wrote"))
    record_written("--report", folder)   # whole (an interrupt's line says so)
    return status


def _text(path, text: str) -> None:
    from ..io import atomic_write
    with atomic_write(path) as f:
        f.write(text.encode())
