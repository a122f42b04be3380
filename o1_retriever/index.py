"""An Index: a ThinkThenEmbed model in front of any VectorStore. It owns ingest (idempotent by id, so a killed ingest
resumes), search (the model's query vectors, the store's nearest rows) and the guard that stops one model from
reading or writing another model's vectors."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from tqdm.auto import tqdm

from o1_retriever.data import Document, content_id, skip_empty
from o1_retriever.model import ThinkThenEmbed
from o1_retriever.stores import VectorStore
from o1_retriever.validation import check_positive, check_texts


#: the metadata key under which integrations hand a query's thoughts to their framework
THOUGHTS_KEY = "o1_thoughts"


class IndexMismatchError(ValueError):
    """The store was filled by another model than the one in use."""


class EmptyIndexError(LookupError):
    """The store is missing or holds no documents."""


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


def model_guard(model: ThinkThenEmbed) -> dict[str, Any]:
    """What a store records about the model whose document vectors it holds."""
    return {"fingerprint": model.document_fingerprint, "dimension": model.dimension, "mode": model.config.mode}


class Index:
    """Documents embedded by ``model`` in ``store``. ``create=False`` (read-only use) refuses a store that no model
    has filled yet."""

    def __init__(self, model: ThinkThenEmbed, store: VectorStore, *, create: bool = True) -> None:
        self.model = model
        self.store = store
        guard = store.read_guard()
        if guard is None:
            if not create:
                raise EmptyIndexError(
                    f"{store.description} holds no o1-retriever index: build it with `o1-retriever index`"
                )
            if store.count():
                raise IndexMismatchError(
                    f"{store.description} holds {store.count()} vectors that no o1-retriever model wrote: "
                    "index into a new collection (--collection NAME) or folder"
                )
            store.write_guard(model_guard(model))
        elif guard.get("fingerprint") != model.document_fingerprint:
            raise IndexMismatchError(
                f"{store.description} was built with model {guard.get('fingerprint')} ({guard.get('mode')} mode, "
                f"{guard.get('dimension')}-d); the loaded model is {model.document_fingerprint} "
                f"({model.config.mode} mode, {model.dimension}-d). Load the checkpoint that built the index, "
                "or index into a new collection."
            )

    def count(self) -> int:
        return self.store.count()

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
        documents = skip_empty(list(documents), self.store.description)
        if not documents:
            raise ValueError("documents is empty: nothing to index")
        duplicates = [i for i, n in Counter(d.id for d in documents).items() if n > 1]
        if duplicates:
            raise ValueError(f"duplicate ids in one batch: {duplicates[:5]}{' ...' if len(duplicates) > 5 else ''}")
        report = IngestReport()
        bar = tqdm(total=len(documents), unit="doc", desc="indexing", disable=not progress)
        for start in range(0, len(documents), batch_size):
            batch = list(documents[start : start + batch_size])
            if not overwrite:
                stored = self.store.existing([d.id for d in batch])
                report.skipped += len(stored)
                batch = [d for d in batch if d.id not in stored]
            if batch:
                began = time.perf_counter()
                vectors = self.model.embed_documents([d.text for d in batch], titles=[d.title for d in batch])
                report.embed_seconds += time.perf_counter() - began
                began = time.perf_counter()
                self.store.upsert(
                    [d.id for d in batch],
                    vectors,
                    [d.text for d in batch],
                    [{"title": d.title, **d.metadata} for d in batch],
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
            self.store.delete(list(ids))

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
        count = self.count()
        if count == 0:
            raise EmptyIndexError(f"{self.store.description} is empty: index documents first")
        embedded = self.model.embed_queries(queries, think=think, **thinking)
        found = self.store.query(embedded.vectors, min(k, count), where)
        return [
            [Hit(h.id, h.score, h.text, h.metadata, thoughts) for h in hits]
            for hits, thoughts in zip(found, embedded.thoughts)
        ]

    def query(self, query: str, k: int = 10, **kwargs: Any) -> list[Hit]:
        """The k best documents for one query."""
        if not isinstance(query, str):
            raise TypeError(f"query must be a string, got {type(query).__name__}")
        return self.search([query], k, **kwargs)[0]
