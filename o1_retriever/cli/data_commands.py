"""Training-data commands: synthesize (an expert thinks), records (thought-free records), vote (the committee)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from o1_retriever.cli import app
from o1_retriever.cli.common import ApiKeyEnvOption, BaseUrlOption, ConcurrencyOption, TimeoutOption, fail

# how `synthesize` and `records` build training records from a BEIR folder
SplitOption = typer.Option("train", help="qrels split, for a BEIR folder")
NegativesOption = typer.Option(15, min=0, help="BM25 hard negatives per query, for a BEIR folder")
MinRelevanceOption = typer.Option(1, min=1, help="Positives: documents judged at least this, for a BEIR folder")


@app.command()
def synthesize(
    source: Path = typer.Argument(..., help="Training JSONL (query, pos, neg) or a BEIR folder"),
    out: Path = typer.Option(..., "--out", "-o", help="Output JSONL; rerun the same command to resume"),
    split: str = SplitOption,
    negatives: int = NegativesOption,
    min_relevance: int = MinRelevanceOption,
    expert: str = typer.Option(
        "local", help="The expert thinker: 'local' (a transformers LM) or 'openai' (an endpoint)"
    ),
    expert_model: str = typer.Option("smollm2-135m-instruct", help="Local model, or the endpoint's model name"),
    base_url: Optional[str] = BaseUrlOption,
    api_key_env: str = ApiKeyEnvOption,
    concurrency: int = ConcurrencyOption,
    timeout: float = TimeoutOption,
    m: int = typer.Option(3, "--m", min=1, help="Candidate thoughts per query"),
    shots: int = typer.Option(3, min=0, help="Few-shot examples from other queries"),
    seed: int = typer.Option(0, help="Sampling seed (each candidate's seed derives from it and the query)"),
    max_new_tokens: int = typer.Option(96, min=1, help="Tokens per candidate at most"),
    temperature: float = typer.Option(0.8, min=0.0, help="Sampling temperature (high: diverse candidates)"),
    top_p: float = typer.Option(0.95, min=0.0, max=1.0, help="Nucleus sampling mass"),
    batch_size: int = typer.Option(8, min=1, help="Records per expert call and per durable write"),
    limit: Optional[int] = typer.Option(None, min=1, help="Only the first N records"),
    retry_failed: bool = typer.Option(False, help="Redo records that failed in an earlier run"),
) -> None:
    """Exploration: an expert LLM writes m candidate thoughts per query. Crash-safe; rerun to resume."""
    from o1_retriever.data import DataError
    from o1_retriever.model.thinkers import build_thinker
    from o1_retriever.trainer.records import load_records
    from o1_retriever.trainer.synthesize import SynthesisConfig
    from o1_retriever.trainer.synthesize import synthesize as run_synthesis
    from o1_retriever.model.weights import MissingWeightsError

    try:
        records = load_records(source, split, negatives, strict=False, min_relevance=min_relevance)[:limit]
    except DataError as error:
        fail(str(error))
    try:
        writer = build_thinker(
            expert, expert_model, base_url=base_url, api_key_env=api_key_env, concurrency=concurrency, timeout=timeout
        )
    except (ValueError, MissingWeightsError) as error:
        fail(str(error))
    config = SynthesisConfig(m, shots, seed, batch_size, max_new_tokens, temperature, top_p)
    try:
        summary = run_synthesis(records, writer, out, config, retry_failed=retry_failed)
    except DataError as error:
        fail(str(error))
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
        seen = {r.query for path in exclude for r in read_records(path, strict=False)}
        every = beir_records(source, split, negatives, min_relevance)
        made = [r for r in every if r.query not in seen]
    except DataError as error:
        fail(str(error))
    out.parent.mkdir(parents=True, exist_ok=True)
    write_jsonl_atomic(out, [{**r.to_dict(), "source": f"{source.name}/{split}"} for r in made])
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
    candidates: Optional[Path] = typer.Option(
        None,
        help="JSONL of (query, thoughts), as `think --records` writes: each record's candidates are its query's "
        "thoughts there (another thinker's, e.g. an expert's) instead of its own",
    ),
) -> None:
    """Refinement: the committee scores every candidate against all positives and votes for one thought."""
    from o1_retriever.data import DataError, load_corpus
    from o1_retriever.model.prompts import document_text
    from o1_retriever.trainer.committee import build_members
    from o1_retriever.trainer.committee import vote as run_vote
    from o1_retriever.trainer.records import read_records, restrict_positives, with_candidates, write_jsonl_atomic
    from o1_retriever.model.weights import MissingWeightsError

    try:
        records = read_records(source, strict=False)
        if candidates:
            records = with_candidates(records, candidates)
        if judged:
            records, dropped = restrict_positives(records, judged, "train", min_relevance)
            typer.echo(f"{dropped} records dropped: no positive judged >= {min_relevance} in {judged}")
        passages = [document_text(d.text, d.title).strip() for d in load_corpus(corpus)] if corpus else []
    except DataError as error:
        fail(str(error))
    weight_values = None
    if weights:
        try:
            weight_values = [float(w) for w in weights.split(",")]
        except ValueError:
            fail(f"--weights must be comma-separated numbers, got {weights!r}")
    try:
        members = build_members(member, records, passages)
        voted, summary = run_vote(records, members, method=method, weights=weight_values, batch_size=batch_size)
    except (MissingWeightsError, ValueError) as error:
        fail(str(error))
    out.parent.mkdir(parents=True, exist_ok=True)
    write_jsonl_atomic(out, [r.to_dict() for r in voted])
    typer.echo(
        f"{summary.total} records: {summary.voted} voted, {summary.skipped} without candidates (kept, not voted)"
    )
    invalid = [r.error for r in voted if r.error is not None]
    if invalid:
        typer.echo(
            f"{len(invalid)} of them invalid, kept with the reason in 'error' (never trained on); "
            f"the first: {invalid[0]}"
        )
