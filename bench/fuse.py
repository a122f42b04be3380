"""Fuse finished runs as the product fuses them: one dense run with each of several lexical runs (TREC files of
``evaluate --out`` folders, possibly of different checkpoints), under each fusion preset asked; nDCG@10 of each
and the paired difference against the first lexical run.

python -m bench.fuse --data ../shared/data/nfcorpus-lite --split train --max-queries 150 \
    --dense runs/dev-mpnet-distill-a10-nfcorpus-lite/runs/distilled.trec \
    --lexical runs/lex-dev-nfcorpus-lite/runs/bm25.trec --lexical runs/lex-dev-nfcorpus-lite/runs/bm25-thoughts.trec \
    --fusion score --fusion guarded --name lexical-thoughts-mpnet-distilled-dev-nfcorpus-lite
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from bench.common import write
from bench.compare import against_baselines, ndcg_per_query, read_trec
from o1_retriever.evaluation.benchmark import load_benchmark
from o1_retriever.evaluation.systems import fused_run
from o1_retriever.retrieval.fusion import Fusion


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="the BEIR folder of the runs")
    parser.add_argument("--split", default="test")
    parser.add_argument("--max-queries", type=int, help="as the runs' evaluate --max-queries")
    parser.add_argument("--dense", required=True, type=Path, help="the dense side's TREC run")
    parser.add_argument(
        "--lexical", action="append", required=True, type=Path, help="a lexical TREC run; the first is the baseline"
    )
    parser.add_argument(
        "--fusion", action="append", default=[], help="a preset: guarded, score, rrf [default: guarded]"
    )
    parser.add_argument("--name", required=True, help="bench/results/NAME.json")
    args = parser.parse_args()
    bench = load_benchmark(args.data, args.split, max_queries=args.max_queries)
    dense = read_trec(args.dense)
    lexical = [read_trec(path) for path in args.lexical]
    presets = args.fusion or ["guarded"]
    scores = {
        f"{preset}: {path}": ndcg_per_query(bench.qrels, fused_run(dense, run, len(bench.corpus), Fusion.named(preset)))
        for preset in presets
        for path, run in zip(args.lexical, lexical)
    }
    rows = against_baselines(scores, lambda name: f"{name.split(':')[0]}: {args.lexical[0]}")
    write(
        args.name,
        {"command": "python -m bench.fuse " + shlex.join(sys.argv[1:]), "dense": str(args.dense), "fused": rows},
    )


if __name__ == "__main__":
    main()
