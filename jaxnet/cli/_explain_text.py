"""What ``jaxnet explain`` prints: the trace of jaxnet.cli._explain as text (one block
per layer), as JSON, and the input digit drawn with block characters."""

from __future__ import annotations

import numpy as np

from ._explain_equations import STEPS, sup

#: Block characters by intensity, from an empty pixel to a full one.
SHADES = " ░▒▓█"
_INDENT = " " * 6


def draw_digit(pixels, side: int) -> list:
    """A square image ``pixels (side·side,)`` in [0, 1] as ``ceil(side/2) + 2`` framed
    lines of ``side`` block characters (:data:`SHADES`); a character is about twice
    as tall as it is wide, so each line shows the brighter of two pixel rows."""
    img = np.clip(np.asarray(pixels, np.float64).reshape(side, side), 0, 1)
    if side % 2:
        img = np.vstack([img, np.zeros((1, side))])
    rows = np.maximum(img[0::2], img[1::2])
    shade = np.minimum((rows * len(SHADES)).astype(int), len(SHADES) - 1)
    return (["┌" + "─" * side + "┐"] + ["│" + "".join(SHADES[i] for i in r) + "│"
                                        for r in shade] + ["└" + "─" * side + "┘"])


def _index(name: str, index) -> str:
    """``a¹[350]``, ``D²[0,3,4]``: an entry of the symbol ``name`` (``x = a¹`` → ``a¹``)."""
    return f"{name.split(' = ')[-1]}[{','.join(map(str, index))}]"


def _summary(sym) -> list:
    """Two lines: norm, min, max and nonzero entries; the largest entries."""
    s = sym["summary"]
    size = int(np.prod(sym["shape"])) if sym["shape"] else 1
    top = ", ".join(f"{_index(sym['name'], e['index'])} {e['value']:.4g}" for e in s["largest"])
    return [f"norm {s['norm']:.4g}, min {s['min']:.4g}, max {s['max']:.4g}, nonzero "
            f"{s['nonzero']}/{size}", f"largest {top}"]


def _diffs(sym, c_available: bool) -> str | None:
    if sym["diff"] is None:
        return None
    parts = []
    for twin, d in sym["diff"].items():
        if d is not None:
            parts.append(f"{twin} {d:.1e}" if d else f"{twin} 0")
        elif twin == "C" and not c_available:
            parts.append("C not built")
        else:
            parts.append(f"{twin} —")
    return "differs from " + ", ".join(parts)


def _shape(shape) -> str:
    return "(" + ", ".join(map(str, shape)) + ("," if len(shape) == 1 else "") + ")"


def _header(layer) -> str:
    l, kind = layer["layer"], layer["kind"]
    if kind == "input":
        return "layer 1: the input"
    what = (f"{layer['w'][0]} filters of {layer['w'][2]}×{layer['w'][3]}, {layer['activation']}"
            if kind == "ConvPool" else f"{layer['w'][0]} {layer['activation']} neurons")
    drop = f", dropout {layer['dropout']:g} of its input" if layer["dropout"] else ""
    return (f"layer {l}: {kind}, {what}{drop}; w{sup(l)} {_shape(layer['w'])}, "
            f"b{sup(l)} {_shape(layer['b'])}")


def _block(layer, c_available: bool) -> list:
    lines = [_header(layer)]
    for sym in layer["symbols"]:
        lines.append(f"  {sym['name']}  {_shape(sym['shape'])}  step {sym['step']}, "
                     f"{sym['equation']}")
        diffs = _diffs(sym, c_available)
        lines += [_INDENT + t for t in _summary(sym) + ([diffs] if diffs else [])]
    return lines


def title(result, example: dict | None) -> str:
    """One line: the network, its cost and dtype, and the example (``example``: the
    command's ``{"data", "split", "index", "label"}`` or None)."""
    head = (f"jaxnet explain: {result['network']} network, "
            f"{result['model']['cost'].replace('_', '-')} cost, {result['dtype']}")
    if example:
        head += (f"; {example['split']} example {example['index']} of --data "
                 f"{example['data']} (label {example['label']})")
    return head


def format_text(result, example: dict | None = None, digit: list | None = None) -> str:
    """The whole trace as text: a title, the digit (``digit``: :func:`draw_digit`'s
    lines, or None), the prediction and cost, the five steps' legend, then one
    block per layer."""
    c = result["c_kernel"]
    n_out = len(result["layers"])  # the book's L: the input is layer 1
    lines = [title(result, example)]
    lines += ["  " + d for d in digit or []]
    lines.append(f"output a{sup(n_out)} is largest at {result['prediction']}; cost C = "
                 f"{result['cost']:.6g}")
    lines.append("the five steps: " + "; ".join(f"{k} {v}" for k, v in STEPS.items()))
    lines.append("differs from: max|u − v| / max(|u|, |v|) of the hand-derived value u and "
                 "its twin v,")
    lines.append("  jax.grad (of C with respect to each z and the parameters, no BP equation "
                 f"used) and the C kernel ({c['note']}); — where a twin does not expose it")
    for layer in result["layers"]:
        lines.append("")
        lines += _block(layer, c["available"])
    return "\n".join(lines)


def to_json(result, *, values: bool = False, example: dict | None = None) -> dict:
    """The trace as JSON-able data: each symbol's ``"value"`` as nested lists with
    ``values``, else left out; ``example`` added as ``"example"`` when given."""
    out = {k: v for k, v in result.items() if k != "layers"}
    if example is not None:
        out["example"] = example
    out["layers"] = [{**layer, "symbols": [
        {k: (v.tolist() if k == "value" else v) for k, v in sym.items()
         if k != "value" or values} for sym in layer["symbols"]]}
        for layer in result["layers"]]
    return out
