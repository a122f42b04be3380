"""Evaluation on BEIR-format folders: bm25, dense, o1, hyde and hybrid systems on the same data in one run.

Dense systems search exactly (all document vectors, inner product of unit vectors), so the numbers measure the
model, not an approximate index. Corpus vectors are cached on disk, keyed by the model's document fingerprint
and a hash of the corpus; query thoughts come from the thought cache.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from o1_retriever.data import DataError, Document, load_corpus, load_qrels, load_queries
from o1_retriever.metrics import mean_scores, paired_randomization_test, per_query_scores, reciprocal_rank_fusion
from o1_retriever.model import ThinkThenEmbed
from o1_retriever.pooling import mean_of_unit_vectors
from o1_retriever.prompts import document_text
from o1_retriever.weights import home_dir

logger = logging.getLogger(__name__)

SYSTEMS = ("bm25", "dense", "o1", "hyde", "hybrid")
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
    folder: str | Path, split: str = "test", max_queries: int | None = None, max_docs: int | None = None
) -> Benchmark:
    """A BEIR folder's corpus, queries and every graded judgement of ``split``; judgements naming unknown queries
    or documents are dropped with a warning. ``max_docs`` keeps every judged document of the kept queries plus the
    first documents of the corpus up to that number."""
    folder = Path(folder)
    for required in ("corpus.jsonl", "queries.jsonl"):
        if not (folder / required).is_file():
            raise DataError(f"{folder}: missing {required} (a BEIR folder has corpus.jsonl, queries.jsonl, qrels/)")
    corpus, queries, qrels = load_corpus(folder), load_queries(folder), load_qrels(folder, split)
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
    """HyDE: the generator writes passages; its encoder averages the query vector and the passage vectors."""
    entries = generator.think_with_vectors(queries, generator.thinking_config(**thinking))
    passages = [generator.encoder.embed(e.thoughts) if any(t.strip() for t in e.thoughts) else None for e in entries]
    return np.stack(
        [
            mean_of_unit_vectors(np.vstack([e.query_vector[None], p]) if p is not None else e.query_vector[None])
            for e, p in zip(entries, passages)
        ]
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
) -> dict[str, SystemResult]:
    """Run ``systems`` on ``bench``. ``thinking``: ThinkingConfig overrides (n_thoughts, temperature, ...) for o1
    and hyde."""
    unknown = set(systems) - set(SYSTEMS)
    if unknown:
        raise ValueError(f"unknown systems {sorted(unknown)}; choose from {', '.join(SYSTEMS)}")
    query_ids = list(bench.queries)
    texts = [bench.queries[q] for q in query_ids]
    doc_ids = [d.id for d in bench.corpus]
    results: dict[str, SystemResult] = {}
    needs = set(systems) | ({"o1", "bm25"} if "hybrid" in systems else set())

    if "bm25" in needs:
        from o1_retriever.bm25 import BM25

        start = time.perf_counter()
        index = BM25([document_text(d.text, d.title) for d in bench.corpus], doc_ids)
        corpus_seconds = time.perf_counter() - start
        start = time.perf_counter()
        hits = index.search(texts, depth)
        results["bm25"] = SystemResult(
            dict(zip(query_ids, hits)), corpus_seconds, (time.perf_counter() - start) / len(texts)
        )
    if needs & {"dense", "o1"}:
        doc_vectors, corpus_seconds = corpus_vectors(model, bench.corpus, cache=cache_corpus)
        for name in ("dense", "o1"):
            if name not in needs:
                continue
            start = time.perf_counter()
            if name == "o1":
                embedded = model.embed_queries(texts, include_query_vector=include_query_vector, **thinking)
            else:
                embedded = model.embed_queries(texts, think=False)
            seconds = (time.perf_counter() - start) / len(texts)
            settings = {"fingerprint": model.fingerprint, "mode": model.config.mode}
            if name == "o1":
                settings.update(asdict(model.thinking_config(**thinking)))
                settings["include_query_vector"] = (
                    model.config.include_query_vector if include_query_vector is None else include_query_vector
                )
                settings["example_thoughts"] = {query_ids[i]: embedded.thoughts[i] for i in range(min(3, len(texts)))}
            results[name] = SystemResult(
                dense_run(query_ids, embedded.vectors, doc_ids, doc_vectors, depth), corpus_seconds, seconds, settings
            )
    if "hyde" in needs:
        if hyde_generator is None or hyde_generator.encoder is None:
            raise ValueError("hyde needs a generator with a separate encoder (split mode)")
        doc_vectors, corpus_seconds = corpus_vectors(hyde_generator, bench.corpus)
        start = time.perf_counter()
        vectors = hyde_vectors(hyde_generator, texts, **thinking)
        results["hyde"] = SystemResult(
            dense_run(query_ids, vectors, doc_ids, doc_vectors, depth),
            corpus_seconds,
            (time.perf_counter() - start) / len(texts),
            {
                "generator": hyde_generator.config.base,
                "encoder": hyde_generator.config.encoder,
                **asdict(hyde_generator.thinking_config(**thinking)),
            },
        )
    if "hybrid" in needs:
        o1, bm25 = results["o1"], results["bm25"]
        results["hybrid"] = SystemResult(
            reciprocal_rank_fusion([o1.run, bm25.run], depth=depth),
            o1.corpus_seconds + bm25.corpus_seconds,
            o1.query_seconds + bm25.query_seconds,
            {"fusion": "RRF k=60 of o1 and bm25"},
        )
    return {name: results[name] for name in systems}


def summarise(bench: Benchmark, results: dict[str, SystemResult]) -> dict:
    """Means, per-query values and paired randomisation p-values (nDCG@10) against bm25 and dense."""
    per_query = {name: per_query_scores(bench.qrels, r.run) for name, r in results.items()}
    summary: dict = {
        "dataset": bench.name,
        "queries": len(bench.qrels),
        "documents": len(bench.corpus),
        "notes": bench.notes,
        "systems": {},
    }
    for name, result in results.items():
        entry = {
            "metrics": mean_scores(per_query[name]),
            "corpus_seconds": result.corpus_seconds,
            "query_ms": result.query_seconds * 1000,
            "settings": result.settings,
            "p_value_ndcg10": {},
        }
        for baseline in ("bm25", "dense"):
            if baseline in per_query and baseline != name:
                a = [per_query[name]["nDCG@10"][q] for q in bench.qrels]
                b = [per_query[baseline]["nDCG@10"][q] for q in bench.qrels]
                entry["p_value_ndcg10"][baseline] = paired_randomization_test(a, b)
        summary["systems"][name] = entry
    summary["per_query"] = per_query
    return summary


def markdown_table(summary: dict) -> str:
    metrics = ["nDCG@10", "MRR@10", "Recall@100", "Recall@1000"]
    lines = [
        f"### {summary['dataset']} ({summary['queries']} queries, {summary['documents']} documents)",
        "",
        "| system | " + " | ".join(metrics) + " | p vs bm25 | p vs dense | corpus s | ms/query |",
        "|---|" + "---:|" * (len(metrics) + 4),
    ]
    for name, entry in summary["systems"].items():
        p = entry["p_value_ndcg10"]
        lines.append(
            f"| {name} | "
            + " | ".join(f"{entry['metrics'][m]:.3f}" for m in metrics)
            + f" | {p.get('bm25', float('nan')):.3g} | {p.get('dense', float('nan')):.3g}"
            + f" | {entry['corpus_seconds']:.0f} | {entry['query_ms']:.0f} |"
        )
    lines += ["", "p: paired randomisation test on per-query nDCG@10 (10,000 trials)."]
    lines += [f"Note: {n}" for n in summary["notes"]]
    return "\n".join(lines) + "\n"


def write_outputs(out: str | Path, summary: dict, results: dict[str, SystemResult]) -> Path:
    out = Path(out)
    (out / "runs").mkdir(parents=True, exist_ok=True)
    for name, result in results.items():
        with (out / "runs" / f"{name}.trec").open("w") as handle:
            for query, docs in result.run.items():
                ranked = sorted(docs.items(), key=lambda item: (-item[1], item[0]))
                for rank, (doc, score) in enumerate(ranked, start=1):
                    handle.write(f"{query} Q0 {doc} {rank} {score:.6f} {name}\n")
    (out / "results.json").write_text(json.dumps(summary, indent=2) + "\n")
    (out / "results.md").write_text(markdown_table(summary))
    try:
        _bar_chart(out / "results.png", summary)
    except ImportError:
        logger.info("matplotlib not installed: no chart (pip install 'o1-retriever[plot]')")
    return out


def _bar_chart(path: Path, summary: dict) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(summary["systems"])
    values = [summary["systems"][n]["metrics"]["nDCG@10"] for n in names]
    fig, ax = plt.subplots(figsize=(6, 3))
    ax.bar(names, values, color="#4c72b0")
    ax.set_ylabel("nDCG@10")
    ax.set_title(summary["dataset"])
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
