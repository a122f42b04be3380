"""Chroma as a VectorStore: an embedded persistent Chroma (a folder) or a Chroma server (``chroma run``)."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from o1_retriever.retrieval.stores import StoredHit, StoreNotFoundError, StoreUnavailableError

DEFAULT_COLLECTION = "o1-retriever"
#: cosine HNSW, wider than Chroma's defaults, so the approximate search stays close to exact search
#: (docs/results.md: the wider HNSW row, bench/results/eval/hnsw-nfcorpus-lite.json.gz)
HNSW = {"space": "cosine", "ef_construction": 200, "ef_search": 200}
#: rows one Chroma call may return with their documents and metadata (queries x k of a query call, ids of a get):
#: Chroma reads them by id in one SQLite statement, which takes at most 32,766 variables (found with chromadb 1.5.9:
#: 32,763 ids pass and 32,764 fail, in one query or in 328 queries of 100); kept below it, and every call of this store
#: is split to fit, so any number of queries, any k and any number of ids work
ROWS_PER_CALL = 30_000
_GUARD_PREFIX = "o1:"
#: the folder, inside an embedded Chroma's, that holds each collection's lexical index
LEXICAL_FOLDER = "o1-lexical"


def chroma_metadata(metadata: dict[str, Any] | None) -> dict[str, Any] | None:
    """Chroma keeps str/int/float/bool values: drop None, store anything else as JSON text."""
    if not metadata:
        return None
    clean = {
        str(k): v if isinstance(v, (str, int, float, bool)) else json.dumps(v)
        for k, v in metadata.items()
        if v is not None
    }
    return clean or None


def reachable(method: Callable) -> Callable:
    """A store method whose failure to reach a Chroma server is a ``StoreUnavailableError`` naming it."""

    @functools.wraps(method)
    def call(self: ChromaVectorStore, *args, **kwargs):
        try:
            return method(self, *args, **kwargs)
        except httpx.TransportError as error:
            raise StoreUnavailableError(self.unavailable(error)) from error

    return call


class ChromaVectorStore:
    """One Chroma collection with cosine distance. ``path``: an embedded persistent Chroma folder; ``host``/``port``:
    a Chroma server instead; ``client``: any Chroma client. ``create=False`` opens an existing collection only and
    never creates a folder or a collection."""

    def __init__(
        self,
        path: str | Path | None = "o1-index",
        *,
        collection: str = DEFAULT_COLLECTION,
        host: str | None = None,
        port: int = 8000,
        create: bool = True,
        client: Any = None,
        lexical_path: str | Path | None = None,
    ) -> None:
        import chromadb

        self.description = f"Chroma server {host}:{port}" if host else f"Chroma folder {path}"
        self.description += f", collection {collection!r}"
        embedded_folder = Path(str(path)) if client is None and not host and path else None
        if client is None and not host and not create and not Path(str(path)).is_dir():
            raise StoreNotFoundError(f"no Chroma folder at {path}: build it first with `o1-retriever index`")
        if client is None:
            try:
                client = (
                    chromadb.HttpClient(host=host, port=port) if host else chromadb.PersistentClient(path=str(path))
                )
            except Exception as error:  # chromadb raises ValueError/ConnectionError variants for a server that is down
                if host:
                    raise StoreUnavailableError(self.unavailable(error)) from error
                raise StoreNotFoundError(f"cannot open {self.description}: {error}") from error
        self.client = client
        self.name = collection
        # the lexical index lives beside an embedded Chroma; for a server or a given client, where the caller says
        # (or in memory only)
        if lexical_path is not None:
            self.lexical_folder: Path | None = Path(lexical_path) / collection
        else:
            self.lexical_folder = embedded_folder / LEXICAL_FOLDER / collection if embedded_folder else None
        if create:
            self.collection = client.get_or_create_collection(
                collection, configuration={"hnsw": HNSW}, embedding_function=None
            )
        else:
            try:
                self.collection = client.get_collection(collection, embedding_function=None)
            except Exception as error:  # NotFoundError (a ValueError in older chromadb versions)
                raise StoreNotFoundError(
                    f"no collection {collection!r} in {self.description}: build it first with `o1-retriever index`"
                ) from error

    def unavailable(self, error: Exception) -> str:
        """What to say when the server does not answer."""
        return (
            f"cannot reach {self.description} ({error}): start the server (chroma run --path DIR --port PORT) or "
            "check the host and port; retry once it is back (writes are idempotent by id)"
        )

    @reachable
    def upsert(self, ids, vectors, texts, metadatas) -> None:
        self.collection.upsert(
            ids=list(ids),
            embeddings=np.asarray(vectors, dtype=np.float32),
            documents=list(texts),
            metadatas=[chroma_metadata(m) for m in metadatas],
        )

    @reachable
    def delete(self, ids: Sequence[str]) -> None:
        ids = list(ids)
        for start in range(0, len(ids), ROWS_PER_CALL):
            self.collection.delete(ids=ids[start : start + ROWS_PER_CALL])

    @reachable
    def nearest(self, vectors: np.ndarray, k: int, where: dict[str, Any] | None = None) -> list[list[StoredHit]]:
        """Each query vector's ``k`` nearest rows, in calls of at most ``ROWS_PER_CALL`` rows; a ``k`` beyond that
        reads ids and distances first, then the rows' texts by id."""
        vectors = np.asarray(vectors, dtype=np.float32)
        if k > ROWS_PER_CALL:
            return [self._nearest_alone(vector, k, where) for vector in vectors]
        per_call = ROWS_PER_CALL // k
        out: list[list[StoredHit]] = []
        for start in range(0, len(vectors), per_call):
            result = self.collection.query(
                query_embeddings=vectors[start : start + per_call],
                n_results=k,
                where=where,
                include=["documents", "metadatas", "distances"],
            )
            out += [
                [
                    StoredHit(doc_id, 1.0 - float(distance), text or "", dict(metadata or {}))
                    for doc_id, distance, text, metadata in zip(ids, distances, texts, metadatas)
                ]
                for ids, distances, texts, metadatas in zip(
                    result["ids"], result["distances"], result["documents"], result["metadatas"]
                )
            ]
        return out

    def _nearest_alone(self, vector: np.ndarray, k: int, where: dict[str, Any] | None) -> list[StoredHit]:
        result = self.collection.query(query_embeddings=vector[None], n_results=k, where=where, include=["distances"])
        ids, distances = result["ids"][0], result["distances"][0]
        rows = self.fetch(ids)
        return [StoredHit(i, 1.0 - float(d), *rows[i]) for i, d in zip(ids, distances) if i in rows]

    @reachable
    def count(self) -> int:
        return self.collection.count()

    @reachable
    def contents(self, where: dict[str, Any] | None = None, page: int = 5000):
        ids: list[str] = []
        texts: list[str] = []
        metadatas: list[dict[str, Any]] = []
        for offset in range(0, self.count(), page):
            rows = self.collection.get(where=where, limit=page, offset=offset, include=["documents", "metadatas"])
            ids += rows["ids"]
            texts += [t or "" for t in rows["documents"]]
            metadatas += [dict(m or {}) for m in rows["metadatas"]]
        return ids, texts, metadatas

    @reachable
    def ids(self, where: dict[str, Any] | None = None, page: int = 50_000) -> list[str]:
        out: list[str] = []
        for offset in range(0, self.count(), page):
            out += self.collection.get(where=where, limit=page, offset=offset, include=[])["ids"]
        return out

    @reachable
    def fetch(self, ids: Sequence[str]) -> dict[str, tuple[str, dict[str, Any]]]:
        ids, found = list(ids), {}
        for start in range(0, len(ids), ROWS_PER_CALL):
            rows = self.collection.get(ids=ids[start : start + ROWS_PER_CALL], include=["documents", "metadatas"])
            found.update(
                {i: (t or "", dict(m or {})) for i, t, m in zip(rows["ids"], rows["documents"], rows["metadatas"])}
            )
        return found

    @reachable
    def read_guard(self) -> dict[str, Any] | None:
        try:  # read afresh: another process may have written since this one opened the collection
            self.collection = self.client.get_collection(self.name, embedding_function=None)
        except httpx.TransportError:
            raise
        except Exception:  # deleted meanwhile: the metadata this process last saw
            pass
        meta = self.collection.metadata or {}
        guard = {k[len(_GUARD_PREFIX) :]: v for k, v in meta.items() if k.startswith(_GUARD_PREFIX)}
        return guard or None

    @reachable
    def write_guard(self, guard: dict[str, Any]) -> None:
        meta = {k: v for k, v in (self.collection.metadata or {}).items() if k != "hnsw:space"}
        self.collection.modify(metadata={**meta, **{_GUARD_PREFIX + k: v for k, v in guard.items()}})
