"""The train command: settings from the ``TrainConfig`` dataclass (a YAML/JSON file, ``--set key=value``, and the
few common ones as flags)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from o1_retriever.cli import app
from o1_retriever.cli.common import fail


@app.command()
def train(
    data: Optional[Path] = typer.Option(None, "--data", help="Voted JSONL (query, pos, neg, thought)"),
    thoughts: Optional[Path] = typer.Option(
        None, "--thoughts", help="JSONL from `think --records`: each record trains on its query's first thought"
    ),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Checkpoint folder"),
    hold_out: list[Path] = typer.Option(
        [], "--hold-out", help="BEIR folder whose first dev queries (dev_split, dev_queries) are left out (repeatable)"
    ),
    config_file: Optional[Path] = typer.Option(None, "--config", help="YAML or JSON with any TrainConfig fields"),
    settings: list[str] = typer.Option(
        [], "--set", help="Any TrainConfig field, dotted for the model: --set batch_size=16 --set model.thinking.seed=1"
    ),
    base: Optional[str] = typer.Option(
        None, "--base", help="model.base: the causal LM (built-in name, folder, hub id)"
    ),
    mode: Optional[str] = typer.Option(None, help="model.mode: shared (the paper) or split"),
    encoder: Optional[str] = typer.Option(None, help="model.encoder: split mode's encoder to fine-tune"),
    train_thinker: Optional[bool] = typer.Option(
        None, help="model.thinker_trained: --no-train-thinker (split mode) fine-tunes the encoder alone"
    ),
    max_steps: Optional[int] = typer.Option(None, min=1, help="max_steps"),
    resume: bool = typer.Option(False, help="Continue the run in --out from its last saved state"),
    overwrite: bool = typer.Option(False, help="Delete what --out holds and start again"),
    stop_after: Optional[int] = typer.Option(None, min=1, help="Save and stop after this many steps (resume later)"),
) -> None:
    """Joint training: behaviour cloning of thoughts + contrastive embedding, LoRA. Runs under torchrun too."""
    from o1_retriever.data import DataError
    from o1_retriever.trainer.config import TrainConfig, parse_assignment, with_overrides
    from o1_retriever.trainer.records import read_records
    from o1_retriever.trainer.train import RunExistsError
    from o1_retriever.trainer.train import train as run_training
    from o1_retriever.model.weights import MissingWeightsError

    flags = {
        "data": str(data) if data else None,
        "thoughts": str(thoughts) if thoughts else None,
        "hold_out": [str(h) for h in hold_out] or None,
        "out": str(out) if out else None,
        "model.base": base,
        "model.mode": mode,
        "model.encoder": encoder,
        "model.thinker_trained": train_thinker,
        "max_steps": max_steps,
    }
    try:
        # a flag given overrides --set; a flag not given leaves --set as it is
        overrides = {**dict(parse_assignment(s) for s in settings), **{k: v for k, v in flags.items() if v is not None}}
        if config_file:
            config = TrainConfig.from_file(config_file, overrides)
        else:
            config = TrainConfig.from_dict(with_overrides({}, overrides), "--set")
    except (ValueError, TypeError, OSError) as error:
        fail(str(error))
    if not config.data:
        fail("--data is required (a voted JSONL from `o1-retriever vote`)")
    try:
        records = read_records(config.data)
        summary = run_training(config, records, resume=resume, overwrite=overwrite, stop_after=stop_after)
    except (DataError, MissingWeightsError, RunExistsError, ValueError) as error:
        fail(str(error))
    if "stopped_at" in summary:
        typer.echo(f"stopped after step {summary['stopped_at']} of {summary['total_steps']}; rerun with --resume")
    else:
        typer.echo(f"trained {summary['total_steps']} steps; checkpoint in {config.out}")


@app.command()
def distill(
    data: Path = typer.Option(..., "--data", help="Voted JSONL (query, pos, neg, thought), e.g. data/voted.jsonl.gz"),
    out: Path = typer.Option(Path("o1-distilled"), "--out", "-o", help="Checkpoint folder written"),
    model: str = typer.Option("default", "--model", "-m", help="The split-mode checkpoint whose queries are distilled"),
    hold_out: list[Path] = typer.Option(
        [], "--hold-out", help="BEIR folder whose first --dev-queries queries of --dev-split are held out (repeatable)"
    ),
    dev_split: str = typer.Option("train", help="qrels split of the held-out queries"),
    dev_queries: int = typer.Option(150, min=1, help="Held-out queries per --hold-out folder"),
    settings: list[str] = typer.Option(
        [], "--set", help="Any DistillConfig field: --set distill_weight=0.5 --set max_epochs=4"
    ),
    overwrite: bool = typer.Option(False, help="Start again instead of resuming the run in --out"),
) -> None:
    """Distil thinking into the query encoder: queries alone land where their voted thoughts take them
    (``encoding="distilled"``, no thinker at query time); documents and indexes are unchanged. Resumes by epoch."""
    from o1_retriever.data import DataError
    from o1_retriever.trainer.config import parse_assignment
    from o1_retriever.trainer.distill import DistillConfig
    from o1_retriever.trainer.distill import distill as run_distillation
    from o1_retriever.trainer.records import read_records
    from o1_retriever.model.weights import MissingWeightsError

    try:
        config = DistillConfig.from_dict(
            {
                "data": str(data),
                "out": str(out),
                "model": model,
                "hold_out": [str(h) for h in hold_out],
                "dev_split": dev_split,
                "dev_queries": dev_queries,
                **dict(parse_assignment(s) for s in settings),
            }
        )
        summary = run_distillation(config, read_records(data), overwrite=overwrite, progress=True)
    except (DataError, MissingWeightsError, ValueError, TypeError, OSError) as error:
        fail(str(error))
    except KeyboardInterrupt:
        typer.secho(f"interrupted: finished epochs are kept in {out}; rerun the same command to resume", err=True)
        raise typer.Exit(code=130) from None
    score = summary["history"][summary["best_epoch"]]["dev_nDCG@10"]
    chosen = "no held-out queries: last epoch" if score is None else f"held-out nDCG@10 {score:.4f}"
    typer.echo(
        f"distilled {summary['records']} queries ({summary['with_thought']} with a voted thought); best epoch "
        f"{summary['best_epoch']} ({chosen}); checkpoint in {out}"
    )
