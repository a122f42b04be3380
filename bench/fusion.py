"""Choose the hybrid fusion on training queries, then report it on test: every fusion of a grid on the dense and
BM25 runs of finished evaluations, on the real lexical side and on deliberately degraded ones (BM25 over titles
only, over a half-shuffled and a fully shuffled vocabulary), so the guard against a weak side is measured.

Selection rule (dev only): among fusions that never fall more than 0.01 nDCG@10 below the better of their two sides
on any dev column (real or degraded), the best mean nDCG@10 on the real dev columns.

python -m bench.fusion \
    --dev ../shared/data/scifact:train:runs/dev-scifact \
    --dev ../shared/data/nfcorpus-lite:train:runs/dev-nfcorpus-lite \
    --test ../shared/data/scifact:test:runs/eval-scifact ... --name fusion
(each folder is an `evaluate --systems bm25,dense --out FOLDER` of that split)
"""

from __future__ import annotations

import argparse
import random
import shlex
import sys
import re
from pathlib import Path

import numpy as np

from bench.common import write
from bench.compare import read_trec
from o1_retriever.evaluation.benchmark import Benchmark, load_benchmark
from o1_retriever.retrieval.lexical import BM25
from o1_retriever.evaluation.systems import fused_run
from o1_retriever.retrieval.fusion import Fusion
from o1_retriever.evaluation.metrics import mean_scores, per_query_scores
from o1_retriever.model.prompts import document_text

TOLERANCE = 0.01


def grid(gate_depths: tuple[int, ...] = (20,)) -> list[Fusion]:
    """RRF, and z-score fusions over dense weights x gate saturations (x gate depths, when several are asked)."""
    return [Fusion.rrf()] + [
        Fusion(dense_weight=w, gate_saturation=s, gate_depth=d)
        for d in gate_depths
        for w in (0.5, 0.6, 0.7)
        for s in (None, 0.05, 0.1, 0.2, 0.3)
        if d == gate_depths[0] or s is not None  # no gate: the depth does not matter
    ]


def degraded_lexical(bench: Benchmark, how: str, seed: int = 0) -> dict | None:
    """A BM25 run over a degraded corpus: ``titles`` (titles only; None without titles), ``half-shuffled`` or
    ``shuffled`` (half or all of the vocabulary's words swapped for other words, so matches are partly or wholly
    meaningless)."""
    if how == "titles":
        titles = [d.title for d in bench.corpus]
        if not any(t.strip() for t in titles):
            return None
        texts = [t or "-" for t in titles]
    else:
        texts = [document_text(d.text, d.title).lower() for d in bench.corpus]
        vocabulary = sorted({w for t in texts for w in re.findall(r"\w+", t)})
        rng = random.Random(seed)
        chosen = [w for w in vocabulary if how == "shuffled" or rng.random() < 0.5]
        swapped = chosen[:]
        rng.shuffle(swapped)
        mapping = dict(zip(chosen, swapped))
        texts = [re.sub(r"\w+", lambda m: mapping.get(m.group(0), m.group(0)), t) for t in texts]
    index = BM25(texts, [d.id for d in bench.corpus])
    return dict(zip(bench.queries, index.search(list(bench.queries.values()), 1000)))


def ndcg(qrels: dict, run: dict) -> float:
    return mean_scores(per_query_scores(qrels, run, ("nDCG@10",)))["nDCG@10"]


def columns(spec: str, dense_system: str) -> list[dict]:
    data, split, folder = spec.rsplit(":", 2)
    bench = load_benchmark(data, split)
    runs = Path(folder) / "runs"
    dense, lexical = read_trec(runs / f"{dense_system}.trec"), read_trec(runs / "bm25.trec")
    name = f"{Path(data).name}/{split}"
    out = [{"name": name, "lexical": "bm25", "qrels": bench.qrels, "dense": dense, "bm25": lexical}]
    for how in ("titles", "half-shuffled", "shuffled"):
        run = degraded_lexical(bench, how)
        if run is not None:
            out.append({"name": name, "lexical": how, "qrels": bench.qrels, "dense": dense, "bm25": run})
    for column in out:
        column["n_docs"] = len(bench.corpus)
    return out


def score(column: dict, fusion: Fusion) -> float:
    return ndcg(column["qrels"], fused_run(column["dense"], column["bm25"], column["n_docs"], fusion))


def label(fusion: Fusion) -> str:
    if fusion.method == "rrf":
        return "rrf"
    depth = "" if fusion.gate_depth == Fusion.gate_depth or fusion.gate_saturation is None else f"@{fusion.gate_depth}"
    return f"score w={fusion.dense_weight} gate={fusion.gate_saturation}{depth}"


def table(cols: list[dict], fusions: list[Fusion]) -> dict:
    """{fusion label: {column: nDCG@10}} plus the two sides alone."""
    out = {"dense": {}, "bm25": {}}
    for column in cols:
        key = f"{column['name']} {column['lexical']}"
        out["dense"][key] = ndcg(column["qrels"], column["dense"])
        out["bm25"][key] = ndcg(column["qrels"], column["bm25"])
    for fusion in fusions:
        out[label(fusion)] = {f"{c['name']} {c['lexical']}": score(c, fusion) for c in cols}
        print(f"{label(fusion):28}", " ".join(f"{v:.3f}" for v in out[label(fusion)].values()), flush=True)
    return out


def summary(results: dict) -> dict:
    """Per fusion: mean nDCG@10 on the real columns and the worst gap to the better side on any column."""
    out = {}
    for name, row in results.items():
        if name in ("dense", "bm25"):
            continue
        gaps = {key: value - max(results["dense"][key], results["bm25"][key]) for key, value in row.items()}
        real = [value for key, value in row.items() if key.endswith(" bm25")]
        out[name] = {"real_mean": float(np.mean(real)), "worst_gap": min(gaps.values()), "gaps": gaps}
    return out


def choose(dev: dict) -> str:
    guarded = {name: s for name, s in dev.items() if s["worst_gap"] >= -TOLERANCE}
    pool = guarded or dev
    key = (lambda n: pool[n]["real_mean"]) if guarded else (lambda n: pool[n]["worst_gap"])
    return max(pool, key=key)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dev", action="append", required=True, help="DATA:SPLIT:EVAL_FOLDER, chosen on")
    parser.add_argument("--test", action="append", default=[], help="DATA:SPLIT:EVAL_FOLDER, reported")
    parser.add_argument("--dense-system", default="dense", help="the dense run to fuse (dense or o1)")
    parser.add_argument("--name", default="fusion", help="bench/results/NAME.json")
    parser.add_argument(
        "--gate-depths", default="20", help="comma-separated depths the agreement gate compares (the first: default)"
    )
    args = parser.parse_args()
    fusions = grid(tuple(int(d) for d in args.gate_depths.split(",")))
    print("dev")
    dev = table([c for spec in args.dev for c in columns(spec, args.dense_system)], fusions)
    dev_summary = summary(dev)
    chosen = choose(dev_summary)
    print(
        f"chosen on dev: {chosen} (real mean {dev_summary[chosen]['real_mean']:.4f}, "
        f"worst gap {dev_summary[chosen]['worst_gap']:+.3f})"
    )
    test = table([c for spec in args.test for c in columns(spec, args.dense_system)], fusions) if args.test else {}
    payload = {
        "command": "python -m bench.fusion " + shlex.join(sys.argv[1:]),
        "rule": f"best mean nDCG@10 on the real dev columns among fusions within {TOLERANCE} of the better side "
        "on every dev column",
        "dense_system": args.dense_system,
        "dev": dev,
        "dev_summary": dev_summary,
        "chosen": chosen,
        "test": test,
        "test_summary": summary(test) if test else {},
    }
    write(args.name, payload)


if __name__ == "__main__":
    main()
