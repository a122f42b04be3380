"""The Python blocks of the README and of docs/ run as written (tiny split checkpoints standing in for the shipped
ones): the README's blocks in one namespace, each page's in its own. A ``py`` block is an illustration that needs the
real weights (``adapt``), run on tiny models by its own tests instead."""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def python_blocks(page: Path) -> list[str]:
    return re.findall(r"```python\n(.*?)```", page.read_text(), flags=re.S)


def test_readme_python_blocks_run(tiny_lm, tiny_encoder, tmp_path, monkeypatch):
    import o1_retriever.model.loading
    from o1_retriever import ThinkThenEmbed

    from o1_retriever.trainer.distill import DistillConfig, distill
    from o1_retriever.trainer.records import as_records
    from tests.train_helpers import voted_records

    shipped = tmp_path / "shipped"
    ThinkThenEmbed.from_pretrained(tiny_lm, encoder=str(tiny_encoder), cache=False).save_pretrained(shipped)
    distilled = tmp_path / "shipped-distilled"
    distill(DistillConfig(model=str(shipped), out=str(distilled), max_epochs=1), as_records(voted_records(8)))
    monkeypatch.setitem(o1_retriever.model.loading.SHIPPED_CHECKPOINTS, "default", shipped)
    monkeypatch.setitem(o1_retriever.model.loading.SHIPPED_CHECKPOINTS, "default-distilled", distilled)
    monkeypatch.chdir(tmp_path)
    assert len(python_blocks(PAGES[0])) >= 3
    for page in PAGES:
        namespace: dict = {}
        for block in python_blocks(page):
            try:
                exec(compile(block, str(page), "exec"), namespace)  # each block builds on the ones before it
            except Exception as error:  # name the page and the block that failed
                pytest.fail(f"{page.name} block failed: {error!r}\n{block}")
    assert (tmp_path / "my-index").is_dir() and (tmp_path / "guide-index").is_dir()
