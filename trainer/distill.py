"""Thinking distilled into the query encoder (``encoding="distilled"``).

A split-mode checkpoint's encoder is copied and a LoRA adapter on the copy is trained to embed a query *alone* where
the frozen encoder puts the query with its committee-voted thought (the ``o1`` vector of that thought: the
renormalised mean of the query vector and the query + thought vector), plus InfoNCE against the records' passages,
so a query gets the thinking without a thinker at query time (SoftQE, 2024, does this for LLM expansions). A query
without a voted thought is anchored to its own frozen plain vector, which keeps the adapter from drifting out of
domain (chosen across domains on dev: docs/results.md, "Distilled thinking").

Documents never see the adapter: the passages are embedded once by the frozen encoder, so the index a checkpoint
built stays valid, and the training batch runs the encoder on short queries only. The result is the checkpoint
with a ``query_adapter/`` added.

Held-out queries (``hold_out``: the first ``dev_queries`` queries of a BEIR folder's ``dev_split``, the queries
``o1-retriever evaluate --split train --max-queries N`` scores) are never trained on; their nDCG@10 against the
passage bank after each epoch picks the epoch (early stopping). Each epoch's state is saved: a rerun resumes.
"""

from __future__ import annotations

import copy
import hashlib
import json
import logging
import random
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from o1_retriever.model import embedders
from o1_retriever.model.checkpoint import QUERY_ADAPTER_DIR
from o1_retriever.model.embedders import EncoderEmbedder
from o1_retriever.evaluation.metrics import mean_scores, per_query_scores
from o1_retriever.model.think_then_embed import ThinkThenEmbed
from o1_retriever.model.pooling import l2_normalize
from o1_retriever.trainer.config import DistillConfig
from o1_retriever.trainer.losses import cosine_distance, info_nce
from o1_retriever.trainer.records import TrainingRecord, held_out_ids, split_records
from o1_retriever.model.vector_cache import cached_vectors
from o1_retriever.model.weights import home_dir

logger = logging.getLogger(__name__)

STATE_FILE = "distill-state.pt"
CONFIG_FILE = "distill_config.json"


@dataclass
class PassageBank:
    """Every passage of the records, embedded once by the frozen encoder: the negatives of every query."""

    texts: list[str]
    vectors: torch.Tensor  # (N, dim) unit rows
    index: dict[str, int]

    @classmethod
    def build(cls, records: list[TrainingRecord], embedder, progress: bool = False) -> PassageBank:
        """The passages' vectors, from the on-disk cache (``$O1_RETRIEVER_HOME/passage-vectors/``, keyed by the
        encoder's fingerprint and the passages) when an earlier run embedded them."""
        texts = list(dict.fromkeys(p for r in records for p in (*r.pos, *r.neg)))
        digest = hashlib.sha256(json.dumps([embedder.fingerprint, texts]).encode()).hexdigest()[:16]
        vectors, _ = cached_vectors(
            home_dir() / "passage-vectors" / digest,
            len(texts),
            lambda start, stop: embedders.embed_documents(embedder, texts[start:stop]),
            chunk_size=512,
            progress="embedding the passages once" if progress else None,
        )
        return cls(texts, torch.from_numpy(vectors), {t: i for i, t in enumerate(texts)})

    def positives(self, record: TrainingRecord) -> list[int]:
        return [self.index[p] for p in record.pos]

    def ndcg(self, vectors: torch.Tensor, records: list[TrainingRecord]) -> float:
        """nDCG@10 of query vectors (one row per record) against the passages, each record's positives relevant."""
        top = torch.topk(vectors @ self.vectors.T, min(100, len(self.texts)), dim=1)
        run = {
            str(i): {str(j): float(s) for j, s in zip(idx.tolist(), val.tolist())}
            for i, (idx, val) in enumerate(zip(top.indices, top.values))
        }
        qrels = {str(i): {str(j): 1 for j in self.positives(r)} for i, r in enumerate(records)}
        return mean_scores(per_query_scores(qrels, run, ("nDCG@10",)))["nDCG@10"]


def teacher_vectors(embedder, records: list[TrainingRecord]) -> tuple[torch.Tensor, torch.Tensor]:
    """(targets (n, dim), has_thought (n,) bool), as the frozen encoder gives them: the o1 vector of a record's voted
    thought (the mean of the unit query and query + thought vectors, renormalised), or the plain query vector of a
    record without a thought (the anchor)."""
    queries = [r.query for r in records]
    thoughts = [r.voted_thought for r in records]
    with_thought = [i for i, t in enumerate(thoughts) if t is not None]
    targets = embedders.embed_queries(embedder, queries, [None] * len(queries)) if queries else None
    if with_thought:
        chosen = [queries[i] for i in with_thought]
        thought = embedders.embed_queries(embedder, chosen, [thoughts[i] for i in with_thought])
        targets[with_thought] = l2_normalize(targets[with_thought] + thought)
    has = torch.zeros(len(records), dtype=torch.bool)
    has[with_thought] = True
    return torch.from_numpy(targets), has


def student_embedder(model: ThinkThenEmbed, config: DistillConfig) -> EncoderEmbedder:
    """A copy of the model's encoder with a fresh LoRA adapter (an identity until trained)."""
    from peft import LoraConfig, get_peft_model

    torch.manual_seed(config.seed)
    module = get_peft_model(
        copy.deepcopy(model.embedder.module),
        LoraConfig(r=config.lora_r, lora_alpha=config.lora_alpha, lora_dropout=0.0, target_modules=config.lora_targets),
    )
    module.peft_config["default"].base_model_name_or_path = model.config.encoder
    return EncoderEmbedder(module, model.embedder.tokenizer, model.config)


def dev_ndcg(student: EncoderEmbedder, dev: list[TrainingRecord], bank: PassageBank) -> float | None:
    """nDCG@10 of the held-out queries over the passage bank (their positives are in it), student query vectors;
    None without held-out queries."""
    if not dev:
        return None
    student.module.eval()
    vectors = torch.from_numpy(embedders.embed_queries(student, [r.query for r in dev], [None] * len(dev)))
    return bank.ndcg(vectors, dev)


def epoch_loss(
    student: EncoderEmbedder,
    records: list[TrainingRecord],
    targets: torch.Tensor,
    has_thought: torch.Tensor,
    bank: PassageBank,
    optimizer: torch.optim.Optimizer,
    config: DistillConfig,
    epoch: int,
) -> dict[str, float]:
    """One pass over ``records`` in a seeded order; the mean losses."""
    student.module.train()
    order = np.random.default_rng([config.seed, epoch]).permutation(len(records))
    rng = random.Random(f"{config.seed}:{epoch}")
    sums = {"info_nce": 0.0, "distill": 0.0}
    for start in range(0, len(order) - config.batch_size + 1, config.batch_size):
        rows = order[start : start + config.batch_size].tolist()
        batch = [records[i] for i in rows]
        queries = embedders.forward(student, student.query_batch([r.query for r in batch], [None] * len(batch)))
        positive = torch.tensor([bank.index[rng.choice(r.pos)] for r in batch])
        ignore = torch.zeros(len(batch), len(bank.texts), dtype=torch.bool)
        for i, record in enumerate(batch):  # a record's other positives are never its negatives
            ignore[i, bank.positives(record)] = True
        ignore[torch.arange(len(batch)), positive] = False
        contrastive = info_nce(queries, bank.vectors, positive, config.temperature, ignore).mean()
        weights = torch.where(has_thought[rows], config.distill_weight, config.anchor_weight)
        distance = cosine_distance(queries, targets[rows])
        distill = (distance * has_thought[rows]).sum() / len(batch)
        loss = contrastive + (distance * weights).sum() / len(batch)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        sums["info_nce"] += contrastive.item()
        sums["distill"] += distill.item()
    steps = max(1, len(order) // config.batch_size)
    return {name: value / steps for name, value in sums.items()}


def distill(
    config: DistillConfig,
    records: list[TrainingRecord],
    *,
    overwrite: bool = False,
    progress: bool = False,
    held: set[tuple[str, str]] | None = None,
) -> dict:
    """Train the distilled query encoder and write the checkpoint (the model's files + ``query_adapter/``) to
    ``config.out``; a rerun of the same config resumes after its last finished epoch (``progress``: a bar over the
    epochs, with the held-out score). ``held``: the (source, query id) of the records held out, in place of
    ``config.hold_out``'s (``adapt`` holds out synthetic questions). Returns a summary."""
    out = Path(config.out)
    _prepare(out, config, overwrite)
    model = ThinkThenEmbed.from_pretrained(config.model, cache=False)
    if model.config.mode != "split":
        raise ValueError(f"{config.model} is a {model.config.mode}-mode model: distillation needs split mode")
    if held is None:
        held = held_out_ids(config.hold_out, config.dev_split, config.dev_queries) if config.hold_out else set()
    train, dev = split_records(records, held)
    if not train:
        raise ValueError(f"{config.data}: no usable record left to train on after holding out {len(dev)}")
    bank = PassageBank.build(train + dev, model.embedder, progress)
    targets, has_thought = teacher_vectors(model.embedder, train)
    student = student_embedder(model, config)
    trainable = [p for p in student.module.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=config.learning_rate)
    state = _load_state(out, student, optimizer)
    if state is None:
        state = {"epoch": 0, "history": [{"epoch": 0, "dev_nDCG@10": dev_ndcg(student, dev, bank)}]}
        state.update(best_epoch=0, best=_adapter_state(student), best_score=state["history"][0]["dev_nDCG@10"])
    counts = (len(train), int(has_thought.sum()), len(dev))
    logger.info("distilling: %d train records (%d with a thought), %d held out", *counts)
    bar = tqdm(total=config.max_epochs, initial=state["epoch"], desc="distilling", unit="epoch", disable=not progress)
    while state["epoch"] < config.max_epochs and state["epoch"] - state["best_epoch"] < config.patience:
        epoch = state["epoch"] + 1
        began = time.perf_counter()
        losses = epoch_loss(student, train, targets, has_thought, bank, optimizer, config, epoch)
        score = dev_ndcg(student, dev, bank)
        seconds = time.perf_counter() - began
        state["history"].append({"epoch": epoch, **losses, "dev_nDCG@10": score, "seconds": seconds})
        logger.info("epoch %d: %s", epoch, state["history"][-1])
        if not dev or score > state["best_score"]:
            state.update(best_epoch=epoch, best=_adapter_state(student), best_score=score)
        state["epoch"] = epoch
        _save_state(out, state, student, optimizer)
        bar.update()
        bar.set_postfix(dev=score, best_epoch=state["best_epoch"])
    bar.close()
    student.module.load_state_dict(state["best"], strict=False)
    model.save_pretrained(out)
    student.module.save_pretrained(str(out / QUERY_ADAPTER_DIR))
    summary = {
        "records": len(train),
        "with_thought": int(has_thought.sum()),
        "held_out": len(dev),
        "passages": len(bank.texts),
        "best_epoch": state["best_epoch"],
        "history": state["history"],
    }
    (out / "distill_log.json").write_text(json.dumps(summary, indent=2) + "\n")
    with (out / "README.md").open("a") as card:
        card.write(_card_section(config, summary))
    return summary


def _card_section(config: DistillConfig, summary: dict) -> str:
    score = summary["history"][summary["best_epoch"]]["dev_nDCG@10"]
    chosen = "the last epoch (no held-out queries)" if score is None else f"held-out nDCG@10 {score:.4f} (passage bank)"
    anchor = (
        f" (+ {config.anchor_weight} × (1 − cos) to the plain query vector without one)" if config.anchor_weight else ""
    )
    return f"""
## Distilled query encoder (`query_adapter/`)

`encoding="distilled"` (CLI `search --distilled`) embeds a query alone with this encoder plus a LoRA adapter (r
{config.lora_r}) trained to land where its voted thought takes it: loss = InfoNCE over {summary["passages"]} passages
(τ {config.temperature}) + {config.distill_weight} × (1 − cos) to the o1 vector of the voted thought{anchor};
documents keep the plain encoder, so indexes built with `encoding="plain"` serve it too. {summary["records"]} training
queries ({summary["with_thought"]} with a voted thought), {summary["held_out"]} held out; epoch {summary["best_epoch"]}
kept, {chosen}. Settings: `distill_config.json`; per epoch: `distill_log.json`.
"""


def _adapter_state(student: EncoderEmbedder) -> dict[str, torch.Tensor]:
    return {n: p.detach().clone() for n, p in student.module.named_parameters() if p.requires_grad}


def _prepare(out: Path, config: DistillConfig, overwrite: bool) -> None:
    """``out`` for this config: created, or holding this config's run (resumed), or emptied with ``overwrite``."""
    saved = out / CONFIG_FILE
    if out.exists() and any(out.iterdir()):
        if overwrite:
            for path in (out / STATE_FILE, saved):
                path.unlink(missing_ok=True)
        elif not saved.exists() or json.loads(saved.read_text()) != asdict(config):
            raise ValueError(f"{out} holds another run: pass --overwrite to start again, or choose another --out")
    out.mkdir(parents=True, exist_ok=True)
    saved.write_text(json.dumps(asdict(config), indent=2) + "\n")


def _save_state(out: Path, state: dict, student: EncoderEmbedder, optimizer) -> None:
    payload = {**state, "adapter": _adapter_state(student), "optimizer": optimizer.state_dict()}
    tmp = out / (STATE_FILE + ".tmp")
    torch.save(payload, tmp)
    tmp.replace(out / STATE_FILE)


def _load_state(out: Path, student: EncoderEmbedder, optimizer) -> dict | None:
    path = out / STATE_FILE
    if not path.exists():
        return None
    payload = torch.load(path, weights_only=False)
    student.module.load_state_dict(payload.pop("adapter"), strict=False)
    optimizer.load_state_dict(payload.pop("optimizer"))
    logger.info("resuming after epoch %d", payload["epoch"])
    return payload
