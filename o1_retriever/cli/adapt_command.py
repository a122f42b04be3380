"""The adapt command: a thin layer over ``o1_retriever.trainer.adapt.adapt``."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from o1_retriever.cli import app
from o1_retriever.cli.common import ApiKeyEnvOption, BaseUrlOption, ConcurrencyOption, TimeoutOption, fail


def read_examples(path: Path) -> tuple[str, ...]:
    """Example questions: one per line, or JSONL with a ``query`` or ``text`` field (a BEIR queries.jsonl)."""
    import json

    from o1_retriever.data import DataError

    if not path.is_file():
        raise DataError(f"{path}: no such file (--examples takes a file of questions, one per line)")
    out = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        if line.lstrip().startswith("{"):
            try:
                row = json.loads(line)
            except json.JSONDecodeError as error:
                raise DataError(f"{path}:{number}: malformed JSON ({error.msg})") from None
            text = row.get("query") or row.get("text") if isinstance(row, dict) else None
            if not isinstance(text, str) or not text.strip():
                raise DataError(f"{path}:{number}: no 'query' or 'text' field")
            out.append(text.strip())
        else:
            out.append(line.strip())
    return tuple(out[:8])  # a few set the style; a long prompt slows a small writer


@app.command()
def adapt(
    corpus: Path = typer.Argument(
        ..., help="What `index` reads: a BEIR folder, JSONL (id, text, title), .txt/.md folder"
    ),
    out: Path = typer.Option(
        ..., "--out", "-o", help="The adapted checkpoint folder; rerun the same command to resume"
    ),
    model: str = typer.Option("default", "--model", "-m", help="The split-mode checkpoint adapted"),
    queries: int = typer.Option(500, min=1, help="Budget: passages sampled, one question written for each"),
    minutes: Optional[float] = typer.Option(None, min=0.1, help="Time budget for writing questions and thoughts"),
    writer: str = typer.Option(
        "local", help="Who writes questions and thoughts: 'local' (a transformers LM) or 'openai'"
    ),
    writer_model: str = typer.Option("smollm2-135m-instruct", help="Local model, or the endpoint's model name"),
    writer_precision: str = typer.Option("int8", help="A local writer's weights: int8 (faster on a CPU) or fp32"),
    base_url: Optional[str] = BaseUrlOption,
    api_key_env: str = ApiKeyEnvOption,
    concurrency: int = ConcurrencyOption,
    timeout: float = TimeoutOption,
    question_prompt: str = typer.Option(
        "auto",
        help="The question prompt: the instruction 'after' the passage, 'before' it, 'own-words' (a searcher's "
        "question in their own words), or 'auto' (the one that yields more questions on the first passages)",
    ),
    examples: Optional[Path] = typer.Option(
        None, help="A few real questions of your users (unjudged; one per line or JSONL): they set the style"
    ),
    passage_words: Optional[int] = typer.Option(None, min=20, help="Long documents: passages of this many words"),
    thoughts: bool = typer.Option(
        True, help="Think for each question and distil the voted thought (--no-thoughts: train on the questions alone)"
    ),
    seed: int = typer.Option(0, help="Seeds the sample, the writer's sampling and the held-out split"),
    distill_settings: list[str] = typer.Option([], "--distill-set", help="A DistillConfig field: max_epochs=6"),
    require_gain: bool = typer.Option(
        False, help="Exit 1 when the adapted checkpoint does not beat its base on the held-out questions"
    ),
    overwrite: bool = typer.Option(False, help="Delete what --out holds and start again"),
) -> None:
    """Adapt a checkpoint to your corpus without judged queries: an LLM writes questions for sampled passages, the
    ones the base retriever finds their passage for are kept with mined negatives, thoughts are written and voted,
    and the query encoder is distilled; a held-out slice checks base vs adapted and picks the fusion. Resumable."""
    from o1_retriever.data import DataError
    from o1_retriever.model.thinkers import ThinkerError
    from o1_retriever.model.weights import MissingWeightsError
    from o1_retriever.trainer.adapt import AdaptConfig, AdaptError
    from o1_retriever.trainer.adapt import adapt as run_adapt
    from o1_retriever.trainer.adapt.questions import WriterError
    from o1_retriever.trainer.adapt.report import MIN_CHECKED
    from o1_retriever.trainer.config import parse_assignment

    try:
        config = AdaptConfig(
            corpus=str(corpus),
            out=str(out),
            model=model,
            queries=queries,
            minutes=minutes,
            seed=seed,
            passage_words=passage_words,
            writer=writer,
            writer_model=writer_model,
            writer_precision=writer_precision,  # adapt applies it to a local writer only
            base_url=base_url,
            api_key_env=api_key_env,
            concurrency=concurrency,
            timeout=timeout,
            examples=read_examples(examples) if examples else (),
            question_prompt=question_prompt,
            thoughts=thoughts,
            distill=dict(parse_assignment(s) for s in distill_settings),
        )
        report = run_adapt(config, overwrite=overwrite)
    except (AdaptError, ValueError) as error:  # a refusal or bad settings: the message says what to change
        fail(str(error))
    except (DataError, MissingWeightsError, ThinkerError, WriterError) as error:  # a stage stopped: resumable
        fail(f"{error}; finished work is kept in {out}: rerun the same command to resume")
    except KeyboardInterrupt:
        typer.secho(f"interrupted: finished work is kept in {out}; rerun the same command to resume", err=True)
        raise typer.Exit(code=130) from None
    check = report["check"]
    typer.echo(
        f"adapted checkpoint in {out}: held-out nDCG@10 {check['base']['nDCG@10']:.4f} (base) -> "
        f"{check['adapted']['nDCG@10']:.4f} (adapted, fusion {check['adapted']['fusion']}), p = {check['p']:.3f}; "
        f"report: {out}/adapt_report.md"
    )
    if require_gain and (check["gain_nDCG@10"] <= 0 or check["held_out"] < MIN_CHECKED):
        typer.secho("error: the adapted checkpoint does not beat its base on enough held-out questions", err=True)
        raise typer.Exit(code=1)
