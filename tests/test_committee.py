import json

import numpy as np
import pytest
from typer.testing import CliRunner

from o1_retriever.cli import app
from o1_retriever.trainer.committee import BM25Member, DenseMember, training_corpus, vote
from o1_retriever.trainer.voting import soft_vote

RECORDS = [
    {
        "query": "what raises cancer risk",
        "pos": ["smoking raises cancer risk in human patients", "drug treatment increases cancer risk"],
        "neg": ["light wave energy field"],
        "thoughts": ["light wave physics", "smoking and drug treatment raise cancer risk", "memory storage"],
    },
    {"query": "failed", "pos": ["p"], "thoughts": [], "error": "the expert returned empty text (3 of 3)"},
    {
        "query": "microwave dielectric",
        "pos": ["microwave measurement of dielectric liquid"],
        "neg": ["gene expression in cells"],
        "thoughts": ["dielectric liquid measured with microwave"],  # m = 1
    },
]


def test_bm25_member_uses_training_corpus_statistics():
    member = BM25Member(training_corpus(RECORDS))
    [scores] = member.score([RECORDS[0]["thoughts"]], [RECORDS[0]["pos"]])
    assert scores.shape == (3, 2)
    assert scores[1].sum() > scores[0].sum() and scores[1].sum() > scores[2].sum()
    # the statistics do not depend on the candidates: scoring a candidate alone gives the same numbers
    [alone] = member.score([[RECORDS[0]["thoughts"][1]]], [RECORDS[0]["pos"]])
    assert np.allclose(alone[0], scores[1])
    [stop_words] = member.score([["No.", "the and of"]], [RECORDS[0]["pos"]])  # no indexable term: zero
    assert np.array_equal(stop_words, np.zeros((2, 2)))


def test_vote_keeps_every_record_and_every_members_scores(tiny_encoder):
    members = [BM25Member(training_corpus(RECORDS)), DenseMember(str(tiny_encoder))]
    voted, summary = vote(RECORDS, members, progress=False)
    assert (summary.voted, summary.skipped) == (2, 1) and len(voted) == 3
    assert voted[1].thought is None and voted[1].error
    committee = voted[0].extra["committee"]
    assert set(committee["scores"]) == {"bm25", f"dense:{tiny_encoder}"}
    assert all(len(s) == 3 for s in committee["scores"].values())
    expected, _ = soft_vote(np.array(list(committee["scores"].values())))
    assert committee["winner"] == expected and voted[0].thought == RECORDS[0]["thoughts"][expected]
    assert voted[2].thought == RECORDS[2]["thoughts"][0]
    hard, _ = vote(RECORDS, members[:1], method="hard", progress=False)
    assert hard[0].thought == RECORDS[0]["thoughts"][1]  # BM25 alone prefers the on-topic thought
    with pytest.raises(ValueError, match="method"):
        vote(RECORDS, members, method="median", progress=False)


def test_synthesize_and_vote_commands(tmp_path, tiny_lm, tiny_encoder):
    source = tmp_path / "train.jsonl"
    source.write_text(
        "".join(json.dumps({k: v for k, v in r.items() if k in ("query", "pos", "neg")}) + "\n" for r in RECORDS)
    )
    synthesized, voted = tmp_path / "synth.jsonl", tmp_path / "voted.jsonl"
    runner = CliRunner()
    result = runner.invoke(
        app,
        [
            "synthesize",
            str(source),
            "--out",
            str(synthesized),
            "--expert-model",
            str(tiny_lm),
            "--m",
            "2",
            "--max-new-tokens",
            "5",
            "--temperature",
            "1.0",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "3 records: 0 resumed, 3 written" in result.stdout
    rows = [json.loads(line) for line in synthesized.read_text().splitlines()]
    assert [r["query"] for r in rows] == [r["query"] for r in RECORDS]
    result = runner.invoke(
        app,
        [
            "vote",
            str(synthesized),
            "--out",
            str(voted),
            "--member",
            str(tiny_encoder),
            "--member",
            "bm25",
            "--weights",
            "1,2",
        ],
    )
    assert result.exit_code == 0, result.output
    assert sum("thought" in json.loads(line) for line in voted.read_text().splitlines()) == sum(
        bool(r["thoughts"]) for r in rows
    )
    bad = runner.invoke(app, ["vote", str(synthesized), "--out", str(voted), "--member", "bm25", "--weights", "1,2"])
    assert bad.exit_code == 2 and "2 weights for 1 members" in bad.output


def test_vote_counts_and_names_invalid_records(tmp_path):
    source, voted = tmp_path / "synth.jsonl", tmp_path / "voted.jsonl"
    rows = [{"query_id": "q1", "query": "gene cells", "pos": ["gene cells study"]}, {"query": 5}]
    source.write_text("".join(json.dumps(r) + "\n" for r in rows))
    result = CliRunner().invoke(app, ["vote", str(source), "--out", str(voted), "--member", "bm25"])
    assert result.exit_code == 0, result.output
    assert f"1 of them invalid, kept with the reason in 'error' (never trained on); the first: {source}:2:" in (
        result.output
    )
    assert [("error" in json.loads(line)) for line in voted.read_text().splitlines()] == [False, True]


def test_vote_among_another_thinkers_thoughts(tmp_path):
    """`think --records` output (an expert's thoughts) as the candidates: the committee picks the one that retrieves
    the positive, the records' own candidates, vote and expert are replaced."""
    source, thoughts, voted = tmp_path / "voted.jsonl", tmp_path / "thoughts.jsonl", tmp_path / "revoted.jsonl"
    rows = [
        {
            "query": "gene cells",
            "pos": ["gene expression in human cells"],
            "thoughts": ["old"],
            "thought": "old",
            "committee": {"winner": 0},
            "expert": "local:small",
        },
        {"query": "microwave", "pos": ["microwave measurement of dielectric liquid"]},
    ]
    source.write_text("".join(json.dumps(r) + "\n" for r in rows))
    expert = [
        {"query": "gene cells", "thoughts": ["light wave energy", "expression of genes in human cells"]},
        {"query": "microwave", "thoughts": ["dielectric liquid measured by microwave", "a computer memory"]},
    ]
    thoughts.write_text("".join(json.dumps(r) + "\n" for r in expert))
    result = CliRunner().invoke(
        app, ["vote", str(source), "--out", str(voted), "--member", "bm25", "--candidates", str(thoughts)]
    )
    assert result.exit_code == 0, result.output
    out = [json.loads(line) for line in voted.read_text().splitlines()]
    assert [r["thought"] for r in out] == [
        "expression of genes in human cells",
        "dielectric liquid measured by microwave",
    ]
    assert out[0]["thoughts"] == expert[0]["thoughts"] and "expert" not in out[0]
    thoughts.write_text(json.dumps(expert[0]) + "\n")
    missing = CliRunner().invoke(app, ["vote", str(source), "--out", str(voted), "--candidates", str(thoughts)])
    assert missing.exit_code == 2 and "no thoughts for the query of record" in missing.output
