"""Stages c and d: the round-trip filter and the mined negatives, both read off the base retriever's exact hybrid
ranking over the whole corpus (``CorpusSearch``: the checkpoint's document vectors, from the evaluation's on-disk
cache, and BM25 over the same texts, fused as ``Index.search`` fuses them)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from o1_retriever.data import Document
from o1_retriever.evaluation.benchmark import Run, corpus_vectors, dense_run
from o1_retriever.evaluation.systems import fused_run
from o1_retriever.model.prompts import document_text
from o1_retriever.model.query_encoding import QueryEncoding
from o1_retriever.model.think_then_embed import ThinkThenEmbed
from o1_retriever.retrieval.fusion import Fusion, ranking
from o1_retriever.trainer.adapt.passages import normalised

DEPTH = 100  # each side's candidates, as the product fuses them


class CorpusSearch:
    """Exact dense and BM25 runs of a model over a corpus; the lexical side is built once and shared."""

    def __init__(self, model: ThinkThenEmbed, documents: list[Document], progress: bool = False) -> None:
        from o1_retriever.retrieval.lexical import BM25

        self.model = model
        self.documents = documents
        self.ids = [d.id for d in documents]
        self.position = {d.id: i for i, d in enumerate(documents)}
        self.vectors, _ = corpus_vectors(model, documents)
        self.texts = [document_text(d.text, d.title) for d in documents]  # as the model and BM25 read them
        self.bm25 = BM25(self.texts, self.ids, progress=progress)

    def query_vectors(self, queries: list[str], encoding: QueryEncoding, model: ThinkThenEmbed | None = None):
        return (model or self.model).embed_queries(queries, encoding).vectors

    def dense(self, keys: list[str], vectors: np.ndarray) -> Run:
        return dense_run(keys, vectors, self.ids, self.vectors, DEPTH)

    def lexical(self, keys: list[str], queries: list[str]) -> Run:
        return dict(zip(keys, self.bm25.search(queries, DEPTH)))

    def hybrid(self, dense: Run, lexical: Run, fusion: Fusion) -> Run:
        return fused_run(dense, lexical, len(self.ids), fusion)


@dataclass(frozen=True)
class PairRules:
    filter_depth: int = 10
    negatives: int = 7
    negative_depth: int = 50
    negative_margin: float = 0.05


def source_rank(source: str, fused: dict[str, float]) -> int | None:
    """The source passage's rank (from 1) in a question's fused ranking, None when the ranking misses it."""
    order = [doc for doc, _ in ranking(fused)]
    return order.index(source) + 1 if source in order else None


def keep_or_drop(source: str, fused: dict[str, float], depth: int) -> tuple[int | None, str | None]:
    """(the source passage's rank in the fused ranking, None) if it is in the top ``depth`` (round-trip
    consistency), else (its rank or None, why the pair is dropped)."""
    rank = source_rank(source, fused)
    if rank is None or rank > depth:
        return rank, f"passage not in the top {depth}"
    return rank, None


def negatives_for(
    source: str, source_rank: int, fused: dict[str, float], cosine: dict[str, float], rules: PairRules
) -> list[str]:
    """Hard negatives: documents the base hybrid ranks below the source, within ``negative_depth``, whose cosine to
    the question is not within ``negative_margin`` of the source's (near ties are the likeliest unjudged
    positives), at most ``rules.negatives``."""
    ceiling = cosine.get(source, 1.0) - rules.negative_margin
    out = []
    for rank, (doc, _) in enumerate(ranking(fused, rules.negative_depth), start=1):
        if rank <= source_rank or doc == source:
            continue
        if cosine.get(doc, -1.0) >= ceiling:
            continue
        out.append(doc)
        if len(out) == rules.negatives:
            break
    return out


def usable_questions(rows: list[dict]) -> tuple[list[dict], dict[str, int]]:
    """The rows with a question, each question once (the same normalised words), and the counts of the others by
    why they were dropped."""
    dropped: dict[str, int] = {}
    seen: set[str] = set()
    asked = []
    for row in rows:
        why = None if row.get("question") else (row.get("dropped") or "no question")
        if why is None and (key := normalised(row["question"])) in seen:
            why = "duplicate question"
        if why:
            dropped[why] = dropped.get(why, 0) + 1
        else:
            seen.add(key)
            asked.append(row)
    return asked, dropped


def build_pairs(
    asked: list[dict], search: CorpusSearch, rules: PairRules, encoding: QueryEncoding, fusion: Fusion
) -> tuple[list[dict], dict[str, int]]:
    """Training records (``query_id``, ``query``, ``pos``, ``neg``, ``passage_id``, ``source_rank``) for the
    questions (``usable_questions``' rows) that survive the round trip through the base retriever (``encoding``,
    ``fusion``), and the counts of those dropped, by reason."""
    dropped: dict[str, int] = {}
    if not asked:
        return [], dropped
    keys = [row["query_id"] for row in asked]
    texts = [row["query"] for row in asked]
    vectors = search.query_vectors(texts, encoding)
    dense = search.dense(keys, vectors)
    fused = search.hybrid(dense, search.lexical(keys, texts), fusion)
    records = []
    for row, vector in zip(asked, vectors):
        source = row["passage_id"]
        rank, why = keep_or_drop(source, fused[source], rules.filter_depth)
        if why:
            dropped[why] = dropped.get(why, 0) + 1
            continue
        cosine = dict(dense[source])
        cosine[source] = float(vector @ search.vectors[search.position[source]])
        negatives = negatives_for(source, rank, fused[source], cosine, rules)
        records.append(
            {
                "query_id": source,
                "query": row["query"],
                "pos": [search.texts[search.position[source]]],
                "neg": [search.texts[search.position[d]] for d in negatives],
                "source": "adapt",
                "passage_id": source,
                "source_rank": rank,
            }
        )
    return records, dropped
