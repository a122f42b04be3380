"""Evaluation on BEIR-format folders: the systems of the ``SYSTEMS`` registry on the same data in one run.

Dense systems search exactly (all document vectors, inner product of unit vectors), so the numbers measure the
model, not an approximate index; the ``store-*`` systems go through the product path instead (Chroma's approximate
index, the Index's lexical side and fusion). Query thoughts come from the thought cache.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import numpy as np

from o1_retriever import embedders
from o1_retriever.benchmark import Benchmark, Run, corpus_vectors, dense_run
from o1_retriever.config import think_arguments
from o1_retriever.fusion import Fusion, fuse
from o1_retriever.index import FUSION_CANDIDATES, first_round_unsure
from o1_retriever.lexical import QUERY_REPEATS, expanded_query
from o1_retriever.metrics import ranking
from o1_retriever.model import Think, ThinkThenEmbed
from o1_retriever.pooling import mean_of_unit_vectors
from o1_retriever.prompts import document_text


@dataclass
class SystemResult:
    run: Run
    corpus_seconds: float  # time to index the corpus (when it was computed, if cached)
    query_seconds: float  # per query, in this run
    settings: dict = field(default_factory=dict)


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
    lexical_repeats: int = QUERY_REPEATS  # how often bm25-thoughts repeats the query before the thoughts
    fusion: Fusion = field(default_factory=Fusion)  # how the hybrid systems fuse (the *-rrf ones excepted)
    results: dict[str, SystemResult] = field(default_factory=dict)
    _built: dict = field(default_factory=dict)  # corpus indexes shared by systems

    @property
    def texts(self) -> list[str]:
        return list(self.bench.queries.values())

    def bm25(self) -> tuple[object, float]:
        """The BM25 index of the corpus (built once, for every lexical system) and the seconds building it took."""
        if "bm25" not in self._built:
            from o1_retriever.bm25 import BM25

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
    return ctx.dense(ctx.model, lambda texts: ctx.model.embed_queries(texts, think=False).vectors, settings)


def _distilled(ctx: Context) -> SystemResult:
    settings = {"fingerprint": ctx.model.fingerprint, "query_encoder": "distilled (query_adapter/)"}
    return ctx.dense(ctx.model, lambda texts: ctx.model.embed_queries(texts, think="distilled").vectors, settings)


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


def _gated(ctx: Context) -> SystemResult:
    """``think="gated"`` on the exact harness: each query's o1 ranking when its plain vector's best cosine is below
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


def _bm25_thoughts(ctx: Context) -> SystemResult:
    """BM25 over the query and the thoughts the o1 system wrote (Query2doc style; the same thoughts, one generation)."""
    thoughts = ctx.model.think(ctx.texts, **think_arguments(ctx.thinking))  # cached by the o1 run
    index, corpus_seconds = ctx.bm25()
    start = time.perf_counter()
    texts = [expanded_query(q, t, ctx.lexical_repeats) for q, t in zip(ctx.texts, thoughts)]
    hits = index.search(texts, ctx.depth)
    seconds = (time.perf_counter() - start) / len(ctx.texts)
    settings = {"lexical": f"query x{ctx.lexical_repeats} + thoughts"}
    return SystemResult(dict(zip(ctx.bench.queries, hits)), corpus_seconds, seconds, settings)


def _through_store(mode: str, think: Think = True, k: int = 100):
    """The product path: the corpus vectors in a real Chroma (its approximate HNSW index), queries through
    ``Index.search`` (its thinking, its lexical side, its fusion), the ``k`` hits a retriever returns."""

    def run(ctx: Context) -> SystemResult:
        import tempfile

        from o1_retriever.index import Index, row_metadata
        from o1_retriever.stores.chroma import ChromaVectorStore

        vectors, corpus_seconds = corpus_vectors(ctx.model, ctx.bench.corpus, cache=ctx.cache_corpus)
        options = dict(ctx.thinking)
        if ctx.include_query_vector is not None:
            options["include_query_vector"] = ctx.include_query_vector
        if think not in (True, "gated"):
            options = {}
        with tempfile.TemporaryDirectory() as folder:
            store = ChromaVectorStore(folder)
            index = Index(ctx.model, store)
            docs = ctx.bench.corpus
            for start in range(0, len(docs), 1000):  # the embedder's vectors, as Index.add_documents stores them
                rows = docs[start : start + 1000]
                metadatas = [row_metadata(d) for d in rows]
                store.upsert([d.id for d in rows], vectors[start : start + 1000], [d.text for d in rows], metadatas)
            began = time.perf_counter()
            hits = index.search(ctx.texts, min(k, len(docs)), mode=mode, think=think, fusion=ctx.fusion, **options)
            seconds = (time.perf_counter() - began) / len(ctx.texts)
        found = {q: {h.id: h.score for h in row} for q, row in zip(ctx.bench.queries, hits)}
        return SystemResult(
            found,
            corpus_seconds,
            seconds,
            {"path": "Chroma (HNSW) + Index.search", "mode": mode, "think": think, "k": k, "fusion": str(ctx.fusion)},
        )

    return run


@dataclass(frozen=True)
class System:
    run: Callable[[Context], SystemResult]
    needs: tuple[str, ...] = ()  # systems whose results it reads
    help: str = ""
    distilled: bool = False  # needs a model with a distilled query encoder
    gated: bool = False  # needs a model with a thinking gate (``think_below``)


#: every system ``evaluate`` knows, in the order they run and are reported; the CLI reads this registry
SYSTEMS: dict[str, System] = {
    "bm25": System(_bm25, help="BM25 (bm25s, stemmed, stop words)"),
    "dense": System(_dense, help="the model's query vector without thinking"),
    "o1": System(_o1, help="thinking: the mean of query + thought vectors"),
    "distilled": System(_distilled, help="the distilled query encoder (query_adapter/), no thinking", distilled=True),
    "hyde": System(_hyde, help="HyDE: a generator writes passages, their vectors are averaged with the query's"),
    "hybrid": System(_fused("o1", "bm25"), ("o1", "bm25"), help="the fusion (--fusion) of o1 and bm25"),
    "dense-hybrid": System(
        _fused("dense", "bm25"), ("dense", "bm25"), help="the fusion of dense and bm25: no thinking"
    ),
    "hybrid-rrf": System(_fused("o1", "bm25", Fusion.rrf()), ("o1", "bm25"), help="equal RRF (k=60) of o1 and bm25"),
    "dense-hybrid-rrf": System(
        _fused("dense", "bm25", Fusion.rrf()), ("dense", "bm25"), help="equal RRF (k=60) of dense and bm25"
    ),
    "bm25-thoughts": System(_bm25_thoughts, ("o1",), help="BM25 over the query and o1's thoughts"),
    "store-dense": System(_through_store("dense"), help="o1 through the product path: Chroma's HNSW + Index.search"),
    "store-hybrid": System(_through_store("hybrid"), help="hybrid with thinking through Chroma + Index.search"),
    "store-dense-hybrid": System(
        _through_store("hybrid", think=False), help="hybrid without thinking through Chroma + Index.search"
    ),
    "distilled-hybrid": System(
        _fused("distilled", "bm25"), ("distilled", "bm25"), help="the fusion of distilled and bm25", distilled=True
    ),
    "store-distilled-hybrid": System(
        _through_store("hybrid", think="distilled"),
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
        _through_store("hybrid", think="gated"),
        help="hybrid with think='gated' through Chroma + Index.search",
        gated=True,
    ),
    "o1-hybrid": System(
        _fused("o1", "bm25-thoughts"),
        ("o1", "bm25-thoughts"),
        help="the fusion of o1 and bm25-thoughts: thoughts on both sides",
    ),
}


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
    hyde_generator: ThinkThenEmbed | None = None,
    include_query_vector: bool | None = None,
    depth: int = 1000,
    cache_corpus: bool = True,
    lexical_repeats: int = QUERY_REPEATS,
    fusion: Fusion | str = Fusion(),
) -> dict[str, SystemResult]:
    """Run ``systems`` on ``bench`` (and whatever they build on). ``thinking``: ThinkingConfig overrides
    (n_thoughts, temperature, ...) for o1 and hyde. ``fusion``: how the hybrid systems fuse (a ``Fusion`` or a
    preset name; the ``*-rrf`` systems are always equal RRF)."""
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
        hyde_generator=hyde_generator,
        include_query_vector=include_query_vector,
        depth=depth,
        cache_corpus=cache_corpus,
        lexical_repeats=lexical_repeats,
        fusion=Fusion.of(fusion),
    )
    wanted = set(systems) | {need for name in systems for need in SYSTEMS[name].needs}
    for name, system in SYSTEMS.items():
        if name in wanted:
            ctx.results[name] = system.run(ctx)
    return {name: ctx.results[name] for name in systems}
