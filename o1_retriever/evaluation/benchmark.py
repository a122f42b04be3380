"""Benchmarks in BEIR layout: a corpus, the evaluated queries and their graded judgements; the corpus's vectors
(cached on disk by the model's document fingerprint and a hash of the corpus); exact dense search. No system here:
``o1_retriever.evaluation.systems`` runs them."""

from __future__ import annotations

import hashlib
import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from o1_retriever.data import DataError, Document, load_corpus, load_qrels, load_queries
from o1_retriever.model.think_then_embed import ThinkThenEmbed
from o1_retriever.model.vector_cache import cached_vectors
from o1_retriever.model.weights import home_dir

logger = logging.getLogger(__name__)
Run = dict[str, dict[str, float]]


@dataclass
class Benchmark:
    name: str
    corpus: list[Document]
    queries: dict[str, str]  # only the evaluated queries
    qrels: dict[str, dict[str, int]]
    notes: list[str] = field(default_factory=list)


def load_benchmark(
    folder: str | Path,
    split: str = "test",
    max_queries: int | None = None,
    max_docs: int | None = None,
    strict: bool = False,
) -> Benchmark:
    """A BEIR folder's corpus, queries and every graded judgement of ``split``; judgements naming unknown queries
    or documents are dropped with a warning. ``max_docs`` keeps every judged document of the kept queries plus the
    first documents of the corpus up to that number."""
    folder = Path(folder)
    for required in ("corpus.jsonl", "queries.jsonl"):
        if not (folder / required).is_file():
            raise DataError(f"{folder}: missing {required} (a BEIR folder has corpus.jsonl, queries.jsonl, qrels/)")
    corpus, queries, qrels = load_corpus(folder, strict), load_queries(folder), load_qrels(folder, split)
    notes: list[str] = []
    doc_ids = {d.id for d in corpus}
    unknown_queries = [q for q in qrels if q not in queries]
    unknown_docs = sum(1 for q in qrels for d in qrels[q] if d not in doc_ids)
    if unknown_queries or unknown_docs:
        message = (
            f"qrels/{split}.tsv names {len(unknown_queries)} unknown queries and {unknown_docs} unknown documents; "
            "evaluating the rest"
        )
        logger.warning(message)
        notes.append(message)
    qrels = {q: {d: r for d, r in judged.items() if d in doc_ids} for q, judged in qrels.items() if q in queries}
    qrels = {q: judged for q, judged in qrels.items() if judged}
    if not qrels:
        raise DataError(f"{folder}: no query of split {split!r} has a judged document in the corpus")
    query_ids = sorted(qrels)
    if max_queries is not None and max_queries < len(query_ids):
        query_ids = query_ids[:max_queries]
        notes.append(f"--max-queries {max_queries}: {len(query_ids)} of {len(qrels)} queries")
    qrels = {q: qrels[q] for q in query_ids}
    if max_docs is not None and max_docs < len(corpus):
        judged = {d for q in qrels for d in qrels[q]}
        keep = judged | {d.id for d in corpus[:max_docs]}
        notes.append(f"--max-docs {max_docs}: {len(keep)} of {len(corpus)} documents (all judged ones kept)")
        corpus = [d for d in corpus if d.id in keep]
    return Benchmark(folder.name, corpus, {q: queries[q] for q in query_ids}, qrels, notes)


def corpus_hash(corpus: list[Document]) -> str:
    digest = hashlib.sha256()
    for doc in corpus:
        digest.update(json.dumps([doc.id, doc.title, doc.text]).encode())
    return digest.hexdigest()[:16]


def corpus_vectors(
    model: ThinkThenEmbed,
    corpus: list[Document],
    batch_size: int = 32,
    cache: bool = True,
    chunk_size: int = 1024,
) -> tuple[np.ndarray, float]:
    """Document vectors (n, dim), from the on-disk cache when this model already embedded this corpus; and the
    seconds embedding took (when it was done).

    With ``cache``, the corpus is embedded ``chunk_size`` documents at a time and each finished chunk is kept on
    disk (``o1_retriever.model.vector_cache``), so an interrupted run resumes at the first unfinished chunk; the seconds
    reported add up every run's share."""

    def embed(start: int, stop: int) -> np.ndarray:
        docs = corpus[start:stop]
        return model.embed_documents([d.text for d in docs], titles=[d.title for d in docs], batch_size=batch_size)

    if not cache:
        begun = time.perf_counter()
        return embed(0, len(corpus)), time.perf_counter() - begun
    stem = home_dir() / "corpus-vectors" / f"{model.document_fingerprint}-{corpus_hash(corpus)}"
    return cached_vectors(stem, len(corpus), embed, chunk_size)


def dense_run(
    query_ids: list[str], query_vectors: np.ndarray, doc_ids: list[str], doc_vectors: np.ndarray, depth: int = 1000
) -> Run:
    """Exact inner-product search: each query's ``depth`` best documents."""
    scores = query_vectors @ doc_vectors.T
    depth = min(depth, len(doc_ids))
    top = np.argpartition(-scores, depth - 1, axis=1)[:, :depth]
    return {q: {doc_ids[j]: float(scores[i, j]) for j in top[i]} for i, q in enumerate(query_ids)}
