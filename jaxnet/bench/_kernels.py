"""Counting the kernels of a compiled program's loop: XLA:CPU runs a program kernel by
kernel (a fusion, a matrix product, a copy), each with a few µs of runtime, so for a
small network the count in the epoch's scan body sets the floor of a step's time."""

from __future__ import annotations

import re

#: Instructions that run no kernel of their own.
NOT_KERNELS = frozenset({"parameter", "get-tuple-element", "tuple", "constant", "bitcast"})


def loop_body_kernels(hlo: str) -> dict:
    """Kernels by kind (``{"fusion": 9, "dot": 2, ...}``) in the while loops' bodies of
    compiled HLO text (``jax.jit(f).lower(...).compile().as_text()``, or an
    ``--xla_dump_to`` file ``*after_optimizations.txt``), without the instructions in
    :data:`NOT_KERNELS`."""
    blocks = {}
    for block in hlo.split("\n\n"):
        lines = block.strip().split("\n")
        head = re.match(r"%?(\S+) \(", lines[0])
        if head:
            blocks[head.group(1)] = lines[1:]
    kinds: dict = {}
    for body in sorted(set(re.findall(r"body=%?([\w.\-]+)", hlo))):
        for line in blocks.get(body, ()):
            m = re.match(r"\s*(?:ROOT )?%\S+ = .*? ([a-z\-]+)\(", line)
            if m and m.group(1) not in NOT_KERNELS:
                kinds[m.group(1)] = kinds.get(m.group(1), 0) + 1
    return kinds
