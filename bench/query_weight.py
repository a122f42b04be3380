"""How much of the thinking query vector should be the plain query: nDCG@10 of ``alpha * q + (1 - alpha) * mean(t)``
(q the plain query vector, t the query + thought vectors, all unit, renormalised) for a grid of alpha, exact search.
alpha 1 is ``dense``; alpha 0.25 is what ``o1`` does with 3 thoughts (the mean of the 4 vectors). Choose on dev.

    python -m bench.query_weight --model data/dev-default --data ../shared/data/scifact \
        --data ../shared/data/nfcorpus-lite --split train --max-queries 150 --name query-weight-dev
"""

from __future__ import annotations

import argparse
import shlex
import sys

import numpy as np
import torch

from bench.common import write
from o1_retriever import ThinkThenEmbed
from o1_retriever.benchmark import corpus_vectors, dense_run, load_benchmark
from o1_retriever.metrics import mean_scores, per_query_scores
from o1_retriever.pooling import l2_normalize

ALPHAS = (0.0, 0.25, 0.4, 0.5, 0.6, 0.75, 1.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="a checkpoint (the thoughts come from its thinker and cache)")
    parser.add_argument("--data", action="append", required=True, help="a BEIR folder")
    parser.add_argument("--split", default="train")
    parser.add_argument("--max-queries", type=int, default=None)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--name", required=True, help="bench/results/NAME.json")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    model = ThinkThenEmbed.from_pretrained(args.model, threads=args.threads)
    out = {}
    for folder in args.data:
        bench = load_benchmark(folder, args.split, max_queries=args.max_queries)
        documents, _ = corpus_vectors(model, bench.corpus)
        entries = model.think_with_vectors(list(bench.queries.values()), model.thinking_config())
        plain = l2_normalize(np.stack([e.query_vector for e in entries]))
        thoughts = np.stack([l2_normalize(e.thought_vectors).mean(0) for e in entries])
        scores = {}
        for alpha in ALPHAS:
            vectors = l2_normalize(alpha * plain + (1 - alpha) * thoughts)
            run = dense_run(list(bench.queries), vectors, [d.id for d in bench.corpus], documents, 100)
            scores[str(alpha)] = mean_scores(per_query_scores(bench.qrels, run, ("nDCG@10",)))["nDCG@10"]
        out[f"{bench.name}/{args.split}"] = scores
        print(bench.name, " ".join(f"{a}:{s:.4f}" for a, s in scores.items()), flush=True)
    write(args.name, {"command": "python -m bench.query_weight " + shlex.join(sys.argv[1:]), "nDCG@10": out})


if __name__ == "__main__":
    main()
