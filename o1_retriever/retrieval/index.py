"""An Index: a ThinkThenEmbed model in front of any VectorStore. It owns ingest (idempotent by id, so a killed ingest
resumes), search (the model's query vectors, the store's nearest rows) and the guard that stops one model from
reading or writing another model's vectors."""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from tqdm.auto import tqdm

from o1_retriever.data import PASSAGE_OF, Document, content_id, skip_empty
from o1_retriever.model.think_then_embed import ThinkThenEmbed
from o1_retriever.retrieval.fusion import Fusion
from o1_retriever.retrieval.hits import Hit, dense_hits, fused_hits, row_metadata, same_content
from o1_retriever.retrieval.lexical import LexicalIndex
from o1_retriever.retrieval.options import SearchOptions
from o1_retriever.retrieval.query_vectors import dense_side
from o1_retriever.retrieval.stores import VectorStore
from o1_retriever.validation import check_positive, check_texts


logger = logging.getLogger(__name__)

#: values one ``$in`` metadata filter takes at most (Chroma refuses a filter of tens of thousands of values)
IDS_PER_CALL = 5000


class IndexMismatchError(ValueError):
    """The store was filled by another model than the one in use."""


class EmptyIndexError(LookupError):
    """The store is missing or holds no documents."""


#: candidates each side contributes to a fusion (at least k)
FUSION_CANDIDATES = 100
#: a lexical index of this many documents or more is built with progress bars (it takes seconds to minutes)
PROGRESS_FROM = 50_000


@dataclass
class IngestReport:
    added: int = 0  # embedded and written (new ids, and the stored ids counted in ``updated``)
    skipped: int = 0  # already stored under the same id with the same content
    updated: int = 0  # of ``added``, ids that were stored with other content (or re-embedded by ``overwrite``)
    embed_seconds: float = 0.0
    insert_seconds: float = 0.0


def model_guard(model: ThinkThenEmbed) -> dict[str, Any]:
    """What a store records about the model whose document vectors it holds."""
    return {"fingerprint": model.document_fingerprint, "dimension": model.dimension, "mode": model.config.mode}


class Index:
    """Documents embedded by ``model`` in ``store``. ``create=False`` (read-only use) refuses a store that no model
    has filled yet."""

    def __init__(
        self, model: ThinkThenEmbed, store: VectorStore, *, create: bool = True, fusion: Fusion | str | None = None
    ) -> None:
        """``fusion``: how a hybrid search fuses its two sides unless a search says otherwise (a ``Fusion`` or a
        preset name: ``"guarded"``, ``"unguarded"``, ``"rrf"``; None: the checkpoint's own, else ``"guarded"``)."""
        self.model = model
        self.store = store
        self.fusion = Fusion.of(fusion) if fusion is not None else Fusion.of_checkpoint(model.config.fusion)
        self._lexical_index: LexicalIndex | None = None
        self._lexical_stamp: dict[str, Any] | None = None
        self._lexical_lock = threading.Lock()
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
        """Embed and store documents in batches. Ids already stored with the same content (text, title, metadata)
        are skipped, so an interrupted ingest resumes where it stopped; a stored id whose content changed is
        re-embedded and replaced (``overwrite`` re-embeds every stored id)."""
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
            stored = self.store.fetch([d.id for d in batch])
            if not overwrite:
                unchanged = {d.id for d in batch if d.id in stored and same_content(d, *stored[d.id])}
                report.skipped += len(unchanged)
                batch = [d for d in batch if d.id not in unchanged]
            report.updated += sum(d.id in stored for d in batch)
            if batch:
                began = time.perf_counter()
                vectors = self.model.embed_documents([d.text for d in batch], titles=[d.title for d in batch])
                report.embed_seconds += time.perf_counter() - began
                began = time.perf_counter()
                self._new_generation()
                self.store.upsert(
                    [d.id for d in batch],
                    vectors,
                    [d.text for d in batch],
                    [row_metadata(d) for d in batch],
                )
                report.insert_seconds += time.perf_counter() - began
                report.added += len(batch)
            bar.update(min(batch_size, len(documents) - start))
        bar.close()
        if report.added:
            self._new_generation()
        return report

    def add_texts(
        self,
        texts: Sequence[str],
        metadatas: Sequence[dict[str, Any]] | None = None,
        ids: Sequence[str] | None = None,
        *,
        titles: Sequence[str] | None = None,
        **kwargs: Any,
    ) -> list[str]:
        """Store plain texts; ids default to a hash of the text. A document's title is ``titles[i]``, else its
        metadata's ``"title"``: both sides read it (``{title} {text}`` is embedded and indexed by BM25), as
        ``add_documents`` does. Returns the ids."""
        texts = check_texts(texts, "texts")
        for name, values in (("metadatas", metadatas), ("ids", ids), ("titles", titles)):
            if values is not None and len(values) != len(texts):
                raise ValueError(f"{name} has {len(values)} items but texts has {len(texts)}")
        ids = [str(i) for i in ids] if ids is not None else [content_id(t) for t in texts]
        metadatas = [dict(m or {}) for m in metadatas] if metadatas is not None else [{} for _ in texts]
        if titles is None:
            titles = [str(m.get("title") or "") for m in metadatas]
        documents = [
            Document(i, text, str(title or ""), {k: v for k, v in m.items() if k != "title"})
            for i, text, title, m in zip(ids, texts, titles, metadatas)
        ]
        self.add_documents(documents, **kwargs)
        return ids

    def delete(self, ids: Sequence[str]) -> None:
        if isinstance(ids, str):
            raise TypeError("ids must be a list of ids, not a single string")
        ids = list(ids)
        if ids:
            self._new_generation()
            self.store.delete(ids)
            self._new_generation()

    def prune(self, keep: Iterable[str]) -> list[str]:
        """Delete every stored document whose id is not in ``keep`` (after indexing a corpus, so the store holds
        that corpus and nothing else); returns the deleted ids."""
        if isinstance(keep, str):
            raise TypeError("keep must be a collection of ids, not a single string")
        keep = set(keep)
        gone = sorted(doc for doc in self.store.ids() if doc not in keep)
        self.delete(gone)
        return gone

    def drop_stale_passages(self, passages: Sequence[Document]) -> list[str]:
        """After storing ``data.split_into_passages`` output, delete what an earlier split of the same documents
        left that this one no longer has (a document edited shorter, or once stored whole); returns the deleted
        ids. Other documents are not touched."""
        current = {p.id for p in passages}
        sources = sorted({p.metadata[PASSAGE_OF] for p in passages if PASSAGE_OF in p.metadata})
        stale: list[str] = []
        for start in range(0, len(sources), IDS_PER_CALL):
            chunk = sources[start : start + IDS_PER_CALL]
            stored = self.store.ids(where={PASSAGE_OF: {"$in": chunk}}) + list(self.store.fetch(chunk))
            stale += sorted({doc for doc in stored if doc not in current})
        self.delete(stale)
        return stale

    def _new_generation(self) -> None:
        """Mark the store as changed (in its guard, so other processes see it too): the lexical index is rebuilt
        before the next search that needs it. Writers call it before each write (a crash mid-write leaves the mark)
        and after their last (a lexical index another process built between two writes is stale, not reused:
        an edit leaves the count unchanged, so the count alone would not tell)."""
        self.store.write_guard({"generation": uuid.uuid4().hex})

    # ------------------------------------------------------------------ reading
    def check_options(self, options: SearchOptions | None = None, **given: Any) -> SearchOptions:
        """``options`` with ``given`` applied (``SearchOptions.of``), validated for this index's model: the model's
        default encoding filled in, or the error a search with them would raise. The retrievers call it when they
        are built, so a bad option fails there, not at the first query."""
        return SearchOptions.of(options, **given).validated(self.model)

    def search(
        self, queries: Sequence[str], k: int = 10, options: SearchOptions | None = None, **given: Any
    ) -> list[list[Hit]]:
        """The k best documents for each query, best first, with the thoughts used for that query.

        ``options`` (a ``SearchOptions``; keywords ``given`` replace its fields: ``encoding``, ``mode``, ``fusion``,
        ``where``, ``include_query_vector`` and the thinking settings) say how: by default a hybrid search (the
        query vector's nearest rows and BM25 over the store's documents, fused by the index's ``fusion``) with the
        model's default query encoding (``distilled`` when the checkpoint has a distilled query encoder, else
        ``plain``). ``where`` filters both sides alike."""
        check_positive(k, "k")
        queries = check_texts(queries, "queries")
        options = self.check_options(options, **given)
        count = self.count()
        if count == 0:
            raise EmptyIndexError(f"{self.store.description} is empty: index documents first")
        depth = min(count, k if options.mode == "dense" else max(k, FUSION_CANDIDATES))
        embedded, dense = dense_side(
            self.model, queries, options, lambda vectors: self.store.nearest(vectors, depth, options.where)
        )
        if options.mode == "dense":
            return [dense_hits(rows, thoughts) for rows, thoughts in zip(dense, embedded.thoughts)]
        candidates = [[h.id for h in row] for row in dense] if dense is not None else []
        lexical = self._lexical(count).search(queries, depth, self._allowed(options.where), exact=candidates)
        fusion = options.fusion or self.fusion
        return [
            fused_hits(dense[i] if dense is not None else [], lexical[i], k, count, fusion, thoughts, self.store.fetch)
            for i, thoughts in enumerate(embedded.thoughts)
        ]

    def prepare_lexical_index(self) -> None:
        """Build (or load) the lexical index now, e.g. at the end of an ingest, rather than on the next search."""
        count = self.count()
        if count:
            self._lexical(count)

    def _lexical(self, count: int) -> LexicalIndex:
        """The BM25 index of the store's documents: the one in memory while the store is unchanged (its count and
        the generation its guard records, which every write through an Index renews), else the one saved in the
        store's ``lexical_folder`` if it was saved for this state, else built from the store's contents (and saved)."""
        stamp = {"count": count, "generation": (self.store.read_guard() or {}).get("generation")}
        with self._lexical_lock:  # concurrent searches build it once
            if self._lexical_index is not None and self._lexical_stamp == stamp:
                return self._lexical_index
            folder = getattr(self.store, "lexical_folder", None)
            index = LexicalIndex.load(folder, stamp) if folder is not None else None
            if index is None:
                logger.info("building the lexical index of %d documents of %s", count, self.store.description)
                began = time.perf_counter()
                index = LexicalIndex(*self.store.contents(), progress=count >= PROGRESS_FROM)
                logger.info("lexical index built in %.1fs", time.perf_counter() - began)
                if folder is not None:
                    try:
                        index.save(folder, stamp)
                    except OSError as error:
                        logger.warning(
                            "could not save the lexical index to %s (%s): this process keeps it in memory; "
                            "make the folder writable (or pass lexical_path=) to keep it between processes",
                            folder,
                            error,
                        )
            self._lexical_index, self._lexical_stamp = index, stamp
            return index

    def _allowed(self, where: dict[str, Any] | None) -> set[str] | None:
        return None if where is None else set(self.store.ids(where))

    def query(self, query: str, k: int = 10, options: SearchOptions | None = None, **given: Any) -> list[Hit]:
        """The k best documents for one query (``search``'s options)."""
        if not isinstance(query, str):
            raise TypeError(f"query must be a string, got {type(query).__name__}")
        return self.search([query], k, options, **given)[0]
