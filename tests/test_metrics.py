import math

import pytest

from o1_retriever.evaluation.metrics import (
    cut_run,
    mean_scores,
    paired_randomization_test,
    per_query_scores,
)

# graded, several relevant documents per query
QRELS = {"q1": {"d1": 2, "d2": 1, "d9": 1}, "q2": {"d3": 1}, "q3": {"d4": 1}}
RUN = {
    "q1": {"d2": 0.9, "d5": 0.8, "d1": 0.7},  # ranks: d2 (rel 1), d5 (0), d1 (rel 2)
    "q2": {"d6": 0.9, "d3": 0.5},
    # q3 retrieved nothing
}


def dcg(gains):
    """trec_eval's DCG (as BEIR reports it): linear gain, log2(rank + 1) discount."""
    return sum(g / math.log2(i + 2) for i, g in enumerate(gains))


def test_metrics_match_hand_computation():
    scores = per_query_scores(QRELS, RUN)
    assert scores["nDCG@10"]["q1"] == pytest.approx(dcg([1, 0, 2]) / dcg([2, 1, 1]))
    assert scores["nDCG@10"]["q2"] == pytest.approx(dcg([0, 1]) / dcg([1]))
    assert scores["nDCG@10"]["q3"] == 0.0
    assert scores["MRR@10"] == pytest.approx({"q1": 1.0, "q2": 0.5, "q3": 0.0})
    assert scores["Recall@100"] == pytest.approx({"q1": 2 / 3, "q2": 1.0, "q3": 0.0})
    means = mean_scores(scores)
    assert means["Recall@100"] == pytest.approx((2 / 3 + 1) / 3)


def test_mrr_is_cut_at_ten():
    run = {"q2": {f"x{i}": 1.0 - i / 100 for i in range(10)} | {"d3": 0.01}}
    assert per_query_scores({"q2": {"d3": 1}}, run, ("MRR@10",))["MRR@10"]["q2"] == 0.0


def test_cut_run_breaks_ties_by_id():
    assert list(cut_run({"q": {"b": 1.0, "a": 1.0, "c": 2.0}}, 2)["q"]) == ["c", "a"]


def test_paired_randomization():
    assert paired_randomization_test([0.5] * 5, [0.5] * 5) == 1.0
    assert paired_randomization_test([1.0] * 30, [0.0] * 30) < 0.001
    p = paired_randomization_test([0.6, 0.4, 0.5, 0.55], [0.5, 0.5, 0.5, 0.5])
    assert 0.1 < p <= 1.0
