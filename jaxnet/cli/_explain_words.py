"""The words of ``jaxnet explain``'s walk, each a gettext message (the msgid of
jaxnet/locale/*/LC_MESSAGES/jaxnet.po: jaxnet.cli._explain_i18n), and the input
digit drawn with block characters. The book's symbols stay as they are in every
language; ``{name}`` fields are filled in after translation."""

from __future__ import annotations

import numpy as np

from ._explain_equations import STEPS

#: Block characters by intensity, from an empty pixel to a full one.
SHADES = " ░▒▓█"

SHAPES = ("Shapes. The book writes every vector as a column: a^l is (n_l, 1), "
          "w^l is (n_l, n_{l−1}), so z^l = w^l a^{l−1} + b^l is (n_l, 1). jaxnet "
          "stores a vector as a 1-D array, (n_l,), and a mini-batch of m examples "
          "as m rows, (m, n_l): row x holds (a^l of example x)ᵀ, so the book's "
          "w a becomes A wᵀ in jaxnet. Each symbol below shows its shape both "
          "ways; ∂C/∂w^l is shaped like w^l in both. --batch m shows the matrix "
          "form.")
SHAPES_BATCH = ("Shapes. The book's matrix form for a mini-batch of m examples puts "
                "one example per column: A^l is (n_l, m), with column x the a^{x,l} "
                "of example x, and Z^l = w^l A^{l−1} + b^l adds b^l to every column. "
                "jaxnet stores the transpose, one example per row, (m, n_l), and "
                "computes Z = A wᵀ + b. Each symbol below shows its shape both ways; "
                "its values are jaxnet's rows, one example per row.")
CHECKS = ("Checks: \"differs from jax.grad 2e-16, C 1e-16\" is max|u − v| / max(|u|, "
          "|v|) of the hand-derived value u and its twin v: jax.grad (of C with "
          "respect to each z and the parameters, no BP equation used) and the C "
          "kernel ({note}); — where a twin has no such value.")
STEP_TEXT = {
    1: "Input x: set the activation a¹ of the input layer to x, the pixels scaled "
       "to [0, 1].",
    2: "Feedforward: for each l = 2, 3, …, L (here L = {L}) compute "
       "z^l = w^l a^{l−1} + b^l and a^l = σ(z^l).",
    3: "Output error δ^L: compute δ^L = ∇ₐC ⊙ σ'(z^L). The error δ^l ≡ ∂C/∂z^l "
       "says how fast the cost changes as z^l changes. Check it by hand from y, "
       "a^L and σ'(z^L) below.",
    4: "Backpropagate the error: for each l = L−1, L−2, …, 2 compute "
       "δ^l = ((w^{l+1})ᵀ δ^{l+1}) ⊙ σ'(z^l): the two factors, then their "
       "entrywise product ⊙.",
    5: "Output the gradient: ∂C/∂b^l_j = δ^l_j (BP3) and ∂C/∂w^l_jk = a^{l−1}_k "
       "δ^l_j (BP4), shaped like b^l and w^l.",
    6: "Gradient descent moves every weight and bias a step against its gradient, "
       "with the learning rate η = {eta}.",
}
STEP_TEXT_BATCH = {
    1: "Input: the m examples x, one per column of the book's X = A¹.",
    2: "Feedforward, every column at once: for each l = 2, 3, …, L (here L = {L}) "
       "compute Z^l = w^l A^{l−1} + b^l and A^l = σ(Z^l).",
    3: "Output error for every example x: Δ^L = ∇ₐC ⊙ σ'(Z^L), column x being "
       "δ^{x,L} ≡ ∂C_x/∂z^{x,L}.",
    4: "Backpropagate the error: for each l = L−1, …, 2 compute "
       "Δ^l = ((w^{l+1})ᵀ Δ^{l+1}) ⊙ σ'(Z^l), all the columns at once.",
    5: "The gradient of the mean cost C = (1/m) Σₓ C_x: BP3 and BP4 become sums "
       "over the examples x, the mean of their gradients.",
    6: "Gradient descent on the mini-batch: w → w − (η/m) Σₓ ∂C_x/∂w, with the "
       "learning rate η = {eta}.",
}
#: Short phrases of the walk.
STEP = "Step {k}: {name}"
THEN = "Then: {name}"
TITLE = "jaxnet explain: {net} network, {cost} cost, {dtype}"
EXAMPLE = "{split} example {index} of --data {data}"
ANSWER = "the digit: {label}; the network answers {pred} (a{L}'s largest); C = {cost}"
SHAPE = "book {book}, jaxnet {jaxnet}"
DIFFERS = "differs from {twins}"
NOT_BUILT = "not built"
NORM = "norm {norm}, min {min}, max {max}, nonzero {nz}"
LARGEST = "largest {entries}"

#: Every message a catalog translates.
MESSAGES = (SHAPES, SHAPES_BATCH, CHECKS, *STEP_TEXT.values(), *STEP_TEXT_BATCH.values(),
            *STEPS.values(), STEP, THEN, TITLE, EXAMPLE, ANSWER, SHAPE, DIFFERS,
            NOT_BUILT, NORM, LARGEST)


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
