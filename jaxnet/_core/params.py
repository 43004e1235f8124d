"""Parameters: a tuple of per-layer ``Layer(w, b)`` (what a run needs in memory:
jaxnet._core.memory), and the caller's own containers.

A public function takes any tuple or list of ``(w, b)`` pairs — each a Layer, a
plain 2-tuple or a 2-list — and converts it once, at its boundary, to a tuple of
Layers (:func:`as_layers`); what it returns in the parameters' structure
(gradients, updated parameters, a rule's state) goes back into the caller's
containers once, on the way out (:func:`like`, :func:`state_like`). The compiled
functions only ever see tuples of Layers, so a new container never recompiles.
Anything else is refused by :func:`check_container` with one message."""

from __future__ import annotations

from typing import NamedTuple

import jax


class Layer(NamedTuple):
    """One layer of weights and biases, laid out as in the book.

    Attributes:
      w: ``(n_out, n_in)`` float for a Dense layer, ``w[j, k]`` connecting
        input neuron ``k`` to output neuron ``j`` (other layer kinds say
        their own shape).
      b: ``(n_out,)`` float.
    """

    w: jax.Array
    b: jax.Array


#: What a public function takes as parameters, in words (the refusals say it).
EXPECTED = "a non-empty tuple or list of (w, b) pairs (jaxnet.Layer, tuple or list)"
_PAIRS = (Layer, tuple, list)


def _kind(v) -> str:
    n = type(v).__name__
    return f"{n} of {len(v)}" if type(v) in (tuple, list) else n


def check_pair(layer, name) -> None:
    """``layer``: a Layer, or a plain tuple or list of two entries (``w``, ``b``)."""
    if type(layer) not in _PAIRS or len(layer) != 2:
        raise TypeError(f"{name}: expected a (w, b) pair (jaxnet.Layer, tuple or list of two "
                        f"arrays), got {_kind(layer)}")


def check_container(params, name="params") -> None:
    """``params``: a non-empty tuple or list (exactly: not a NamedTuple or another
    sequence) of ``(w, b)`` pairs; anything else is a TypeError naming the container.
    The arrays are not checked here (jaxnet._core.validate)."""
    if type(params) not in (tuple, list) or len(params) == 0:
        raise TypeError(f"{name}: expected {EXPECTED}, got {_kind(params)}"
                        f"{' (empty)' if type(params) in (tuple, list) else ''}")
    for l, layer in enumerate(params):
        check_pair(layer, f"{name}[{l}]")


def layer_sizes(params) -> tuple[int, ...]:
    """``(n_0, ..., n_L)`` of a Dense chain, pairs ``w (n_l, n_{l-1})``, ``b (n_l,)`` in
    any container :func:`check_container` takes (the shapes are not validated)."""
    check_container(params)
    return (params[0][0].shape[1],) + tuple(w.shape[0] for w, _ in params)


def as_layers(params) -> tuple[Layer, ...]:
    """``params`` (checked by :func:`check_container`) as a tuple of Layers."""
    if type(params) is tuple and all(type(layer) is Layer for layer in params):
        return params
    check_container(params)
    return tuple(layer if type(layer) is Layer else Layer(*layer) for layer in params)


def is_layers(params) -> bool:
    """Whether ``params`` already is a tuple of Layers (nothing to convert)."""
    return type(params) is tuple and all(type(layer) is Layer for layer in params)


def like(template, layers):
    """``layers`` (a sequence of Layers) in ``template``'s containers: the same outer
    type (tuple or list) and, per layer, the same pair type (Layer, tuple or list), so
    ``jax.tree.structure(like(p, g)) == jax.tree.structure(p)``."""
    if is_layers(template):
        return tuple(layers)
    outer = list if type(template) is list else tuple
    return outer(new if type(old) is Layer else type(old)(new)
                 for old, new in zip(template, layers))


def _swap(tree, source, convert):
    """``tree`` with every subtree of ``source``'s structure replaced by ``convert(it)``."""
    target = jax.tree.structure(source)

    def match(t):
        return type(t) in (tuple, list) and jax.tree.structure(t) == target

    return jax.tree.map(lambda t: convert(t) if match(t) else t, tree, is_leaf=match)


def state_layers(state, template):
    """A rule's ``state`` made by ``rule.init(template)`` (a momentum velocity, optax's
    moments) with its parameter-shaped parts as tuples of Layers, as the compiled
    functions take them."""
    if state is None or is_layers(template):
        return state
    return _swap(state, template, as_layers)


def state_like(state, template):
    """:func:`state_layers` reversed: the parameter-shaped parts in ``template``'s
    containers, as ``rule.init(template)`` would have made them."""
    if is_layers(template):
        return state
    return _swap(state, as_layers(template), lambda t: like(template, t))
