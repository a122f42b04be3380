"""Training records: the common (FlagEmbedding) JSONL format, or built from a BEIR folder and split.

A record is ``{"query", "pos": [...], "neg": [...]}`` with optional ``pos_scores``/``neg_scores``; synthesis adds
``thoughts`` (the candidates), voting adds ``thought`` and each committee member's scores.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from o1_retriever import prompts
from o1_retriever.data import DataError, load_corpus, load_qrels, load_queries, read_jsonl


def validate_record(record: dict[str, Any], where: str) -> dict[str, Any]:
    """The record if it has a non-empty ``query`` and at least one non-empty positive; else a DataError."""
    query = record.get("query")
    if not isinstance(query, str) or not query.strip():
        raise DataError(f"{where}: missing or empty 'query'")
    pos = record.get("pos")
    if isinstance(pos, str):
        pos = [pos]
    if not isinstance(pos, list) or not [p for p in pos if isinstance(p, str) and p.strip()]:
        raise DataError(f"{where}: 'pos' must hold at least one non-empty passage")
    neg = record.get("neg") or []
    if isinstance(neg, str):
        neg = [neg]
    if not isinstance(neg, list):
        raise DataError(f"{where}: 'neg' must be a list of passages")
    return {**record, "pos": [p for p in pos if isinstance(p, str) and p.strip()], "neg": [n for n in neg if n]}


def read_records(path: str | Path, strict: bool = True) -> list[dict[str, Any]]:
    """Validated records of a training JSONL file; errors name the file and line. With ``strict=False`` an invalid
    record is kept, with the reason in its ``error`` field, so a run can go on and count it."""
    records = []
    for number, record in read_jsonl(path):
        try:
            records.append(validate_record(record, f"{path}:{number}"))
        except DataError as error:
            if strict:
                raise
            records.append({**record, "error": str(error)})
    return records


def beir_records(
    folder: str | Path, split: str = "train", negatives: int = 15, min_relevance: int = 1
) -> list[dict[str, Any]]:
    """Records from a BEIR split: positives from qrels (relevance >= ``min_relevance``), hard negatives mined with
    BM25 (the best ranked documents not judged at all). Query order follows qrels."""
    from o1_retriever.bm25 import BM25

    corpus = {d.id: d for d in load_corpus(folder)}
    queries, qrels = load_queries(folder), load_qrels(folder, split)
    wanted = [(q, judged_positives(judged, corpus, min_relevance)) for q, judged in qrels.items()]
    wanted = [(q, pos) for q, pos in wanted if q in queries and pos]
    if not wanted:
        raise DataError(f"{folder}: split {split!r} has no query with a positive document in the corpus")
    ids = list(corpus)
    bm25 = BM25([_passage(corpus[i]) for i in ids], ids)
    hits = bm25.search([queries[q] for q, _ in wanted], negatives + 20) if negatives else [{}] * len(wanted)
    records = []
    for (query_id, positives), ranked in zip(wanted, hits):
        judged = set(qrels[query_id])
        negs = [d for d in ranked if d not in judged][:negatives]
        records.append(
            {
                "query_id": query_id,
                "query": queries[query_id],
                "pos": [_passage(corpus[d]) for d in positives],
                "neg": [_passage(corpus[d]) for d in negs],
            }
        )
    return records


def judged_positives(judged: dict[str, int], corpus: dict, min_relevance: int = 1) -> list[str]:
    return [d for d, r in judged.items() if r >= max(1, min_relevance) and d in corpus]


def restrict_positives(
    records: list[dict[str, Any]], folder: str | Path, split: str = "train", min_relevance: int = 2
) -> tuple[list[dict[str, Any]], int]:
    """Each record's positives replaced by the passages ``folder``'s qrels judge >= ``min_relevance`` for its
    ``query_id`` (on NFCorpus most judged documents are only indirectly related, relevance 1, while relevance 2 is
    a direct citation). Records left without a positive are dropped; returns (kept records, number dropped)."""
    corpus = {d.id: d for d in load_corpus(folder)}
    qrels = load_qrels(folder, split)
    kept = []
    for number, record in enumerate(records, 1):
        if "query_id" not in record:
            raise DataError(f"record {number} has no 'query_id': positives can only be restricted by judged query")
        if str(record["query_id"]) not in qrels:
            raise DataError(f"record {number}: query {record['query_id']!r} is not judged in {folder} ({split})")
        positives = judged_positives(qrels[str(record["query_id"])], corpus, min_relevance)
        if positives:
            kept.append({**record, "pos": [_passage(corpus[d]) for d in positives]})
    return kept, len(records) - len(kept)


def _passage(document) -> str:
    return prompts.document_text(document.text, document.title).strip()


def load_records(
    source: str | Path, split: str = "train", negatives: int = 15, strict: bool = True, min_relevance: int = 1
) -> list[dict[str, Any]]:
    """Records from a JSONL file, or from a BEIR folder's ``split``."""
    source = Path(source)
    if source.is_dir():
        return beir_records(source, split, negatives, min_relevance)
    return read_records(source, strict)


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
