"""What ``jaxnet explain`` prints: the trace of jaxnet.cli._explain as text in the
algorithm's order (step 1 to 5, then the update), at most :data:`WIDTH` columns, in
the learner's language (jaxnet.cli._explain_i18n); as JSON; and the one value,
:class:`Explanation`, that both and a notebook's display render."""

from __future__ import annotations

import html
import textwrap

import numpy as np

from ._explain_equations import STEPS, order_key, sup
from ._explain_i18n import translator
from ._explain_words import (
    ANSWER,
    CHECKS,
    DIFFERS,
    EXAMPLE,
    LARGEST,
    NORM,
    NOT_BUILT,
    SHADES,
    SHAPE,
    SHAPES,
    SHAPES_BATCH,
    STEP,
    STEP_TEXT,
    STEP_TEXT_BATCH,
    THEN,
    TITLE,
    draw_digit,
)

__all__ = ["Explanation", "SHADES", "draw_digit", "format_text", "to_json", "WIDTH", "FULL"]

#: No line is wider (columns; a character counted as one).
WIDTH = 80
#: A vector of at most this many entries is printed in full (a larger one summarised).
FULL = 10
_INDENT = " " * 6
#: Symbols shaped as a parameter, with no example axis in a mini-batch.
_PARAMS = ("gb", "gw", "w_new", "b_new")


def fill(message: str, **fields) -> str:
    """``message`` with each ``{field}`` replaced (not str.format: the book's ``w^{l+1}``
    braces stay as they are)."""
    for k, v in fields.items():
        message = message.replace("{" + k + "}", str(v))
    return message


def book_shape(shape, batch: bool) -> tuple:
    """The book's shape of an array jaxnet stores as ``shape``: a vector ``(n,)`` is the
    column ``(n, 1)``; a mini-batch ``(m, n)`` is ``(n, m)``, one example a column."""
    shape = tuple(shape)
    if batch:
        return (shape[1], shape[0]) if len(shape) == 2 else shape
    return (shape[0], 1) if len(shape) == 1 else shape


def _shape(shape) -> str:
    return "(" + ", ".join(map(str, shape)) + ("," if len(shape) == 1 else "") + ")"


def _entries(sym, everything: bool) -> list | None:
    """The values as lines of ``index: value`` entries, or None to summarise."""
    v = np.asarray(sym["value"], np.float64)
    vector = v.shape[-1] if v.ndim else 1
    if not everything and (vector > FULL or v.size > FULL * FULL or v.ndim > 2):
        return None
    cells = [f"{','.join(map(str, i))}: {v[i]:.4g}" for i in np.ndindex(v.shape)]
    cell = max(map(len, cells)) + 2
    per = max(1, (WIDTH - len(_INDENT)) // cell)
    if v.ndim == 2 and v.shape[1] <= per:
        per = v.shape[1]                      # one example (a row) per line
    return [_INDENT + "".join(c.ljust(cell) for c in cells[k:k + per]).rstrip()
            for k in range(0, len(cells), per)]


def _summary(sym, _) -> list:
    s = sym["summary"]
    size = int(np.prod(sym["shape"])) if sym["shape"] else 1
    head = sym["name"].split(" = ")[-1]
    top = ", ".join(f"{head}[{','.join(map(str, e['index']))}] {e['value']:.4g}"
                    for e in s["largest"])
    return [_INDENT + fill(
        _(NORM), norm=f"{s['norm']:.4g}", min=f"{s['min']:.4g}", max=f"{s['max']:.4g}",
        nz=f"{s['nonzero']}/{size}"), _INDENT + fill(_(LARGEST), entries=top)]


def _diffs(sym, c_available: bool, _) -> str:
    if sym["diff"] is None:
        return ""
    parts = []
    for twin, d in sym["diff"].items():
        if d is not None:
            parts.append(f"{twin} {d:.1e}" if d else f"{twin} 0")
        else:
            parts.append(f"{twin} " + (_(NOT_BUILT) if twin == "C" and not c_available
                                       else "—"))
    return "; " + fill(_(DIFFERS), twins=", ".join(parts))


def _head(sym) -> str:
    eq, nm = sym["equation"], sym["name"]
    return "  " + (eq if eq.startswith(nm) or eq.split(" = ")[0].split(": ")[-1] == nm
                   else f"{nm}: {eq}")


def _block(sym, result, _, everything: bool) -> list:
    batch = result["batch"] is not None
    shapes = fill(
        _(SHAPE), jaxnet=_shape(sym["shape"]),
        book=_shape(book_shape(sym["shape"], batch and sym["symbol"] not in _PARAMS)))
    lines = [_head(sym), _INDENT + shapes + _diffs(sym, result["c_kernel"]["available"], _)]
    return lines + (_entries(sym, everything) or _summary(sym, _))


def title(result, example: dict | None, _=None) -> list:
    """The lines above the steps: the network, its cost, dtype, the example(s)
    (``example``: the command's ``{"data", "split", "index", "label"}`` or None)
    and what the network answers."""
    _ = _ or translator("en").gettext
    lines = [fill(
        _(TITLE), net=result["network"], cost=result["model"]["cost"].replace("_", "-"),
        dtype=result["dtype"])]
    if example:
        lines.append(fill(_(EXAMPLE), **example)
                     + ("" if result["batch"] is None else f" (m = {result['batch']})"))
    L = sup(len(result["layers"]))
    lines.append(fill(
        _(ANSWER), label=result["label"], L=L, pred=result["prediction"], cost=f"{result['cost']:.6g}"))
    if result["lmbda"]:
        lines[-1] += f" (λ = {result['lmbda']:g}, n = {result['n']})"
    return lines


def _wrap(line: str) -> list:
    if len(line) <= WIDTH:
        return [line]
    lead = " " * (len(line) - len(line.lstrip()))
    return textwrap.wrap(line, WIDTH, subsequent_indent=lead + "  ", break_long_words=True,
                         break_on_hyphens=False)


def _step_text(k: int, result, _) -> list:
    batch = result["batch"] is not None
    text = (STEP_TEXT_BATCH if batch else STEP_TEXT)[k]
    L = len(result["layers"])
    return textwrap.wrap(fill(_(text), L=L, eta=f"{result['eta']:g}"), WIDTH)


def format_text(result, example: dict | None = None, digit: list | None = None, *,
                lang: str | None = None, values: bool = False) -> str:
    """The whole walk as text: the title, the digit (``digit``: :func:`draw_digit`'s
    lines, or None), the shapes and the checks explained, then the steps in the
    algorithm's order, each symbol with both shapes, its differences from its twins
    and its values (in full for a vector of at most :data:`FULL`, or with
    ``values``; else a summary). ``lang``: as jaxnet.cli._explain_i18n.translator."""
    _ = translator(lang).gettext
    batch = result["batch"] is not None
    lines = title(result, example, _) + ["  " + d for d in digit or []] + [""]
    lines += textwrap.wrap(_(SHAPES_BATCH if batch else SHAPES), WIDTH) + [""]
    lines += textwrap.wrap(fill(_(CHECKS), note=result["c_kernel"]["note"]), WIDTH)
    syms = sorted((s for layer in result["layers"] for s in layer["symbols"]), key=order_key)
    a_out = next(s for s in syms if s["symbol"] == "a" and s["layer"] == len(result["layers"]))
    for k in STEPS:
        lines += ["", fill(_(STEP), k=k, name=_(STEPS[k]))
                  if k < 6 else fill(_(THEN), name=_(STEPS[k]))]
        lines += _step_text(k, result, _)
        for sym in (s for s in syms if s["step"] == k):
            lines += _block(sym, result, _, values)
            if sym["symbol"] == "y":      # a^L again, beside y
                lines += _block(a_out | {"diff": None}, result, _, values)
    return "\n".join(w for line in lines for w in _wrap(line))


def to_json(result, *, values: bool = False, example: dict | None = None) -> dict:
    """The trace as JSON-able data: each symbol's ``"value"`` as nested lists with
    ``values``, else left out; ``example`` added as ``"example"`` when given."""
    out = {k: v for k, v in result.items() if k != "layers"}
    if example is not None:
        out["example"] = example
    out["layers"] = [{**layer, "symbols": [
        {k: (np.asarray(v).tolist() if k == "value" else v) for k, v in sym.items()
         if k != "value" or values} for sym in layer["symbols"]]}
        for layer in result["layers"]]
    return out


class Explanation(dict):
    """What :func:`jaxnet.explain` returns: the structured trace (a dict, as its
    docstring says), rendered as text by ``str()`` or :meth:`text`, as JSON by
    :meth:`to_json`, and as the same text in a notebook."""

    def text(self, lang: str | None = None, *, values: bool = False, example=None,
             digit=None) -> str:
        """:func:`format_text` of this trace."""
        return format_text(self, example, digit, lang=lang, values=values)

    def to_json(self, *, values: bool = False, example=None) -> dict:
        """:func:`to_json` of this trace."""
        return to_json(self, values=values, example=example)

    def __str__(self) -> str:
        return self.text()

    def _repr_pretty_(self, p, cycle) -> None:  # IPython's display
        p.text("Explanation(...)" if cycle else self.text())

    def _repr_html_(self) -> str:               # Jupyter's rich display
        return f"<pre>{html.escape(self.text())}</pre>"
