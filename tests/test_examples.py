"""The examples run offline end to end (with a tiny model in place of the shipped one)."""

import importlib.util
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def load(name):
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("name", ["llamaindex_rag", "langchain_lcel"])
def test_example_runs(name, tiny_lm, tmp_path):
    module = load(name)
    result = module.main(["--model", str(tiny_lm), "--store", str(tmp_path / "store")])
    assert len(result["sources"]) == 2
    assert all((s[0] if isinstance(s, tuple) else s) in module.CORPUS for s in result["sources"])
    assert result["answer"]
    again = module.main(["--model", str(tiny_lm), "--store", str(tmp_path / "store")])  # rerun reuses the store
    assert again["sources"] == result["sources"]


def test_own_llm_example_embeds_the_thinkers_thought(tiny_lm, tiny_encoder, tmp_path):
    from o1_retriever import ThinkThenEmbed

    checkpoint = tmp_path / "split"
    ThinkThenEmbed.from_pretrained(tiny_lm, encoder=str(tiny_encoder), cache=False).save_pretrained(checkpoint)
    module = load("own_llm_thinker")
    result = module.main(["--model", str(checkpoint), "--store", str(tmp_path / "store")])
    assert result["thoughts"] == [module.make_thinker(None, None).chat_model.responses[0]]
    assert len(result["sources"]) == 2 and set(result["sources"]) <= set(module.CORPUS)
