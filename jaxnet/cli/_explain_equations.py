"""The book's notation for ``jaxnet explain``: each symbol's name and the equation
that produced it.

The book numbers layers from 1, the input: ``x = a¹``, and jaxnet's
``model.layers[i]`` is the book's layer ``l = i + 2`` with ``w^l (n_l, n_{l−1})``,
``z^l = w^l a^{l−1} + b^l``, ``a^l = f(z^l)``. For a ConvPool layer ``w^l`` is
``(F, C, k, k)``, ``z^l`` the ``(F, Ho/p, Wo/p)`` pooled maps, ``D^l`` the routed δ.
For a mini-batch (``batch=True``) the book's matrix form: capitals ``A^l``, ``Z^l``,
``Δ^l`` hold one example per column, and BP3/BP4 become means over the examples.
"""

from __future__ import annotations

from ..nn import ConvPool, Dense

_SUP = str.maketrans("0123456789", "⁰¹²³⁴⁵⁶⁷⁸⁹")
#: How the book writes each activation.
F = {"sigmoid": "σ", "tanh": "tanh", "relu": "ReLU", "linear": "id", "softmax": "softmax"}
#: The five steps of the backpropagation algorithm (the book's chapter 2), and the
#: gradient-descent update that uses their result (6).
STEPS = {1: "input", 2: "feedforward", 3: "output error (BP1)",
         4: "backpropagate the error (BP2)", 5: "gradient (BP3, BP4)",
         6: "the update (gradient descent)"}


def sup(l: int) -> str:
    """``l`` as superscript digits: ``sup(12) == "¹²"``."""
    return str(l).translate(_SUP)


def _letters(batch: bool) -> dict:
    return ({"a": "A", "z": "Z", "δ": "Δ", "m": "M", "y": "Y", "x": "X"} if batch else
            {k: k for k in ("a", "z", "δ", "m", "y", "x")})


def name(symbol: str, l: int, batch: bool = False, f: str = "σ") -> str:
    """The book's name of ``symbol`` (x, y, z, a, delta, mask, routed, input_grad,
    grad_a, prime, back, gw, gb, w_new, b_new) of layer ``l`` (the input's gradient,
    ``input_grad``, is named after layer l − 1); capitals for a mini-batch; ``f``
    the layer's activation as the book writes it; ``w²′`` the updated ``w²``."""
    s, c = sup(l), _letters(batch)
    return {"x": f"{c['x']} = {c['a']}¹", "y": c["y"], "z": f"{c['z']}{s}",
            "a": f"{c['a']}{s}", "delta": f"{c['δ']}{s}", "mask": f"{c['m']}{s}",
            "routed": f"D{s}", "input_grad": f"∂C/∂{c['a']}{sup(l - 1)}",
            "grad_a": "∇ₐC", "prime": f"{f}'({c['z']}{s})", "back": f"∂C/∂{c['a']}{s}",
            "gw": f"∂C/∂w{s}", "gb": f"∂C/∂b{s}", "w_new": f"w{s}′", "b_new": f"b{s}′"}[symbol]


def _input(layer, l: int, masked: bool, c: dict) -> str:
    """What layer ``l`` multiplies: ``a^{l−1}``, after dropout's mask or factor."""
    a, p = f"{c['a']}{sup(l - 1)}", getattr(layer, "dropout", 0)
    if not p:
        return a
    return f"({c['m']}{sup(l)} ⊙ {a})" if masked else f"({1 - p:g} {a})"


def _from_above(model, i: int, masked: bool, c: dict) -> str:
    """``∂C/∂a^l`` of layer ``l = i + 2``, as layer ``l + 1`` hands it down."""
    above, l = model.layers[i + 1], i + 3
    if isinstance(above, ConvPool):
        return f"∂C/∂{c['a']}{sup(l - 1)}"      # the full convolution, in layer l + 1's block
    if not isinstance(above, Dense):
        return f"∂C/∂{c['a']}{sup(l - 1)} (its backward)"
    g, p = f"(w{sup(l)})ᵀ{c['δ']}{sup(l)}", above.dropout
    if p:
        g = f"{c['m']}{sup(l)} ⊙ {g}" if masked else f"{1 - p:g} {g}"
    if isinstance(model.layers[i], ConvPool):
        g += f" as {model.shapes[i + 1]}"
    return g


def output_factored(model) -> bool:
    """Whether BP1 is shown as ``∇ₐC ⊙ f'(z^L)``: every output but softmax's (whose
    Jacobian is not a diagonal, so only ``δ^L = a^L − y`` is shown)."""
    return model.layers[-1].activation != "softmax"


def _delta(model, i: int, masked: bool, c: dict) -> str:
    layer, l = model.layers[i], i + 2
    s, f = sup(l), F[layer.activation]
    z, d = f"{c['z']}{s}", f"{c['δ']}{s}"
    if i < len(model.layers) - 1:
        return f"BP2: {d} = ({_from_above(model, i, masked, c)}) ⊙ {f}'({z})"
    if model.cost == "quadratic" or model.cost == "cross_entropy" and f != "σ":
        return f"BP1: {d} = ∇ₐC ⊙ {f}'({z})"
    if model.cost == "cross_entropy":
        return f"BP1: {d} = ∇ₐC ⊙ σ'({z}) = {c['a']}{s} − {c['y']}  (σ' cancels)"
    return f"BP1: {d} = {c['a']}{s} − {c['y']}  (log-likelihood cost, softmax output)"


def _slope(activation: str, f: str, z: str, a: str) -> str:
    """``f'(z^l)`` as the book computes it from ``a^l = f(z^l)``, entry by entry."""
    return {"sigmoid": f"{f}'({z}) = {a} ⊙ (1 − {a})", "tanh": f"{f}'({z}) = 1 − {a} ⊙ {a}",
            "relu": f"{f}'({z}) = 1 where {z} > 0, else 0",
            "linear": f"{f}'({z}) = 1"}[activation]


def _grad_a(model, l: int, c: dict) -> str:
    a, y = f"{c['a']}{sup(l)}", c["y"]
    if model.cost == "quadratic":
        return f"∇ₐC = {a} − {y}  (C = ½‖{a} − {y}‖²)"
    return f"∇ₐC = ({a} − {y}) / ({a}(1 − {a}))  (cross-entropy C)"


def _gradients(layer, l: int, inp: str, c: dict, batch: bool) -> dict:
    s, d, a = sup(l), f"{c['δ']}{sup(l)}", f"{c['a']}{sup(l - 1)}"
    mean = "(1/m) Σₓ " if batch else ""
    if isinstance(layer, ConvPool):
        return {"gb": f"BP3: ∂C/∂b{s}_f = {mean}Σ_yx δ{s}_f,y,x",
                "gw": f"BP4: ∂C/∂w{s}_f,c,i,j = {mean}Σ_yx D{s}_f,y,x "
                      f"a{sup(l - 1)}_c,y+i,x+j"}
    inp = inp if inp[0] == "(" else f"({inp})"
    if batch:
        dx, ax = f"δ^{{x,{l}}}", f"a^{{x,{l - 1}}}"
        return {"gb": f"BP3: ∂C/∂b{s} = (1/m) Σₓ {dx}  (the mean of {d}'s columns)",
                "gw": f"BP4: ∂C/∂w{s} = (1/m) Σₓ {dx} ({ax})ᵀ = (1/m) {d} {inp}ᵀ"}
    jk = "" if getattr(layer, "dropout", 0) else f"  (∂C/∂w{s}_jk = {a}_k {d}_j)"
    return {"gb": f"BP3: ∂C/∂b{s} = {d}", "gw": f"BP4: ∂C/∂w{s} = {d} {inp}ᵀ{jk}"}


def _update(l: int, reg: str, lmbda: float, batch: bool) -> dict:
    s = sup(l)
    mean = "(η/m) Σₓ ∂Cₓ" if batch else "η ∂C"
    decay = "(1 − ηλ/n) " if lmbda and reg == "l2" else ""
    l1 = f" − (ηλ/n) sgn(w{s})" if lmbda and reg == "l1" else ""
    return {"w_new": f"w{s}′ = {decay}w{s}{l1} − {mean}/∂w{s}",
            "b_new": f"b{s}′ = b{s} − {mean}/∂b{s}"}


def equations(model, i: int, masked: bool, batch: bool = False, reg_lmbda=("l2", 0.0)) -> dict:
    """The equation of every symbol of ``model.layers[i]`` (the book's layer ``i + 2``),
    keyed as :func:`name`; ``masked``: dropout masks given (else the evaluation net's
    ``1 − p``); ``batch``: the matrix form; ``reg_lmbda``: the update's penalty."""
    layer, l = model.layers[i], i + 2
    c = _letters(batch)
    s, inp, f = sup(l), _input(layer, l, masked, c), F[layer.activation]
    z = f"{c['z']}{s}"
    eq = {}
    if getattr(layer, "dropout", 0) and masked:
        eq["mask"] = (f"{c['m']}{s}: dropout of layer {l}'s input, each entry kept (1) "
                      f"with probability 1 − p = {1 - layer.dropout:g}")
    if isinstance(layer, ConvPool):
        k, p = layer.kernel, layer.pool
        eq["z"] = f"{z} = maxpool{p}×{p}(w{s} ⋆ {inp}) + b{s}  (⋆: {k}×{k} valid correlation)"
    else:
        eq["z"] = f"{z} = w{s} {inp} + b{s}" + ("  (b added to each column)" if batch else "")
    eq["a"] = f"{c['a']}{s} = {f}({z})"
    last = i == len(model.layers) - 1
    if last and output_factored(model):
        eq["grad_a"] = _grad_a(model, l, c)
    if not last or output_factored(model):
        eq["prime"] = _slope(layer.activation, f, z, f"{c['a']}{s}")
    if not last and isinstance(model.layers[i + 1], Dense):
        eq["back"] = f"∂C/∂{c['a']}{s} = {_from_above(model, i, masked, c)}"
    eq["delta"] = _delta(model, i, masked, c)
    if isinstance(layer, ConvPool):
        eq["routed"] = (f"D{s} = δ{s} routed through the max-pool: each {layer.pool}×"
                        f"{layer.pool} block's δ to its (first) maximum, 0 elsewhere")
        if i > 0:
            eq["input_grad"] = (f"∂C/∂a{sup(l - 1)}_c = Σ_f D{s}_f ∗ rot180(w{s}_f,c)  "
                                "(the full convolution)")
    eq |= _gradients(layer, l, inp, c, batch) | _update(l, *reg_lmbda, batch)
    return eq


#: Where each symbol goes in the algorithm: its step, and its place within a layer.
_ORDER = ("mask", "z", "a", "y", "grad_a", "back", "prime", "delta", "routed",
          "input_grad", "gb", "gw", "w_new", "b_new")


def step_of(symbol: str, last: bool) -> int:
    """Which of the steps (:data:`STEPS`) computes ``symbol``."""
    if symbol in ("w_new", "b_new"):
        return 6
    if symbol in ("gw", "gb"):
        return 5
    if symbol in ("y", "grad_a") or last and symbol in ("delta", "prime"):
        return 3
    if symbol in ("delta", "routed", "input_grad", "back", "prime"):
        return 4
    return 1 if symbol == "x" else 2


def order_key(sym: dict) -> tuple:
    """Sorts symbols into the algorithm's order: by step, layers going up except in
    step 4 (BP2 goes down), then as :data:`_ORDER` within a layer."""
    down = -1 if sym["step"] == 4 else 1
    kind = _ORDER.index(sym["symbol"]) if sym["symbol"] in _ORDER else -1
    return sym["step"], down * sym["layer"], kind
