"""Whether two evaluations of the same systems agree query by query: a refactor's check that figures did not move.

python -m bench.identical --a BEFORE.json[.gz] --b AFTER.json[.gz] [--a ... --b ...] --name NAME
For each pair and each system both ran: the queries whose nDCG@10 is identical, the largest difference, both means.
"""

from __future__ import annotations

import argparse
import sys

from bench.common import read_json, write


def agreement(before: dict, after: dict) -> dict[str, dict]:
    """{system: counts and means} over the systems both evaluations ran, per-query nDCG@10 compared exactly."""
    out = {}
    for system in before["per_query"].keys() & after["per_query"].keys():
        a, b = before["per_query"][system]["nDCG@10"], after["per_query"][system]["nDCG@10"]
        queries = sorted(a.keys() & b.keys())
        differences = [abs(a[q] - b[q]) for q in queries]
        out[system] = {
            "queries": len(queries),
            "identical": sum(d == 0 for d in differences),
            "max_difference": max(differences, default=0.0),
            "mean_before": sum(a[q] for q in queries) / max(1, len(queries)),
            "mean_after": sum(b[q] for q in queries) / max(1, len(queries)),
        }
    return dict(sorted(out.items()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--a", action="append", required=True, help="an evaluation's results.json (before)")
    parser.add_argument("--b", action="append", required=True, help="the same evaluation's results.json (after)")
    parser.add_argument("--name", required=True, help="bench/results/NAME.json")
    args = parser.parse_args()
    if len(args.a) != len(args.b):
        parser.error("give as many --b as --a")
    pairs = {}
    for a, b in zip(args.a, args.b):
        rows = agreement(read_json(a), read_json(b))
        pairs[f"{a} -> {b}"] = rows
        for system, row in rows.items():
            print(
                f"{b:60} {system:24} {row['identical']}/{row['queries']} identical, max |diff| "
                f"{row['max_difference']:.6f}, {row['mean_before']:.4f} -> {row['mean_after']:.4f}"
            )
    write(args.name, {"command": "python -m bench.identical " + " ".join(sys.argv[1:]), "pairs": pairs})


if __name__ == "__main__":
    main()
