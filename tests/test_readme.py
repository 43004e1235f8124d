"""The README's Python examples run as written (on the shipped sample, one epoch each):
the chapter-1 example, unchanged since 0.1, the chapter-3 one in the model form, and
the chapter-6 conv net."""

import re
from pathlib import Path

import jaxnet.data

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()


def test_the_readme_examples_run(sample, tmp_path, monkeypatch):
    blocks = [b for b in re.findall(r"```python\n(.*?)```", README, re.S)
              if "jaxnet.init_params" in b]
    assert len(blocks) == 3, "the chapter-1, chapter-3 and chapter-6 examples"
    monkeypatch.chdir(tmp_path)  # they save net.npz and net.json
    monkeypatch.setattr(jaxnet.data, "load_mnist", lambda **kw: sample)
    namespace = {}
    for block in blocks:
        exec(compile(re.sub(r"epochs=\d+", "epochs=1", block), "README.md", "exec"), namespace)
        if "state" in namespace and "momentum_checked" not in namespace:
            assert namespace["state"].velocity is not None  # the momentum example's epoch
            namespace["momentum_checked"] = True
    assert (tmp_path / "net.npz").exists() and (tmp_path / "net.json").exists()
    assert len(namespace["result"].history) == 1
    assert namespace["result"].history[0].test_correct is not None  # chapter 6's report
