"""Training records: one typed record, one rule for which are usable, extra keys kept as they came."""

import pytest

from o1_retriever.data import DataError
from o1_retriever.trainer.batches import usable_records
from o1_retriever.trainer.committee import vote
from o1_retriever.trainer.records import TrainingRecord, as_records, with_thoughts


def test_a_record_round_trips_with_the_keys_it_does_not_name():
    row = {
        "query_id": "7",
        "query": "q",
        "pos": ["p"],
        "neg": ["n"],
        "thoughts": ["a", "b"],
        "thought": "b",
        "pos_scores": [1.0],
        "committee": {"winner": 1},
    }
    record = TrainingRecord.from_dict(row)
    assert (record.query_id, record.thought, record.extra) == (
        "7",
        "b",
        {"pos_scores": [1.0], "committee": {"winner": 1}},
    )
    assert record.to_dict() == row
    with pytest.raises(DataError, match="where:1: 'pos' must hold"):
        TrainingRecord.from_dict({"query": "q", "pos": ["  "]}, "where:1")


def test_one_rule_for_usable_records_in_training_and_voting():
    rows = [
        {"query": "ok", "pos": ["p"], "thoughts": ["t"]},
        {"query": "no positive", "pos": [], "thoughts": ["t"]},
        {"query": "", "pos": ["p"], "thoughts": ["t"]},
        {"query": "failed", "pos": ["p"], "thoughts": ["t"], "error": "the expert wrote nothing"},
    ]
    records = as_records(rows)
    assert [r.usable for r in records] == [True, False, False, False]
    assert records[3].error == "the expert wrote nothing"  # the first reason is kept
    kept, counts = usable_records(rows)
    assert [r.query for r in kept] == ["ok"] and counts.skipped == 3
    voted, summary = vote(rows, [_Constant()], progress=False)
    assert (summary.voted, summary.skipped) == (1, 3) and voted[0].thought == "t"


class _Constant:
    name = "constant"

    def score(self, candidates, positives):
        import numpy as np

        return [np.ones((len(c), len(p))) for c, p in zip(candidates, positives)]


def test_records_train_on_the_thinkers_own_thoughts(tmp_path):
    records = as_records(
        [
            {"query_id": "1", "query": "a", "pos": ["p"], "thought": "voted", "source": "scifact/train"},
            {"query_id": "1", "query": "b", "pos": ["p"], "source": "nfcorpus/train"},  # same id, other set
            {"query_id": "2", "query": "c", "pos": []},  # never trained on: needs no thought
        ]
    )
    thoughts = tmp_path / "thoughts.jsonl"
    thoughts.write_text(
        '{"query_id": 1, "query": "b", "thoughts": ["b first", "b second"]}\n'
        '{"query_id": "1", "query": "a", "thoughts": ["a first"]}\n'
    )
    assert [r.thought for r in with_thoughts(records, thoughts)] == ["a first", "b first", None]
    assert records[0].thought == "voted"  # the records given are not changed
    thoughts.write_text('{"query": "a", "thoughts": ["a first"]}\n')
    with pytest.raises(DataError, match="no thoughts for the query of record '1': 'b'"):
        with_thoughts(records, thoughts)
    thoughts.write_text('{"query": "a", "thoughts": []}\n')
    with pytest.raises(DataError, match="thoughts.jsonl:1: needs a 'query' and a non-empty list"):
        with_thoughts(records, thoughts)
