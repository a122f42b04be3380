"""Documents longer than the encoder reads: the first ``max_document_tokens`` (today) against the whole document in
overlapping word windows, pooled into one vector (``mean``) or scored by its best window (``max``, MaxP), and the
first window read at a longer limit (``long``); each searched exactly and fused with BM25 as the product fuses.
Per-query nDCG@10 against today's ``first`` with paired p-values.

python -m bench.long_documents --data ../shared/data/scifact --bm25 runs/dev-memory-scifact/runs/bm25.trec \
    --model data/dev-default --name long-documents-dev-scifact
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from pathlib import Path

import numpy as np
import torch

from bench.common import write
from bench.compare import against_baselines, ndcg_per_query, read_trec
from o1_retriever import ThinkThenEmbed
from o1_retriever.data import word_windows
from o1_retriever.evaluation.benchmark import corpus_hash, corpus_vectors, dense_run, load_benchmark
from o1_retriever.evaluation.systems import fused_run
from o1_retriever.retrieval.fusion import Fusion
from o1_retriever.model.pooling import l2_normalize
from o1_retriever.model.weights import home_dir


def window_vectors(model: ThinkThenEmbed, corpus, words: int, overlap: int) -> tuple[np.ndarray, np.ndarray]:
    """Unit vectors of every window of every document, and each window's document index (cached on disk)."""
    texts, titles, owner = [], [], []
    for i, doc in enumerate(corpus):
        for window in word_windows(doc.text, words, overlap):
            texts.append(window)
            titles.append(doc.title)
            owner.append(i)
    path = home_dir() / "window-vectors" / f"{model.document_fingerprint}-{corpus_hash(corpus)}-{words}-{overlap}.npy"
    if path.exists():
        vectors = np.load(path)
    else:
        begun = time.perf_counter()
        vectors = model.embed_documents(texts, titles=titles)
        print(f"{len(texts)} windows of {len(corpus)} documents embedded in {time.perf_counter() - begun:.0f} s")
        path.parent.mkdir(parents=True, exist_ok=True)
        np.save(path, vectors)
    return vectors, np.asarray(owner)


def max_run(query_ids, queries: np.ndarray, doc_ids, windows: np.ndarray, owner: np.ndarray, depth: int = 1000):
    """MaxP: a document scores its best window's inner product with the query."""
    best = np.full((len(query_ids), len(doc_ids)), -np.inf, dtype=np.float32)
    scores = queries @ windows.T
    for i in range(len(query_ids)):
        np.maximum.at(best[i], owner, scores[i])
    depth = min(depth, len(doc_ids))
    top = np.argpartition(-best, depth - 1, axis=1)[:, :depth]
    return {q: {doc_ids[j]: float(best[i, j]) for j in top[i]} for i, q in enumerate(query_ids)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="BEIR folder")
    parser.add_argument("--bm25", required=True, type=Path, help="a bm25.trec of the same queries (evaluate --out)")
    parser.add_argument("--model", default="default")
    parser.add_argument("--split", default="train")
    parser.add_argument("--max-queries", type=int, default=150)
    parser.add_argument("--words", type=int, default=110, help="words a window holds")
    parser.add_argument("--overlap", type=int, default=30, help="words a window shares with the one before")
    parser.add_argument(
        "--long-tokens", type=int, default=512, help="the document limit of the 'long' variant (0: leave it out)"
    )
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--name", required=True, help="bench/results/NAME.json")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    bench = load_benchmark(args.data, args.split, max_queries=args.max_queries)
    model = ThinkThenEmbed.from_pretrained(args.model, cache=False)
    doc_ids = [d.id for d in bench.corpus]
    query_ids = list(bench.queries)
    plain = model.embed_queries([bench.queries[q] for q in query_ids], encoding="plain").vectors
    first, _ = corpus_vectors(model, bench.corpus)
    windows, owner = window_vectors(model, bench.corpus, args.words, args.overlap)
    pooled = np.zeros_like(first)
    np.add.at(pooled, owner, windows)
    runs = {
        "first": dense_run(query_ids, plain, doc_ids, first),
        "mean": dense_run(query_ids, plain, doc_ids, l2_normalize(pooled)),
        "max": max_run(query_ids, plain, doc_ids, windows, owner),
    }
    if args.long_tokens:
        model.embedder.max_document_tokens = args.long_tokens
        model.__dict__.pop("document_fingerprint", None)  # it keys the corpus-vector cache
        runs[f"long{args.long_tokens}"] = dense_run(query_ids, plain, doc_ids, corpus_vectors(model, bench.corpus)[0])
    bm25 = read_trec(args.bm25)

    scores = {}
    for name, run in runs.items():
        scores[name] = ndcg_per_query(bench.qrels, run)
        scores[f"{name}-hybrid"] = ndcg_per_query(bench.qrels, fused_run(run, bm25, len(doc_ids), Fusion()))
    rows = against_baselines(scores, lambda name: "first-hybrid" if name.endswith("-hybrid") else "first")
    command = "python -m bench.long_documents " + shlex.join(sys.argv[1:])
    write(
        args.name,
        {
            "command": command,
            "data": args.data,
            "windows": {"words": args.words, "overlap": args.overlap, "count": len(owner)},
            "systems": rows,
        },
    )


if __name__ == "__main__":
    main()
