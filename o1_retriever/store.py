"""``ChromaStore``: an Index over Chroma, the default store (embedded persistent Chroma, or a server by host).

Kept as the short way to the common case; ``o1_retriever.index.Index`` takes any ``VectorStore``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from o1_retriever.index import EmptyIndexError, Hit, Index, IndexMismatchError, IngestReport
from o1_retriever.model import ThinkThenEmbed
from o1_retriever.stores import StoreNotFoundError
from o1_retriever.stores.chroma import DEFAULT_COLLECTION, ChromaVectorStore

__all__ = ["ChromaStore", "EmptyIndexError", "Hit", "IndexMismatchError", "IngestReport", "DEFAULT_COLLECTION"]


class ChromaStore(Index):
    """Documents embedded by a ThinkThenEmbed model, in one Chroma collection.

    ``path``: the folder of an embedded persistent Chroma; ``host``/``port``: a Chroma server instead (start one with
    ``chroma run --path ./chroma-data --port 8000``). ``create=False`` refuses to create a missing store (for
    read-only use)."""

    def __init__(self, model: ThinkThenEmbed, path: str | Path | None = "o1-index", **chroma: Any) -> None:
        """``chroma``: the options of ``ChromaVectorStore`` (``collection``, ``host``, ``port``, ``create``,
        ``client``)."""
        try:
            store = ChromaVectorStore(path, **chroma)
        except StoreNotFoundError as error:
            raise EmptyIndexError(str(error)) from error
        super().__init__(model, store, create=chroma.get("create", True))
        self.name = store.name
