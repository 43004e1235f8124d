"""The package's shape, as the architecture asks: small modules, short functions, honest
layering (no module imports another's private names), no import cycles."""

import ast
import re
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "jaxnet"
BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
# One concept per module: past this a module holds two.
MAX_MODULE_LINES = 300
# A function longer than a screen does more than one thing. Counted without its
# docstring (a fully documented signature may take half a screen by itself).
MAX_FUNCTION_LINES = 60


def _modules():
    return sorted(PACKAGE.glob("*.py"))


def test_no_module_is_longer_than_the_limit():
    long = {p.name: n for p in _modules() if (n := len(p.read_text().splitlines())) > MAX_MODULE_LINES}
    assert not long, f"modules over {MAX_MODULE_LINES} lines: {long}"


def _function_lengths(path):
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(
                    getattr(body[0], "value", None), ast.Constant) and isinstance(
                    body[0].value.value, str):
                body = body[1:]
            if body:
                yield node.name, node.lineno, body[-1].end_lineno - body[0].lineno + 1


def test_no_function_is_longer_than_the_limit():
    long = [f"{p.name}:{line} {name} ({n} lines)" for p in _modules()
            for name, line, n in _function_lengths(p) if n > MAX_FUNCTION_LINES]
    assert not long, f"functions over {MAX_FUNCTION_LINES} lines: {long}"


# `from ._x import _y`, `from jaxnet._x import _y`, `from . import _x` followed by
# `_x._y`, or `jaxnet._x._y`: a private name reached across a module boundary.
_PRIVATE_FROM = re.compile(r"^\s*from\s+(?:jaxnet)?\.?\w*\s+import\s+\(?([^)\n]*)", re.M)


def _private_imports(path):
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module is not None and (
                node.level > 0 or node.module.startswith("jaxnet")):
            for alias in node.names:
                if alias.name.startswith("_") and alias.name != "__version__":
                    yield f"{path.name}:{node.lineno} from {node.module} import {alias.name}"
        if isinstance(node, ast.Attribute) and node.attr.startswith("_") \
                and not node.attr.startswith("__") and isinstance(node.value, ast.Attribute) \
                and isinstance(node.value.value, ast.Name) and node.value.value.id == "jaxnet":
            yield f"{path.name}:{node.lineno} jaxnet.{node.value.attr}.{node.attr}"


def test_no_private_name_crosses_a_module_boundary():
    # The package and the benchmarks use public or module-public names only (the
    # tests may reach into internals: they test them).
    found = [hit for p in _modules() + sorted(BENCHMARKS.glob("*.py"))
             for hit in _private_imports(p)]
    assert not found, found


def test_the_private_import_check_is_not_vacuous(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("from ._network import _secret\nfrom jaxnet._x import _y as z\n"
                   "import jaxnet\njaxnet._epoch._hidden(1)\nfrom ._z import fine\n")
    assert len(list(_private_imports(bad))) == 3


def _imports(path):
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            if node.module:
                yield node.module.split(".")[0]
            else:
                yield from (a.name for a in node.names)


def test_no_import_cycles():
    graph = {p.stem: {m for m in _imports(p) if (PACKAGE / f"{m}.py").exists()}
             for p in _modules()}
    state = {}

    def visit(m, path):
        if state.get(m) == "done":
            return
        assert state.get(m) != "open", f"import cycle: {' -> '.join(path + [m])}"
        state[m] = "open"
        for n in sorted(graph.get(m, ())):
            visit(n, path + [m])
        state[m] = "done"
    for m in graph:
        visit(m, [])
