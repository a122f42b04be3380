"""Research systems, registered beside the product's (``o1_retriever.evaluation.systems.SYSTEMS``) for the bench
scripts and ``python -m bench.evaluate``: HyDE, BM25 over the query and its thoughts (Query2doc style), thoughts on
both sides, and equal RRF. Each was measured and is not part of the product (docs/results.md)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import asdict

import numpy as np

from o1_retriever import ThinkThenEmbed
from o1_retriever.evaluation.systems import SYSTEMS, Context, System, SystemResult, _fused, register
from o1_retriever.model import embedders
from o1_retriever.model.config import think_arguments
from o1_retriever.model.pooling import mean_of_unit_vectors
from o1_retriever.retrieval.fusion import Fusion

#: how often the query is repeated before its thoughts in an expanded lexical query (Query2doc repeats it so the
#: query's own terms keep their weight against long thoughts); 5 of 1 / 3 / 5 on training queries
#: (bench/results/eval/lexical-repeats-dev-*.json)
QUERY_REPEATS = 5


def expanded_query(query: str, thoughts: Sequence[str], repeats: int = QUERY_REPEATS) -> str:
    """``query`` repeated ``repeats`` times, then the thoughts: the BM25 query of thoughts on the lexical side."""
    return " ".join([query] * repeats + [t for t in thoughts if t.strip()])


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


def hyde(generator: str = "smollm2-135m-instruct", encoder: str = "all-minilm-l6-v2"):
    """The HyDE system: ``generator`` writes passages (the evaluated model itself when it is that untrained pair)."""
    generator, encoder = str(generator), str(encoder)

    def run(ctx: Context) -> SystemResult:
        config = ctx.model.config
        same = config.mode == "split" and not config.thinker_trained and (config.base, config.encoder) == (
            generator,
            encoder,
        )
        writer = ctx.model if same else ThinkThenEmbed.from_pretrained(generator, encoder=encoder)
        settings = {"generator": writer.config.base, "encoder": writer.config.encoder}
        settings.update(asdict(writer.thinking_config(**ctx.thinking)))
        return ctx.dense(writer, lambda texts: hyde_vectors(writer, texts, **ctx.thinking), settings)

    return run


def bm25_thoughts(repeats: int = QUERY_REPEATS):
    """BM25 over the query and the thoughts the o1 system wrote (the same thoughts, one generation)."""

    def run(ctx: Context) -> SystemResult:
        thoughts = ctx.model.think(ctx.texts, **think_arguments(ctx.thinking))  # cached by the o1 run
        index, corpus_seconds = ctx.bm25()
        start = time.perf_counter()
        texts = [expanded_query(q, t, repeats) for q, t in zip(ctx.texts, thoughts)]
        hits = index.search(texts, ctx.depth)
        seconds = (time.perf_counter() - start) / len(ctx.texts)
        settings = {"lexical": f"query x{repeats} + thoughts"}
        return SystemResult(dict(zip(ctx.bench.queries, hits)), corpus_seconds, seconds, settings)

    return run


def register_research_systems(
    lexical_repeats: int = QUERY_REPEATS,
    hyde_generator: str = "smollm2-135m-instruct",
    hyde_encoder: str = "all-minilm-l6-v2",
) -> None:
    """Add the research systems to ``SYSTEMS`` (replacing earlier registrations, so settings can change)."""
    for name in ("hyde", "hybrid-rrf", "dense-hybrid-rrf", "bm25-thoughts", "o1-hybrid"):
        SYSTEMS.pop(name, None)
    research = {
        "hyde": System(
            hyde(hyde_generator, hyde_encoder),
            help="HyDE: a generator writes passages, their vectors are averaged with the query's",
        ),
        "hybrid-rrf": System(
            _fused("o1", "bm25", Fusion.rrf()), ("o1", "bm25"), help="equal RRF (k=60) of o1 and bm25"
        ),
        "dense-hybrid-rrf": System(
            _fused("dense", "bm25", Fusion.rrf()), ("dense", "bm25"), help="equal RRF (k=60) of dense and bm25"
        ),
        "bm25-thoughts": System(bm25_thoughts(lexical_repeats), ("o1",), help="BM25 over the query and o1's thoughts"),
        "o1-hybrid": System(
            _fused("o1", "bm25-thoughts"),
            ("o1", "bm25-thoughts"),
            help="the fusion of o1 and bm25-thoughts: thoughts on both sides",
        ),
    }
    for name, system in research.items():
        register(name, system)
