"""The documentation's Python examples run as written (on the shipped sample, one
epoch each): the README's chapter-1 example, unchanged since 0.1, then the guide's
chapter-3 one in the model form and its chapter-6 conv net. Every relative link in
the READMEs and the guide leads somewhere, and the top README stays short."""

import re
from pathlib import Path

import jaxnet.data

ROOT = Path(__file__).resolve().parents[1]
# In reading order: the guide's examples continue the README's (its mnist, order).
EXAMPLE_DOCS = ("README.md", "docs/guide.md")
DOCS = EXAMPLE_DOCS + ("benchmarks/README.md", "csrc/README.md")
README_MAX_LINES = 250

FENCED = re.compile(r"^```.*?^```", re.S | re.M)
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def _examples(text):
    return [b for b in re.findall(r"```python\n(.*?)```", text, re.S) if "jaxnet.init_params" in b]


def _markdown_files():
    """The project's markdown, outside hidden folders and the benchmark results."""
    for path in sorted(ROOT.rglob("*.md")):
        rel = path.relative_to(ROOT)
        if not any(p.startswith(".") or p.endswith(".egg-info") for p in rel.parts) \
                and rel.parts[:2] != ("benchmarks", "results"):
            yield rel.as_posix()


def test_the_examples_are_where_the_test_runs_them():
    found = {name: len(_examples((ROOT / name).read_text())) for name in _markdown_files()}
    assert {name: n for name, n in found.items() if n} == {
        "README.md": 1, "docs/guide.md": 2}, "chapter 1; chapters 3 and 6"


def test_the_examples_run(sample, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # they save net.npz and net.json
    monkeypatch.setattr(jaxnet.data, "load_mnist", lambda **kw: sample)
    namespace = {}
    for name in EXAMPLE_DOCS:
        for block in _examples((ROOT / name).read_text()):
            exec(compile(re.sub(r"epochs=\d+", "epochs=1", block), name, "exec"), namespace)
            if "state" in namespace and "momentum_checked" not in namespace:
                assert namespace["state"].velocity is not None  # the momentum example's epoch
                namespace["momentum_checked"] = True
    assert namespace.get("momentum_checked")
    assert (tmp_path / "net.npz").exists() and (tmp_path / "net.json").exists()
    assert len(namespace["result"].history) == 1
    assert namespace["result"].history[0].test_correct is not None  # chapter 6's report


def _anchors(text):
    """GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens,
    a repeated heading numbered."""
    seen, anchors = {}, set()
    for heading in re.findall(r"^#+\s+(.*?)\s*$", FENCED.sub("", text), re.M):
        slug = re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-")
        anchors.add(slug if slug not in seen else f"{slug}-{seen[slug]}")
        seen[slug] = seen.get(slug, 0) + 1
    return anchors


def _links(text):
    """Relative link targets outside code: fenced blocks and code spans removed."""
    prose = re.sub(r"`[^`\n]*`", "", FENCED.sub("", text))
    return [t for t in LINK.findall(prose) if not re.match(r"[a-z]+:", t)]


def _broken_links(doc: Path, root=ROOT):
    for target in _links(doc.read_text()):
        path, _, anchor = target.partition("#")
        dest = (doc.parent / path).resolve() if path else doc
        if not dest.exists():
            yield f"{doc.relative_to(root)}: {target} (no such file)"
        elif anchor and dest.suffix == ".md" and anchor not in _anchors(dest.read_text()):
            yield f"{doc.relative_to(root)}: {target} (no such heading)"


def test_every_relative_link_leads_somewhere():
    for name in DOCS:
        assert _links((ROOT / name).read_text()), f"{name} links nowhere: is the check blind?"
    broken = [b for name in DOCS for b in _broken_links(ROOT / name)]
    assert not broken, broken


def test_the_link_check_is_not_vacuous(tmp_path):
    (tmp_path / "a.md").write_text("# A title: it's here\n")
    doc = tmp_path / "b.md"
    doc.write_text("[ok](a.md#a-title-its-here) [gone](c.md) [bad](a.md#nope) [web](https://x.org)\n"
                   "`[not](a link)`\n```\n[nor](this)\n```\n")
    assert [b.split(" ")[1] for b in _broken_links(doc, tmp_path)] == ["c.md", "a.md#nope"]


def test_the_top_readme_is_short():
    n = len((ROOT / "README.md").read_text().splitlines())
    assert n <= README_MAX_LINES, f"README.md has {n} lines; move detail to the guide or a README"
