"""Evaluation reports: means, per-query values and significance tests; Markdown, JSON, TREC runs and a chart."""

from __future__ import annotations

import json
import logging
from pathlib import Path

from o1_retriever.evaluation.benchmark import Benchmark
from o1_retriever.evaluation.systems import SystemResult
from o1_retriever.evaluation.metrics import mean_scores, paired_randomization_test, per_query_scores, ranking

logger = logging.getLogger(__name__)


def summarise(bench: Benchmark, results: dict[str, SystemResult]) -> dict:
    """Means, per-query values and paired randomisation p-values (nDCG@10) against bm25 and dense."""
    per_query = {name: per_query_scores(bench.qrels, r.run) for name, r in results.items()}
    summary: dict = {
        "dataset": bench.name,
        "queries": len(bench.qrels),
        "documents": len(bench.corpus),
        "notes": bench.notes,
        "systems": {},
    }
    for name, result in results.items():
        entry = {
            "metrics": mean_scores(per_query[name]),
            "corpus_seconds": result.corpus_seconds,
            "query_ms": result.query_seconds * 1000,
            "settings": result.settings,
            "p_value_ndcg10": {},
        }
        for baseline in ("bm25", "dense"):
            if baseline in per_query and baseline != name:
                a = [per_query[name]["nDCG@10"][q] for q in bench.qrels]
                b = [per_query[baseline]["nDCG@10"][q] for q in bench.qrels]
                entry["p_value_ndcg10"][baseline] = paired_randomization_test(a, b)
        summary["systems"][name] = entry
    summary["per_query"] = per_query
    return summary


def markdown_table(summary: dict) -> str:
    metrics = ["nDCG@10", "MRR@10", "Recall@100", "Recall@1000"]
    lines = [
        f"### {summary['dataset']} ({summary['queries']} queries, {summary['documents']} documents)",
        "",
        "| system | " + " | ".join(metrics) + " | p vs bm25 | p vs dense | corpus s | ms/query |",
        "|---|" + "---:|" * (len(metrics) + 4),
    ]
    for name, entry in summary["systems"].items():
        p = entry["p_value_ndcg10"]
        lines.append(
            f"| {name} | "
            + " | ".join(f"{entry['metrics'][m]:.3f}" for m in metrics)
            + f" | {p.get('bm25', float('nan')):.3g} | {p.get('dense', float('nan')):.3g}"
            + f" | {entry['corpus_seconds']:.0f} | {entry['query_ms']:.0f} |"
        )
    lines += ["", "p: paired randomisation test on per-query nDCG@10 (10,000 trials)."]
    lines += [f"Note: {n}" for n in summary["notes"]]
    return "\n".join(lines) + "\n"


def write_outputs(out: str | Path, summary: dict, results: dict[str, SystemResult]) -> Path:
    out = Path(out)
    (out / "runs").mkdir(parents=True, exist_ok=True)
    for name, result in results.items():
        with (out / "runs" / f"{name}.trec").open("w") as handle:
            for query, docs in result.run.items():
                for rank, (doc, score) in enumerate(ranking(docs), start=1):
                    handle.write(f"{query} Q0 {doc} {rank} {score:.6f} {name}\n")
    (out / "results.json").write_text(json.dumps(summary, indent=2) + "\n")
    (out / "results.md").write_text(markdown_table(summary))
    try:
        _bar_chart(out / "results.png", summary)
    except ImportError:
        logger.info("matplotlib not installed: no chart (pip install 'o1-retriever[plot]')")
    return out


def _bar_chart(path: Path, summary: dict) -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg  # the object API: no process-wide backend
    from matplotlib.figure import Figure

    names = list(summary["systems"])
    values = [summary["systems"][n]["metrics"]["nDCG@10"] for n in names]
    fig = Figure(figsize=(6, 3))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    ax.bar(names, values, color="#4c72b0")
    ax.set_ylabel("nDCG@10")
    ax.set_title(summary["dataset"])
    fig.tight_layout()
    fig.savefig(path, dpi=120)
