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

from o1_retriever import prompts
from o1_retriever.causal_lm import special_token_ids
from o1_retriever.sampling import row_seed
from o1_retriever.trainer.config import TrainConfig

IGNORE = -100


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


def usable_records(records: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], DataCounts]:
    counts = DataCounts()
    kept = []
    for record in records:
        if record.get("error") or not record.get("query") or not record.get("pos"):
            counts.skipped += 1
            continue
        kept.append(record)
        counts.without_thought += not (record.get("thought") or "").strip()
        counts.without_negatives += not record.get("neg")
    counts.records = len(kept)
    return kept, counts


def make_example(record: dict[str, Any], index: int, epoch: int, config: TrainConfig) -> Example:
    rng = random.Random(row_seed(config.seed, f"example:{epoch}:{index}", 0))
    positive = rng.choice(record["pos"])
    negatives = list(record.get("neg") or [])
    wanted = config.group_size - 1
    if negatives and wanted:
        chosen = rng.sample(negatives, wanted) if len(negatives) >= wanted else rng.choices(negatives, k=wanted)
    else:
        chosen = []
    thought = (record.get("thought") or "").strip() or None
    if thought is not None and rng.random() < config.thought_dropout:
        thought = None
    return Example(record["query"], thought, (positive, *chosen), tuple(record["pos"]))


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


def _pad_right(sequences: list[list[int]], pad: int) -> tuple[torch.Tensor, torch.Tensor]:
    width = max(len(s) for s in sequences)
    ids = torch.full((len(sequences), width), pad, dtype=torch.long)
    mask = torch.zeros((len(sequences), width), dtype=torch.long)
    for row, seq in enumerate(sequences):
        ids[row, : len(seq)] = torch.tensor(seq, dtype=torch.long)
        mask[row, : len(seq)] = 1
    return ids, mask


class Collator:
    """Token tensors for a list of examples. Shared mode: the query side ``<query>q</query><thought>t<eos><emb>``
    with labels on ``t<eos>`` (one forward gives both losses); passages ``p<emb>``. Split mode: the thinker reads
    ``<query>q</query><thought>t<eos>`` (unless it is frozen: ``train_thinker=False``); the encoder reads ``q t``
    and passages."""

    def __init__(self, tokenizer, config: TrainConfig, encoder_tokenizer=None) -> None:
        self.tokenizer = tokenizer
        self.config = config
        self.encoder_tokenizer = encoder_tokenizer
        self.special_ids = special_token_ids(tokenizer)
        self.emb_id = self.special_ids[-1]
        self.eos = tokenizer.eos_token_id
        self.pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else self.eos

    def _ids(self, text: str, limit: int) -> list[int]:
        return self.tokenizer(text, add_special_tokens=False)["input_ids"][: max(0, limit)]

    def _thinking_sequence(self, example: Example, with_emb: bool) -> tuple[list[int], list[int]]:
        prefix = prompts.thinking_prompt_ids(self._ids(example.query, self.config.max_query_tokens), self.special_ids)
        tail = [self.emb_id] if with_emb else []
        if example.thought is None:
            ids = prefix + tail
            return ids, [IGNORE] * len(ids)
        room = self.config.max_thought_sequence_tokens - len(prefix) - 1 - len(tail)
        thought = self._ids(example.thought, room) + [self.eos]
        ids = prefix + thought + tail
        return ids, [IGNORE] * len(prefix) + thought + [IGNORE] * len(tail)

    def __call__(self, examples: list[Example]) -> dict[str, torch.Tensor]:
        positive = torch.tensor(np.cumsum([0] + [len(e.passages) for e in examples[:-1]]), dtype=torch.long)
        passages = [p for e in examples for p in e.passages]
        shared = self.config.mode == "shared"
        keys = [sorted({passage_key(p) for p in (*e.known_positives, e.passages[0])}) for e in examples]
        positive_keys = torch.full((len(examples), max(map(len, keys))), -1, dtype=torch.long)
        for row, row_keys in enumerate(keys):
            positive_keys[row, : len(row_keys)] = torch.tensor(row_keys, dtype=torch.long)
        batch = {
            "positive": positive,
            "positive_keys": positive_keys,  # (B, P): to leave known positives out of the negatives
            "passage_keys": torch.tensor([passage_key(p) for p in passages], dtype=torch.long),  # (N,)
        }
        if self.config.train_thinker:  # always in shared mode; a frozen split thinker reads nothing
            sequences = [self._thinking_sequence(e, with_emb=shared) for e in examples]
            if not shared:  # the thinker only learns where there is a thought
                sequences = [s for s, e in zip(sequences, examples) if e.thought is not None] or [sequences[0]]
            ids, mask = _pad_right([s for s, _ in sequences], self.pad)
            labels, _ = _pad_right([lab for _, lab in sequences], IGNORE)
            labels[mask == 0] = IGNORE
            batch.update(thinker_ids=ids, thinker_mask=mask, labels=labels)
        if shared:
            p_ids, p_mask = _pad_right(
                [self._ids(p, self.config.max_passage_tokens - 1) + [self.emb_id] for p in passages], self.pad
            )
            batch.update(passage_ids=p_ids, passage_mask=p_mask)
        else:
            encode = lambda texts, limit: self.encoder_tokenizer(  # noqa: E731
                texts, padding=True, truncation=True, max_length=limit, return_tensors="pt"
            )
            q = encode(
                [prompts.split_query_text(e.query, e.thought) for e in examples],
                self.config.max_thought_sequence_tokens,
            )
            p = encode(passages, self.config.max_passage_tokens)
            batch.update(
                query_ids=q["input_ids"],
                query_mask=q["attention_mask"],
                passage_ids=p["input_ids"],
                passage_mask=p["attention_mask"],
            )
        return batch
