"""LangChain adapters: a ``BaseRetriever`` over a ChromaStore, and an ``Embeddings`` whose ``embed_query`` thinks."""

from __future__ import annotations

import asyncio
from typing import Any

from langchain_core.callbacks import AsyncCallbackManagerForRetrieverRun, CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.embeddings import Embeddings
from langchain_core.retrievers import BaseRetriever
from pydantic import ConfigDict, Field

from o1_retriever.model import ThinkThenEmbed
from o1_retriever.store import ChromaStore, Hit

THOUGHTS_KEY = "o1_thoughts"


def hit_to_document(hit: Hit) -> Document:
    return Document(
        id=hit.id, page_content=hit.text, metadata={**hit.metadata, "score": hit.score, THOUGHTS_KEY: hit.thoughts}
    )


class O1Retriever(BaseRetriever):
    """Retrieves the ``k`` best documents from a ChromaStore, thinking about the query first.

    ``k`` can also be given per call: ``retriever.invoke(query, k=3)``.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    store: ChromaStore
    k: int = Field(default=4, ge=1)
    think: bool = True
    where: dict[str, Any] | None = None
    thinking: dict[str, Any] = Field(default_factory=dict)

    def _get_relevant_documents(
        self, query: str, *, run_manager: CallbackManagerForRetrieverRun, k: int | None = None, **kwargs: Any
    ) -> list[Document]:
        hits = self.store.query(
            query, k or self.k, where=kwargs.get("where", self.where), think=self.think, **self.thinking
        )
        return [hit_to_document(h) for h in hits]

    async def _aget_relevant_documents(
        self, query: str, *, run_manager: AsyncCallbackManagerForRetrieverRun, k: int | None = None, **kwargs: Any
    ) -> list[Document]:
        return await asyncio.to_thread(
            self._get_relevant_documents, query, run_manager=run_manager.get_sync(), k=k, **kwargs
        )


class O1Embeddings(Embeddings):
    """ThinkThenEmbed as LangChain ``Embeddings`` (e.g. for ``langchain_chroma.Chroma``); queries think first."""

    def __init__(self, model: ThinkThenEmbed, think: bool = True) -> None:
        self.model = model
        self.think = think

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self.model.embed_documents(texts).tolist()

    def embed_query(self, text: str) -> list[float]:
        return self.model.embed_queries([text], think=self.think).vectors[0].tolist()

    async def aembed_documents(self, texts: list[str]) -> list[list[float]]:
        return await asyncio.to_thread(self.embed_documents, texts)

    async def aembed_query(self, text: str) -> list[float]:
        return await asyncio.to_thread(self.embed_query, text)
