"""Training records: the common (FlagEmbedding) JSONL format, or built from a BEIR folder and split.

A record is ``{"query", "pos": [...], "neg": [...]}`` with optional ``pos_scores``/``neg_scores``; synthesis adds
``thoughts`` (the candidates), voting adds ``thought`` and each committee member's scores. In code a record is a
``TrainingRecord``; keys it does not name ride along in ``extra`` and are written back unchanged.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from o1_retriever.model import prompts
from o1_retriever.data import DataError, load_corpus, load_qrels, load_queries, read_jsonl

_NAMED = ("query_id", "query", "pos", "neg", "thoughts", "thought", "error")


@dataclass
class TrainingRecord:
    query: str
    pos: list[str]  # relevant passages
    neg: list[str] = field(default_factory=list)  # hard negatives
    thoughts: list[str] = field(default_factory=list)  # synthesis: the expert's candidates
    thought: str | None = None  # voting: the committee's choice (None or blank: trained on the thought-free path)
    query_id: str | None = None  # BEIR records: the query's id, to look its judgments up again
    error: str | None = None  # why the record cannot be used (kept in place, counted, never trained on)
    extra: dict[str, Any] = field(default_factory=dict)  # every other key, kept as it came

    @property
    def usable(self) -> bool:
        """The one rule for a record that can be trained on (and voted on, once it has candidates)."""
        return self.error is None and bool(self.query.strip()) and bool(self.pos)

    @property
    def voted_thought(self) -> str | None:
        return (self.thought or "").strip() or None

    @classmethod
    def from_dict(cls, data: dict[str, Any], where: str = "record") -> TrainingRecord:
        """A record from its JSON object; a DataError naming ``where`` if it has no query or no positive."""
        query = data.get("query")
        if not isinstance(query, str) or not query.strip():
            raise DataError(f"{where}: missing or empty 'query'")
        pos = _passages(data.get("pos"))
        if not pos:
            raise DataError(f"{where}: 'pos' must hold at least one non-empty passage")
        neg = data.get("neg") or []
        if not isinstance(neg, (list, str)):
            raise DataError(f"{where}: 'neg' must be a list of passages")
        return cls._build(data, query, pos, _passages(neg), data.get("error"))

    @classmethod
    def invalid(cls, data: dict[str, Any], reason: str) -> TrainingRecord:
        """An unusable record kept in its place, with the reason."""
        query = data.get("query") if isinstance(data.get("query"), str) else ""
        reason = data.get("error") or reason  # an error found earlier (synthesis, a first read) says it first
        return cls._build(data, query, _passages(data.get("pos")), _passages(data.get("neg")), reason)

    @classmethod
    def _build(cls, data, query, pos, neg, error) -> TrainingRecord:
        thoughts = data.get("thoughts") if isinstance(data.get("thoughts"), list) else []
        query_id = data.get("query_id")
        return cls(
            query,
            pos,
            neg,
            [t for t in thoughts if isinstance(t, str)],
            data.get("thought") if isinstance(data.get("thought"), str) else None,
            None if query_id is None else str(query_id),
            error or None,
            {k: v for k, v in data.items() if k not in _NAMED},
        )

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {} if self.query_id is None else {"query_id": self.query_id}
        out.update(query=self.query, pos=self.pos, neg=self.neg)
        if self.thoughts or self.error is not None:
            out["thoughts"] = self.thoughts
        if self.thought is not None:
            out["thought"] = self.thought
        if self.error is not None:
            out["error"] = self.error
        return {**out, **self.extra}


def _passages(value: Any) -> list[str]:
    values = [value] if isinstance(value, str) else value if isinstance(value, list) else []
    return [p for p in values if isinstance(p, str) and p.strip()]


def as_records(rows: Iterable[TrainingRecord | dict[str, Any]]) -> list[TrainingRecord]:
    """Records from records or plain dicts (a dict that is not a valid record is kept as an invalid one)."""
    out = []
    for number, row in enumerate(rows, start=1):
        if isinstance(row, TrainingRecord):
            out.append(row)
            continue
        try:
            out.append(TrainingRecord.from_dict(row, f"record {number}"))
        except DataError as error:
            out.append(TrainingRecord.invalid(row, str(error)))
    return out


def read_records(path: str | Path, strict: bool = True) -> list[TrainingRecord]:
    """The records of a training JSONL file; errors name the file and line. With ``strict=False`` an invalid record
    is kept, with the reason in its ``error``, so a run can go on and count it."""
    records = []
    for number, data in read_jsonl(path):
        try:
            records.append(TrainingRecord.from_dict(data, f"{path}:{number}"))
        except DataError as error:
            if strict:
                raise
            records.append(TrainingRecord.invalid(data, str(error)))
    return records


def beir_records(
    folder: str | Path, split: str = "train", negatives: int = 15, min_relevance: int = 1
) -> list[TrainingRecord]:
    """Records from a BEIR split: positives from qrels (relevance >= ``min_relevance``), hard negatives mined with
    BM25 (the best ranked documents not judged at all). Query order follows qrels."""
    from o1_retriever.retrieval.lexical import BM25

    corpus = {d.id: d for d in load_corpus(folder)}
    queries, qrels = load_queries(folder), load_qrels(folder, split)
    wanted = [(q, judged_positives(judged, corpus, min_relevance)) for q, judged in qrels.items()]
    wanted = [(q, pos) for q, pos in wanted if q in queries and pos]
    if not wanted:
        raise DataError(f"{folder}: split {split!r} has no query with a positive document in the corpus")
    ids = list(corpus)
    bm25 = BM25([passage_text(corpus[i]) for i in ids], ids)
    hits = bm25.search([queries[q] for q, _ in wanted], negatives + 20) if negatives else [{}] * len(wanted)
    records = []
    for (query_id, positives), ranked in zip(wanted, hits):
        judged = set(qrels[query_id])
        negs = [d for d in ranked if d not in judged][:negatives]
        records.append(
            TrainingRecord(
                queries[query_id],
                [passage_text(corpus[d]) for d in positives],
                [passage_text(corpus[d]) for d in negs],
                query_id=query_id,
            )
        )
    return records


def judged_positives(judged: dict[str, int], corpus: dict, min_relevance: int = 1) -> list[str]:
    return [d for d, r in judged.items() if r >= max(1, min_relevance) and d in corpus]


def restrict_positives(
    records: list[TrainingRecord], folder: str | Path, split: str = "train", min_relevance: int = 2
) -> tuple[list[TrainingRecord], int]:
    """Each record's positives replaced by the passages ``folder``'s qrels judge >= ``min_relevance`` for its
    ``query_id`` (on NFCorpus most judged documents are only indirectly related, relevance 1, while relevance 2 is
    a direct citation). Records left without a positive are dropped; returns (kept records, number dropped)."""
    corpus = {d.id: d for d in load_corpus(folder)}
    qrels = load_qrels(folder, split)
    kept = []
    for number, record in enumerate(records, 1):
        if record.query_id is None:
            raise DataError(f"record {number} has no 'query_id': positives can only be restricted by judged query")
        if record.query_id not in qrels:
            raise DataError(f"record {number}: query {record.query_id!r} is not judged in {folder} ({split})")
        positives = judged_positives(qrels[record.query_id], corpus, min_relevance)
        if positives:
            kept.append(replace(record, pos=[passage_text(corpus[d]) for d in positives]))
    return kept, len(records) - len(kept)


def passage_text(document) -> str:
    return prompts.document_text(document.text, document.title).strip()


def load_records(
    source: str | Path, split: str = "train", negatives: int = 15, strict: bool = True, min_relevance: int = 1
) -> list[TrainingRecord]:
    """Records from a JSONL file, or from a BEIR folder's ``split``."""
    source = Path(source)
    if source.is_dir():
        return beir_records(source, split, negatives, min_relevance)
    return read_records(source, strict)


def held_out_ids(folders: list[str], split: str, n: int) -> set[tuple[str, str]]:
    """(set name, query id) of the queries ``evaluate --split SPLIT --max-queries N`` scores on each folder."""
    from o1_retriever.evaluation.benchmark import load_benchmark  # imported here: records need no benchmark otherwise

    return {(Path(f).name, q) for f in folders for q in load_benchmark(f, split, max_queries=n).queries}


def record_set(record: TrainingRecord) -> str:
    """The BEIR set a record came from (``source`` "scifact/train" → "scifact"), or "" when it does not say."""
    return str(record.extra.get("source", "")).split("/")[0]


def split_records(
    records: list[TrainingRecord], held: set[tuple[str, str]]
) -> tuple[list[TrainingRecord], list[TrainingRecord]]:
    """(train, dev): usable records, those of held-out queries in dev."""
    usable = [r for r in records if r.usable]
    is_dev = [(record_set(r), r.query_id) in held for r in usable]
    return [r for r, d in zip(usable, is_dev) if not d], [r for r, d in zip(usable, is_dev) if d]


def thought_rows(records: list[TrainingRecord], thoughts: list[list[str]]) -> list[dict[str, Any]]:
    """The lines of a thoughts file (``with_thoughts`` reads it): ``source``, ``query_id``, ``query``, ``thoughts``."""
    return [
        {"source": r.extra.get("source"), "query_id": r.query_id, "query": r.query, "thoughts": t}
        for r, t in zip(records, thoughts)
    ]


def with_thoughts(records: list[TrainingRecord], path: str | Path) -> list[TrainingRecord]:
    """``records`` with each one's thought replaced by the first of its query's thoughts in ``path`` (JSONL with
    ``query`` and ``thoughts``, as ``think --records`` writes and ``data/serving-thoughts.jsonl.gz`` is; a query's
    thoughts depend on its text alone); a DataError names a record it lacks."""
    return _from_thoughts_file(records, path, lambda record, thoughts: replace(record, thought=thoughts[0]))


def with_candidates(records: list[TrainingRecord], path: str | Path) -> list[TrainingRecord]:
    """``records`` with their candidates (``thoughts``) replaced by their query's thoughts in ``path`` (another
    thinker's, e.g. an expert's ``think --records`` output), ready for the committee: the previous vote and expert are
    dropped."""

    def candidates(record: TrainingRecord, thoughts: list[str]) -> TrainingRecord:
        extra = {k: v for k, v in record.extra.items() if k not in ("committee", "expert")}
        return replace(record, thoughts=list(thoughts), thought=None, extra=extra)

    return _from_thoughts_file(records, path, candidates)


def _from_thoughts_file(records: list[TrainingRecord], path: str | Path, update) -> list[TrainingRecord]:
    """Each usable record through ``update(record, its query's thoughts in path)``; a DataError names a malformed
    line or a record whose query the file lacks."""
    by_query: dict[str, list[str]] = {}
    for number, row in read_jsonl(path):
        thoughts = row.get("thoughts")
        if not isinstance(row.get("query"), str) or not isinstance(thoughts, list) or not thoughts:
            raise DataError(f"{path}:{number}: needs a 'query' and a non-empty list of 'thoughts'")
        if not all(isinstance(t, str) for t in thoughts):
            raise DataError(f"{path}:{number}: 'thoughts' must be strings")
        by_query[row["query"]] = thoughts
    out = []
    for record in records:
        if not record.usable:  # never trained on: needs no thought
            out.append(record)
        elif record.query not in by_query:
            raise DataError(f"{path}: no thoughts for the query of record {record.query_id!r}: {record.query[:80]!r}")
        else:
            out.append(update(record, by_query[record.query]))
    return out


def append_jsonl(path: Path, records: Iterable[dict[str, Any]]) -> None:
    """Append records and make them durable before returning (a crash keeps every finished line)."""
    with path.open("a", encoding="utf-8") as handle:
        for record in records:
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")
        handle.flush()
        os.fsync(handle.fileno())


def read_finished(path: Path) -> list[dict[str, Any]]:
    """Complete records of an output file; a torn last line (a crash mid-write) is cut off the file."""
    if not path.exists():
        return []
    data = path.read_bytes()
    end = data.rfind(b"\n") + 1
    if end < len(data):
        with path.open("r+b") as handle:
            handle.truncate(end)
    return [json.loads(line) for line in data[:end].decode("utf-8").splitlines() if line.strip()]


def write_jsonl_atomic(path: Path, records: Iterable[dict[str, Any]]) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    with tmp.open("w", encoding="utf-8") as handle:
        for record in records:
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    tmp.replace(path)
