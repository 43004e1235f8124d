"""The README's Python examples run as written (on the shipped sample, one epoch each):
the chapter-1 example, unchanged since 0.1, and the chapter-3 one in the model form."""

import re
from pathlib import Path

import jaxnet.data

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()


def test_the_readme_examples_run(sample, tmp_path, monkeypatch):
    blocks = [b for b in re.findall(r"```python\n(.*?)```", README, re.S)
              if "jaxnet.init_params" in b]
    assert len(blocks) == 2, "the chapter-1 and chapter-3 examples"
    monkeypatch.chdir(tmp_path)  # they save net.npz and net.json
    monkeypatch.setattr(jaxnet.data, "load_mnist", lambda **kw: sample)
    namespace = {}
    for block in blocks:
        exec(compile(re.sub(r"epochs=\d+", "epochs=1", block), "README.md", "exec"), namespace)
    assert (tmp_path / "net.npz").exists() and (tmp_path / "net.json").exists()
    assert len(namespace["result"].history) == 1
    assert namespace["state"].velocity is not None  # the momentum example ran its epoch
