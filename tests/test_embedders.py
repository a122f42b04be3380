"""Embedders: one sequence assembly, one set of limits, one pooling for training and serving."""

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from o1_retriever import ThinkThenEmbed
from o1_retriever.model import embedders
from o1_retriever.model.config import ModelConfig

ROOT = Path(__file__).resolve().parents[1]
LONG = " ".join(["cell gene light wave blood energy"] * 40)  # 240 words: longer than every limit below


@pytest.fixture(params=["shared", "split"])
def trainable(request, tiny_lm, tiny_encoder):
    """A TrainableModel with small, distinct limits for each sequence kind."""
    from o1_retriever.trainer.config import TrainConfig
    from o1_retriever.trainer.modeling import TrainableModel

    model = {"base": str(tiny_lm), "max_query_tokens": 5, "max_document_tokens": 23, "max_thought_sequence_tokens": 17}
    if request.param == "split":
        model.update(mode="split", encoder=str(tiny_encoder), thinker_trained=True)
    config = TrainConfig(model=model, group_size=1, thought_dropout=0.0, lora_r=2, encoder_lora_targets=["query"])
    return TrainableModel.build(config, "cpu")


def test_training_and_serving_read_the_same_sequences(trainable):
    """Each sequence kind is cut at the same length in training (the Collator) and in serving (the model the
    checkpoint loads): documents, query + thought, and the trained thinker's prompt. A training limit that differs
    from a serving limit fails here."""
    from o1_retriever.trainer.batches import Collator, Example
    from o1_retriever.model.thinkers import ThinkRequest

    config = trainable.config.model
    batch = Collator(trainable)([Example(LONG, LONG, (LONG,), (LONG,))])
    served = trainable.retriever  # the model as saved and served: same embedder, same config
    train_lengths = {
        "document": int(batch["passages"]["attention_mask"].sum()),
        "query + thought": int(batch["queries"]["attention_mask"].sum()),
    }
    serve_lengths = {
        "document": int(served.embedder.document_batch([LONG])["attention_mask"].sum()),
        "query + thought": int(served.embedder.query_batch([LONG], [LONG])["attention_mask"].sum()),
    }
    assert (
        train_lengths
        == serve_lengths
        == {
            "document": config.max_document_tokens,
            "query + thought": config.max_thought_sequence_tokens,
        }
    )
    prompt = served.thinker.prompt(ThinkRequest(LONG))  # <query> q </query> <thought>
    assert len(prompt) == config.max_query_tokens + 3
    thinker_sequence = batch.get("thinker", batch["queries"])
    assert (
        thinker_sequence["input_ids"][0, -int(thinker_sequence["attention_mask"].sum()) :][: len(prompt)].tolist()
        == prompt
    )


def test_a_saved_checkpoint_serves_with_the_limits_it_trained_with(trainable, tmp_path):
    from o1_retriever.trainer.train import save_checkpoint

    save_checkpoint(trainable, tmp_path / "ckpt")
    loaded = ThinkThenEmbed.from_pretrained(tmp_path / "ckpt", device="cpu", cache=False)
    assert loaded.config == trainable.config.model
    served = embedders.embed_documents(loaded.embedder, [LONG, "gene"])
    trained = embedders.embed_documents(trainable.retriever.embedder, [LONG, "gene"])
    assert np.allclose(served, trained, atol=1e-5)


def test_the_shipped_config_is_what_its_training_recipe_writes():
    """o1_config.json of the shipped model is the ``model`` of data/train-default.yaml, not a hand edit."""
    from o1_retriever.model.checkpoint import read_config
    from o1_retriever.model.loading import DEFAULT_MODEL
    from o1_retriever.trainer.config import TrainConfig

    assert read_config(DEFAULT_MODEL) == TrainConfig.from_file(ROOT / "data" / "train-default.yaml").model


def test_split_encoder_reads_as_many_tokens_as_its_config_says(split_model, tmp_path):
    from o1_retriever.model.checkpoint import write_config

    folder = split_model.save_pretrained(tmp_path / "ckpt")
    write_config(folder, dataclasses.replace(split_model.config, max_document_tokens=6))
    short = ThinkThenEmbed.from_pretrained(folder, device="cpu", cache=False)
    assert short.embedder.max_document_tokens == 6 and split_model.embedder.max_document_tokens > 6
    assert short.document_fingerprint != split_model.document_fingerprint  # an index knows how its text was cut
    words = "cell gene light wave blood sugar energy"
    assert np.allclose(short.embed_documents([words]), short.embed_documents([words + " cancer risk"]), atol=1e-6)
    assert not np.allclose(split_model.embed_documents([words]), split_model.embed_documents([words + " cancer risk"]))
    with pytest.raises(ValueError, match="max_document_tokens must be >= 2"):
        dataclasses.replace(split_model.config, max_document_tokens=1)


def test_format_1_configs_keep_serving_as_before():
    """A format-1 split checkpoint served every sequence at ``encoder_max_tokens``: it still does."""
    old = {"mode": "split", "encoder": "e", "max_document_tokens": 160, "max_thought_sequence_tokens": 128}
    config = ModelConfig.from_dict({**old, "encoder_max_tokens": 256})
    assert (config.max_document_tokens, config.max_thought_sequence_tokens) == (256, 256)
    with pytest.raises(ValueError, match="thinker_trained=False needs split mode"):
        ModelConfig(mode="shared", thinker_trained=False)
