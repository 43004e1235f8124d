"""The book's notation for ``jaxnet explain``: each symbol's name and the equation
that produced it.

The book numbers layers from 1, the input: ``x = a¹``, and jaxnet's
``model.layers[i]`` is the book's layer ``l = i + 2`` with ``w^l (n_l, n_{l−1})``,
``z^l = w^l a^{l−1} + b^l``, ``a^l = f(z^l)``. For a ConvPool layer ``w^l`` is
``(F, C, k, k)``, ``z^l`` the ``(F, Ho/p, Wo/p)`` pooled maps, ``D^l`` the routed δ.
"""

from __future__ import annotations

from ..nn import ConvPool, Dense

_SUP = str.maketrans("0123456789", "⁰¹²³⁴⁵⁶⁷⁸⁹")
#: How the book writes each activation.
F = {"sigmoid": "σ", "tanh": "tanh", "relu": "ReLU", "linear": "id", "softmax": "softmax"}
#: The five steps of the backpropagation algorithm (the book's chapter 2).
STEPS = {1: "input", 2: "feedforward", 3: "output error (BP1)",
         4: "backpropagate the error (BP2)", 5: "gradient (BP3, BP4)"}


def sup(l: int) -> str:
    """``l`` as superscript digits: ``sup(12) == "¹²"``."""
    return str(l).translate(_SUP)


def name(symbol: str, l: int) -> str:
    """The book's name of ``symbol`` (z, a, delta, mask, routed, input_grad, gw, gb) of
    layer ``l`` (the input's gradient, ``input_grad``, is named after layer l − 1)."""
    s = sup(l)
    return {"x": "x = a¹", "z": f"z{s}", "a": f"a{s}", "delta": f"δ{s}", "mask": f"m{s}",
            "routed": f"D{s}", "input_grad": f"∂C/∂a{sup(l - 1)}", "gw": f"∂C/∂w{s}",
            "gb": f"∂C/∂b{s}"}[symbol]


def _input(layer, l: int, masked: bool) -> str:
    """What layer ``l`` multiplies: ``a^{l−1}``, after dropout's mask or factor."""
    a, p = f"a{sup(l - 1)}", getattr(layer, "dropout", 0)
    if not p:
        return a
    return f"(m{sup(l)} ⊙ {a})" if masked else f"({1 - p:g} {a})"


def _from_above(model, i: int, masked: bool) -> str:
    """``∂C/∂a^l`` of layer ``l = i + 2``, as layer ``l + 1`` hands it down."""
    above, l = model.layers[i + 1], i + 3
    if isinstance(above, ConvPool):
        return f"∂C/∂a{sup(l - 1)}"             # the full convolution, in layer l + 1's block
    if not isinstance(above, Dense):
        return f"∂C/∂a{sup(l - 1)} (its backward)"
    g, p = f"(w{sup(l)})ᵀ δ{sup(l)}", above.dropout
    if p:
        g = f"m{sup(l)} ⊙ {g}" if masked else f"{1 - p:g} {g}"
    if isinstance(model.layers[i], ConvPool):
        g += f" as {model.shapes[i + 1]}"
    return g


def _delta(model, i: int, masked: bool) -> str:
    layer, l = model.layers[i], i + 2
    s, f = sup(l), F[layer.activation]
    if i < len(model.layers) - 1:
        return f"BP2: δ{s} = ({_from_above(model, i, masked)}) ⊙ {f}'(z{s})"
    if model.cost == "quadratic":
        return f"BP1: δ{s} = (a{s} − y) ⊙ {f}'(z{s})"
    out = "sigmoid" if model.cost == "cross_entropy" else "softmax"
    return f"BP1: δ{s} = a{s} − y  ({model.cost.replace('_', '-')} cost, {out} output)"


def equations(model, i: int, masked: bool) -> dict:
    """The equation of every symbol of ``model.layers[i]`` (the book's layer ``i + 2``),
    keyed as :func:`name`; ``masked``: dropout masks given (else the evaluation net's
    ``1 − p``)."""
    layer, l = model.layers[i], i + 2
    s, inp, f = sup(l), _input(layer, l, masked), F[layer.activation]
    eq = {}
    if getattr(layer, "dropout", 0) and masked:
        eq["mask"] = (f"m{s}: dropout of layer {l}'s input, each entry kept (1) with "
                      f"probability 1 − p = {1 - layer.dropout:g}")
    if isinstance(layer, ConvPool):
        k, p = layer.kernel, layer.pool
        eq["z"] = f"z{s} = maxpool{p}×{p}(w{s} ⋆ {inp}) + b{s}  (⋆: {k}×{k} valid correlation)"
    else:
        eq["z"] = f"z{s} = w{s} {inp} + b{s}"
    eq["a"] = f"a{s} = {f}(z{s})"
    eq["delta"] = _delta(model, i, masked)
    if isinstance(layer, ConvPool):
        eq["routed"] = (f"D{s} = δ{s} routed through the max-pool: each {layer.pool}×"
                        f"{layer.pool} block's δ to its (first) maximum, 0 elsewhere")
        if i > 0:
            eq["input_grad"] = (f"∂C/∂a{sup(l - 1)}_c = Σ_f D{s}_f ∗ rot180(w{s}_f,c)  (the "
                                "full convolution)")
        eq["gb"] = f"BP3: ∂C/∂b{s}_f = Σ_yx δ{s}_f,y,x"
        eq["gw"] = f"BP4: ∂C/∂w{s}_f,c,i,j = Σ_yx D{s}_f,y,x a{sup(l - 1)}_c,y+i,x+j"
    else:
        eq["gb"] = f"BP3: ∂C/∂b{s} = δ{s}"
        eq["gw"] = f"BP4: ∂C/∂w{s} = δ{s} {inp if inp[0] == '(' else f'({inp})'}ᵀ" + (
            "" if getattr(layer, "dropout", 0) else f"  (∂C/∂w{s}_jk = a{sup(l - 1)}_k δ{s}_j)")
    return eq


def step_of(symbol: str, last: bool) -> int:
    """Which of the five steps (:data:`STEPS`) computes ``symbol``."""
    if symbol in ("gw", "gb"):
        return 5
    if symbol in ("delta", "routed", "input_grad"):
        return 3 if last and symbol != "input_grad" else 4
    return 1 if symbol == "x" else 2
