"""``--report``'s ``index.html``: the pictures with the run's configuration and results.

Self-contained: relative ``<img src>`` to the PNGs beside it, inline CSS, no network.
An inline script counts, on the window's load, the images that loaded
(``complete`` with a natural width) into ``body[data-images-loaded]`` and the title,
so a headless browser's dumped DOM says whether every picture showed.
"""

from __future__ import annotations

from html import escape

from .._core.layerspec import describe

_CAPTIONS = {
    "learning-curves.png": "Learning curves: accuracy and cost per epoch on the data "
                           "monitored (--report adds the evaluation and training cost).",
    "speed-of-learning.png": "Chapter 5's speed of learning: after each epoch, the size "
                             "‖∂C/∂b^l‖ of the cost's gradient with respect to each hidden "
                             "layer's biases (δ^l averaged over 1,000 training images, by "
                             "jaxnet.backprop). In a deep sigmoid network the earlier layers "
                             "learn more slowly: the vanishing gradient.",
    "first-layer.png": "What training changed in the first layer: each unit's incoming "
                       "weights minus their random initial values, w − w_init, drawn as an "
                       "image on one symmetric scale (red: grew, blue: shrank, white: "
                       "unchanged). The initial noise is left out, so the pattern is what "
                       "the unit has learned to look for so far.",
    "forward-pass.png": "One evaluation digit's forward pass: the image, each hidden "
                        "layer's activations a^l, and the output a^L beside the target y.",
    "confusion.png": "Confusion matrix on the evaluation split: rows are the true "
                     "digits, columns the network's answers; the diagonal is correct.",
    "misclassified.png": "Misclassified digits of the evaluation split, true → predicted.",
}

_CSS = """body{font-family:system-ui,sans-serif;max-width:60em;margin:2em auto;color:#222}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:.2em .6em;
text-align:left}figure{margin:1.5em 0}img{max-width:100%;border:1px solid #eee}
figcaption{color:#555}"""

_SCRIPT = """window.addEventListener("load", function () {
  var imgs = Array.prototype.slice.call(document.images);
  var ok = imgs.filter(function (i) { return i.complete && i.naturalWidth > 0; }).length;
  document.body.setAttribute("data-images-loaded", String(ok));
  document.title = ok + " of " + imgs.length + " images loaded - " + document.title;
});"""

_CONFIG = ("data", "eval", "epochs", "batch_size", "eta", "lmbda", "reg", "momentum",
           "dropout", "init", "seed", "dtype", "impl")


def _table(rows) -> str:
    return "<table>" + "".join(f"<tr><th>{escape(str(k))}</th><td>{escape(str(v))}</td></tr>"
                               for k, v in rows) + "</table>"


def results(result, classified, total: int) -> list:
    """``(name, value)`` rows: the epochs, the evaluation accuracy at the end and at best."""
    rows = [("epochs trained", len(result.history))]
    scored = [r for r in result.history if r.correct is not None]
    if scored:
        best = max(scored, key=lambda r: r.correct)
        rows.append(("best evaluation accuracy", f"{best.correct} / {best.total} "
                                                 f"(epoch {best.epoch})"))
    rows.append(("final evaluation accuracy",
                 f"{classified.correct} / {total} ({100 * classified.correct / total:.2f} %)"))
    if result.stopped:
        rows.append(("stopped", result.stopped))
    rows.append(("compile seconds", f"{result.compile_seconds:.2f}"))
    return rows


def page(args, model, result, classified, pictures) -> str:
    """The whole ``index.html`` as text; ``pictures`` the PNG names beside it."""
    title = f"jaxnet report: {describe(model)}, {model.cost}"
    config = [("model", describe(model)), ("cost", model.cost)] + [
        (k.replace("_", "-"), getattr(args, k)) for k in _CONFIG if hasattr(args, k)]
    total = int(classified.confusion.sum())
    figures = "".join(
        f'<figure><img src="{escape(name)}" alt="{escape(name)}">'
        f"<figcaption>{escape(_CAPTIONS.get(name, name))}</figcaption></figure>"
        for name in pictures)
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f"<title>{escape(title)}</title><style>{_CSS}</style>"
            f"<script>{_SCRIPT}</script></head>\n"
            f'<body data-images="{len(pictures)}"><h1>{escape(title)}</h1>'
            f"<h2>Configuration</h2>{_table(config)}"
            f"<h2>Results</h2>{_table(results(result, classified, total))}"
            f"{figures}</body></html>\n")
