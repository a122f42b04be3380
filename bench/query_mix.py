"""How much of a distilled query should be its plain vector: nDCG@10 of ``normalize(alpha * d + (1 - alpha) * q)``
(d the distilled query vector, q the plain one, both unit) for a grid of alpha, exact search, alone and fused with
BM25 as the product fuses; each against the plain query (alpha 0) with paired p-values. alpha 1 is today's
``encoding="distilled"``. A distilled encoder drifts out of its training domain; mixing the plain vector back is the
query-side counterpart of weight-space ensembling (WiSE-FT, Wortsman et al. 2022). Choose alpha on dev.

    python -m bench.query_mix --model default-distilled --data ../shared/data/scifact \
        --bm25 runs/dev-memory-scifact/runs/bm25.trec --name query-mix-dev-scifact
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

import numpy as np
import torch

from bench.common import write
from bench.compare import against_baselines, ndcg_per_query, read_trec
from o1_retriever import ThinkThenEmbed
from o1_retriever.evaluation.benchmark import corpus_vectors, dense_run, load_benchmark
from o1_retriever.evaluation.systems import fused_run
from o1_retriever.retrieval.fusion import Fusion
from o1_retriever.model.pooling import l2_normalize

ALPHAS = (0.0, 0.25, 0.5, 0.75, 1.0)


def mixed(plain: np.ndarray, distilled: np.ndarray, alpha: float) -> np.ndarray:
    """Unit rows of ``alpha * distilled + (1 - alpha) * plain`` (both unit rows)."""
    return l2_normalize(alpha * distilled + (1.0 - alpha) * plain)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="a checkpoint with a distilled query encoder")
    parser.add_argument("--data", required=True, help="BEIR folder")
    parser.add_argument("--bm25", required=True, type=Path, help="a bm25.trec of the same queries (evaluate --out)")
    parser.add_argument("--split", default="train")
    parser.add_argument("--max-queries", type=int, default=150)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--name", required=True, help="bench/results/NAME.json")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    bench = load_benchmark(args.data, args.split, max_queries=args.max_queries)
    model = ThinkThenEmbed.from_pretrained(args.model, cache=False)
    doc_ids = [d.id for d in bench.corpus]
    query_ids = list(bench.queries)
    texts = [bench.queries[q] for q in query_ids]
    plain = model.embed_queries(texts, encoding="plain").vectors
    distilled = model.embed_queries(texts, encoding="distilled").vectors
    documents, _ = corpus_vectors(model, bench.corpus)
    bm25 = read_trec(args.bm25)

    scores = {}
    for alpha in ALPHAS:
        run = dense_run(query_ids, mixed(plain, distilled, alpha), doc_ids, documents)
        scores[f"dense {alpha}"] = ndcg_per_query(bench.qrels, run)
        scores[f"hybrid {alpha}"] = ndcg_per_query(bench.qrels, fused_run(run, bm25, len(doc_ids), Fusion()))
    rows = against_baselines(scores, lambda name: name.split()[0] + " 0.0")
    write(
        args.name,
        {
            "command": "python -m bench.query_mix " + shlex.join(sys.argv[1:]),
            "data": args.data,
            "split": args.split,
            "queries": len(query_ids),
            "systems": rows,
        },
    )


if __name__ == "__main__":
    main()
