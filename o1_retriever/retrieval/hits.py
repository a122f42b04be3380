"""What a search returns (``Hit``) and what a store row holds beside its vector: pure functions of rows and rankings."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from o1_retriever.data import Document
from o1_retriever.retrieval.fusion import Fusion, fuse, ranking
from o1_retriever.retrieval.lexical import LexicalResult
from o1_retriever.retrieval.stores import StoredHit

#: the metadata key under which integrations hand a query's thoughts to their framework
THOUGHTS_KEY = "o1_thoughts"
#: the row metadata key holding a digest of what was indexed (text, title, metadata), so a rerun re-embeds a
#: document whose content changed under the same id; internal, never shown in a hit's metadata
CONTENT_KEY = "o1:content"


@dataclass(frozen=True)
class Hit:
    id: str
    score: float  # dense: cosine similarity; lexical: BM25; hybrid: the fused score (o1_retriever.retrieval.fusion)
    text: str
    metadata: dict[str, Any] = field(default_factory=dict)
    thoughts: list[str] = field(default_factory=list)
    dense_rank: int | None = None  # 1-based rank on each side that found it (None: not among its candidates)
    lexical_rank: int | None = None


def content_digest(document: Document) -> str:
    """A digest of what decides a stored row: the document's text, title and metadata."""
    payload = json.dumps([document.text, document.title, document.metadata], sort_keys=True, default=str)
    return hashlib.sha256(payload.encode()).hexdigest()[:24]


def row_metadata(document: Document) -> dict[str, Any]:
    """The metadata a store row of ``document`` holds: its title, its metadata and the digest of its content."""
    return {"title": document.title, **document.metadata, CONTENT_KEY: content_digest(document)}


def same_content(document: Document, text: str, metadata: dict[str, Any]) -> bool:
    """Whether a stored row (its text and metadata) holds ``document`` as it is now. Rows written before rows
    carried a digest are compared by text and title, which decide the vector."""
    if CONTENT_KEY in metadata:
        return metadata[CONTENT_KEY] == content_digest(document)
    return text == document.text and str(metadata.get("title") or "") == document.title


def shown_metadata(metadata: dict[str, Any]) -> dict[str, Any]:
    """A stored row's metadata as users see it: without the internal content digest."""
    return {key: value for key, value in metadata.items() if key != CONTENT_KEY}


def hit_metadata(hit: Hit) -> dict[str, Any]:
    """What a hit tells beyond its document, for the metadata of a framework's document or node: the score, the
    rank on each side of the search, and the thoughts the query was embedded with."""
    ranks = {"dense_rank": hit.dense_rank, "lexical_rank": hit.lexical_rank}
    return {"score": hit.score, **{k: v for k, v in ranks.items() if v is not None}, THOUGHTS_KEY: hit.thoughts}


def dense_hits(rows: Sequence[StoredHit], thoughts: list[str]) -> list[Hit]:
    """The dense side's rows as hits, in their order."""
    return [
        Hit(h.id, h.score, h.text, shown_metadata(h.metadata), thoughts, dense_rank=rank)
        for rank, h in enumerate(rows, start=1)
    ]


def fused_hits(
    dense: Sequence[StoredHit],
    lexical: LexicalResult,
    k: int,
    n_docs: int,
    fusion: Fusion,
    thoughts: list[str],
    fetch: Callable[[list[str]], dict[str, tuple[str, dict[str, Any]]]],
) -> list[Hit]:
    """Hits of the lexical side alone (no dense candidates: ``mode="lexical"``) or of the fusion of both sides;
    ``fetch(ids)`` gives the text and metadata of the documents only the lexical side found."""
    rows = {h.id: (h.text, h.metadata) for h in dense}
    dense_ranking = ranking({h.id: h.score for h in dense})
    dense_rank = {doc: rank for rank, (doc, _) in enumerate(dense_ranking, start=1)}
    lexical_rank = {doc: rank for rank, (doc, _) in enumerate(lexical.ranking, start=1)}
    scores = fuse(dense_ranking, lexical.ranking, n_docs, fusion, lexical.exact)
    best = sorted(scores, key=lambda doc: (-scores[doc], doc))[:k]
    missing = [doc for doc in best if doc not in rows]
    if missing:
        rows.update(fetch(missing))
    hits = []
    for doc in best:
        if doc not in rows:  # deleted since the lexical index was built (by another process, this instant)
            continue
        text, metadata = rows[doc]
        hits.append(
            Hit(doc, scores[doc], text, shown_metadata(metadata), thoughts, dense_rank.get(doc), lexical_rank.get(doc))
        )
    return hits
