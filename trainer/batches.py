"""Training examples and their tensors.

Every random choice (which positive, which negatives, whether the thought is dropped, the order of records) is
drawn from a generator seeded by (seed, epoch, record index), so it does not depend on the number of processes,
on micro-batching, or on whether the run was resumed.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from o1_retriever.model.sampling import row_seed
from o1_retriever.trainer.config import TrainConfig
from o1_retriever.trainer.records import TrainingRecord, as_records


@dataclass(frozen=True)
class Example:
    query: str
    thought: str | None  # None: the thought-free path
    passages: tuple[str, ...]  # the positive first, then hard negatives
    known_positives: tuple[str, ...] = ()  # every positive of the record: never used as a negative for it


@dataclass
class DataCounts:
    records: int = 0
    without_thought: int = 0  # trained on the thought-free path only
    without_negatives: int = 0  # in-batch negatives only
    skipped: int = 0  # no query or positive, or an error from synthesis


def usable_records(records: list[TrainingRecord | dict[str, Any]]) -> tuple[list[TrainingRecord], DataCounts]:
    counts = DataCounts()
    kept = [r for r in as_records(records) if r.usable]
    counts.skipped = len(records) - len(kept)
    counts.records = len(kept)
    counts.without_thought = sum(r.voted_thought is None for r in kept)
    counts.without_negatives = sum(not r.neg for r in kept)
    return kept, counts


def make_example(record: TrainingRecord, index: int, epoch: int, config: TrainConfig) -> Example:
    rng = random.Random(row_seed(config.seed, f"example:{epoch}:{index}", 0))
    positive = rng.choice(record.pos)
    negatives = record.neg
    wanted = config.group_size - 1
    if negatives and wanted:
        chosen = rng.sample(negatives, wanted) if len(negatives) >= wanted else rng.choices(negatives, k=wanted)
    else:
        chosen = []
    thought = record.voted_thought
    if thought is not None and rng.random() < config.thought_dropout:
        thought = None
    return Example(record.query, thought, (positive, *chosen), tuple(record.pos))


def passage_key(text: str) -> int:
    """A 63-bit key of a passage's text (non-negative, so -1 can pad)."""
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "big") >> 1


def steps_per_epoch(n_records: int, batch_size: int) -> int:
    return n_records // batch_size


def batch_indices(step: int, n_records: int, config: TrainConfig) -> tuple[int, list[int]]:
    """(epoch, record indices) of global step ``step``: a seeded permutation per epoch, the last partial batch
    dropped."""
    per_epoch = steps_per_epoch(n_records, config.batch_size)
    epoch, within = divmod(step, per_epoch)
    order = np.random.default_rng([config.seed, epoch]).permutation(n_records)
    return epoch, order[within * config.batch_size : (within + 1) * config.batch_size].tolist()


class Collator:
    """Tensors for a list of examples, built by the model's own embedder (and thinker), so training reads exactly
    the sequences serving reads: the embedder's query + thought and document batches (in shared mode the query batch
    also carries the LM labels on ``t<eos>``); a split-mode thinker that is trained reads
    ``<query>q</query><thought>t<eos>`` where there is a thought."""

    def __init__(self, model) -> None:  # a TrainableModel
        self.embedder = model.retriever.embedder
        self.lm = model.lm
        self.config = model.config
        self.thinker_batch = model.config.train_thinker and self.embedder.module is not model.lm.model

    def __call__(self, examples: list[Example]) -> dict:
        positive = torch.tensor(np.cumsum([0] + [len(e.passages) for e in examples[:-1]]), dtype=torch.long)
        passages = [p for e in examples for p in e.passages]
        keys = [sorted({passage_key(p) for p in (*e.known_positives, e.passages[0])}) for e in examples]
        positive_keys = torch.full((len(examples), max(map(len, keys))), -1, dtype=torch.long)
        for row, row_keys in enumerate(keys):
            positive_keys[row, : len(row_keys)] = torch.tensor(row_keys, dtype=torch.long)
        device = self.lm.device
        batch = {
            "positive": positive.to(device),
            "positive_keys": positive_keys.to(device),  # (B, P): to leave known positives out of the negatives
            "passage_keys": torch.tensor([passage_key(p) for p in passages], dtype=torch.long, device=device),  # (N,)
            "queries": self.embedder.query_batch([e.query for e in examples], [e.thought for e in examples]),
            "passages": self.embedder.document_batch(passages),
        }
        if self.thinker_batch:  # the thinker only learns where there is a thought
            c = self.config.model
            sequences = [
                self.lm.thought_sequence(
                    e.query, e.thought, c.max_query_tokens, c.max_thought_sequence_tokens, with_emb=False
                )
                for e in examples
                if e.thought is not None
            ]
            if sequences:
                ids, mask = self.lm.pad([s for s, _ in sequences])
                labels, _ = self.lm.pad([lab for _, lab in sequences], value=-100)
                batch["thinker"] = {"input_ids": ids, "attention_mask": mask, "labels": labels}
        return batch


def lm_labels(batch: dict) -> torch.Tensor | None:
    """The LM labels of a collated batch (on the query sequences or the thinker's), or None."""
    if "labels" in batch["queries"]:
        return batch["queries"]["labels"]
    return batch["thinker"]["labels"] if "thinker" in batch else None
