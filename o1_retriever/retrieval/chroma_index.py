"""``ChromaIndex``: an Index over one Chroma collection, the default (embedded persistent Chroma, or a server).

The short way to the common case; ``o1_retriever.retrieval.index.Index`` takes any ``VectorStore``.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

from o1_retriever.model.think_then_embed import ThinkThenEmbed
from o1_retriever.retrieval.fusion import Fusion
from o1_retriever.retrieval.index import EmptyIndexError, Index
from o1_retriever.retrieval.stores import StoreNotFoundError
from o1_retriever.retrieval.stores.chroma import ChromaVectorStore


class ChromaIndex(Index):
    """Documents embedded by a ThinkThenEmbed model, in one Chroma collection.

    ``path``: the folder of an embedded persistent Chroma; ``host``/``port``: a Chroma server instead (start one with
    ``chroma run --path ./chroma-data --port 8000``). ``create=False`` refuses to create a missing index (for
    read-only use)."""

    def __init__(
        self,
        model: ThinkThenEmbed,
        path: str | Path | None = "o1-index",
        *,
        fusion: Fusion | str | None = None,
        **chroma: Any,
    ) -> None:
        """``chroma``: the options of ``ChromaVectorStore`` (``collection``, ``host``, ``port``, ``create``,
        ``client``, ``lexical_path``); ``fusion``: ``Index``'s."""
        try:
            store = ChromaVectorStore(path, **chroma)
        except StoreNotFoundError as error:
            raise EmptyIndexError(str(error)) from error
        super().__init__(model, store, create=chroma.get("create", True), fusion=fusion)
        self.name = store.name


def __getattr__(name: str) -> Any:
    if name == "ChromaStore":  # the 0.1 name
        warnings.warn("ChromaStore is now ChromaIndex", DeprecationWarning, stacklevel=2)
        return ChromaIndex
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
