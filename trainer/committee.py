"""Refinement: a retrieval committee scores every candidate thought against all of the query's positives and
votes for the thought to keep (docs/design.md, "The method"; the reference's vote defects, 3 there, avoided).

Members: any number of dense encoders (mean-pooled folders such as all-MiniLM-L6-v2) and BM25 whose statistics come
from the training corpus (all positives and negatives of the input, or a given corpus), not from the candidates.
A candidate's score from one member is its mean score over the positives.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Protocol

import numpy as np
from tqdm.auto import tqdm

from o1_retriever.trainer.records import TrainingRecord, as_records
from o1_retriever.trainer.voting import hard_vote, soft_vote


class Member(Protocol):
    name: str

    def score(self, candidates: list[list[str]], positives: list[list[str]]) -> list[np.ndarray]:
        """For each record: (len(candidates), len(positives)) scores of each candidate against each positive."""
        ...


class DenseMember:
    """Cosine similarity under a mean-pooled encoder; all texts of a batch of records are embedded together."""

    def __init__(self, name_or_path: str, batch_size: int = 64, device: str = "cpu", max_tokens: int = 256) -> None:
        from o1_retriever.model.config import ModelConfig
        from o1_retriever.model.embedders import EncoderEmbedder
        from o1_retriever.model.weights import resolve_weights

        self.name = f"dense:{name_or_path}"
        reads = ModelConfig(mode="split", encoder=name_or_path, max_document_tokens=max_tokens)
        self.embedder = EncoderEmbedder.load(resolve_weights(name_or_path), reads, device=device)
        self.batch_size = batch_size

    def _embed(self, texts: list[str]) -> dict[str, np.ndarray]:
        from o1_retriever.model.embedders import embed_documents

        unique = list(dict.fromkeys(texts))  # each text embedded once, in length-sorted batches
        return dict(zip(unique, embed_documents(self.embedder, unique, self.batch_size)))

    def score(self, candidates: list[list[str]], positives: list[list[str]]) -> list[np.ndarray]:
        vectors = self._embed([t for group in candidates + positives for t in group])
        return [
            np.stack([vectors[c] for c in cands]) @ np.stack([vectors[p] for p in pos]).T
            for cands, pos in zip(candidates, positives)
        ]


class BM25Member:
    """BM25 with corpus statistics from the training corpus; a candidate is the query, positives the documents."""

    name = "bm25"

    def __init__(self, corpus: list[str]) -> None:
        from o1_retriever.retrieval.lexical import BM25

        self.passages = list(dict.fromkeys(corpus))
        self.position = {p: i for i, p in enumerate(self.passages)}
        self.bm25 = BM25(self.passages)

    def score(self, candidates: list[list[str]], positives: list[list[str]]) -> list[np.ndarray]:
        out = []
        for cands, pos in zip(candidates, positives):
            missing = [p for p in pos if p not in self.position]
            if missing:
                raise ValueError(f"BM25 corpus lacks {len(missing)} positive passage(s); build it from the records")
            columns = [self.position[p] for p in pos]
            out.append(np.stack([self.bm25.scores(c)[columns] for c in cands]))
        return out


@dataclass
class VoteSummary:
    total: int = 0
    voted: int = 0
    skipped: int = 0  # records without candidates (failed synthesis, invalid input): kept, counted


def vote(
    records: list[TrainingRecord | dict[str, Any]],
    members: list[Member],
    *,
    method: str = "soft",
    weights: list[float] | None = None,
    batch_size: int = 32,
    progress: bool = True,
) -> tuple[list[dict[str, Any]], VoteSummary]:
    """Records with ``thought`` (the winner) and ``extra["committee"]`` (method, each member's candidate scores,
    totals). Records without candidates pass through unchanged and are counted."""
    if method not in ("soft", "hard"):
        raise ValueError(f"method must be 'soft' or 'hard', got {method!r}")
    if not members:
        raise ValueError("the committee needs at least one member")
    if weights is not None and len(weights) != len(members):
        raise ValueError(f"{len(weights)} weights for {len(members)} members")
    records = as_records(records)
    summary = VoteSummary(total=len(records))
    out = list(records)
    usable = [i for i, r in enumerate(records) if r.usable and r.thoughts]
    summary.skipped = len(records) - len(usable)
    for start in tqdm(range(0, len(usable), batch_size), desc="voting", unit="batch", disable=not progress):
        batch = usable[start : start + batch_size]
        candidates = [records[i].thoughts for i in batch]
        positives = [records[i].pos for i in batch]
        per_member = [member.score(candidates, positives) for member in members]
        for row, i in enumerate(batch):
            # (members, candidates): each member's score of each candidate, averaged over all positives
            scores = np.stack([member_scores[row].mean(axis=1) for member_scores in per_member])
            winner, totals = (soft_vote if method == "soft" else hard_vote)(scores, weights)
            committee = {
                "method": method,
                "winner": winner,
                "totals": totals.round(6).tolist(),
                "scores": {m.name: s.round(6).tolist() for m, s in zip(members, scores)},
            }
            out[i] = replace(
                records[i], thought=records[i].thoughts[winner], extra={**records[i].extra, "committee": committee}
            )
            summary.voted += 1
    return out, summary


def training_corpus(records: list[TrainingRecord | dict[str, Any]]) -> list[str]:
    """Every positive and negative passage of the records, once each: BM25's statistics."""
    return list(dict.fromkeys(p for r in as_records(records) for p in (*r.pos, *r.neg)))


def build_members(names: list[str], records: list[TrainingRecord], corpus: list[str] = ()) -> list[Member]:
    """Committee members by name: ``bm25`` (statistics from ``corpus`` plus the records' passages) or a dense
    encoder (a built-in name or a folder)."""
    return [BM25Member([*corpus, *training_corpus(records)]) if n == "bm25" else DenseMember(n) for n in names]
