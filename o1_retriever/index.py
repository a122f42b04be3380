"""An Index: a ThinkThenEmbed model in front of any VectorStore. It owns ingest (idempotent by id, so a killed ingest
resumes), search (the model's query vectors, the store's nearest rows) and the guard that stops one model from
reading or writing another model's vectors."""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from tqdm.auto import tqdm

from o1_retriever.data import PASSAGE_OF, Document, content_id, skip_empty
from o1_retriever.fusion import Fusion, fuse
from o1_retriever.lexical import LexicalIndex, LexicalResult, expanded_query
from o1_retriever.metrics import ranking
from o1_retriever.model import DISTILLED, GATED, QueryEmbeddings, Think, ThinkThenEmbed, check_think
from o1_retriever.stores import VectorStore
from o1_retriever.validation import check_positive, check_texts


logger = logging.getLogger(__name__)

#: the metadata key under which integrations hand a query's thoughts to their framework
THOUGHTS_KEY = "o1_thoughts"
#: the row metadata key holding a digest of what was indexed (text, title, metadata), so a rerun re-embeds a
#: document whose content changed under the same id; internal, never shown in a hit's metadata
CONTENT_KEY = "o1:content"
#: ids one store call takes at most (Chroma caps a call's ids)
IDS_PER_CALL = 5000


class IndexMismatchError(ValueError):
    """The store was filled by another model than the one in use."""


class EmptyIndexError(LookupError):
    """The store is missing or holds no documents."""


Mode = Literal["hybrid", "dense", "lexical"]
MODES = ("hybrid", "dense", "lexical")
#: candidates each side contributes to a fusion (at least k)
FUSION_CANDIDATES = 100
#: a lexical index of this many documents or more is built with progress bars (it takes seconds to minutes)
PROGRESS_FROM = 50_000


@dataclass(frozen=True)
class Hit:
    id: str
    score: float  # dense: cosine similarity; lexical: BM25; hybrid: the fused score (o1_retriever.fusion)
    text: str
    metadata: dict[str, Any] = field(default_factory=dict)
    thoughts: list[str] = field(default_factory=list)
    dense_rank: int | None = None  # 1-based rank on each side that found it (None: not among its candidates)
    lexical_rank: int | None = None


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
        self, model: ThinkThenEmbed, store: VectorStore, *, create: bool = True, fusion: Fusion | str = Fusion()
    ) -> None:
        self.model = model
        self.store = store
        self.fusion = Fusion.of(fusion)
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
                unchanged = {d.id for d in batch if d.id in stored and _same_content(d, *stored[d.id])}
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
        ids = list(ids)
        if ids:
            self._new_generation()
            for start in range(0, len(ids), IDS_PER_CALL):
                self.store.delete(ids[start : start + IDS_PER_CALL])
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
    def check_options(
        self,
        *,
        think: Think | None = None,
        mode: Mode = "hybrid",
        fusion: Fusion | str | None = None,
        lexical_thoughts: bool = False,
        **thinking: Any,
    ) -> Think:
        """The ``think`` a search with these options runs (``None``: the model's ``default_think``), or the error
        the search would raise: an unknown or invalid thinking setting, thinking settings without thinking, an
        unknown mode or fusion. The retrievers call it when they are built, so a bad option fails there, not at the
        first query."""
        think = self.model.default_think if think is None else check_think(think)
        self.model.thinking_config(**thinking)  # unknown names and invalid values
        given = sorted(name for name, value in thinking.items() if value is not None)
        if lexical_thoughts:
            given.append("lexical_thoughts")
        if given and think not in (True, GATED):
            raise ValueError(f"{', '.join(given)} set how queries are thought about: pass think=True to think")
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        if think == GATED and mode == "lexical":
            raise ValueError("think='gated' reads the dense side's first round: use mode 'hybrid' or 'dense'")
        if fusion is not None:
            Fusion.of(fusion)
        return think

    def search(
        self,
        queries: Sequence[str],
        k: int = 10,
        *,
        where: dict[str, Any] | None = None,
        think: Think | None = None,
        mode: Mode = "hybrid",
        lexical_thoughts: bool = False,
        fusion: Fusion | str | None = None,
        **thinking: Any,
    ) -> list[list[Hit]]:
        """The k best documents for each query, best first, with the thoughts used for that query.

        ``think``: ``True`` writes thoughts and embeds the query with them (never by default: inside the hybrid,
        thinking moved nDCG@10 by -0.013 to +0.011, significant on none of four test sets, for 1-7 s a query; README
        "Hybrid search"); ``"gated"``: the plain query vector searches first, and only the queries whose best cosine
        is below the checkpoint's ``think_below`` (nothing close: an unsure first round) think and search again, so
        the others cost what ``False`` costs; ``"distilled"``: the query alone through the checkpoint's distilled
        query encoder, at the cost of ``False`` (the plain query vector); ``None`` (default): the model's
        ``default_think``, distilled when the checkpoint has a distilled query encoder, else plain.

        ``mode``: ``"hybrid"`` (default: the fusion of the dense side, the query vector, and the lexical side, BM25
        over the store's documents), ``"dense"`` or ``"lexical"``. ``fusion`` overrides the Index's: a
        ``o1_retriever.fusion.Fusion`` or a preset name (``"guarded"``, the default; ``"score"``; ``"rrf"``). With
        ``lexical_thoughts`` the BM25 query is the query (repeated) followed by its thoughts. ``where`` filters both
        sides alike."""
        check_positive(k, "k")
        queries = check_texts(queries, "queries")
        think = self.check_options(think=think, mode=mode, fusion=fusion, lexical_thoughts=lexical_thoughts, **thinking)
        count = self.count()
        if count == 0:
            raise EmptyIndexError(f"{self.store.description} is empty: index documents first")
        depth = min(count, k if mode == "dense" else max(k, FUSION_CANDIDATES))
        if think == GATED:
            embedded, dense = self._gated_dense(queries, depth, where, thinking)
        else:
            wants_thoughts = think is True and (mode != "lexical" or lexical_thoughts)
            if mode == "lexical" and not wants_thoughts:
                embedded = QueryEmbeddings(None, [[] for _ in queries])  # no model call: BM25 alone
            else:
                how = DISTILLED if think == DISTILLED else wants_thoughts
                embedded = self.model.embed_queries(queries, think=how, **thinking)
            dense = self.store.query(embedded.vectors, depth, where) if mode != "lexical" else None
        lexical = lexical_index = None
        if mode != "dense":
            lexical_index = self._lexical(count)
            texts = [expanded_query(q, t) if lexical_thoughts and t else q for q, t in zip(queries, embedded.thoughts)]
            candidates = [[h.id for h in row] for row in dense] if dense is not None else []
            lexical = lexical_index.search(texts, depth, self._allowed(where), exact=candidates)
        fusion = self.fusion if fusion is None else Fusion.of(fusion)
        out = []
        for i, thoughts in enumerate(embedded.thoughts):
            if lexical is None:
                hits = [
                    Hit(h.id, h.score, h.text, shown_metadata(h.metadata), thoughts, dense_rank=r)
                    for r, h in _ranked(dense[i])
                ]
            else:
                side = dense[i] if dense is not None else []
                hits = _fused(side, lexical[i], k, count, fusion, thoughts, self.store.fetch)
            out.append(hits)
        return out

    def _gated_dense(
        self, queries: list[str], depth: int, where: dict[str, Any] | None, thinking: dict[str, Any]
    ) -> tuple[QueryEmbeddings, list]:
        """The dense side of ``think="gated"``: every query searches with its plain vector; those whose best hit is
        below ``think_below`` (or that found nothing) think and search again with their thought vector."""
        threshold = self.model.config.think_below
        if threshold is None:
            raise ValueError(
                "think='gated' needs the checkpoint's think_below (the cosine under which a query thinks); this "
                "checkpoint has none: set it in its o1_config.json (choose it on dev queries with bench/gate.py), "
                "or use think=True / False"
            )
        plain = self.model.embed_queries(queries, think=False)
        dense = self.store.query(plain.vectors, depth, where)
        unsure = [i for i, row in enumerate(dense) if first_round_unsure(row[0].score if row else None, threshold)]
        if not unsure:
            return plain, dense
        thought = self.model.embed_queries([queries[i] for i in unsure], think=True, **thinking)
        again = self.store.query(thought.vectors, depth, where)
        vectors, thoughts = plain.vectors.copy(), list(plain.thoughts)
        for row, i in enumerate(unsure):
            vectors[i], thoughts[i], dense[i] = thought.vectors[row], thought.thoughts[row], again[row]
        return QueryEmbeddings(vectors, thoughts), dense

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

    def query(self, query: str, k: int = 10, **kwargs: Any) -> list[Hit]:
        """The k best documents for one query."""
        if not isinstance(query, str):
            raise TypeError(f"query must be a string, got {type(query).__name__}")
        return self.search([query], k, **kwargs)[0]


def content_digest(document: Document) -> str:
    """A digest of what decides a stored row: the document's text, title and metadata."""
    payload = json.dumps([document.text, document.title, document.metadata], sort_keys=True, default=str)
    return hashlib.sha256(payload.encode()).hexdigest()[:24]


def row_metadata(document: Document) -> dict[str, Any]:
    """The metadata a store row of ``document`` holds: its title, its metadata and the digest of its content."""
    return {"title": document.title, **document.metadata, CONTENT_KEY: content_digest(document)}


def _same_content(document: Document, text: str, metadata: dict[str, Any]) -> bool:
    """Whether a stored row (its text and metadata) holds ``document`` as it is now. Rows written before rows
    carried a digest are compared by text and title, which decide the vector."""
    if CONTENT_KEY in metadata:
        return metadata[CONTENT_KEY] == content_digest(document)
    return text == document.text and str(metadata.get("title") or "") == document.title


def shown_metadata(metadata: dict[str, Any]) -> dict[str, Any]:
    """A stored row's metadata as users see it: without the internal content digest."""
    return {key: value for key, value in metadata.items() if key != CONTENT_KEY}


def first_round_unsure(best_cosine: float | None, think_below: float) -> bool:
    """Whether ``think="gated"`` thinks for a query: its plain vector's best cosine (None: nothing found) is below
    the checkpoint's ``think_below``."""
    return best_cosine is None or best_cosine < think_below


def _fused(
    dense: list, lexical: LexicalResult, k: int, n_docs: int, fusion: Fusion, thoughts: list[str], fetch
) -> list[Hit]:
    """Hits of the lexical side alone (no dense candidates: ``mode="lexical"``) or of the fusion of both sides;
    ``fetch(ids)`` gives the text and metadata of the documents only the lexical side found."""
    rows = {h.id: (h.text, h.metadata) for h in dense}
    dense_ranking = ranking({h.id: h.score for h in dense})
    dense_rank = {doc: r for r, (doc, _) in _ranked(dense_ranking)}
    lexical_rank = {doc: r for r, (doc, _) in _ranked(lexical.ranking)}
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


def _ranked(items: list) -> list[tuple[int, Any]]:
    return list(enumerate(items, start=1))


def hit_metadata(hit: Hit) -> dict[str, Any]:
    """What a hit tells beyond its document, for the metadata of a framework's document or node: the score, the
    rank on each side of the search, and the thoughts the query was embedded with."""
    ranks = {"dense_rank": hit.dense_rank, "lexical_rank": hit.lexical_rank}
    return {"score": hit.score, **{k: v for k, v in ranks.items() if v is not None}, THOUGHTS_KEY: hit.thoughts}
