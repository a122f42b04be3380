"""Evaluation on BEIR-format folders: the systems of the ``SYSTEMS`` registry on the same data in one run.

Dense systems search exactly (all document vectors, inner product of unit vectors), so the numbers measure the
model, not an approximate index. Corpus vectors are cached on disk, keyed by the model's document fingerprint
and a hash of the corpus; query thoughts come from the thought cache.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from o1_retriever import embedders
from o1_retriever.data import DataError, Document, load_corpus, load_qrels, load_queries
from o1_retriever.metrics import reciprocal_rank_fusion
from o1_retriever.model import ThinkThenEmbed
from o1_retriever.pooling import mean_of_unit_vectors
from o1_retriever.prompts import document_text
from o1_retriever.weights import home_dir

logger = logging.getLogger(__name__)

Run = dict[str, dict[str, float]]


@dataclass
class Benchmark:
    name: str
    corpus: list[Document]
    queries: dict[str, str]  # only the evaluated queries
    qrels: dict[str, dict[str, int]]
    notes: list[str] = field(default_factory=list)


@dataclass
class SystemResult:
    run: Run
    corpus_seconds: float  # time to index the corpus (when it was computed, if cached)
    query_seconds: float  # per query, in this run
    settings: dict = field(default_factory=dict)


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
    model: ThinkThenEmbed, corpus: list[Document], batch_size: int = 32, cache: bool = True
) -> tuple[np.ndarray, float]:
    """Document vectors (n, dim), from the on-disk cache when this model already embedded this corpus; and the
    seconds embedding took (when it was done)."""
    folder = home_dir() / "corpus-vectors"
    stem = folder / f"{model.document_fingerprint}-{corpus_hash(corpus)}"
    if cache and stem.with_suffix(".npy").exists() and stem.with_suffix(".json").exists():
        return np.load(stem.with_suffix(".npy")), json.loads(stem.with_suffix(".json").read_text())["seconds"]
    start = time.perf_counter()
    vectors = model.embed_documents([d.text for d in corpus], titles=[d.title for d in corpus], batch_size=batch_size)
    seconds = time.perf_counter() - start
    if not cache:
        return vectors, seconds
    folder.mkdir(parents=True, exist_ok=True)
    tmp = stem.with_suffix(".tmp.npy")
    np.save(tmp, vectors)
    tmp.replace(stem.with_suffix(".npy"))
    stem.with_suffix(".json").write_text(json.dumps({"seconds": seconds, "documents": len(corpus)}))
    return vectors, seconds


def dense_run(
    query_ids: list[str], query_vectors: np.ndarray, doc_ids: list[str], doc_vectors: np.ndarray, depth: int = 1000
) -> Run:
    """Exact inner-product search: each query's ``depth`` best documents."""
    scores = query_vectors @ doc_vectors.T
    depth = min(depth, len(doc_ids))
    top = np.argpartition(-scores, depth - 1, axis=1)[:, :depth]
    return {q: {doc_ids[j]: float(scores[i, j]) for j in top[i]} for i, q in enumerate(query_ids)}


def hyde_vectors(generator: ThinkThenEmbed, queries: list[str], **thinking) -> np.ndarray:
    """HyDE: the generator writes passages; its embedder averages the query vector and the passage vectors."""
    entries = generator.think_with_vectors(queries, generator.thinking_config(**thinking))
    return np.stack(
        [
            mean_of_unit_vectors(
                np.vstack([e.query_vector[None], embedders.embed_documents(generator.embedder, e.thoughts)])
                if any(t.strip() for t in e.thoughts)
                else e.query_vector[None]
            )
            for e in entries
        ]
    )


@dataclass
class Context:
    """What a system runs on, and the results of the systems run before it."""

    bench: Benchmark
    model: ThinkThenEmbed
    thinking: dict
    hyde_generator: ThinkThenEmbed | None = None
    include_query_vector: bool | None = None
    depth: int = 1000
    cache_corpus: bool = True
    results: dict[str, SystemResult] = field(default_factory=dict)

    @property
    def texts(self) -> list[str]:
        return list(self.bench.queries.values())

    def dense(self, model: ThinkThenEmbed, vectors_of, settings: dict) -> SystemResult:
        """Exact search with ``vectors_of(texts)`` as query vectors over ``model``'s document vectors."""
        doc_vectors, corpus_seconds = corpus_vectors(model, self.bench.corpus, cache=self.cache_corpus)
        start = time.perf_counter()
        vectors = vectors_of(self.texts)
        seconds = (time.perf_counter() - start) / len(self.texts)
        run = dense_run(list(self.bench.queries), vectors, [d.id for d in self.bench.corpus], doc_vectors, self.depth)
        return SystemResult(run, corpus_seconds, seconds, settings)


def _bm25(ctx: Context) -> SystemResult:
    from o1_retriever.bm25 import BM25

    start = time.perf_counter()
    index = BM25([document_text(d.text, d.title) for d in ctx.bench.corpus], [d.id for d in ctx.bench.corpus])
    corpus_seconds = time.perf_counter() - start
    start = time.perf_counter()
    hits = index.search(ctx.texts, ctx.depth)
    seconds = (time.perf_counter() - start) / len(ctx.texts)
    return SystemResult(dict(zip(ctx.bench.queries, hits)), corpus_seconds, seconds)


def _dense(ctx: Context) -> SystemResult:
    settings = {"fingerprint": ctx.model.fingerprint, "mode": ctx.model.config.mode}
    return ctx.dense(ctx.model, lambda texts: ctx.model.embed_queries(texts, think=False).vectors, settings)


def _o1(ctx: Context) -> SystemResult:
    model, with_query = ctx.model, ctx.include_query_vector
    thoughts: list[list[str]] = []

    def vectors_of(texts: list[str]) -> np.ndarray:
        embedded = model.embed_queries(texts, include_query_vector=with_query, **ctx.thinking)
        thoughts.extend(embedded.thoughts)
        return embedded.vectors

    settings = {"fingerprint": model.fingerprint, "mode": model.config.mode, "thinker": repr(model.thinker)}
    result = ctx.dense(model, vectors_of, settings)
    settings.update(asdict(model.thinking_config(**ctx.thinking)))
    settings["include_query_vector"] = model.config.include_query_vector if with_query is None else with_query
    settings["example_thoughts"] = dict(zip(list(ctx.bench.queries)[:3], thoughts[:3]))
    return result


def _hyde(ctx: Context) -> SystemResult:
    generator = ctx.hyde_generator
    if generator is None:
        raise ValueError("hyde needs a generator model (hyde_generator)")
    settings = {
        "generator": generator.config.base,
        "encoder": generator.config.encoder,
        **asdict(generator.thinking_config(**ctx.thinking)),
    }
    return ctx.dense(generator, lambda texts: hyde_vectors(generator, texts, **ctx.thinking), settings)


def _fused(dense: str, lexical: str):
    """RRF (k = 60) of two systems already run."""

    def run(ctx: Context) -> SystemResult:
        a, b = ctx.results[dense], ctx.results[lexical]
        return SystemResult(
            reciprocal_rank_fusion([a.run, b.run], depth=ctx.depth),
            a.corpus_seconds + b.corpus_seconds,
            a.query_seconds + b.query_seconds,
            {"fusion": f"RRF k=60 of {dense} and {lexical}"},
        )

    return run


def _bm25_thoughts(ctx: Context) -> SystemResult:
    """BM25 over the query and the thoughts the o1 system wrote (Query2doc style; the same thoughts, one generation)."""
    from o1_retriever.bm25 import BM25
    from o1_retriever.lexical import expanded_query

    thoughts = ctx.model.think(ctx.texts, **_as_think_options(ctx.thinking))  # cached by the o1 run
    start = time.perf_counter()
    index = BM25([document_text(d.text, d.title) for d in ctx.bench.corpus], [d.id for d in ctx.bench.corpus])
    corpus_seconds = time.perf_counter() - start
    start = time.perf_counter()
    hits = index.search([expanded_query(q, t) for q, t in zip(ctx.texts, thoughts)], ctx.depth)
    seconds = (time.perf_counter() - start) / len(ctx.texts)
    return SystemResult(dict(zip(ctx.bench.queries, hits)), corpus_seconds, seconds, {"lexical": "query + thoughts"})


def _as_think_options(thinking: dict) -> dict:
    renamed = {"n_thoughts": "n"}
    return {renamed.get(k, k): v for k, v in thinking.items()}


@dataclass(frozen=True)
class System:
    run: Callable[[Context], SystemResult]
    needs: tuple[str, ...] = ()  # systems whose results it reads
    help: str = ""


#: every system ``evaluate`` knows, in the order they run and are reported; the CLI reads this registry
SYSTEMS: dict[str, System] = {
    "bm25": System(_bm25, help="BM25 (bm25s, stemmed, stop words)"),
    "dense": System(_dense, help="the model's query vector without thinking"),
    "o1": System(_o1, help="thinking: the mean of query + thought vectors"),
    "hyde": System(_hyde, help="HyDE: a generator writes passages, their vectors are averaged with the query's"),
    "hybrid": System(_fused("o1", "bm25"), ("o1", "bm25"), help="reciprocal-rank fusion of o1 and bm25"),
    "dense-hybrid": System(_fused("dense", "bm25"), ("dense", "bm25"), help="RRF of dense and bm25: no thinking"),
    "bm25-thoughts": System(_bm25_thoughts, ("o1",), help="BM25 over the query and o1's thoughts"),
    "o1-hybrid": System(
        _fused("o1", "bm25-thoughts"),
        ("o1", "bm25-thoughts"),
        help="RRF of o1 and bm25-thoughts: thoughts on both sides",
    ),
}


def run_systems(
    bench: Benchmark,
    model: ThinkThenEmbed,
    systems: tuple[str, ...],
    thinking: dict,
    hyde_generator: ThinkThenEmbed | None = None,
    include_query_vector: bool | None = None,
    depth: int = 1000,
    cache_corpus: bool = True,
) -> dict[str, SystemResult]:
    """Run ``systems`` on ``bench`` (and whatever they build on). ``thinking``: ThinkingConfig overrides
    (n_thoughts, temperature, ...) for o1 and hyde."""
    unknown = set(systems) - set(SYSTEMS)
    if unknown:
        raise ValueError(f"unknown systems {sorted(unknown)}; choose from {', '.join(SYSTEMS)}")
    ctx = Context(bench, model, thinking, hyde_generator, include_query_vector, depth, cache_corpus)
    wanted = set(systems) | {need for name in systems for need in SYSTEMS[name].needs}
    for name, system in SYSTEMS.items():
        if name in wanted:
            ctx.results[name] = system.run(ctx)
    return {name: ctx.results[name] for name in systems}
