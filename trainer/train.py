"""The joint training loop: behaviour cloning + contrastive learning, resumable, one or many processes.

Run under ``torchrun --nproc_per_node N`` (gloo on CPUs, nccl on GPUs): each process takes its slice of every
global batch, passages are all-gathered with gradients for cross-process negatives, losses are sums divided by
global counts and gradients are summed, so N processes with global batch B compute what one process with batch B
computes.
"""

from __future__ import annotations

import json
import logging
import math
import random
import shutil
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch

from o1_retriever.model.causal_lm import default_device
from o1_retriever.trainer.batches import (
    Collator,
    DataCounts,
    batch_indices,
    lm_labels,
    make_example,
    steps_per_epoch,
    usable_records,
)
from o1_retriever.trainer.config import TrainConfig
from o1_retriever.trainer.distributed import all_sum, gather_rows, sum_gradients, world
from o1_retriever.trainer.losses import false_negatives, info_nce
from o1_retriever.trainer.modeling import TrainableModel
from o1_retriever.trainer.records import as_records, held_out_ids, split_records, with_thoughts
from o1_retriever.trainer.schedule import lr_at

logger = logging.getLogger(__name__)
STATE_FILE = "trainer_state.pt"
LOG_FILE = "train_log.jsonl"


class RunExistsError(RuntimeError):
    pass


# ---------------------------------------------------------------------- one step
def step_gradients(
    model: TrainableModel,
    batches: list[dict],
    queries_global: int,
    tokens_global: int,
    config: TrainConfig,
    full_logits: bool = False,
) -> tuple[float, float]:
    """Forward and backward over this process's micro-batches; returns this process's share of (loss_r, loss_g)."""
    loss_r = loss_g = 0.0
    for batch in batches:
        queries, passages, token_losses = model.forward(batch, full_logits=full_logits)
        offset, keys = 0, batch["passage_keys"]
        if config.cross_device_negatives:
            passages, offset = gather_rows(passages)
            keys, _ = gather_rows(keys)
        positive = batch["positive"] + offset
        ignore = false_negatives(batch["positive_keys"], keys, positive) if config.mask_known_positives else None
        contrastive = info_nce(queries, passages, positive, config.temperature, ignore).sum() / queries_global
        lm = token_losses.sum() / max(1, tokens_global)
        loss = config.lambda_contrastive * contrastive + (1 - config.lambda_contrastive) * lm
        loss.backward()
        loss_r += float(contrastive.detach())
        loss_g += float(lm.detach())
    return loss_r, loss_g


def batch_tokens(batches: list[dict]) -> int:
    """Tokens read in these micro-batches (every attention mask: thinker, queries, passages)."""
    return sum(int(part["attention_mask"].sum()) for b in batches for part in b.values() if isinstance(part, dict))


def local_batches(step: int, records: list[dict], config: TrainConfig, collate: Collator, rank: int, size: int):
    """This process's micro-batches of global step ``step``, and the global counts of queries and LM tokens."""
    if config.batch_size % size:
        raise ValueError(f"batch_size {config.batch_size} must be divisible by the {size} processes")
    epoch, indices = batch_indices(step, len(records), config)
    per_process = config.batch_size // size
    mine = indices[rank * per_process : (rank + 1) * per_process]
    chunk = math.ceil(len(mine) / config.gradient_accumulation)
    batches = [
        collate([make_example(records[i], i, epoch, config) for i in mine[s : s + chunk]])
        for s in range(0, len(mine), chunk)
    ]
    labels = [lm_labels(b) for b in batches]
    tokens = all_sum(sum(int((lab[:, 1:] != -100).sum()) for lab in labels if lab is not None))
    return batches, config.batch_size, int(tokens)


# ---------------------------------------------------------------------- state
def _trainable_state(model: TrainableModel) -> dict[str, torch.Tensor]:
    return {n: p.detach().clone() for n, p in model.named_trainable().items()}


def save_state(out: Path, step: int, model: TrainableModel, optimizer, config: TrainConfig) -> None:
    state = {
        "step": step,
        "config": config.to_dict(),
        "params": _trainable_state(model),
        "optimizer": optimizer.state_dict(),
        "rng": {"torch": torch.get_rng_state(), "python": random.getstate(), "numpy": np.random.get_state()},
    }
    tmp = out / (STATE_FILE + ".tmp")
    torch.save(state, tmp)
    tmp.replace(out / STATE_FILE)


def load_state(out: Path, model: TrainableModel, optimizer, config: TrainConfig) -> int:
    state = torch.load(out / STATE_FILE, weights_only=False)
    saved = {k: v for k, v in state["config"].items() if k not in ("eval_every", "save_every", "log_every")}
    current = {k: v for k, v in config.to_dict().items() if k not in ("eval_every", "save_every", "log_every")}
    changed = sorted(k for k in current if saved.get(k) != current[k])
    if changed:
        raise RunExistsError(f"{out} was trained with other settings ({', '.join(changed)}): resume with the same ones")
    params = model.named_trainable()
    with torch.no_grad():
        for name, value in state["params"].items():
            params[name].copy_(value)
    optimizer.load_state_dict(state["optimizer"])
    torch.set_rng_state(state["rng"]["torch"])
    random.setstate(state["rng"]["python"])
    np.random.set_state(state["rng"]["numpy"])
    return int(state["step"])


def prepare_output(out: Path, resume: bool, overwrite: bool) -> None:
    if out.exists() and any(out.iterdir()):
        if overwrite:
            shutil.rmtree(out)
        elif not resume:
            raise RunExistsError(
                f"{out} already holds a run: pass --resume to continue it or --overwrite to start again"
            )
        elif not (out / STATE_FILE).exists():
            raise RunExistsError(f"{out} holds no resumable state ({STATE_FILE}); use --overwrite or another --out")
    out.mkdir(parents=True, exist_ok=True)


# ---------------------------------------------------------------------- the run
def train(
    config: TrainConfig,
    records: list[dict],
    *,
    resume: bool = False,
    overwrite: bool = False,
    stop_after: int | None = None,
    progress: bool = True,
    device: str | None = None,
) -> dict:
    """Train and write a ThinkThenEmbed checkpoint to ``config.out``; returns a summary."""
    rank, size = world()
    device = device or default_device()
    out = Path(config.out)
    if rank == 0:
        prepare_output(out, resume, overwrite)
    if size > 1:
        torch.distributed.barrier()
    records = as_records(records)
    if config.thoughts:
        records = with_thoughts(records, config.thoughts)
    if config.hold_out:
        held = held_out_ids(config.hold_out, config.dev_split, config.dev_queries)
        records, dev = split_records(records, held)
        if rank == 0:
            logger.warning("%d records of %d dev queries held out of training", len(dev), len(held))
    records, counts = usable_records(records)
    if counts.records < config.batch_size:
        raise ValueError(f"{counts.records} usable records, fewer than one batch of {config.batch_size}")
    _report_counts(counts, config, rank)

    model = TrainableModel.build(config, device)
    collate = Collator(model)
    params = model.named_trainable()
    trainable = list(params.values())
    groups = [{"params": [p for n, p in params.items() if n != "special.delta"], "lr_scale": 1.0}]
    if "special.delta" in params:
        scale = config.special_token_learning_rate / config.learning_rate
        groups.append({"params": [params["special.delta"]], "lr_scale": scale})
    optimizer = torch.optim.AdamW(groups, lr=config.learning_rate, weight_decay=config.weight_decay)
    total = config.max_steps or max(1, int(config.epochs * steps_per_epoch(len(records), config.batch_size)))
    warmup = int(config.warmup_ratio * total)
    start = load_state(out, model, optimizer, config) if resume and (out / STATE_FILE).exists() else 0
    if rank == 0 and not resume:
        (out / "train_config.json").write_text(json.dumps(config.to_dict(), indent=2) + "\n")

    from tqdm.auto import tqdm

    model.train()
    bar = tqdm(total=total, initial=start, unit="step", desc="training", disable=not progress or rank != 0)
    began = time.perf_counter()
    tokens_seen = 0
    last = {}
    for step in range(start, total):
        lr = lr_at(step, total, warmup, config.learning_rate)
        for group in optimizer.param_groups:
            group["lr"] = lr * group["lr_scale"]
        batches, queries_global, tokens_global = local_batches(step, records, config, collate, rank, size)
        loss_r, loss_g = step_gradients(model, batches, queries_global, tokens_global, config)
        sum_gradients(trainable)
        torch.nn.utils.clip_grad_norm_(trainable, config.max_grad_norm)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        tokens_seen += batch_tokens(batches)
        last = {"step": step + 1, "lr": lr, "loss_r": all_sum(loss_r), "loss_g": all_sum(loss_g)}
        bar.update(1)
        bar.set_postfix(loss_r=f"{last['loss_r']:.3f}", loss_g=f"{last['loss_g']:.3f}")
        if rank == 0 and (step + 1) % config.log_every == 0:
            with (out / LOG_FILE).open("a") as log:
                log.write(json.dumps(last) + "\n")
        if config.eval_every and config.eval_data and (step + 1) % config.eval_every == 0 and rank == 0:
            last["eval_ndcg10"] = evaluate_now(model, config)
            with (out / LOG_FILE).open("a") as log:
                log.write(json.dumps({"step": step + 1, "eval_ndcg10": last["eval_ndcg10"]}) + "\n")
            model.train()
        done = step + 1
        if rank == 0 and (done % config.save_every == 0 or done == stop_after):
            save_state(out, done, model, optimizer, config)
        if stop_after is not None and done >= stop_after and done < total:
            bar.close()
            return {"stopped_at": done, "total_steps": total, **last}
    bar.close()
    seconds = time.perf_counter() - began
    summary = {
        "total_steps": total,
        "seconds": seconds,
        "tokens_per_s_this_process": tokens_seen / max(seconds, 1e-9),
        "data": asdict(counts),
        **last,
    }
    if rank == 0:
        save_checkpoint(model, out)
        (out / STATE_FILE).unlink(missing_ok=True)
        (out / "train_summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    if size > 1:
        torch.distributed.barrier()
    return summary


def _report_counts(counts: DataCounts, config: TrainConfig, rank: int) -> None:
    if rank:
        return
    if counts.skipped:
        logger.warning("%d records skipped (no query or positive, or a synthesis error)", counts.skipped)
    if counts.without_thought:
        logger.warning("%d records have no thought: trained on the thought-free path only", counts.without_thought)
    if counts.without_negatives:
        logger.warning("%d records have no negatives: in-batch negatives only for them", counts.without_negatives)


def evaluate_now(model: TrainableModel, config: TrainConfig) -> float:
    """nDCG@10 of the o1 system on the evaluation folder, with the weights as they are now."""
    from o1_retriever.evaluation.benchmark import load_benchmark
    from o1_retriever.evaluation.systems import run_systems
    from o1_retriever.evaluation.reports import summarise

    bench = load_benchmark(config.eval_data, config.eval_split, max_queries=config.eval_max_queries)
    model.train(False)
    results = run_systems(bench, model.retriever, ("o1",), {"n_thoughts": 1, "max_new_tokens": 32}, cache_corpus=False)
    return summarise(bench, results)["systems"]["o1"]["metrics"]["nDCG@10"]


def save_checkpoint(model: TrainableModel, out: Path) -> Path:
    """Fold the trained special-token rows into the embeddings and write the model as a checkpoint: its config is
    ``config.model``, the one the model was built and trained with."""
    model.special.fold_into_embeddings()
    return model.retriever.save_pretrained(out)
