"""A per-query thinking gate, measured: think only for queries whose first round looks unsure, answer the rest from
the plain query. Issue 14: "where thoughts cannot help, thinking must not hurt: measure a per-query gate against
always thinking, and keep it if it wins on dev".

A gate reads signals the first round of a hybrid search has anyway, before any thinking (so a query it lets
through costs what ``encoding="plain"`` costs): the plain query's top-1 cosine (``dense_top1``), its top-1 minus 10th
cosine (``dense_gap``) and the chance-corrected overlap of the dense and BM25 top 20 (``agreement``, the fusion
gate's statistic). A query thinks when its signal is below the threshold. The per-query nDCG@10 of thinking and
of not thinking come from an ``evaluate`` JSON already made (its ``per_query``), so no thought is generated here
(and the seconds saved are the share of queries that do not think times thinking's cost, ``bench/latency.py``);
this script recomputes the plain dense run and BM25 with the same model to read the signals, and refuses a JSON
whose dense scores it does not reproduce (another model or query set).

Dev (the grid, the rule, the choice):
python -m bench.gate --model data/dev-default --split train --max-queries 150 \
    --eval scifact=bench/results/eval/dev-serving-t07-scifact.json.gz \
    --eval nfcorpus-lite=bench/results/eval/dev-serving-t07-nfcorpus-lite.json.gz --name gate-dev-smollm2
Test, once, for the gate dev chose:
python -m bench.gate --model default --gate dense_top1:0.52 \
    --eval scifact=bench/results/eval/padded-int8-scifact.json.gz ... --name gate-test-smollm2
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from bench.common import DATA, read_json, write
from bench.compare import ndcg_per_query
from o1_retriever.evaluation.benchmark import load_benchmark
from o1_retriever.evaluation.systems import run_systems
from o1_retriever.retrieval.fusion import agreement
from o1_retriever.evaluation.metrics import paired_randomization_test, ranking
from o1_retriever.model.think_then_embed import ThinkThenEmbed

#: first-round signals: (dense ranking, BM25 ranking, documents) -> a number; low means unsure, so think
SIGNALS = {
    "dense_top1": lambda dense, lexical, n_docs: dense[0][1],
    "dense_gap": lambda dense, lexical, n_docs: dense[0][1] - dense[min(9, len(dense) - 1)][1],
    "agreement": lambda dense, lexical, n_docs: agreement(dense, lexical, 20, n_docs),
}
#: (system that thinks, the same system without thinking), as ``evaluate`` names them
PAIRS = (("o1", "dense"), ("hybrid", "dense-hybrid"))
#: the shares of dev queries that think, whose pooled signal quantiles are the thresholds tried
SHARES = (0.25, 0.5, 0.75)
RULE = (
    "per pair, the gate (signal, threshold) with the best mean dev nDCG@10 over the sets; kept only if that mean is "
    "at least always thinking's (ties: fewer queries think)"
)


def signals_of(model: ThinkThenEmbed, data: Path, split: str, max_queries: int | None, evaluated: dict) -> dict:
    """{signal: {query: value}} for one set, after checking that the plain dense run reproduces ``evaluated``."""
    bench = load_benchmark(data, split, max_queries=max_queries)
    if sorted(bench.queries) != sorted(evaluated["per_query"]["dense"]["nDCG@10"]):
        raise SystemExit(f"{data}: the evaluation JSON holds other queries than --split {split} --max-queries")
    results = run_systems(bench, model, ("dense", "bm25"), {})
    dense, lexical = results["dense"].run, results["bm25"].run
    ours = ndcg_per_query(bench.qrels, dense)
    theirs = evaluated["per_query"]["dense"]["nDCG@10"]
    worst = max(abs(ours[q] - theirs[q]) for q in ours)
    if worst > 1e-6:
        raise SystemExit(f"{data}: dense nDCG@10 differs from the evaluation's by up to {worst:.4f}: another model?")
    n_docs = len(bench.corpus)
    out: dict[str, dict[str, float]] = {name: {} for name in SIGNALS}
    for query in bench.queries:
        top_dense, top_lexical = ranking(dense[query], 20), ranking(lexical.get(query, {}), 20)
        for name, signal in SIGNALS.items():
            out[name][query] = float(signal(top_dense, top_lexical, n_docs))
    return out


def gated(think: dict, plain: dict, signal: dict, threshold: float) -> tuple[dict[str, float], float]:
    """Per-query scores when queries with ``signal < threshold`` think, and the share that thinks."""
    scores = {q: think[q] if signal[q] < threshold else plain[q] for q in think}
    return scores, float(np.mean([signal[q] < threshold for q in think]))


def mean(scores: dict[str, float]) -> float:
    return float(np.mean(list(scores.values())))


def p_value(a: dict[str, float], b: dict[str, float]) -> float:
    queries = sorted(a)
    return paired_randomization_test([a[q] for q in queries], [b[q] for q in queries])


def report(per_set: dict, signals: dict, gate: tuple[str, float] | None, think: str, plain: str) -> dict:
    """Always / never / oracle / the gate(s) for one pair, per set."""
    rows: dict[str, dict] = {}
    for name, evaluated in per_set.items():
        scores = {s: evaluated["per_query"][s]["nDCG@10"] for s in (think, plain)}
        rows[name] = {
            "always": mean(scores[think]),
            "never": mean(scores[plain]),
            "oracle": mean({q: max(scores[think][q], scores[plain][q]) for q in scores[think]}),
        }
        if gate is not None:
            signal, threshold = gate
            out, share = gated(scores[think], scores[plain], signals[name][signal], threshold)
            rows[name].update(
                gated=mean(out),
                share_thinking=share,
                p_vs_always=p_value(out, scores[think]),
                p_vs_never=p_value(out, scores[plain]),
            )
    return rows


def grid(per_set: dict, signals: dict, think: str, plain: str) -> tuple[list[dict], dict | None]:
    """Every (signal, pooled-quantile threshold) on dev, and the one the rule keeps (None: always think)."""
    always = float(np.mean([mean(e["per_query"][think]["nDCG@10"]) for e in per_set.values()]))
    tried = []
    for signal in SIGNALS:
        pooled = np.concatenate([list(signals[name][signal].values()) for name in per_set])
        for share in SHARES:
            threshold = float(np.quantile(pooled, share))
            rows = report(per_set, signals, (signal, threshold), think, plain)
            tried.append(
                {
                    "signal": signal,
                    "threshold": threshold,
                    "mean": float(np.mean([r["gated"] for r in rows.values()])),
                    "mean_share_thinking": float(np.mean([r["share_thinking"] for r in rows.values()])),
                    "sets": rows,
                }
            )
    best = max(tried, key=lambda row: (round(row["mean"], 6), -row["mean_share_thinking"]))
    return tried, (best if best["mean"] >= always else None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="default", help="the model the evaluations ran (its plain dense run)")
    parser.add_argument("--eval", action="append", required=True, metavar="SET=JSON", help="an evaluate JSON per set")
    parser.add_argument("--split", default="test")
    parser.add_argument("--max-queries", type=int)
    parser.add_argument("--gate", metavar="SIGNAL:THRESHOLD", help="measure this gate (test); without it: dev grid")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--name", required=True, help="bench/results/NAME.json")
    args = parser.parse_args()
    model = ThinkThenEmbed.from_pretrained(args.model, threads=args.threads)
    per_set, signals = {}, {}
    for item in args.eval:
        name, _, path = item.partition("=")
        per_set[name] = read_json(path)
        signals[name] = signals_of(model, DATA / name, args.split, args.max_queries, per_set[name])
    payload: dict = {
        "command": "python -m bench.gate " + " ".join(sys.argv[1:]),
        "evaluations": {name: e["command"] for name, e in per_set.items()},
        "signals": {
            name: {s: float(np.mean(list(v.values()))) for s, v in sig.items()} for name, sig in signals.items()
        },
    }
    for think, plain in PAIRS:
        key = f"{think} vs {plain}"
        if args.gate:
            signal, _, threshold = args.gate.partition(":")
            if signal not in SIGNALS:
                raise SystemExit(f"unknown signal {signal!r}; choose from {', '.join(SIGNALS)}")
            payload[key] = report(per_set, signals, (signal, float(threshold)), think, plain)
        else:
            tried, chosen = grid(per_set, signals, think, plain)
            payload[key] = {"baseline": report(per_set, signals, None, think, plain), "tried": tried}
            payload[key]["chosen"] = (
                {k: chosen[k] for k in ("signal", "threshold", "mean", "mean_share_thinking")} if chosen else None
            )
    if not args.gate:
        payload["rule"] = RULE
    write(args.name, payload)


if __name__ == "__main__":
    main()
