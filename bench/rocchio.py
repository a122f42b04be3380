"""Rocchio feedback on a first round, the LM-free baseline for "look, then think" (``bench.grounded``): each query's
plain vector moved towards the mean vector of its first round's best documents, searched exactly and fused with
BM25 as the product fuses; per-query nDCG@10 against the evaluation's own ``dense-hybrid`` and ``hybrid``.

python -m bench.rocchio --data ../shared/data/scifact --eval runs/dev-memory-scifact --model data/dev-default \
    --name rocchio-dev-scifact
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

import numpy as np

from bench.common import write
from bench.compare import ndcg_per_query, paired, read_trec
from o1_retriever import ThinkThenEmbed
from o1_retriever.evaluation.benchmark import corpus_vectors, dense_run, load_benchmark
from o1_retriever.evaluation.systems import fused_run
from o1_retriever.retrieval.fusion import Fusion
from o1_retriever.retrieval.fusion import ranking
from o1_retriever.model.pooling import l2_normalize


def feedback_vectors(queries: np.ndarray, documents: np.ndarray, tops: list[list[int]], beta: float) -> np.ndarray:
    """Unit rows of ``query + beta * mean(vectors of its top documents)`` (a query without feedback: unchanged)."""
    moved = queries.copy()
    for i, top in enumerate(tops):
        if top:
            moved[i] = queries[i] + beta * documents[top].mean(axis=0)
    return l2_normalize(moved)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="BEIR folder")
    parser.add_argument("--eval", required=True, type=Path, help="an evaluate --out folder with bm25, dense-hybrid")
    parser.add_argument("--first-round", default="dense-hybrid", help="the system of --eval whose top is read")
    parser.add_argument("--model", default="default")
    parser.add_argument("--split", default="train")
    parser.add_argument("--max-queries", type=int, default=150)
    parser.add_argument("--passages", type=int, default=3, help="feedback documents per query")
    parser.add_argument("--betas", default="0.25,0.5,1.0", help="comma-separated feedback weights")
    parser.add_argument("--name", required=True, help="bench/results/NAME.json")
    args = parser.parse_args()
    bench = load_benchmark(args.data, args.split, max_queries=args.max_queries)
    model = ThinkThenEmbed.from_pretrained(args.model, cache=False)
    documents, _ = corpus_vectors(model, bench.corpus)
    doc_ids = [d.id for d in bench.corpus]
    position = {doc: i for i, doc in enumerate(doc_ids)}
    query_ids = list(bench.queries)
    plain = model.embed_queries([bench.queries[q] for q in query_ids], encoding="plain").vectors
    runs = {name: read_trec(args.eval / "runs" / f"{name}.trec") for name in ("bm25", args.first_round, "hybrid")}
    first = runs[args.first_round]
    tops = [[position[d] for d, _ in ranking(first.get(q, {}), args.passages)] for q in query_ids]

    baselines = {name: ndcg_per_query(bench.qrels, runs[name]) for name in (args.first_round, "hybrid")}
    rows = {}
    for beta in (float(b) for b in args.betas.split(",")):
        moved = dense_run(query_ids, feedback_vectors(plain, documents, tops, beta), doc_ids, documents)
        fused = ndcg_per_query(bench.qrels, fused_run(moved, runs["bm25"], len(doc_ids), Fusion()))
        row = {
            "dense": float(np.mean(list(ndcg_per_query(bench.qrels, moved).values()))),
            "hybrid": float(np.mean(list(fused.values()))),
        }
        for name, scores in baselines.items():
            base, mine, p = paired(scores, fused)
            row[f"hybrid vs {name}"] = {"a": base, "b": mine, "difference": mine - base, "p": p}
        rows[str(beta)] = row
        print(f"beta {beta}: dense {row['dense']:.3f}, hybrid {row['hybrid']:.3f}", end="")
        print("".join(f", vs {n} {row[f'hybrid vs {n}']['difference']:+.3f}" for n in baselines))
    command = "python -m bench.rocchio " + shlex.join(sys.argv[1:])
    write(args.name, {"command": command, "data": args.data, "passages": args.passages, "nDCG@10": rows})


if __name__ == "__main__":
    main()
