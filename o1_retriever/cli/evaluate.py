"""The evaluate command: the systems of ``o1_retriever.evaluate.SYSTEMS`` on a BEIR folder."""

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
)
from o1_retriever.evaluate import SYSTEMS
from o1_retriever.lexical import QUERY_REPEATS


@app.command()
@thinker_options
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
    n_thoughts: Optional[int] = typer.Option(None, min=1, help="Thoughts per query [default: the model's]"),
    max_new_tokens: Optional[int] = typer.Option(None, min=1, help="Tokens per thought at most [default: the model's]"),
    temperature: Optional[float] = typer.Option(None, min=0.0, help="Sampling temperature [default: the model's]"),
    top_p: Optional[float] = typer.Option(None, min=0.0, max=1.0, help="Nucleus sampling mass [default: the model's]"),
    seed: Optional[int] = typer.Option(None, help="Sampling seed [default: the model's]"),
    no_repeat_ngram: Optional[int] = typer.Option(
        None, min=0, help="A thought never repeats an n-gram of its own (local thinker; 0 off) [default: the model's]"
    ),
    stop_at_sentence_end: Optional[bool] = typer.Option(
        None, help="A thought ends with its first sentence (local thinker) [default: the model's]"
    ),
    include_query_vector: Optional[bool] = typer.Option(
        None, help="Include the thought-free query vector in the mean [default: the model's]"
    ),
    lexical_repeats: int = typer.Option(
        QUERY_REPEATS, min=1, help="bm25-thoughts and o1-hybrid: the query's repeats before its thoughts"
    ),
    max_queries: Optional[int] = typer.Option(None, min=1, help="Evaluate only the first N queries"),
    max_docs: Optional[int] = typer.Option(None, min=1, help="Keep judged documents plus the first N documents"),
    hyde_generator: str = typer.Option("smollm2-135m-instruct", help="HyDE passage writer"),
    hyde_encoder: str = typer.Option("all-minilm-l6-v2", help="HyDE encoder"),
    strict: bool = typer.Option(False, help="Refuse a corpus with empty documents instead of skipping them"),
    thinker: ThinkerChoice = ThinkerChoice(),
) -> None:
    """Evaluate systems on a BEIR folder: Markdown table, JSON, TREC runs, significance tests."""
    from o1_retriever.data import DataError
    from o1_retriever.benchmark import load_benchmark
    from o1_retriever.evaluate import default_systems, run_systems
    from o1_retriever.reports import markdown_table, summarise, write_outputs
    from o1_retriever.thinkers import ThinkerError

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
    hyde = None
    if "hyde" in chosen:
        config = retriever_model.config
        same = (
            thinker.backend is None
            and config.mode == "split"
            and not config.thinker_trained
            and (config.base, config.encoder) == (hyde_generator, hyde_encoder)
        )
        hyde = retriever_model if same else load_model(hyde_generator, hyde_encoder)
    thinking = dict(
        n_thoughts=n_thoughts,
        max_new_tokens=max_new_tokens,
        temperature=temperature,
        top_p=top_p,
        seed=seed,
        no_repeat_ngram=no_repeat_ngram,
        stop_at_sentence_end=stop_at_sentence_end,
    )
    thinking = {k: v for k, v in thinking.items() if v is not None}
    try:
        results = run_systems(
            bench,
            retriever_model,
            chosen,
            thinking,
            hyde,
            include_query_vector=include_query_vector,
            lexical_repeats=lexical_repeats,
        )
    except (ThinkerError, ValueError) as error:  # ValueError: e.g. distilled systems on a model without them
        fail(str(error))
    summary = {"command": shlex.join(["o1-retriever", *sys.argv[1:]]), **summarise(bench, results)}
    write_outputs(out, summary, results)
    typer.echo(markdown_table(summary))
    typer.echo(f"wrote {out}/results.md, results.json, runs/*.trec")
