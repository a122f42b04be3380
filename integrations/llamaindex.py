"""LlamaIndex adapters: a ``BaseRetriever`` over a ChromaStore, and a ``BaseEmbedding`` whose query embedding thinks."""

from __future__ import annotations

import asyncio
from typing import Any

from llama_index.core.base.embeddings.base import BaseEmbedding
from llama_index.core.callbacks.base import CallbackManager
from llama_index.core.retrievers import BaseRetriever
from llama_index.core.schema import NodeWithScore, QueryBundle, TextNode
from pydantic import PrivateAttr

from o1_retriever.model import ThinkThenEmbed
from o1_retriever.store import ChromaStore, Hit

THOUGHTS_KEY = "o1_thoughts"


def hit_to_node(hit: Hit) -> NodeWithScore:
    """A store hit as a LlamaIndex node; the query's thoughts ride in metadata, hidden from the LLM and embedder."""
    node = TextNode(
        id_=hit.id,
        text=hit.text,
        metadata={**hit.metadata, THOUGHTS_KEY: hit.thoughts},
        excluded_llm_metadata_keys=[THOUGHTS_KEY],
        excluded_embed_metadata_keys=[THOUGHTS_KEY],
    )
    return NodeWithScore(node=node, score=hit.score)


class O1Retriever(BaseRetriever):
    """Retrieves from a ChromaStore; the query is thought about before it is embedded (``think=False``: plain dense)."""

    def __init__(
        self,
        store: ChromaStore,
        similarity_top_k: int = 4,
        *,
        think: bool = True,
        where: dict[str, Any] | None = None,
        callback_manager: CallbackManager | None = None,
        **thinking: Any,
    ) -> None:
        if similarity_top_k < 1:
            raise ValueError(f"similarity_top_k must be >= 1, got {similarity_top_k}")
        self.store = store
        self.similarity_top_k = similarity_top_k
        self.think = think
        self.where = where
        self.thinking = thinking
        super().__init__(callback_manager=callback_manager)

    def _retrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        hits = self.store.query(
            query_bundle.query_str, self.similarity_top_k, where=self.where, think=self.think, **self.thinking
        )
        return [hit_to_node(h) for h in hits]

    async def _aretrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        return await asyncio.to_thread(self._retrieve, query_bundle)


class O1Embedding(BaseEmbedding):
    """ThinkThenEmbed as a LlamaIndex embedding model, for the vector stores LlamaIndex ships.

    ``get_query_embedding`` thinks first (unless ``think=False``); text embeddings are plain document vectors.
    """

    think: bool = True
    _model: ThinkThenEmbed = PrivateAttr()

    def __init__(self, model: ThinkThenEmbed, think: bool = True, **kwargs: Any) -> None:
        super().__init__(model_name=f"o1-retriever:{model.fingerprint}", think=think, **kwargs)
        self._model = model

    @classmethod
    def class_name(cls) -> str:
        return "O1Embedding"

    def _get_query_embedding(self, query: str) -> list[float]:
        return self._model.embed_queries([query], think=self.think).vectors[0].tolist()

    async def _aget_query_embedding(self, query: str) -> list[float]:
        return await asyncio.to_thread(self._get_query_embedding, query)

    def _get_text_embedding(self, text: str) -> list[float]:
        return self._get_text_embeddings([text])[0]

    def _get_text_embeddings(self, texts: list[str]) -> list[list[float]]:
        return self._model.embed_documents(texts).tolist()
