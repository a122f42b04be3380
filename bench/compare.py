"""Two evaluations of the same test set, system by system: nDCG@10 of each, the difference, and its paired
randomisation p-value (did training help?).

python -m bench.compare --data ../shared/data/scifact --a runs/eval-base-scifact --b runs/eval-trained-scifact \
    --name compare-scifact
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bench.common import read_json, write
from o1_retriever.evaluation.benchmark import load_benchmark
from o1_retriever.evaluation.metrics import paired_randomization_test, per_query_scores


def read_trec(path: Path) -> dict[str, dict[str, float]]:
    run: dict[str, dict[str, float]] = {}
    for line in path.read_text().splitlines():
        query, _, doc, _, score, _ = line.split()
        run.setdefault(query, {})[doc] = float(score)
    return run


def compare(qrels: dict, a: Path, b: Path, pairs: list[tuple[str, str]] | None = None) -> dict:
    """{system: {a, b, difference, p}} for every system both evaluations ran (nDCG@10, every judged query), or for
    the given (system of a, system of b) pairs, keyed "A:B". An evaluation is its ``--out`` folder (the TREC runs,
    scored here) or a results JSON (its per-query nDCG@10, e.g. one kept in ``bench/results/eval/`` after the
    folder is gone)."""
    scores_of = [_per_query(qrels, folder) for folder in (a, b)]
    if pairs is None:
        pairs = [(system, system) for system in sorted(scores_of[0].keys() & scores_of[1].keys())]
    out = {}
    for first, second in pairs:
        for system, scores, evaluation in ((first, scores_of[0], a), (second, scores_of[1], b)):
            if system not in scores:
                raise ValueError(f"{evaluation} has no system {system!r}; it has {sorted(scores)}")
        mean_a, mean_b, p = paired(scores_of[0][first], scores_of[1][second])
        key = first if first == second else f"{first}:{second}"
        out[key] = {"a": mean_a, "b": mean_b, "difference": mean_b - mean_a, "p": p}
    return out


def ndcg_per_query(qrels: dict, run: dict[str, dict[str, float]]) -> dict[str, float]:
    """{query: nDCG@10} of one run."""
    return per_query_scores(qrels, run, ("nDCG@10",))["nDCG@10"]


def _per_query(qrels: dict, evaluation: Path) -> dict[str, dict[str, float]]:
    """{system: {query: nDCG@10}} of one evaluation."""
    if evaluation.is_file():
        per_query = read_json(evaluation)["per_query"]
        return {system: {q: scores["nDCG@10"][q] for q in qrels} for system, scores in per_query.items()}
    return {path.stem: ndcg_per_query(qrels, read_trec(path)) for path in (evaluation / "runs").glob("*.trec")}


def paired(first: dict[str, float], second: dict[str, float]) -> tuple[float, float, float]:
    """Means of two per-query scores over ``first``'s queries, and the paired randomisation p-value."""
    queries = sorted(first)
    xs, ys = [first[q] for q in queries], [second[q] for q in queries]
    return sum(xs) / len(xs), sum(ys) / len(ys), paired_randomization_test(xs, ys)


def against_baselines(scores: dict[str, dict[str, float]], baseline_of) -> dict[str, dict]:
    """Each variant's per-query scores against its baseline's (``baseline_of(name)``, another key of ``scores``):
    {name: {nDCG@10, vs, difference, p}}, printed a line each."""
    rows = {}
    for name, per_query in scores.items():
        base_name = baseline_of(name)
        base, mine, p = paired(scores[base_name], per_query)
        rows[name] = {"nDCG@10": mine, "vs": base_name, "difference": mine - base, "p": p}
        print(f"{name:16s} {mine:.4f}  {mine - base:+.4f} (p = {p:.3f})", flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="the BEIR folder both evaluations used")
    parser.add_argument("--split", default="test")
    parser.add_argument("--max-queries", type=int, help="as the evaluations' --max-queries (e.g. a dev split)")
    parser.add_argument("--a", required=True, type=Path, help="the baseline evaluation's --out folder or results JSON")
    parser.add_argument("--b", required=True, type=Path, help="the other evaluation's --out folder or results JSON")
    parser.add_argument(
        "--pair", action="append", help="A:B, system A of --a against system B of --b (repeatable; default: same names)"
    )
    parser.add_argument("--name", required=True, help="bench/results/NAME.json")
    args = parser.parse_args()
    if any(pair.count(":") != 1 for pair in args.pair or ()):
        parser.error(f"--pair takes A:B, two system names; got {args.pair}")
    qrels = load_benchmark(args.data, args.split, max_queries=args.max_queries).qrels  # the judgments evaluate scored
    pairs = [tuple(pair.split(":")) for pair in args.pair] if args.pair else None
    result = compare(qrels, args.a, args.b, pairs)
    if not result:
        raise SystemExit(f"no system is in both {args.a} and {args.b}: did both evaluations finish?")
    print(f"{'system':8} {'a':>7} {'b':>7} {'b - a':>7} {'p':>7}")
    for system, row in result.items():
        print(f"{system:8} {row['a']:7.3f} {row['b']:7.3f} {row['difference']:+7.3f} {row['p']:7.4f}")
    command = " ".join(["python -m bench.compare", *sys.argv[1:]])
    write(args.name, {"command": command, "data": args.data, "a": str(args.a), "b": str(args.b), "nDCG@10": result})


if __name__ == "__main__":
    main()
