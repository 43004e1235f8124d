"""The package's shape, as the architecture asks: subpackages by question whose
``__init__`` only re-exports, small modules, short functions, honest layering (no
module imports another's private names; benchmarks use the public API only), no
import cycles."""

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "jaxnet"
BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
# One concept per module: past this a module holds two.
MAX_MODULE_LINES = 300
# A function longer than a screen does more than one thing. Counted without its
# docstring (a fully documented signature may take half a screen by itself).
MAX_FUNCTION_LINES = 60
# The questions a reader asks, one subpackage each (plot is one public module).
SUBPACKAGES = {"nn", "train", "data", "io", "cref", "cli", "bench"}


def _modules():
    return sorted(PACKAGE.rglob("*.py"))


def _name(path):
    """``jaxnet.train._fit`` for jaxnet/train/_fit.py (``jaxnet.train`` for its face)."""
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def test_the_tree_is_the_subpackages_and_few_top_level_modules():
    folders = {p.name for p in PACKAGE.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    assert folders == SUBPACKAGES
    top = {p.name for p in PACKAGE.glob("*.py")}
    assert top == {"__init__.py", "__main__.py", "plot.py"}, top


def test_every_face_only_re_exports():
    """A subpackage's ``__init__`` (and the package's) defines nothing: a docstring,
    ``from .x import name as name`` lines and ``__version__``."""
    for face in [PACKAGE / "__init__.py"] + [PACKAGE / s / "__init__.py" for s in SUBPACKAGES]:
        for node in ast.parse(face.read_text()).body:
            ok = (isinstance(node, ast.ImportFrom) and node.level >= 1
                  and all(a.asname in (None, a.name) for a in node.names)) or (
                isinstance(node, ast.ImportFrom) and node.module == "__future__") or (
                isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)) or (
                isinstance(node, ast.Assign) and [t.id for t in node.targets] == ["__version__"])
            assert ok, f"{face.relative_to(PACKAGE)}:{node.lineno} is not a re-export"


def test_no_module_is_longer_than_the_limit():
    long = {_name(p): n for p in _modules()
            if (n := len(p.read_text().splitlines())) > MAX_MODULE_LINES}
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
    long = [f"{_name(p)}:{line} {name} ({n} lines)" for p in _modules()
            for name, line, n in _function_lengths(p) if n > MAX_FUNCTION_LINES]
    assert not long, f"functions over {MAX_FUNCTION_LINES} lines: {long}"


def _private_imports(path, public_only=False):
    """A private name reached across a module boundary: ``from ._x import _y``,
    ``from . import _x``, ``jaxnet._x._y``; with ``public_only`` (the benchmarks)
    any private module of jaxnet too (``from jaxnet.train._fit import fit``)."""
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.level > 0 or (
                node.module or "").startswith("jaxnet")):
            for alias in node.names:
                if alias.name.startswith("_") and alias.name != "__version__":
                    yield f"{path.name}:{node.lineno} from {node.module} import {alias.name}"
            if public_only and any(p.startswith("_") for p in (node.module or "").split(".")):
                yield f"{path.name}:{node.lineno} from {node.module}"
        if isinstance(node, ast.Import) and public_only:
            for alias in node.names:
                if alias.name.startswith("jaxnet") and "._" in alias.name:
                    yield f"{path.name}:{node.lineno} import {alias.name}"
        if isinstance(node, ast.Attribute) and node.attr.startswith("_") \
                and not node.attr.startswith("__") and isinstance(node.value, ast.Attribute) \
                and isinstance(node.value.value, ast.Name) and node.value.value.id == "jaxnet":
            yield f"{path.name}:{node.lineno} jaxnet.{node.value.attr}.{node.attr}"


def test_no_private_name_crosses_a_module_boundary():
    # The package uses public or module-public names only; the benchmarks the public
    # API only (the tests may reach into internals: they test them).
    found = [hit for p in _modules() for hit in _private_imports(p)]
    found += [hit for p in sorted(BENCHMARKS.rglob("*.py"))
              for hit in _private_imports(p, public_only=True)]
    assert not found, found


def test_the_private_import_check_is_not_vacuous(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("from ._network import _secret\nfrom jaxnet._x import _y as z\n"
                   "import jaxnet\njaxnet._epoch._hidden(1)\nfrom ._z import fine\n"
                   "from jaxnet.train._fit import fit\nimport jaxnet.nn._model\n")
    assert len(list(_private_imports(bad))) == 3
    assert len(list(_private_imports(bad, public_only=True))) == 8


def _imports(path):
    """The jaxnet modules ``path`` imports, as dotted names (relative ones resolved)."""
    me = _name(path).split(".")
    base = me if path.name == "__init__.py" else me[:-1]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level > 0:
            pkg = base[:len(base) - node.level + 1]
            if node.module:
                yield ".".join(pkg + node.module.split("."))
            else:
                yield from (".".join(pkg + [a.name]) for a in node.names)


def _graph():
    names = {_name(p): p for p in _modules()}
    return {n: {m for m in _imports(p) if m in names and m != n} for n, p in names.items()}


def test_no_import_cycles():
    graph, state = _graph(), {}

    def visit(m, path):
        if state.get(m) == "done":
            return
        assert state.get(m) != "open", f"import cycle: {' -> '.join(path + [m])}"
        state[m] = "open"
        for n in sorted(graph.get(m, ())):
            if not (m.startswith(n + ".") or n == "jaxnet"):   # a module's own package face
                visit(n, path + [m])
        state[m] = "done"
    for m in graph:
        visit(m, [])
    assert "jaxnet.train._fit" in graph and graph["jaxnet.train._fit"]  # the walk saw imports


def _path_edits(path):
    """Where ``path`` edits Python's import path: ``sys.path`` (in code, or in a string
    run by ``python -c``, or a shell script), ``from sys import path``, ``site.addsitedir``,
    or ``.path`` of ``sys`` imported under another name."""
    import re
    edit = re.compile(r"\bsys\s*\.\s*path\b|\baddsitedir\b|\bfrom\s+sys\s+import\b.*\bpath\b")
    text = path.read_text()
    found = [f"{path.name}:{n} {line.strip()}" for n, line in enumerate(text.splitlines(), 1)
             if edit.search(line)]
    if path.suffix == ".py":
        tree = ast.parse(text)
        aliases = {a.asname for node in ast.walk(tree) if isinstance(node, ast.Import)
                   for a in node.names if a.name == "sys" and a.asname}
        found += [f"{path.name}:{node.lineno} {node.value.id}.path" for node in ast.walk(tree)
                  if isinstance(node, ast.Attribute) and node.attr == "path"
                  and isinstance(node.value, ast.Name) and node.value.id in aliases]
    return found


def test_no_benchmark_script_edits_the_import_path():
    # A script imports its neighbours (common, book, peers) because `python benchmarks/x.py`
    # puts benchmarks/ first on the path; the tests get the same through pyproject's
    # pythonpath. Editing sys.path instead hides which files a script depends on.
    scripts = [p for p in sorted(BENCHMARKS.rglob("*")) if p.suffix in (".py", ".sh")
               and "results" not in p.relative_to(BENCHMARKS).parts]
    assert {"run.py", "common.py", "network.py", "gpu_check.sh"} <= {p.name for p in scripts}
    found = [hit for p in scripts for hit in _path_edits(p)]
    assert not found, found


def test_the_import_path_check_is_not_vacuous(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("import os\nimport sys\nimport sys as s\nfrom pathlib import Path\n"
                   "sys.path.insert(0, str(Path(__file__).parent))\n"
                   "CHILD = 'import sys; sys.path.append(\"x\")'\n"
                   "from sys import path\ns.path[:0] = ['y']\nimport site\nsite.addsitedir('z')\n"
                   "here = os.path.dirname(__file__)\nPath(here).parent\n")
    assert len(_path_edits(bad)) == 5
    sh = tmp_path / "bad.sh"
    sh.write_text('python -c "import sys; sys.path.insert(0, \'benchmarks\')"\n'
                  'PYTHONPATH=benchmarks python -c "import book_tables"\n')
    assert len(_path_edits(sh)) == 1
