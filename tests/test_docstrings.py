"""The API reference is the docstrings: every public name has one, and every public
function that takes or returns arrays states their shapes."""

import importlib
import inspect
import re

import pytest

FACES = ["jaxnet", "jaxnet.nn", "jaxnet.train", "jaxnet.data", "jaxnet.io", "jaxnet.cref",
         "jaxnet.bench", "jaxnet.plot"]
# Arguments that are arrays (or pytrees of arrays): a function taking one states shapes.
ARRAYS = {"x", "y", "a", "z", "order", "labels", "params", "delta", "idx", "images", "masks",
          "grad", "w", "b"}
# A shape as the docstrings write them: "(batch, n_0)", "(N,)", "(m, C, H, W)", or the
# Layer/params structure ("Layers", "Layer(w (n_out, n_in)") spelled out by name.
SHAPE = re.compile(r"\((?:[\w·+\-−*/ ]+,)+[\w·+\-−*/ ]*\)|\bLayers?\b|\bshapes?\b")


def _public(face):
    mod = importlib.import_module(face)
    names = getattr(mod, "__all__", None) or [n for n in dir(mod) if not n.startswith("_")]
    for name in names:
        obj = getattr(mod, name)
        if inspect.ismodule(obj) or not (inspect.isfunction(obj) or inspect.isclass(obj)):
            continue
        yield f"{face}.{name}", obj


PUBLIC = sorted({n: o for f in FACES for n, o in _public(f)}.items())


@pytest.mark.parametrize("name, obj", PUBLIC, ids=[n for n, _ in PUBLIC])
def test_every_public_name_has_a_docstring(name, obj):
    assert (inspect.getdoc(obj) or "").strip(), f"{name} has no docstring"


@pytest.mark.parametrize("name, obj", [(n, o) for n, o in PUBLIC if inspect.isfunction(o)],
                         ids=[n for n, o in PUBLIC if inspect.isfunction(o)])
def test_a_function_of_arrays_states_their_shapes(name, obj):
    takes = ARRAYS & set(inspect.signature(obj).parameters)
    if takes:
        assert SHAPE.search(inspect.getdoc(obj) or ""), f"{name}({', '.join(sorted(takes))}) " \
                                                          f"does not state a shape"


def test_the_shape_rule_is_not_vacuous():
    assert len(PUBLIC) > 60
    assert SHAPE.search("x: (batch, n_0) float") and SHAPE.search("order: (N,) int")
    assert not SHAPE.search("Trains the network for a while.")
