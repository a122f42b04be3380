import dataclasses

import pytest
import torch

from o1_retriever.trainer.batches import Collator, batch_indices, make_example, usable_records
from o1_retriever.trainer.config import TrainConfig
from o1_retriever.trainer.losses import false_negatives, full_logits_nll, info_nce, thought_token_nll
from o1_retriever.trainer.schedule import lr_at
from o1_retriever.trainer.records import as_records
from tests.train_helpers import voted_records


def test_info_nce_formula():
    q = torch.nn.functional.normalize(torch.tensor([[1.0, 0.0], [0.0, 1.0]]), dim=-1)
    p = torch.nn.functional.normalize(torch.tensor([[1.0, 0.2], [0.5, 0.5], [0.0, 1.0]]), dim=-1)
    losses = info_nce(q, p, torch.tensor([0, 2]), temperature=0.5)
    scores = q @ p.T / 0.5
    expected = [-(scores[0, 0] - scores[0].logsumexp(0)), -(scores[1, 2] - scores[1].logsumexp(0))]
    assert torch.allclose(losses, torch.stack(expected))


def test_info_nce_ignores_masked_passages():
    q = torch.nn.functional.normalize(torch.tensor([[1.0, 0.0]]), dim=-1)
    p = torch.nn.functional.normalize(torch.tensor([[1.0, 0.2], [0.9, 0.1], [0.0, 1.0]]), dim=-1)
    masked = info_nce(q, p, torch.tensor([0]), 0.5, ignore=torch.tensor([[False, True, False]]))
    assert torch.allclose(masked, info_nce(q, p[[0, 2]], torch.tensor([0]), 0.5))
    assert masked < info_nce(q, p, torch.tensor([0]), 0.5)


def test_false_negatives_are_other_known_positives_never_the_own():
    positive_keys = torch.tensor([[5, 7, -1], [9, -1, -1]])  # query 0 knows 5 and 7, query 1 knows 9
    passage_keys = torch.tensor([5, 3, 9, 7, 5])  # query 0's positive at 0, query 1's at 2; 5 again at 4
    ignore = false_negatives(positive_keys, passage_keys, torch.tensor([0, 2]))
    assert ignore.tolist() == [[False, False, False, True, True], [False, False, False, False, False]]


def test_thought_only_logits_equal_full_logits():
    torch.manual_seed(0)
    hidden = torch.randn(3, 7, 8)
    head = torch.nn.Linear(8, 50, bias=False)
    labels = torch.full((3, 7), -100)
    labels[0, 3:6] = torch.tensor([4, 5, 6])
    labels[2, 1:3] = torch.tensor([7, 8])
    a, b = thought_token_nll(hidden, labels, head), full_logits_nll(hidden, labels, head)
    assert a.shape == (5,) and torch.allclose(a, b)


def test_schedule():
    assert lr_at(0, 100, 10, 1.0) == pytest.approx(0.1)
    assert lr_at(9, 100, 10, 1.0) == pytest.approx(1.0)
    assert lr_at(10, 100, 10, 1.0) == pytest.approx(1.0)
    assert lr_at(55, 100, 10, 1.0) == pytest.approx(0.5)
    assert lr_at(100, 100, 10, 1.0) == 0.0
    assert lr_at(0, 10, 0, 2.0) == pytest.approx(2.0)


def test_examples_are_seeded_and_dropout_rate_holds():
    config = TrainConfig(group_size=3, thought_dropout=0.5, seed=1)
    record = as_records(voted_records(2))[1]
    assert make_example(record, 1, 0, config) == make_example(record, 1, 0, config)
    examples = [make_example(record, i, 0, config) for i in range(400)]
    dropped = sum(e.thought is None for e in examples) / 400
    assert 0.4 < dropped < 0.6
    assert all(len(e.passages) == 3 and e.passages[0] in record.pos for e in examples)
    no_negs = make_example(dataclasses.replace(record, neg=[]), 0, 0, config)
    assert len(no_negs.passages) == 1


def test_batches_cover_each_epoch_once():
    config = TrainConfig(batch_size=4, seed=0)
    seen = [i for step in range(4) for i in batch_indices(step, 17, config)[1]]
    assert len(set(seen)) == 16  # 4 full batches of 17 records, the last partial one dropped
    assert batch_indices(4, 17, config)[0] == 1


def test_usable_records_counts():
    rows = voted_records(10) + [{"query": "q", "pos": [], "neg": []}, {"query": "x", "pos": ["p"], "error": "e"}]
    rows[0] = {**rows[0], "neg": []}
    kept, counts = usable_records(rows)
    assert (counts.records, counts.skipped, counts.without_thought, counts.without_negatives) == (10, 2, 2, 1)


def build(tiny_lm, **model):
    from o1_retriever.trainer.modeling import TrainableModel

    config = TrainConfig(model={"base": str(tiny_lm), **model}, group_size=2, thought_dropout=0.0, lora_r=2)
    return config, TrainableModel.build(config, "cpu")


def test_collator_labels_only_thought_and_eos(tiny_lm):
    config, model = build(tiny_lm)
    tokenizer = model.lm.tokenizer
    examples = [make_example(r, i, 0, config) for i, r in enumerate(as_records(voted_records(3)))]
    batch = Collator(model)(examples)
    queries = batch["queries"]
    ids, labels, mask = queries["input_ids"], queries["labels"], queries["attention_mask"]
    thought_ids = tokenizer(examples[1].thought, add_special_tokens=False)["input_ids"]
    assert labels[1][labels[1] != -100].tolist() == thought_ids + [tokenizer.eos_token_id]
    assert (ids[:, -1] == model.lm.emb_id).all() and (mask[:, -1] == 1).all()  # left padded, <emb> last
    assert batch["positive"].tolist() == [0, 2, 4] and batch["passages"]["input_ids"].shape[0] == 6
    assert (labels[0] == -100).all()  # record 0 has no thought: thought-free path


def test_collator_leaves_a_frozen_thinker_out(tiny_lm, tiny_encoder):
    for thinker_trained in (True, False):
        config, model = build(tiny_lm, mode="split", encoder=str(tiny_encoder), thinker_trained=thinker_trained)
        examples = [make_example(r, i, 0, config) for i, r in enumerate(as_records(voted_records(3)))]
        batch = Collator(model)(examples)
        assert ("thinker" in batch) == thinker_trained and "labels" not in batch["queries"]
        queries, passages, token_losses = model.forward(batch)
        assert queries.shape[0] == 3 and passages.shape[0] == 6
        assert (token_losses.numel() > 0) == thinker_trained


def test_collator_marks_shared_positives(tiny_lm):
    """Two queries that share a judged positive: each one's positive, in the other's group, is left out of its
    softmax; hard negatives and the own positive are kept."""
    config, model = build(tiny_lm)
    records = [
        {"query": "a", "pos": ["shared doc"], "neg": ["neg a"]},
        {"query": "b", "pos": ["doc b", "shared doc"], "neg": ["neg b"]},
    ]
    examples = [make_example(r, i, 0, config) for i, r in enumerate(as_records(records))]
    batch = Collator(model)(examples)
    ignore = false_negatives(batch["positive_keys"], batch["passage_keys"], batch["positive"])
    passages = [p for e in examples for p in e.passages]
    for row, example in enumerate(examples):
        expected = [i != batch["positive"][row] and p in example.known_positives for i, p in enumerate(passages)]
        assert ignore[row].tolist() == expected
    assert ignore.any()  # "shared doc" appears as a negative of one of them whichever positive b drew


def test_a_bad_recipe_file_or_setting_names_the_file_and_line(tmp_path):
    from o1_retriever.trainer.config import parse_assignment

    (tmp_path / "bad.yaml").write_text("batch_size: 8\nmax_steps: [1\n")
    with pytest.raises(ValueError, match=r"bad\.yaml:3: malformed YAML"):
        TrainConfig.from_file(tmp_path / "bad.yaml")
    (tmp_path / "bad.json").write_text('{"batch_size": 8,\n')
    with pytest.raises(ValueError, match=r"bad\.json:2: malformed JSON"):
        TrainConfig.from_file(tmp_path / "bad.json")
    (tmp_path / "list.yaml").write_text("- 1\n- 2\n")
    with pytest.raises(ValueError, match="expected a mapping of settings, got list"):
        TrainConfig.from_file(tmp_path / "list.yaml")
    with pytest.raises(ValueError, match=r"missing\.yaml: no such file"):
        TrainConfig.from_file(tmp_path / "missing.yaml")
    with pytest.raises(ValueError, match=r"--set x=\[1: the value is not valid YAML"):
        parse_assignment("x=[1")
    assert parse_assignment("model.max_document_tokens=256") == ("model.max_document_tokens", 256)
