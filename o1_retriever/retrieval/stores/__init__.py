"""Vector stores: vectors, texts and metadata in, scored ids out. A store knows no model.

``VectorStore`` is the whole contract; ``o1_retriever.retrieval.index.Index`` puts a model in front of any store and
owns ingest, search and the model guard. ``stores/chroma.py`` implements it for embedded Chroma and a Chroma server;
another store (Qdrant, pgvector, ...) is one more file like it (docs/guide.md: "Adding a store").
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple, Protocol

import numpy as np


class StoredHit(NamedTuple):
    id: str
    score: float  # cosine similarity of unit vectors, higher is better
    text: str
    metadata: dict[str, Any]


class StoreNotFoundError(LookupError):
    """A store opened read-only that does not exist; the message says where it was looked for."""


class StoreUnavailableError(ConnectionError):
    """A store's server cannot be reached (down, restarting, wrong host or port); the message names it and what to
    do. Nothing was written by the failed call: it can be retried once the server is back."""


class VectorStore(Protocol):
    #: where the store lives, for messages ("o1-index/ collection 'x'", "server 127.0.0.1:8000 ...")
    description: str

    def upsert(
        self, ids: Sequence[str], vectors: np.ndarray, texts: Sequence[str], metadatas: Sequence[dict[str, Any]]
    ) -> None:
        """Store (or replace) rows by id; metadata values are str/int/float/bool."""
        ...

    def delete(self, ids: Sequence[str]) -> None: ...

    def nearest(self, vectors: np.ndarray, k: int, where: dict[str, Any] | None = None) -> list[list[StoredHit]]:
        """The ``k`` nearest rows of each query vector (n, dim), best first, optionally filtered by metadata. Any
        number of vectors and any ``k``: a store splits its calls to fit its backend's limits."""
        ...

    def count(self) -> int: ...

    def contents(self, where: dict[str, Any] | None = None) -> tuple[list[str], list[str], list[dict[str, Any]]]:
        """Ids, texts and metadata of every stored row (matching ``where``): what the lexical side indexes."""
        ...

    def ids(self, where: dict[str, Any] | None = None) -> list[str]:
        """The ids of the stored rows matching ``where`` (what a filtered lexical search may return)."""
        ...

    def fetch(self, ids: Sequence[str]) -> dict[str, tuple[str, dict[str, Any]]]:
        """Text and metadata of the stored rows among ``ids`` (hits only the lexical side found; an ingest's check
        of what is already stored)."""
        ...

    def read_guard(self) -> dict[str, Any] | None:
        """What the store records about the model that filled it (None: nothing recorded yet)."""
        ...

    def write_guard(self, guard: dict[str, Any]) -> None:
        """Record ``guard``'s keys (merged into what is recorded)."""
        ...

    #: optional: a folder where the Index may keep the store's lexical (BM25) index between processes; a store
    #: without this attribute, or with None, gets one rebuilt in memory by each process
    lexical_folder: Path | None
