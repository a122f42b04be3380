"""The merge of a LoRA adapter into an encoder, and the cache that lets a serving process skip peft."""

from __future__ import annotations

import logging

import pytest
import torch

from o1_retriever.model.merged import merge_adapter
from tests.tiny_models import make_encoder


@pytest.fixture(scope="module")
def encoder_and_adapter(tmp_path_factory):
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModel

    folder = make_encoder(tmp_path_factory.mktemp("encoder"))
    peft_model = get_peft_model(AutoModel.from_pretrained(folder), LoraConfig(r=2, target_modules=["query", "value"]))
    torch.manual_seed(1)
    for name, parameter in peft_model.named_parameters():
        if "lora_B" in name:  # a trained adapter: B starts at zero, which would merge into nothing
            parameter.data.normal_()
    adapter = tmp_path_factory.mktemp("adapter")
    peft_model.save_pretrained(adapter)
    return folder, adapter


def weights(model) -> dict[str, torch.Tensor]:
    return {name: tensor.clone() for name, tensor in model.state_dict().items()}


def test_a_cached_merge_loads_without_peft_and_equals_the_merge(encoder_and_adapter, monkeypatch):
    from peft import PeftModel
    from transformers import AutoModel

    folder, adapter = encoder_and_adapter
    merged = weights(merge_adapter(AutoModel.from_pretrained(folder), adapter, cache=True))
    base = weights(AutoModel.from_pretrained(folder))
    assert any(not torch.equal(merged[name], base[name]) for name in base)  # the adapter changed something

    def no_peft(*args, **kwargs):
        raise AssertionError("peft was used although the merge is cached")

    monkeypatch.setattr(PeftModel, "from_pretrained", no_peft)
    again = merge_adapter(AutoModel.from_pretrained(folder), adapter, cache=True)
    assert not again.training
    assert all(torch.equal(tensor, merged[name]) for name, tensor in weights(again).items())


def test_other_base_weights_are_another_cache_entry(encoder_and_adapter, tmp_path):
    from transformers import AutoModel

    folder, adapter = encoder_and_adapter
    other_folder = make_encoder(tmp_path / "other", seed=5)
    first = weights(merge_adapter(AutoModel.from_pretrained(folder), adapter, cache=True))
    other = weights(merge_adapter(AutoModel.from_pretrained(other_folder), adapter, cache=True))
    assert any(not torch.equal(first[name], other[name]) for name in first)


def test_a_torn_cache_file_is_merged_again_and_replaced(encoder_and_adapter, tmp_path, monkeypatch, caplog):
    from transformers import AutoModel

    monkeypatch.setenv("O1_RETRIEVER_HOME", str(tmp_path))
    folder, adapter = encoder_and_adapter
    merged = weights(merge_adapter(AutoModel.from_pretrained(folder), adapter, cache=True))
    [entry] = (tmp_path / "merged").iterdir()
    entry.write_bytes(entry.read_bytes()[:100])
    with caplog.at_level(logging.WARNING, logger="o1_retriever.model.merged"):
        again = weights(merge_adapter(AutoModel.from_pretrained(folder), adapter, cache=True))
    assert "merging again" in caplog.text
    assert all(torch.equal(tensor, merged[name]) for name, tensor in again.items())
    assert entry.stat().st_size > 100  # replaced by a whole one


def test_a_home_that_cannot_be_written_only_costs_a_merge(encoder_and_adapter, tmp_path, monkeypatch):
    from transformers import AutoModel

    blocked = tmp_path / "file"
    blocked.write_text("not a folder")
    monkeypatch.setenv("O1_RETRIEVER_HOME", str(blocked))
    folder, adapter = encoder_and_adapter
    merged = merge_adapter(AutoModel.from_pretrained(folder), adapter, cache=True)
    uncached = merge_adapter(AutoModel.from_pretrained(folder), adapter)
    assert all(torch.equal(tensor, weights(uncached)[name]) for name, tensor in weights(merged).items())
