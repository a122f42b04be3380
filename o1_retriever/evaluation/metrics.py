"""Retrieval metrics and significance: pure functions of qrels and runs, no model knowledge.

qrels: {query_id: {doc_id: graded relevance}}; run: {query_id: {doc_id: score}} (higher is better).
Values are trec_eval's (via pytrec-eval-terrier), as BEIR reports them: nDCG@10 = DCG@10 / ideal DCG@10 with
DCG = sum_i rel_i / log2(i + 1) over ranks i = 1..10 (linear gain); MRR@10 = 1 / rank of the first relevant
document within the top 10; Recall@k = relevant documents in the top k / all relevant documents.
"""

from __future__ import annotations

import numpy as np

from o1_retriever.retrieval.fusion import ranking

#: our name -> (pytrec_eval measure, its key in the results, depth to cut the run to first or None)
MEASURES = {
    "nDCG@10": ("ndcg_cut.10", "ndcg_cut_10", None),
    "MRR@10": ("recip_rank", "recip_rank", 10),
    "Recall@100": ("recall.100", "recall_100", None),
    "Recall@1000": ("recall.1000", "recall_1000", None),
}


def cut_run(run: dict[str, dict[str, float]], depth: int) -> dict[str, dict[str, float]]:
    """Each query's ``depth`` best documents (ties broken by document id, as trec_eval does)."""
    return {q: dict(ranking(docs, depth)) for q, docs in run.items()}


def per_query_scores(
    qrels: dict[str, dict[str, int]], run: dict[str, dict[str, float]], measures: tuple[str, ...] = tuple(MEASURES)
) -> dict[str, dict[str, float]]:
    """{measure: {query_id: value}} for every query of ``qrels``; a query missing from the run scores 0."""
    try:
        import pytrec_eval
    except ImportError:  # pragma: no cover
        raise ImportError('metrics need pytrec-eval-terrier: pip install "o1-retriever[eval]"') from None
    out: dict[str, dict[str, float]] = {}
    for name in measures:
        measure, key, depth = MEASURES[name]
        evaluator = pytrec_eval.RelevanceEvaluator(qrels, {measure})
        results = evaluator.evaluate(cut_run(run, depth) if depth else run)
        out[name] = {q: results[q][key] if q in results else 0.0 for q in qrels}
    return out


def mean_scores(per_query: dict[str, dict[str, float]]) -> dict[str, float]:
    return {name: float(np.mean(list(values.values()))) if values else 0.0 for name, values in per_query.items()}


def paired_randomization_test(a: list[float], b: list[float], trials: int = 10_000, seed: int = 0) -> float:
    """Two-sided p-value that the mean of per-query differences a - b is 0, by randomly swapping pairs."""
    diff = np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)
    if diff.size == 0 or not diff.any():
        return 1.0
    observed = abs(diff.mean())
    signs = np.random.default_rng(seed).choice((-1.0, 1.0), size=(trials, diff.size))
    extreme = (np.abs((signs * diff).mean(axis=1)) >= observed - 1e-12).sum()
    return float((extreme + 1) / (trials + 1))
