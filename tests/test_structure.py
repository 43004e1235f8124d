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
# The questions a reader asks, one public subpackage each (plot is one public module),
# on the ground floor every one of them imports openly: the private core.
CORE = "_core"
PUBLIC = {"nn", "train", "data", "io", "cref", "cli", "bench"}
SUBPACKAGES = PUBLIC | {CORE}


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
    for face in [PACKAGE / "__init__.py"] + [PACKAGE / s / "__init__.py" for s in PUBLIC]:
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
                   "from jaxnet.train._fit import fit\nimport jaxnet._core.model\n")
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


# --- between the rooms: the core, faces, no circles, one name one thing ---------------

def _room(module: str):
    """The subpackage (or top-level module) a dotted jaxnet module lives in:
    ``train`` for jaxnet.train._fit and the face jaxnet.train, ``plot`` for jaxnet.plot,
    None for the package's own face."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else None


def _private_reaches(graph) -> list[str]:
    """Imports of another public subpackage's private module (``jaxnet.nn._x`` from
    jaxnet.train._y): a subpackage uses a sibling through its face, and the core openly."""
    return [f"{m} imports {n}" for m, targets in sorted(graph.items()) for n in sorted(targets)
            if _room(n) not in (None, CORE, _room(m)) and n != f"jaxnet.{_room(n)}"]


def _room_graph(graph) -> dict:
    rooms = {}
    for m, targets in graph.items():
        a = _room(m)
        for n in targets:
            b = _room(n)
            if a and b and a != b:
                rooms.setdefault(a, set()).add(b)
    return rooms


def _room_circles(rooms) -> list[list[str]]:
    """Every circle in the subpackages' import graph, as the path that closes it."""
    found, state = [], {}

    def visit(r, path):
        if state.get(r) == "open":
            found.append(path[path.index(r):] + [r])
            return
        if state.get(r) == "done":
            return
        state[r] = "open"
        for s in sorted(rooms.get(r, ())):
            visit(s, path + [r])
        state[r] = "done"
    for r in sorted(rooms):
        visit(r, [])
    return found


def _twice_defined(paths, twins=()) -> dict:
    """Public (no leading underscore) top-level functions and classes defined in more
    than one module; ``twins``: ``(module prefix, names)`` pairs allowed to share a
    name with one definition outside that prefix (the C twins of the JAX functions)."""
    where = {}
    for p in paths:
        mod = _name(p)
        for node in ast.parse(p.read_text()).body:
            if isinstance(node, (ast.FunctionDef, ast.ClassDef)) and not node.name.startswith("_"):
                where.setdefault(node.name, []).append(mod)
    out = {}
    for name, mods in where.items():
        for prefix, names in twins:
            if name in names:
                mods = [m for m in mods if not m.startswith(prefix)] + \
                    [m for m in mods if m.startswith(prefix)][1:]
        if len(mods) > 1:
            out[name] = mods
    return out


def _face_names(face: Path) -> set[str]:
    return {a.asname or a.name for node in ast.parse(face.read_text()).body
            if isinstance(node, ast.ImportFrom) for a in node.names}


def test_subpackages_use_each_other_through_their_faces():
    assert not _private_reaches(_graph()), _private_reaches(_graph())


def test_the_subpackages_import_graph_has_no_circle():
    rooms = _room_graph(_graph())
    assert rooms.get("train") and rooms.get("cli"), rooms      # the walk saw the rooms
    assert not _room_circles(rooms), _room_circles(rooms)
    assert not rooms.get(CORE), f"the core imports {rooms.get(CORE)}: it is the ground floor"


def test_the_c_side_imports_nothing_from_train():
    rooms = _room_graph(_graph())
    assert rooms.get("cref"), "the walk saw the C side's imports"
    assert "train" not in rooms["cref"], rooms["cref"]


def test_no_public_name_is_defined_twice_on_the_jax_side():
    """One name, one thing; the C twins (jaxnet.cref's face) share the JAX names on purpose."""
    twins = [("jaxnet.cref", _face_names(PACKAGE / "cref" / "__init__.py"))]
    assert not _twice_defined(_modules(), twins), _twice_defined(_modules(), twins)


def test_the_checks_between_rooms_can_fail(tmp_path):
    graph = {"jaxnet.train._fit": {"jaxnet.nn._network", "jaxnet._core.rules", "jaxnet.cref"},
             "jaxnet.cref._api": {"jaxnet.train._rules", "jaxnet.nn"},
             "jaxnet.nn._functions": {"jaxnet._core.network"},
             "jaxnet._core.model": {"jaxnet.nn._x"}}
    assert _private_reaches(graph) == ["jaxnet._core.model imports jaxnet.nn._x",
                                       "jaxnet.cref._api imports jaxnet.train._rules",
                                       "jaxnet.train._fit imports jaxnet.nn._network"]
    rooms = _room_graph(graph)
    assert rooms["cref"] == {"train", "nn"} and "train" in rooms["cref"]
    assert ["cref", "train", "cref"] in _room_circles(rooms)
    assert _room_circles({"a": {"b"}, "b": {"c"}}) == []
    one, two, three = (tmp_path / f"{n}.py" for n in ("one", "two", "three"))
    one.write_text("def feedforward(p, x):\n    pass\nclass Model:\n    pass\n")
    two.write_text("def feedforward(model, p, x):\n    pass\ndef _private():\n    pass\n")
    three.write_text("def _private():\n    pass\nclass Model:\n    pass\n")
    global _name
    real, _name = _name, lambda p: f"jaxnet.{p.stem}"
    try:
        assert _twice_defined([one, two, three]) == {
            "feedforward": ["jaxnet.one", "jaxnet.two"], "Model": ["jaxnet.one", "jaxnet.three"]}
        assert _twice_defined([one, two], [("jaxnet.two", {"feedforward"})]) == {}
    finally:
        _name = real


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


TESTS = Path(__file__).resolve().parent
_SPAWNERS = {"run", "Popen", "check_output", "check_call", "call"}


def _children_without_cwd(path):
    """Lines of ``path`` that start a subprocess without saying where it runs."""
    tree = ast.parse(path.read_text())
    return [f"{path.name}:{node.lineno}" for node in ast.walk(tree)
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
            and node.func.attr in _SPAWNERS and isinstance(node.func.value, ast.Name)
            and node.func.value.id == "subprocess"
            and not any(k.arg == "cwd" for k in node.keywords)]


def test_every_child_process_a_test_starts_names_its_directory():
    # `python -c` and `python -m` put the working directory first on the import path: a
    # child started from the repository root imports the source tree's jaxnet/, which has
    # no C extension when the package is installed (as in CI), not the installed one.
    found = [hit for p in sorted(TESTS.glob("*.py")) for hit in _children_without_cwd(p)]
    assert not found, f"subprocess calls without cwd= (run them outside the source tree): {found}"


def test_the_child_directory_check_is_not_vacuous(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("import subprocess, sys\n"
                   "subprocess.run([sys.executable, '-c', 'pass'])\n"
                   "subprocess.Popen([sys.executable], cwd='/tmp')\n"
                   "subprocess.check_output(['ls'], text=True)\n")
    assert _children_without_cwd(bad) == ["bad.py:2", "bad.py:4"]
