"""How much of the thinking query vector should be the plain query: nDCG@10 of ``alpha * q + (1 - alpha) * mean(t)``
(q the plain query vector, t the query + thought vectors, all unit, renormalised) for a grid of alpha, exact search.
alpha 1 is ``dense``; alpha 0.25 is what ``o1`` does with 3 thoughts (the mean of the 4 vectors). Choose on dev.

And how much each thought should count (``--agreement``): at alpha 0.25, the thoughts weighted by how close each
lands to the plain query, ``w_i ~ max(0, cos(q, t_i)) ** power`` (power 0 is ``o1``), or only the ``best`` 1 or 2
of them kept: a thought that wandered off ("Certainly!", a loop, another topic) counts less.

    python -m bench.query_weight --model data/dev-default --data ../shared/data/scifact \
        --data ../shared/data/nfcorpus-lite --split train --max-queries 150 --name query-weight-dev
    python -m bench.query_weight --model smollm2-135m-instruct --encoder all-minilm-l6-v2 --precision int8 \
        --thinking-of o1_retriever/checkpoints/default --agreement --data ... --name thought-agreement-dev
"""

from __future__ import annotations

import argparse
import shlex
import sys

import numpy as np
import torch

from bench.common import write
from o1_retriever import ThinkThenEmbed
from o1_retriever.model.checkpoint import read_config
from o1_retriever.evaluation.benchmark import corpus_vectors, dense_run, load_benchmark
from o1_retriever.evaluation.metrics import mean_scores, per_query_scores
from o1_retriever.model.pooling import l2_normalize

ALPHAS = (0.0, 0.25, 0.4, 0.5, 0.6, 0.75, 1.0)
POWERS = (0, 1, 4, 16)
KEEP_BEST = (1, 2)


def agreement_weighted(plain: np.ndarray, thought_vectors: np.ndarray, power: float, keep: int | None = None):
    """One query's vector: 0.25 of the unit plain query, 0.75 of its thoughts weighted by ``max(0, cos) ** power``
    (or the ``keep`` thoughts closest to the query, equally), renormalised; the plain query when no thought counts."""
    agreement = np.clip(thought_vectors @ plain, 0.0, None)
    weights = agreement**power if keep is None else (np.argsort(-agreement).argsort() < keep).astype(float)
    if weights.sum() <= 0:
        return plain
    thoughts = (weights[:, None] * thought_vectors).sum(0) / weights.sum()
    return l2_normalize((0.25 * plain + 0.75 * thoughts)[None])[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="a checkpoint (the thoughts come from its thinker and cache)")
    parser.add_argument("--data", action="append", required=True, help="a BEIR folder")
    parser.add_argument("--split", default="train")
    parser.add_argument("--max-queries", type=int, default=None)
    parser.add_argument("--encoder", help="with a base LM as --model: split mode with this encoder")
    parser.add_argument("--precision", help="the thinker's precision [default: the model's]")
    parser.add_argument(
        "--thinking-of", help="think with the settings of this checkpoint (e.g. o1_retriever/checkpoints/default)"
    )
    parser.add_argument("--agreement", action="store_true", help="also weight each thought by its agreement")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--name", required=True, help="bench/results/NAME.json")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    model = ThinkThenEmbed.from_pretrained(
        args.model, encoder=args.encoder, precision=args.precision, threads=args.threads
    )
    settings = read_config(args.thinking_of).thinking if args.thinking_of else model.thinking_config()
    out = {}
    for folder in args.data:
        bench = load_benchmark(folder, args.split, max_queries=args.max_queries)
        documents, _ = corpus_vectors(model, bench.corpus)
        entries = model.think_with_vectors(list(bench.queries.values()), settings)
        plain = l2_normalize(np.stack([e.query_vector for e in entries]))
        thoughts = np.stack([l2_normalize(e.thought_vectors).mean(0) for e in entries])
        scores = {}
        for alpha in ALPHAS:
            vectors = l2_normalize(alpha * plain + (1 - alpha) * thoughts)
            run = dense_run(list(bench.queries), vectors, [d.id for d in bench.corpus], documents, 100)
            scores[str(alpha)] = mean_scores(per_query_scores(bench.qrels, run, ("nDCG@10",)))["nDCG@10"]
        variants = {f"agreement^{p}": (p, None) for p in POWERS} | {f"best {k}": (0, k) for k in KEEP_BEST}
        for name, (power, keep) in variants.items() if args.agreement else ():
            vectors = np.stack(
                [agreement_weighted(q, l2_normalize(e.thought_vectors), power, keep) for q, e in zip(plain, entries)]
            )
            run = dense_run(list(bench.queries), vectors, [d.id for d in bench.corpus], documents, 100)
            scores[name] = mean_scores(per_query_scores(bench.qrels, run, ("nDCG@10",)))["nDCG@10"]
        out[f"{bench.name}/{args.split}"] = scores
        print(bench.name, " ".join(f"{a}:{s:.4f}" for a, s in scores.items()), flush=True)
    write(args.name, {"command": "python -m bench.query_weight " + shlex.join(sys.argv[1:]), "nDCG@10": out})


if __name__ == "__main__":
    main()
