"""Stage g: the label-free check and the fusion's calibration, on the held-out slice of the kept questions (never
trained on). A question's one relevant document is the passage it was asked of; the base and the adapted checkpoint
are scored on it through the same exact hybrid, and the slice picks the fusion the adapted checkpoint serves with."""

from __future__ import annotations

import hashlib

from o1_retriever.evaluation.metrics import mean_scores, paired_randomization_test, per_query_scores
from o1_retriever.model.query_encoding import QueryEncoding
from o1_retriever.model.think_then_embed import ThinkThenEmbed
from o1_retriever.retrieval.fusion import Fusion
from o1_retriever.trainer.adapt.pairs import CorpusSearch

MEASURES = ("nDCG@10", "MRR@10")


def held_out_draw(query_id: str, seed: int) -> float:
    """A question's seeded draw in [0, 1), from its id alone: the same in every rerun and every budget."""
    digest = hashlib.sha256(f"held-out\x00{seed}\x00{query_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def is_held_out(query_id: str, share: float, seed: int) -> bool:
    """A stable, seeded split by id: the same question is held out in every rerun and every budget."""
    return held_out_draw(query_id, seed) < share


def split_held_out(records: list[dict], share: float, minimum: int, seed: int) -> tuple[list[dict], list[dict]]:
    """(train, held out): ``share`` of the records by ``is_held_out``, topped up to ``minimum`` (when there are
    twice as many records) from the records with the smallest hashes."""
    held = [r for r in records if is_held_out(r["query_id"], share, seed)]
    if len(held) < minimum and len(records) >= 2 * minimum:
        held = sorted(records, key=lambda r: held_out_draw(r["query_id"], seed))[:minimum]
    ids = {r["query_id"] for r in held}
    return [r for r in records if r["query_id"] not in ids], [r for r in records if r["query_id"] in ids]


def candidate_fusions() -> dict[str, Fusion]:
    """The fusions the slice chooses between: the presets, the guarded fusion at other dense weights, dense alone."""
    fusions = {name: Fusion.named(name) for name in ("guarded", "unguarded", "rrf")}
    for weight in (0.4, 0.5, 0.7, 0.8):
        fusions[f"guarded, dense weight {weight}"] = Fusion(dense_weight=weight)
    fusions["dense alone"] = Fusion(dense_weight=1.0, gate_saturation=None)
    return fusions


def fused_scores(
    search: CorpusSearch,
    model: ThinkThenEmbed,
    encoding: QueryEncoding,
    queries: dict[str, str],
    qrels: dict[str, dict[str, int]],
    fusions: dict[str, Fusion],
) -> dict[str, dict[str, dict[str, float]]]:
    """{fusion name: {measure: {query id: value}}} of ``model``'s ``encoding`` for ``queries`` (id: text), judged by
    ``qrels``, through the exact hybrid under each of ``fusions``."""
    keys = list(queries)
    texts = [queries[k] for k in keys]
    dense = search.dense(keys, search.query_vectors(texts, encoding, model))
    lexical = search.lexical(keys, texts)
    return {
        name: per_query_scores(qrels, search.hybrid(dense, lexical, fusion), MEASURES)
        for name, fusion in fusions.items()
    }


def scores_by_fusion(
    search: CorpusSearch, model: ThinkThenEmbed, encoding: QueryEncoding, held: list[dict], fusions: dict[str, Fusion]
) -> dict[str, dict[str, dict[str, float]]]:
    """``fused_scores`` over the held-out slice: each question's one relevant document is its passage."""
    queries = {r["query_id"]: r["query"] for r in held}
    qrels = {r["query_id"]: {r["passage_id"]: 1} for r in held}
    return fused_scores(search, model, encoding, queries, qrels, fusions)


def choose_fusion(scores: dict[str, dict[str, dict[str, float]]], current: str, margin: float) -> str:
    """The fusion with the best mean nDCG@10, if it beats ``current`` by at least ``margin`` with p < 0.05 (paired,
    over the same questions); else ``current``: a small slice should not move the fusion on noise."""
    means = {name: mean_scores(per)["nDCG@10"] for name, per in scores.items()}
    best = max(means, key=lambda name: (means[name], name == current))
    if means[best] < means[current] + margin:
        return current
    ids = sorted(scores[current]["nDCG@10"])
    p = paired_randomization_test(
        [scores[best]["nDCG@10"][q] for q in ids], [scores[current]["nDCG@10"][q] for q in ids]
    )
    return best if p < 0.05 else current


def label_free_check(
    search: CorpusSearch, base: ThinkThenEmbed, adapted: ThinkThenEmbed, held: list[dict], margin: float
) -> dict:
    """Base (its default encoding, its fusion) against adapted (distilled, the fusion the slice chooses): the means,
    the paired p-value of nDCG@10, every fusion's means, and the choice."""
    base_fusion = Fusion.of_checkpoint(base.config.fusion)
    candidates = candidate_fusions()
    current = next((name for name, f in candidates.items() if f == base_fusion), None)
    if current is None:
        candidates["the base's"] = base_fusion
        current = "the base's"
    base_scores = scores_by_fusion(search, base, base.default_encoding, held, candidates)
    adapted_scores = scores_by_fusion(search, adapted, QueryEncoding.DISTILLED, held, candidates)
    chosen = choose_fusion(adapted_scores, current, margin)
    before, after = base_scores[current], adapted_scores[chosen]
    ids = sorted(before["nDCG@10"])
    p = paired_randomization_test([after["nDCG@10"][q] for q in ids], [before["nDCG@10"][q] for q in ids])
    return {
        "held_out": len(held),
        "base": {"fusion": current, **mean_scores(before)},
        "adapted": {"fusion": chosen, **mean_scores(after)},
        "gain_nDCG@10": mean_scores(after)["nDCG@10"] - mean_scores(before)["nDCG@10"],
        "p": p,
        "fusions": {
            name: {"base": mean_scores(base_scores[name]), "adapted": mean_scores(adapted_scores[name])}
            for name in candidates
        },
        "fusion_settings": candidates[chosen].settings(),
    }
