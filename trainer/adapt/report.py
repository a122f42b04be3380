"""The report of an ``adapt`` run, in the checkpoint: ``adapt_report.json`` (everything) and ``adapt_report.md``
(stage times and shares, what each stage kept and dropped and why, the label-free check, the fusion chosen)."""

from __future__ import annotations

import json
import logging
from pathlib import Path

from o1_retriever.trainer.adapt.config import AdaptConfig

logger = logging.getLogger(__name__)
STAGES = ("passages", "questions", "filter", "thoughts", "distill", "check")


#: fewer held-out questions than this cannot tell a gain from noise: the report says so
MIN_CHECKED = 20


def verdict(check: dict) -> str:
    gain, p = check["gain_nDCG@10"], check["p"]
    if check["held_out"] < MIN_CHECKED:
        return (
            f"Only {check['held_out']} held-out questions: too few to tell a gain from noise. The writer wrote too "
            "few usable questions for this corpus: adapt with more passages (--queries) or a stronger writer."
        )
    if gain <= 0:
        return (
            f"The adapted checkpoint does **not** beat its base on the held-out questions ({gain:+.4f} nDCG@10, "
            f"p = {p:.3f}): serve the base, or adapt with more queries or a stronger writer."
        )
    strength = "significant" if p < 0.05 else "not significant"
    return f"The adapted checkpoint beats its base on held-out questions: {gain:+.4f} nDCG@10 (p = {p:.3f}, {strength})"


#: how the report names each question prompt
PROMPT_WORDS = {
    "after": "the instruction after the passage",
    "before": "the instruction before the passage",
    "own-words": "a searcher's question in their own words, asked after the passage",
}


def prompt_line(state: dict) -> str:
    chosen = state["question_prompt"]
    probe = chosen.get("usable")
    tried = (
        ""
        if not probe
        else " (usable questions on the first passages: " + ", ".join(f"{k} {v}" for k, v in probe.items()) + ")"
    )
    return f"The question prompt: {PROMPT_WORDS[chosen['chosen']]}{tried}."


def markdown(config: AdaptConfig, state: dict, check: dict) -> str:
    seconds = state["seconds"]
    total = sum(seconds.get(s, 0.0) for s in STAGES) or 1.0
    lines = [
        f"# Adapted to `{config.corpus}`",
        "",
        f"Base checkpoint `{config.model}`; writer `{config.writer}:{config.writer_model}`; budget {config.queries} "
        f"passages{'' if config.minutes is None else f', {config.minutes:g} minutes of writing'}; seed {config.seed}. "
        "Serve it as any checkpoint (`--model` this folder); it reads the base's index (query side only: no "
        "re-indexing).",
        "",
        verdict(check),
        "",
        prompt_line(state),
        "",
        "## Stages",
        "",
        "| stage | minutes | share | counts |",
        "|---|---|---|---|",
    ]
    for stage in STAGES:
        if stage in seconds:
            counts = ", ".join(f"{k} {v}" for k, v in state["counts"].get(stage, {}).items())
            lines.append(f"| {stage} | {seconds[stage] / 60:.1f} | {seconds[stage] / total:.0%} | {counts} |")
    lines += [
        f"| all | {total / 60:.1f} | | |",
        "",
        f"## Label-free check ({check['held_out']} held-out questions, the passage each was asked of relevant)",
        "",
        "| fusion | base nDCG@10 | adapted nDCG@10 | base MRR@10 | adapted MRR@10 |",
        "|---|---|---|---|---|",
    ]
    for name, row in check["fusions"].items():
        marks = " (base's)" * (name == check["base"]["fusion"]) + " (chosen)" * (name == check["adapted"]["fusion"])
        lines.append(
            f"| {name}{marks} | {row['base']['nDCG@10']:.4f} | {row['adapted']['nDCG@10']:.4f} | "
            f"{row['base']['MRR@10']:.4f} | {row['adapted']['MRR@10']:.4f} |"
        )
    lines += [
        "",
        f"The checkpoint serves with the fusion `{check['adapted']['fusion']}`: "
        f"`{json.dumps(check['fusion_settings'])}` (its `o1_config.json`, `fusion`).",
        "",
    ]
    return "\n".join(lines)


def write_report(out: Path, config: AdaptConfig, state: dict, check: dict) -> dict:
    """The report's JSON and Markdown, and, with the ``plot`` extra, ``adapt_report.png`` (base vs adapted on the
    held-out questions under each fusion)."""
    report = {"config": config.to_dict(), "seconds": state["seconds"], "counts": state["counts"], "check": check}
    (out / "adapt_report.json").write_text(json.dumps(report, indent=2) + "\n")
    (out / "adapt_report.md").write_text(markdown(config, state, check))
    try:
        plot(out / "adapt_report.png", check)
    except ImportError:
        logger.info("matplotlib not installed: no chart (pip install 'o1-retriever[plot]')")
    return report


def plot(path: Path, check: dict) -> None:
    """Grouped bars of base and adapted nDCG@10 per fusion (matplotlib's object API: no process-wide backend)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    names = list(check["fusions"])
    x = range(len(names))
    figure = Figure(figsize=(8, 3.2))
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    for offset, side in ((-0.2, "base"), (0.2, "adapted")):
        axes.bar([i + offset for i in x], [check["fusions"][n][side]["nDCG@10"] for n in names], 0.4, label=side)
    axes.set_xticks(list(x), [n.replace(", dense weight ", "\nw ") for n in names], fontsize=7)
    axes.set_ylabel("nDCG@10, held-out questions")
    axes.set_ylim(bottom=max(0.0, min(v[s]["nDCG@10"] for v in check["fusions"].values() for s in v) - 0.05))
    axes.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
