"""Evaluation on BEIR-format folders: the systems of a registry (``SYSTEMS``: the ones a user compares; ``bench/``
registers research systems beside them) on the same data in one run.

Dense systems search exactly (all document vectors, inner product of unit vectors), so the numbers measure the
model, not an approximate index; the ``store-*`` systems go through the product path instead (Chroma's approximate
index, the Index's lexical side and fusion). Query thoughts come from the thought cache.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import numpy as np

from o1_retriever.evaluation.benchmark import Benchmark, Run, corpus_vectors, dense_run
from o1_retriever.model.prompts import document_text
from o1_retriever.model.query_encoding import QueryEncoding
from o1_retriever.model.think_then_embed import ThinkThenEmbed
from o1_retriever.retrieval.fusion import Fusion, fuse, ranking
from o1_retriever.retrieval.index import FUSION_CANDIDATES
from o1_retriever.retrieval.options import SearchOptions, first_round_unsure


@dataclass
class SystemResult:
    run: Run
    corpus_seconds: float  # time to index the corpus (when it was computed, if cached)
    query_seconds: float  # per query, in this run
    settings: dict = field(default_factory=dict)


@dataclass
class Context:
    """What a system runs on, and the results of the systems run before it."""

    bench: Benchmark
    model: ThinkThenEmbed
    thinking: dict
    include_query_vector: bool | None = None
    depth: int = 1000
    cache_corpus: bool = True
    fusion: Fusion = field(default_factory=Fusion)  # how the hybrid systems fuse (unless a system fixes its own)
    results: dict[str, SystemResult] = field(default_factory=dict)
    _built: dict = field(default_factory=dict)  # corpus indexes shared by systems

    @property
    def texts(self) -> list[str]:
        return list(self.bench.queries.values())

    def bm25(self) -> tuple[object, float]:
        """The BM25 index of the corpus (built once, for every lexical system) and the seconds building it took."""
        if "bm25" not in self._built:
            from o1_retriever.retrieval.lexical import BM25

            start = time.perf_counter()
            corpus = self.bench.corpus
            index = BM25([document_text(d.text, d.title) for d in corpus], [d.id for d in corpus])
            self._built["bm25"] = (index, time.perf_counter() - start)
        return self._built["bm25"]

    def dense(self, model: ThinkThenEmbed, vectors_of, settings: dict) -> SystemResult:
        """Exact search with ``vectors_of(texts)`` as query vectors over ``model``'s document vectors."""
        doc_vectors, corpus_seconds = corpus_vectors(model, self.bench.corpus, cache=self.cache_corpus)
        start = time.perf_counter()
        vectors = vectors_of(self.texts)
        seconds = (time.perf_counter() - start) / len(self.texts)
        run = dense_run(list(self.bench.queries), vectors, [d.id for d in self.bench.corpus], doc_vectors, self.depth)
        return SystemResult(run, corpus_seconds, seconds, settings)


def _bm25(ctx: Context) -> SystemResult:
    index, corpus_seconds = ctx.bm25()
    start = time.perf_counter()
    hits = index.search(ctx.texts, ctx.depth)
    seconds = (time.perf_counter() - start) / len(ctx.texts)
    return SystemResult(dict(zip(ctx.bench.queries, hits)), corpus_seconds, seconds)


def _dense(ctx: Context) -> SystemResult:
    settings = {"fingerprint": ctx.model.fingerprint, "mode": ctx.model.config.mode}
    return ctx.dense(ctx.model, lambda texts: ctx.model.embed_queries(texts, QueryEncoding.PLAIN).vectors, settings)


def _distilled(ctx: Context) -> SystemResult:
    settings = {"fingerprint": ctx.model.fingerprint, "query_encoder": "distilled (query_adapter/)"}
    return ctx.dense(ctx.model, lambda texts: ctx.model.embed_queries(texts, QueryEncoding.DISTILLED).vectors, settings)


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


def _gated(ctx: Context) -> SystemResult:
    """``encoding="gated"`` on the exact harness: each query's o1 ranking when its plain vector's best cosine is below
    the checkpoint's ``think_below``, else its dense ranking; the query time counts thinking for those queries only."""
    threshold = ctx.model.config.think_below  # run_systems refuses a model without one
    dense, o1 = ctx.results["dense"], ctx.results["o1"]
    unsure = {q for q, docs in dense.run.items() if first_round_unsure(max(docs.values()) if docs else None, threshold)}
    run = {q: o1.run[q] if q in unsure else docs for q, docs in dense.run.items()}
    share = len(unsure) / max(len(dense.run), 1)
    seconds = dense.query_seconds + share * max(0.0, o1.query_seconds - dense.query_seconds)
    settings = {"think_below": threshold, "share_thinking": share, **o1.settings}
    return SystemResult(run, dense.corpus_seconds, seconds, settings)


def fused_run(dense: Run, lexical: Run, n_docs: int, fusion: Fusion, candidates: int = FUSION_CANDIDATES) -> Run:
    """Each query fused as ``Index.search`` fuses it: the top ``candidates`` of each side, with the exact lexical
    scores of the dense candidates taken from the lexical run (0 beyond its depth)."""
    out = {}
    for query in dense.keys() | lexical.keys():
        scores = lexical.get(query, {})
        out[query] = fuse(
            ranking(dense.get(query, {}), candidates), ranking(scores, candidates), n_docs, fusion, scores
        )
    return out


def _fused(dense: str, lexical: str, fixed: Fusion | None = None):
    """The fusion of two systems already run, as the product fuses them: by the run's fusion, or a ``fixed`` one."""

    def run(ctx: Context) -> SystemResult:
        a, b = ctx.results[dense], ctx.results[lexical]
        fusion = fixed or ctx.fusion
        return SystemResult(
            fused_run(a.run, b.run, len(ctx.bench.corpus), fusion),
            a.corpus_seconds + b.corpus_seconds,
            a.query_seconds + b.query_seconds,
            {"fusion": f"{fusion} of {dense} and {lexical}"},
        )

    return run


def _through_store(mode: str, encoding: QueryEncoding, k: int = 100):
    """The product path: the corpus vectors in a real Chroma (its approximate HNSW index), queries through
    ``Index.search`` (its query encoding, its lexical side, its fusion), the ``k`` hits a retriever returns."""

    def run(ctx: Context) -> SystemResult:
        import tempfile

        from o1_retriever.retrieval.hits import row_metadata
        from o1_retriever.retrieval.index import Index
        from o1_retriever.retrieval.stores.chroma import ChromaVectorStore

        vectors, corpus_seconds = corpus_vectors(ctx.model, ctx.bench.corpus, cache=ctx.cache_corpus)
        thinks = encoding in (QueryEncoding.THINK, QueryEncoding.GATED)
        options = SearchOptions(
            encoding,
            mode,
            ctx.fusion,
            thinking=ctx.thinking if thinks else {},
            include_query_vector=ctx.include_query_vector if thinks else None,
        )
        with tempfile.TemporaryDirectory() as folder:
            store = ChromaVectorStore(folder)
            index = Index(ctx.model, store)
            docs = ctx.bench.corpus
            for start in range(0, len(docs), 1000):  # the embedder's vectors, as Index.add_documents stores them
                rows = docs[start : start + 1000]
                metadatas = [row_metadata(d) for d in rows]
                store.upsert([d.id for d in rows], vectors[start : start + 1000], [d.text for d in rows], metadatas)
            began = time.perf_counter()
            hits = index.search(ctx.texts, min(k, len(docs)), options)
            seconds = (time.perf_counter() - began) / len(ctx.texts)
        found = {q: {h.id: h.score for h in row} for q, row in zip(ctx.bench.queries, hits)}
        settings = {"path": "Chroma (HNSW) + Index.search", "mode": mode, "encoding": str(encoding), "k": k}
        return SystemResult(found, corpus_seconds, seconds, {**settings, "fusion": str(ctx.fusion)})

    return run


@dataclass(frozen=True)
class System:
    run: Callable[[Context], SystemResult]
    needs: tuple[str, ...] = ()  # systems whose results it reads
    help: str = ""
    distilled: bool = False  # needs a model with a distilled query encoder
    gated: bool = False  # needs a model with a thinking gate (``think_below``)


PLAIN, THINK, DISTILLED, GATED = QueryEncoding.PLAIN, QueryEncoding.THINK, QueryEncoding.DISTILLED, QueryEncoding.GATED
#: the systems ``evaluate`` runs, in the order they run and are reported: each query encoding on the exact harness,
#: fused with BM25, and through the product path; ``register`` adds others (bench/systems.py: research systems)
SYSTEMS: dict[str, System] = {
    "bm25": System(_bm25, help="BM25 (bm25s, stemmed, stop words)"),
    "dense": System(_dense, help="the model's query vector without thinking"),
    "o1": System(_o1, help="thinking: the mean of query + thought vectors"),
    "distilled": System(_distilled, help="the distilled query encoder (query_adapter/), no thinking", distilled=True),
    "hybrid": System(_fused("o1", "bm25"), ("o1", "bm25"), help="the fusion (--fusion) of o1 and bm25"),
    "dense-hybrid": System(
        _fused("dense", "bm25"), ("dense", "bm25"), help="the fusion of dense and bm25: no thinking"
    ),
    "store-dense": System(_through_store("dense", THINK), help="o1 through the product path: Chroma + Index.search"),
    "store-hybrid": System(_through_store("hybrid", THINK), help="hybrid with thinking through Chroma + Index.search"),
    "store-dense-hybrid": System(
        _through_store("hybrid", PLAIN), help="hybrid without thinking through Chroma + Index.search"
    ),
    "distilled-hybrid": System(
        _fused("distilled", "bm25"), ("distilled", "bm25"), help="the fusion of distilled and bm25", distilled=True
    ),
    "store-distilled-hybrid": System(
        _through_store("hybrid", DISTILLED),
        help="hybrid with distilled queries through Chroma + Index.search",
        distilled=True,
    ),
    "gated": System(
        _gated,
        ("dense", "o1"),
        help="o1 for queries whose plain best cosine is below think_below, else dense",
        gated=True,
    ),
    "gated-hybrid": System(_fused("gated", "bm25"), ("gated", "bm25"), help="the fusion of gated and bm25", gated=True),
    "store-gated-hybrid": System(
        _through_store("hybrid", GATED), help="hybrid with encoding 'gated' through Chroma + Index.search", gated=True
    ),
}


def register(name: str, system: System, after: str | None = None) -> None:
    """Add ``system`` to ``SYSTEMS`` (at the end, or right after ``after``), so ``evaluate`` runs it by name."""
    if after is None:
        SYSTEMS[name] = system
        return
    items = list(SYSTEMS.items())
    position = [n for n, _ in items].index(after) + 1
    SYSTEMS.clear()
    SYSTEMS.update(items[:position] + [(name, system)] + items[position:])


def default_systems(model: ThinkThenEmbed) -> tuple[str, ...]:
    """Every system the model can run (the distilled ones only with a distilled query encoder, the gated ones only
    with a thinking gate)."""
    gated = model.config.think_below is not None
    return tuple(
        name
        for name, system in SYSTEMS.items()
        if (model.distilled or not system.distilled) and (gated or not system.gated)
    )


def run_systems(
    bench: Benchmark,
    model: ThinkThenEmbed,
    systems: tuple[str, ...],
    thinking: dict,
    include_query_vector: bool | None = None,
    depth: int = 1000,
    cache_corpus: bool = True,
    fusion: Fusion | str | None = None,
) -> dict[str, SystemResult]:
    """Run ``systems`` on ``bench`` (and whatever they build on). ``thinking``: ThinkingConfig overrides
    (n_thoughts, temperature, ...) for the thinking systems. ``fusion``: how the hybrid systems fuse (a ``Fusion`` or
    a preset name; None: the checkpoint's own, else the default), unless a system fixes its own."""
    unknown = set(systems) - set(SYSTEMS)
    if unknown:
        raise ValueError(f"unknown systems {sorted(unknown)}; choose from {', '.join(SYSTEMS)}")
    distilled = [name for name in systems if SYSTEMS[name].distilled]
    if distilled and not model.distilled:
        raise ValueError(
            f"{', '.join(distilled)} need a checkpoint with a distilled query encoder; this model has none "
            "(train one with `o1-retriever distill`)"
        )
    gated = [name for name in systems if SYSTEMS[name].gated]
    if gated and model.config.think_below is None:
        raise ValueError(
            f"{', '.join(gated)} need a checkpoint with a thinking gate (think_below in its o1_config.json); "
            "this model has none"
        )
    ctx = Context(
        bench,
        model,
        thinking,
        include_query_vector=include_query_vector,
        depth=depth,
        cache_corpus=cache_corpus,
        fusion=Fusion.of(fusion) if fusion is not None else Fusion.of_checkpoint(model.config.fusion),
    )
    wanted = set(systems) | {need for name in systems for need in SYSTEMS[name].needs}
    for name, system in SYSTEMS.items():
        if name in wanted:
            ctx.results[name] = system.run(ctx)
    return {name: ctx.results[name] for name in systems}
