"""A Chroma-backed index of ThinkThenEmbed vectors: embedded persistent Chroma by default, a Chroma server by host.

The collection records the model fingerprint, dimension and mode; adding or querying with another model fails
with a clear error. Ingestion is idempotent by id: a killed ingest, rerun, stores each document exactly once.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from o1_retriever.data import Document, content_id
from o1_retriever.model import ThinkThenEmbed
from o1_retriever.validation import check_positive, check_texts

DEFAULT_COLLECTION = "o1-retriever"
_FINGERPRINT, _DIMENSION, _MODE = "o1:fingerprint", "o1:dimension", "o1:mode"


class IndexMismatchError(ValueError):
    """The collection was built by another model than the one in use."""


class EmptyIndexError(LookupError):
    """The collection is missing or holds no documents."""


@dataclass(frozen=True)
class Hit:
    id: str
    score: float  # cosine similarity
    text: str
    metadata: dict[str, Any] = field(default_factory=dict)
    thoughts: list[str] = field(default_factory=list)


@dataclass
class IngestReport:
    added: int = 0
    skipped: int = 0  # already stored under the same id
    embed_seconds: float = 0.0
    insert_seconds: float = 0.0


def _chroma_metadata(metadata: dict[str, Any] | None) -> dict[str, Any] | None:
    """Chroma keeps str/int/float/bool values: drop None, store anything else as JSON text."""
    if not metadata:
        return None
    clean = {
        str(k): v if isinstance(v, (str, int, float, bool)) else json.dumps(v)
        for k, v in metadata.items()
        if v is not None
    }
    return clean or None


class ChromaStore:
    """Documents embedded by a ThinkThenEmbed model, in one Chroma collection."""

    def __init__(
        self,
        model: ThinkThenEmbed,
        path: str | Path | None = "o1-index",
        *,
        collection: str = DEFAULT_COLLECTION,
        host: str | None = None,
        port: int = 8000,
        create: bool = True,
        client: Any = None,
    ) -> None:
        """``path``: the folder of an embedded persistent Chroma; ``host``/``port``: a Chroma server instead
        (start one with ``chroma run --path ./chroma-data --port 8000``). ``create=False`` refuses to create a
        missing collection (for read-only use)."""
        import chromadb

        self.model = model
        if client is None:
            client = chromadb.HttpClient(host=host, port=port) if host else chromadb.PersistentClient(path=str(path))
        self.client = client
        self.name = collection
        if create:
            self.collection = client.get_or_create_collection(
                collection,
                metadata={
                    _FINGERPRINT: model.document_fingerprint,
                    _DIMENSION: model.dimension,
                    _MODE: model.config.mode,
                },
                configuration={"hnsw": {"space": "cosine"}},
                embedding_function=None,
            )
        else:
            try:
                self.collection = client.get_collection(collection, embedding_function=None)
            except Exception as error:  # chromadb raises NotFoundError (a ValueError in older versions)
                where = f"server {host}:{port}" if host else f"{path}"
                raise EmptyIndexError(
                    f"no collection {collection!r} in {where}: build it first with `o1-retriever index`"
                ) from error
        self._check_model()

    def _check_model(self) -> None:
        meta = self.collection.metadata or {}
        if meta.get(_FINGERPRINT) != self.model.document_fingerprint:
            raise IndexMismatchError(
                f"collection {self.name!r} was built with model {meta.get(_FINGERPRINT)} "
                f"({meta.get(_MODE)} mode, {meta.get(_DIMENSION)}-d); the loaded model is "
                f"{self.model.document_fingerprint} ({self.model.config.mode} mode, {self.model.dimension}-d). "
                "Load the checkpoint that built the index, or index into a new collection."
            )

    def count(self) -> int:
        return self.collection.count()

    # ------------------------------------------------------------------ writing
    def add_documents(
        self,
        documents: Sequence[Document],
        *,
        batch_size: int = 64,
        overwrite: bool = False,
        progress: bool = False,
    ) -> IngestReport:
        """Embed and store documents in batches. Ids already stored are skipped (``overwrite`` re-embeds them),
        so an interrupted ingest resumes where it stopped."""
        check_positive(batch_size, "batch_size")
        if not documents:
            raise ValueError("documents is empty: nothing to index")
        duplicates = [i for i, n in Counter(d.id for d in documents).items() if n > 1]
        if duplicates:
            raise ValueError(f"duplicate ids in one batch: {duplicates[:5]}{' ...' if len(duplicates) > 5 else ''}")
        check_texts([d.text for d in documents], "documents.text")
        report = IngestReport()
        bar = tqdm(total=len(documents), unit="doc", desc=f"indexing into {self.name}", disable=not progress)
        for start in range(0, len(documents), batch_size):
            batch = list(documents[start : start + batch_size])
            if not overwrite:
                stored = set(self.collection.get(ids=[d.id for d in batch], include=[])["ids"])
                report.skipped += len(stored)
                batch = [d for d in batch if d.id not in stored]
            if batch:
                began = time.perf_counter()
                vectors = self.model.embed_documents([d.text for d in batch], titles=[d.title for d in batch])
                report.embed_seconds += time.perf_counter() - began
                began = time.perf_counter()
                self.collection.upsert(
                    ids=[d.id for d in batch],
                    embeddings=vectors,
                    documents=[d.text for d in batch],
                    metadatas=[_chroma_metadata({"title": d.title, **d.metadata}) for d in batch],
                )
                report.insert_seconds += time.perf_counter() - began
                report.added += len(batch)
            bar.update(min(batch_size, len(documents) - start))
        bar.close()
        return report

    def add_texts(
        self,
        texts: Sequence[str],
        metadatas: Sequence[dict[str, Any]] | None = None,
        ids: Sequence[str] | None = None,
        **kwargs: Any,
    ) -> list[str]:
        """Store plain texts; ids default to a hash of the text. Returns the ids."""
        texts = check_texts(texts, "texts")
        for name, values in (("metadatas", metadatas), ("ids", ids)):
            if values is not None and len(values) != len(texts):
                raise ValueError(f"{name} has {len(values)} items but texts has {len(texts)}")
        ids = [str(i) for i in ids] if ids is not None else [content_id(t) for t in texts]
        metadatas = metadatas or [{}] * len(texts)
        self.add_documents([Document(i, t, "", m or {}) for i, t, m in zip(ids, texts, metadatas)], **kwargs)
        return ids

    def delete(self, ids: Sequence[str]) -> None:
        if isinstance(ids, str):
            raise TypeError("ids must be a list of ids, not a single string")
        if ids:
            self.collection.delete(ids=list(ids))

    # ------------------------------------------------------------------ reading
    def search(
        self,
        queries: Sequence[str],
        k: int = 10,
        *,
        where: dict[str, Any] | None = None,
        think: bool = True,
        **thinking: Any,
    ) -> list[list[Hit]]:
        """The k best documents for each query, best first, with the thoughts used for that query."""
        check_positive(k, "k")
        queries = check_texts(queries, "queries")
        if self.count() == 0:
            raise EmptyIndexError(f"collection {self.name!r} is empty: index documents first")
        embedded = self.model.embed_queries(queries, think=think, **thinking)
        result = self.collection.query(
            query_embeddings=embedded.vectors,
            n_results=min(k, self.count()),
            where=where,
            include=["documents", "metadatas", "distances"],
        )
        return [
            [
                Hit(doc_id, 1.0 - float(distance), text or "", dict(metadata or {}), thoughts)
                for doc_id, distance, text, metadata in zip(ids, distances, texts, metadatas)
            ]
            for ids, distances, texts, metadatas, thoughts in zip(
                result["ids"], result["distances"], result["documents"], result["metadatas"], embedded.thoughts
            )
        ]

    def query(self, query: str, k: int = 10, **kwargs: Any) -> list[Hit]:
        """The k best documents for one query."""
        if not isinstance(query, str):
            raise TypeError(f"query must be a string, got {type(query).__name__}")
        return self.search([query], k, **kwargs)[0]
