"""The evaluate command: the systems of ``o1_retriever.evaluation.systems.SYSTEMS`` on a BEIR folder."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import Optional

import typer

from o1_retriever.cli import app
from o1_retriever.cli.common import (
    ModelOption,
    ThinkerChoice,
    fail,
    load_model,
    thinker_options,
    thinking_options,
)
from o1_retriever.evaluation.systems import SYSTEMS


@app.command()
@thinker_options
@thinking_options
def evaluate(
    data: Path = typer.Option(..., "--data", "-d", help="BEIR folder (corpus.jsonl, queries.jsonl, qrels/)"),
    split: str = typer.Option("test", help="qrels split"),
    model: Optional[str] = ModelOption,
    encoder: Optional[str] = typer.Option(
        None, help="With a base LM as --model: split mode with this encoder (the untrained baseline)"
    ),
    systems: Optional[str] = typer.Option(
        None,
        help="Comma-separated: "
        + "; ".join(f"{n}: {s.help}" for n, s in SYSTEMS.items())
        + " [default: all the model can run]",
        show_default=False,
    ),
    out: Path = typer.Option(Path("eval-results"), "--out", "-o", help="Output folder"),
    include_query_vector: Optional[bool] = typer.Option(
        None, help="Include the thought-free query vector in the mean [default: the model's]"
    ),
    fusion: Optional[str] = typer.Option(
        None,
        help="How the hybrid systems fuse: guarded, unguarded or rrf, as search --fusion; "
        "choose it on a training split (--split train) before reading test [default: the checkpoint's, else guarded]",
    ),
    max_queries: Optional[int] = typer.Option(None, min=1, help="Evaluate only the first N queries"),
    max_docs: Optional[int] = typer.Option(None, min=1, help="Keep judged documents plus the first N documents"),
    strict: bool = typer.Option(False, help="Refuse a corpus with empty documents instead of skipping them"),
    thinker: ThinkerChoice = ThinkerChoice(),
    thinking: Optional[dict] = None,
) -> None:
    """Evaluate systems on a BEIR folder: Markdown table, JSON, TREC runs, significance tests."""
    from o1_retriever.data import DataError
    from o1_retriever.evaluation.benchmark import load_benchmark
    from o1_retriever.evaluation.systems import default_systems, run_systems
    from o1_retriever.retrieval.fusion import Fusion
    from o1_retriever.evaluation.reports import markdown_table, summarise, write_outputs
    from o1_retriever.model.thinkers import ThinkerError

    try:
        fused_by = Fusion.named(fusion) if fusion else None
    except ValueError as error:
        fail(str(error))
    chosen = tuple(s.strip() for s in (systems or ",".join(SYSTEMS)).split(",") if s.strip())
    unknown = sorted(set(chosen) - set(SYSTEMS))
    if unknown or not chosen:
        fail(f"unknown systems {unknown}; choose from {', '.join(SYSTEMS)}")
    try:
        bench = load_benchmark(data, split, max_queries=max_queries, max_docs=max_docs, strict=strict)
    except DataError as error:
        fail(str(error))
    retriever_model = load_model(model, encoder, thinker)
    if systems is None:
        chosen = default_systems(retriever_model)
    try:
        results = run_systems(
            bench,
            retriever_model,
            chosen,
            thinking,
            include_query_vector=include_query_vector,
            fusion=fused_by,
        )
    except (ThinkerError, ValueError) as error:  # ValueError: e.g. distilled systems on a model without them
        fail(str(error))
    summary = {"command": shlex.join(["o1-retriever", *sys.argv[1:]]), **summarise(bench, results)}
    write_outputs(out, summary, results)
    typer.echo(markdown_table(summary))
    typer.echo(f"wrote {out}/results.md, results.json, runs/*.trec")
