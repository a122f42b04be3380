"""Pairs of systems within evaluations: nDCG@10 of each, the difference and its paired randomisation p-value
(e.g. does thinking help inside the hybrid: hybrid against dense-hybrid), for several sets at once.

python -m bench.pairs --eval runs/eval-scifact --eval runs/eval-nfcorpus-lite \
    --pair hybrid:dense-hybrid --pair dense-hybrid:dense-hybrid-rrf --name pairs
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path

from bench.common import write
from bench.compare import paired


def compare_pair(per_query: dict, a: str, b: str) -> dict:
    """a against b on the queries of one evaluation (its results.json per-query nDCG@10)."""
    mean_a, mean_b, p = paired(per_query[a]["nDCG@10"], per_query[b]["nDCG@10"])
    return {"a": mean_a, "b": mean_b, "difference": mean_a - mean_b, "p": p}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--eval", action="append", required=True, type=Path, help="an evaluate --out folder")
    parser.add_argument("--pair", action="append", required=True, help="A:B, two systems of every evaluation")
    parser.add_argument("--name", required=True, help="bench/results/NAME.json")
    args = parser.parse_args()
    out: dict = {}
    for folder in args.eval:
        summary = json.loads((folder / "results.json").read_text())
        rows = {}
        for pair in args.pair:
            a, b = pair.split(":")
            rows[pair] = compare_pair(summary["per_query"], a, b)
            row = rows[pair]
            print(f"{folder.name:28} {pair:36} {row['a']:.3f} {row['b']:.3f} {row['difference']:+.3f} p={row['p']:.4f}")
        out[f"{summary['dataset']} ({folder.name})"] = rows
    write(args.name, {"command": "python -m bench.pairs " + shlex.join(sys.argv[1:]), "nDCG@10": out})


if __name__ == "__main__":
    main()
