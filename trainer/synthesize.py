"""Exploration: an expert LLM writes m candidate thoughts per training query (docs/design.md, "The method").

Crash-safe and resumable: finished batches are appended and fsynced in input order; a rerun reads them back,
checks they belong to this input, and continues after them. A record that fails keeps its place in the output
with the reason in ``error``; ``retry_failed`` redoes those.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from o1_retriever.model.config import ThinkingConfig
from o1_retriever.data import DataError
from o1_retriever.model.sampling import row_seed
from o1_retriever.model.thinkers import Thinker, ThinkRequest
from o1_retriever.trainer.records import TrainingRecord, append_jsonl, as_records, read_finished, write_jsonl_atomic

MAX_SHOT_CHARS = 300  # keeps few-shot prompts short for small local experts


@dataclass(frozen=True)
class SynthesisConfig:
    m: int = 3  # candidates per query
    shots: int = 3  # few-shot examples, from other queries only
    seed: int = 0
    batch_size: int = 8  # records per expert call (and per durable append)
    max_new_tokens: int = 96
    temperature: float = 0.8
    top_p: float = 0.95

    @property
    def sampling(self) -> ThinkingConfig:
        return ThinkingConfig(self.m, self.max_new_tokens, self.temperature, self.top_p, self.seed)


@dataclass
class SynthesisSummary:
    total: int = 0
    resumed: int = 0  # already in the output before this run
    written: int = 0
    failed: int = 0  # records with an error in the output now
    errors: dict[str, int] = field(default_factory=dict)


def few_shot_examples(records: list[TrainingRecord], index: int, shots: int, seed: int) -> list[tuple[str, str]]:
    """``shots`` (query, positive) pairs from *other* records, none sharing a positive with this one (no label
    leakage); chosen by a generator seeded with the query, so the choice is reproducible."""
    own = records[index]
    own_positives = set(own.pos)
    rng = random.Random(row_seed(seed, own.query, -1))
    order = list(range(len(records)))
    rng.shuffle(order)
    chosen: list[tuple[str, str]] = []
    for j in order:
        if len(chosen) == shots:
            break
        other = records[j]
        if j == index or not other.usable or other.query == own.query or own_positives & set(other.pos):
            continue
        chosen.append((other.query, other.pos[0][:MAX_SHOT_CHARS]))
    return chosen


def _check_resumable(records: list[TrainingRecord], finished: list[dict[str, Any]], out: Path) -> None:
    if len(finished) > len(records):
        raise DataError(f"{out} holds {len(finished)} records but the input has {len(records)}: another input's output")
    for i, done in enumerate(finished):
        if done.get("query") != records[i].query:
            raise DataError(
                f"{out}:{i + 1} is for query {done.get('query')!r}, but input record {i + 1} is "
                f"{records[i].query!r}: the output belongs to another input. Use another --out."
            )


def _synthesize_batch(
    records: list[TrainingRecord], indices: list[int], expert: Thinker, config: SynthesisConfig
) -> list[dict[str, Any]]:
    valid = [i for i in indices if records[i].usable]
    requests = [
        ThinkRequest(records[i].query, tuple(few_shot_examples(records, i, config.shots, config.seed))) for i in valid
    ]
    by_index = dict(zip(valid, expert.think(requests, config.sampling) if valid else []))
    out = []
    for i in indices:
        record = replace(records[i], thoughts=[], thought=None)
        if i in by_index:
            written = by_index[i]
            texts = [t for t in written.texts if t.strip()]
            errors = written.errors + (["the expert returned empty text"] if len(texts) < len(written.texts) else [])
            extra = {**record.extra, "expert": expert.identity}
            if errors and texts:
                extra["warnings"] = list(dict.fromkeys(errors))
            failed = None if texts else "; ".join(dict.fromkeys(errors)) or "the expert wrote nothing"
            record = replace(record, thoughts=texts, error=failed, extra=extra)
        out.append(record.to_dict())
    return out


def synthesize(
    records: list[TrainingRecord | dict[str, Any]],
    expert: Thinker,
    out: str | Path,
    config: SynthesisConfig = SynthesisConfig(),
    *,
    retry_failed: bool = False,
    progress: bool = True,
) -> SynthesisSummary:
    """Write ``records`` with ``thoughts`` to ``out`` (JSONL), resuming whatever a previous run finished."""
    records = as_records(records)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    finished = read_finished(out)
    _check_resumable(records, finished, out)
    summary = SynthesisSummary(total=len(records), resumed=len(finished))

    if retry_failed:
        failed = [i for i, r in enumerate(finished) if r.get("error")]
        for start in range(0, len(failed), config.batch_size):
            batch = failed[start : start + config.batch_size]
            for i, redone in zip(batch, _synthesize_batch(records, batch, expert, config)):
                finished[i] = redone
            write_jsonl_atomic(out, finished)  # each retried batch is durable
        summary.written += len(failed)

    todo = list(range(len(finished), len(records)))
    with tqdm(total=len(todo), unit="record", desc="synthesizing", disable=not progress) as bar:
        for start in range(0, len(todo), config.batch_size):
            batch = todo[start : start + config.batch_size]
            done = _synthesize_batch(records, batch, expert, config)
            append_jsonl(out, done)
            finished += done
            summary.written += len(done)
            bar.update(len(batch))

    for record in finished:
        if record.get("error"):
            summary.failed += 1
            reason = record["error"].split(" (")[0]
            summary.errors[reason] = summary.errors.get(reason, 0) + 1
    return summary
