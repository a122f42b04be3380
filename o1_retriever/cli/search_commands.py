"""Reading an index: search (the hits of one query) and think (the thoughts a model writes)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Optional

import typer

from o1_retriever.cli import app
from o1_retriever.cli.common import (
    FusionOption,
    IndexChoice,
    ModelOption,
    ThinkerChoice,
    fail,
    index_options,
    load_model,
    thinker_options,
    thinking_options,
)
from o1_retriever.model.query_encoding import QueryEncoding

def _encoding(encoding: Optional[str], **old_flags: bool) -> Optional[str]:
    """``--encoding``, or the one deprecated flag given (0.1's ``--think`` and so on, each named for its encoding;
    with a note on stderr); two ways at once are an error."""
    chosen = [name for name, given in old_flags.items() if given]
    if chosen:
        typer.secho(f"note: --{chosen[0]} is deprecated: use --encoding {chosen[0]}", err=True)
    if len(chosen) + (encoding is not None) > 1:
        fail("--encoding, --think, --gated, --distilled and --plain are ways of embedding the query: choose one")
    if chosen:
        return chosen[0]
    names = [e.value for e in QueryEncoding]
    if encoding is not None and encoding not in names:
        fail(f"--encoding is one of {', '.join(names)}; got {encoding!r}")
    return encoding


@app.command()
@thinker_options
@thinking_options
@index_options
def search(
    query: str = typer.Argument(..., help="The query"),
    k: int = typer.Option(5, "--k", "-k", min=1, help="Number of documents"),
    model: Optional[str] = ModelOption,
    encoding: Optional[str] = typer.Option(
        None,
        "--encoding",
        "-e",
        help="How the query becomes a vector: plain (the query alone), think (its thoughts join its vector: "
        "seconds a query on a CPU), distilled (the checkpoint's distilled query encoder: thinking's gain at the "
        "cost of plain), gated (think only when the plain query finds nothing close: the checkpoint's "
        "think_below) [default: distilled when the checkpoint has it, else plain]",
        show_default=False,
    ),
    think: bool = typer.Option(False, "--think", hidden=True, help="Deprecated: --encoding think"),
    gated: bool = typer.Option(False, "--gated", hidden=True, help="Deprecated: --encoding gated"),
    distilled: bool = typer.Option(False, "--distilled", hidden=True, help="Deprecated: --encoding distilled"),
    plain: bool = typer.Option(False, "--plain", hidden=True, help="Deprecated: --encoding plain"),
    mode: str = typer.Option("hybrid", help="hybrid (dense + BM25, fused), dense or lexical"),
    fusion: Optional[str] = FusionOption,
    where: Optional[str] = typer.Option(
        None,
        help="A metadata filter for both sides, as Chroma's where in JSON: "
        '\'{"year": 2020}\', \'{"year": {"$gte": 2020}}\'',
    ),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output"),
    thinker: ThinkerChoice = ThinkerChoice(),
    thinking: Optional[dict] = None,
    index: IndexChoice = IndexChoice(),
) -> None:
    """Search an index: shows the thoughts, then the hits with scores and snippets."""
    from o1_retriever.model.thinkers import ThinkerError
    from o1_retriever.retrieval.fusion import Fusion
    from o1_retriever.retrieval.index import EmptyIndexError
    from o1_retriever.retrieval.options import SearchOptions
    from o1_retriever.retrieval.stores import StoreUnavailableError

    if not query.strip():
        fail("the query is empty")
    encoding = _encoding(encoding, think=think, gated=gated, distilled=distilled, plain=plain)
    if encoding not in ("think", "gated") and thinking:
        given = ", ".join("--" + name.replace("_", "-") for name in thinking)
        fail(f"{given} set how the query is thought about: add --encoding think (or gated)")
    try:
        filters = json.loads(where) if where is not None else None
    except ValueError as error:
        fail(f"--where is not JSON ({error}): pass an object, e.g. '{{\"year\": 2020}}'")
    if filters is not None and not isinstance(filters, dict):
        fail(f"--where must be a JSON object, e.g. '{{\"year\": 2020}}', got {where}")
    try:
        options = SearchOptions.of(
            encoding=encoding,
            mode=mode,
            fusion=Fusion.named(fusion) if fusion else None,
            where=filters,
            thinking=thinking,
        )
    except (ValueError, TypeError) as error:
        fail(str(error))
    chroma = index.open(load_model(model, thinker=thinker), create=False)
    try:
        hits = chroma.query(query, k, options)
    except (EmptyIndexError, ThinkerError, ValueError, StoreUnavailableError) as error:
        fail(str(error))
    if as_json:
        payload = {
            "query": query,
            "thoughts": hits[0].thoughts if hits else [],
            "hits": [
                {
                    "id": h.id,
                    "score": h.score,
                    "dense_rank": h.dense_rank,
                    "lexical_rank": h.lexical_rank,
                    "text": h.text,
                    "metadata": h.metadata,
                }
                for h in hits
            ],
        }
        json.dump(payload, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return
    _print_hits(query, hits)


def _print_hits(query: str, hits) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    console.print(f"[bold]query:[/bold] {query}")
    for i, thought in enumerate(hits[0].thoughts if hits else [], start=1):
        console.print(f"[dim]thought {i}:[/dim] {' '.join(thought.split())[:300]}")
    table = Table(show_lines=False)
    table.add_column("#", justify="right")
    table.add_column("score", justify="right")
    table.add_column("id")
    table.add_column("text")
    for rank, hit in enumerate(hits, start=1):
        title = hit.metadata.get("title") or ""
        snippet = " ".join(f"{title} {hit.text}".split())
        table.add_row(str(rank), f"{hit.score:.3f}", hit.id, snippet[:160] + ("…" if len(snippet) > 160 else ""))
    console.print(table)


@app.command()
@thinker_options
@thinking_options
def think(
    queries: Optional[list[str]] = typer.Argument(None, help="One or more queries"),
    records: Optional[Path] = typer.Option(
        None, "--records", help="Training records (JSONL): think for each record's query instead, into --out"
    ),
    out: Optional[Path] = typer.Option(
        None, "--out", "-o", help="With --records: the thoughts file (JSONL, resumable) that train --thoughts reads"
    ),
    model: Optional[str] = ModelOption,
    thinker: ThinkerChoice = ThinkerChoice(),
    thinking: Optional[dict] = None,
) -> None:
    """Print the thoughts the model writes for queries (JSON lines); with --records, write them for every training
    record into --out, the file `train --thoughts` reads (to train an encoder on the thoughts it will serve)."""
    from o1_retriever.model.config import think_arguments
    from o1_retriever.model.thinkers import ThinkerError

    if bool(queries) == bool(records):
        fail("give queries, or --records FILE --out FILE")
    if records and (not out or out.suffix == ".gz"):
        fail("--records needs --out: a plain JSONL file to write (gzip it when it is complete)")
    retriever_model = load_model(model, thinker=thinker)
    settings = think_arguments(thinking)
    try:
        if records:
            _think_for_records(retriever_model, records, out, settings)
            return
        written = retriever_model.think(queries, **settings)
    except (ValueError, TypeError, ThinkerError) as error:
        fail(str(error))
    for query, thoughts in zip(queries, written):
        typer.echo(json.dumps({"query": query, "thoughts": thoughts}))


def _think_for_records(model, records_path: Path, out: Path, settings: dict, chunk: int = 24) -> None:
    """Thoughts for every usable record of ``records_path``, appended to ``out`` a chunk at a time; a rerun goes on
    after the lines already there (which must be this file's first records)."""
    from o1_retriever.data import DataError
    from o1_retriever.trainer.records import append_jsonl, read_finished, read_records, thought_rows

    try:
        usable = [r for r in read_records(records_path, strict=False) if r.usable]  # the ones train uses
        done = read_finished(out)
    except (DataError, OSError, json.JSONDecodeError) as error:
        fail(f"{error}")
    mine = [[r.extra.get("source"), r.query_id] for r in usable[: len(done)]]
    if [[d.get("source"), d.get("query_id")] for d in done] != mine:
        fail(f"{out} holds thoughts for other records than the first of {records_path}: write to a new --out")
    written = len(done)
    try:
        for start in range(written, len(usable), chunk):
            batch = usable[start : start + chunk]
            append_jsonl(out, thought_rows(batch, model.think([r.query for r in batch], **settings)))
            written += len(batch)
    except KeyboardInterrupt:
        typer.secho(f"interrupted after {written} of {len(usable)} records; rerun the same command to resume", err=True)
        raise typer.Exit(code=130) from None
    typer.echo(f"thoughts for {len(usable)} records in {out} ({len(usable) - len(done)} new)")
