"""The README's Python blocks run as written (tiny split checkpoints standing in for the shipped ones)."""

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


def python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


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
    blocks = python_blocks()
    assert len(blocks) >= 4
    namespace: dict = {}
    for block in blocks:
        try:
            exec(compile(block, str(README), "exec"), namespace)  # each block builds on the ones before it
        except Exception as error:  # name the block that failed
            pytest.fail(f"README block failed: {error!r}\n{block}")
    assert (tmp_path / "my-index").is_dir()
