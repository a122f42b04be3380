"""Can an ``adapt`` run's questions choose the corpus's fusion? The base checkpoint scores every usable question of
the run (all of them, not only the held-out fifth: the base was trained on none) under each candidate fusion, and
``adapt``'s rule (``check.choose_fusion``: the best mean, if it beats the base's fusion by the margin with p < 0.05)
picks one. The test queries are then scored under every candidate, for the base and the adapted checkpoint (exact
hybrid, as the check scores), to show whether the label-free pick was the right one; they choose nothing.

    python -m bench.fusion_calibration --run runs/scifact-500-own-words --data ../shared/data/scifact --threads 2 \
        --name fusion-calibration-scifact
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import torch

from bench.common import write
from o1_retriever.data import load_corpus, load_qrels, load_queries
from o1_retriever.evaluation.metrics import mean_scores, paired_randomization_test
from o1_retriever.model.query_encoding import QueryEncoding
from o1_retriever.model.think_then_embed import ThinkThenEmbed
from o1_retriever.retrieval.fusion import Fusion
from o1_retriever.trainer.adapt import check
from o1_retriever.trainer.adapt.pairs import CorpusSearch, usable_questions
from o1_retriever.trainer.adapt.run import RUN_DIR
from o1_retriever.trainer.records import read_finished


def test_scores(search, model, encoding, queries, qrels, fusions) -> dict[str, dict[str, float]]:
    """{fusion name: {query id: nDCG@10}} over the judged test queries."""
    judged = {q: queries[q] for q in sorted(qrels) if q in queries}
    scores = check.fused_scores(search, model, encoding, judged, {q: qrels[q] for q in judged}, fusions)
    return {name: per["nDCG@10"] for name, per in scores.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run", required=True, help="an adapt --out folder")
    parser.add_argument("--data", required=True, help="the BEIR folder it was adapted on (its test split reports)")
    parser.add_argument("--margin", type=float, default=0.01)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--name", required=True)
    args = parser.parse_args()
    os.environ.setdefault("MKL_CBWR", "AUTO,STRICT")
    torch.set_num_threads(args.threads)
    base = ThinkThenEmbed.from_pretrained("default")
    adapted = ThinkThenEmbed.from_pretrained(args.run)
    search = CorpusSearch(base, load_corpus(args.data))
    asked, _ = usable_questions(read_finished(Path(args.run) / RUN_DIR / "questions.jsonl"))
    questions = [{"query_id": r["id"], "query": r["question"], "passage_id": r["id"]} for r in asked]
    fusions = check.candidate_fusions()
    current = next(name for name, f in fusions.items() if f == Fusion.of_checkpoint(base.config.fusion))

    label_free = check.scores_by_fusion(search, base, base.default_encoding, questions, fusions)
    chosen = check.choose_fusion(label_free, current, args.margin)
    queries, qrels = load_queries(args.data), load_qrels(args.data, "test")
    test_base = test_scores(search, base, base.default_encoding, queries, qrels, fusions)
    test_adapted = test_scores(search, adapted, QueryEncoding.DISTILLED, queries, qrels, fusions)

    def mean(per: dict[str, float]) -> float:
        return sum(per.values()) / len(per)

    ids = sorted(test_adapted[current])
    result = {
        "command": f"python -m bench.fusion_calibration --run {args.run} --data {args.data} --margin {args.margin} "
        f"--threads {args.threads} --name {args.name}",
        "questions": len(questions),
        "current": current,
        "chosen": chosen,
        "fusions": {
            name: {
                "label_free_base": mean_scores(label_free[name])["nDCG@10"],
                "test_base": mean(test_base[name]),
                "test_adapted": mean(test_adapted[name]),
            }
            for name in fusions
        },
        "test_adapted_chosen_vs_base_current": {
            "difference": mean(test_adapted[chosen]) - mean(test_base[current]),
            "p": paired_randomization_test(
                [test_adapted[chosen][q] for q in ids], [test_base[current][q] for q in ids]
            ),
        },
    }
    write(args.name, result)


if __name__ == "__main__":
    main()
