"""LlamaIndex adapters: a ``BaseRetriever`` over an Index, a ``BaseEmbedding`` whose query embedding thinks, and a
``LlamaIndexThinker`` that lets any LlamaIndex LLM write the thoughts."""

from __future__ import annotations

import asyncio
import hashlib
import warnings
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from llama_index.core.base.embeddings.base import BaseEmbedding
from llama_index.core.callbacks.base import CallbackManager
from llama_index.core.llms import LLM, ChatMessage
from llama_index.core.retrievers import BaseRetriever
from llama_index.core.schema import NodeWithScore, QueryBundle, TextNode
from llama_index.core.vector_stores.types import MetadataFilters
from pydantic import PrivateAttr

from o1_retriever.model import prompts
from o1_retriever.model.config import ThinkingConfig
from o1_retriever.model.query_encoding import QueryEncoding, embeddable
from o1_retriever.model.think_then_embed import ThinkThenEmbed
from o1_retriever.model.thinkers import Conversation, ThinkRequest, Thoughts, chat_thoughts
from o1_retriever.retrieval.hits import Hit, hit_metadata
from o1_retriever.retrieval.index import Index
from o1_retriever.retrieval.options import SearchOptions


def hit_to_node(hit: Hit) -> NodeWithScore:
    """A store hit as a LlamaIndex node; the query's thoughts ride in metadata, hidden from the LLM and embedder."""
    ours = hit_metadata(hit)
    node = TextNode(
        id_=hit.id,
        text=hit.text,
        metadata={**hit.metadata, **ours},
        excluded_llm_metadata_keys=list(ours),
        excluded_embed_metadata_keys=list(ours),
    )
    return NodeWithScore(node=node, score=hit.score)


#: LlamaIndex filter operators and their Chroma ``where`` operators
CHROMA_OPERATORS = {
    **{"==": "$eq", "!=": "$ne", ">": "$gt", ">=": "$gte", "<": "$lt", "<=": "$lte"},
    **{"in": "$in", "nin": "$nin"},
}


def chroma_where(filters: MetadataFilters) -> dict[str, Any] | None:
    """LlamaIndex ``MetadataFilters`` (nested ones too) as a Chroma ``where``; a ValueError for an operator or a
    condition Chroma cannot filter by."""
    parts = []
    for item in filters.filters:
        if isinstance(item, MetadataFilters):
            nested = chroma_where(item)
            if nested:
                parts.append(nested)
            continue
        operator = CHROMA_OPERATORS.get(item.operator.value)
        if operator is None:
            raise ValueError(
                f"the metadata filter on {item.key!r} uses {item.operator.value!r}, which Chroma cannot filter by; "
                f"use one of {', '.join(CHROMA_OPERATORS)}"
            )
        parts.append({item.key: {operator: item.value}})
    condition = filters.condition.value if filters.condition is not None else "and"
    if condition not in ("and", "or"):
        raise ValueError(f"Chroma filters combine by 'and' or 'or', not {condition!r}")
    if len(parts) <= 1:
        return parts[0] if parts else None
    return {f"${condition}": parts}


class O1Retriever(BaseRetriever):
    """Retrieves from an Index (e.g. a ``ChromaIndex``), searched as ``options`` say (a ``SearchOptions``: by default
    hybrid, with the model's default query encoding); keywords ``given`` replace its fields (``encoding``, ``mode``,
    ``fusion``, ``where``, the thinking settings). ``filters`` (LlamaIndex ``MetadataFilters``) and ``where``
    (Chroma's form) filter both sides; given both, a hit passes both. ``store=`` and ``think=`` are the deprecated
    0.1 names of ``index`` and ``encoding=``."""

    def __init__(
        self,
        index: Index | None = None,
        similarity_top_k: int = 4,
        *,
        options: SearchOptions | None = None,
        filters: MetadataFilters | None = None,
        callback_manager: CallbackManager | None = None,
        store: Index | None = None,
        **given: Any,
    ) -> None:
        if store is not None:
            warnings.warn("O1Retriever(store=...) is deprecated: pass index", DeprecationWarning, stacklevel=2)
            index = index or store
        if index is None:
            raise TypeError("O1Retriever needs the index to search (an o1_retriever Index, e.g. ChromaIndex)")
        if similarity_top_k < 1:
            raise ValueError(f"similarity_top_k must be >= 1, got {similarity_top_k}")
        options = SearchOptions.of(options, **given)
        converted = chroma_where(filters) if filters is not None else None
        if converted is not None:
            options = SearchOptions.of(
                options, where={"$and": [options.where, converted]} if options.where else converted
            )
        index.check_options(options)  # bad options fail here
        self.index = index
        self.similarity_top_k = similarity_top_k
        self.options = options
        super().__init__(callback_manager=callback_manager)

    def _retrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        hits = self.index.query(query_bundle.query_str, self.similarity_top_k, self.options)
        return [hit_to_node(h) for h in hits]

    async def _aretrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        return await asyncio.to_thread(self._retrieve, query_bundle)


class O1Embedding(BaseEmbedding):
    """ThinkThenEmbed as a LlamaIndex embedding model, for the vector stores LlamaIndex ships.

    ``get_query_embedding`` embeds with ``encoding`` (default: it thinks first; ``gated`` needs a search, so it is
    refused here); text embeddings are plain document vectors.
    """

    encoding: QueryEncoding = QueryEncoding.THINK
    _model: ThinkThenEmbed = PrivateAttr()

    def __init__(
        self,
        model: ThinkThenEmbed,
        encoding: QueryEncoding | str = QueryEncoding.THINK,
        think: Any = None,
        **kwargs: Any,
    ) -> None:
        encoding = embeddable(encoding, think)
        super().__init__(model_name=f"o1-retriever:{model.fingerprint}", encoding=encoding, **kwargs)
        self._model = model

    @classmethod
    def class_name(cls) -> str:
        return "O1Embedding"

    def _get_query_embedding(self, query: str) -> list[float]:
        return self._model.embed_queries([query], self.encoding).vectors[0].tolist()

    async def _aget_query_embedding(self, query: str) -> list[float]:
        return await asyncio.to_thread(self._get_query_embedding, query)

    def _get_text_embedding(self, text: str) -> list[float]:
        return self._get_text_embeddings([text])[0]

    def _get_text_embeddings(self, texts: list[str]) -> list[list[float]]:
        return self._model.embed_documents(texts).tolist()


class LlamaIndexThinker:
    """A LlamaIndex LLM writes the thoughts: ``ThinkThenEmbed.from_pretrained(thinker=LlamaIndexThinker(llm))``.

    Sampling settings are the LLM's own; ``n_thoughts`` chat calls are made per query, ``max_concurrency`` at a time.
    LlamaIndex has no common seed parameter, so thoughts are as deterministic as the LLM is: the thought cache keeps
    the first answer for each (query, settings)."""

    embeds = False

    def __init__(self, llm: LLM, *, max_concurrency: int = 8) -> None:
        self.llm = llm
        self.max_concurrency = max_concurrency
        name = f"{type(llm).__name__}:{llm.metadata.model_name}"
        digest = hashlib.sha256(f"{name}\x00{prompts.PROMPT_VERSION}".encode()).hexdigest()[:16]
        self.identity = f"llamaindex:{name}:{digest}"

    def __repr__(self) -> str:
        return f"LlamaIndexThinker({type(self.llm).__name__}, model={self.llm.metadata.model_name!r})"

    def think(self, requests: list[ThinkRequest], settings: ThinkingConfig) -> list[Thoughts]:
        return chat_thoughts(self, requests, settings, self._answer_all)

    def _answer_all(self, conversations: list[Conversation]) -> list[tuple[str, str | None]]:
        with ThreadPoolExecutor(self.max_concurrency) as pool:
            return list(pool.map(self._chat, conversations))

    def _chat(self, messages: Conversation) -> tuple[str, str | None]:
        try:
            chat = [ChatMessage(role=m["role"], content=m["content"]) for m in messages]
            return self.llm.chat(chat).message.content or "", None
        except Exception as error:  # any backend error is reported per candidate, with the LLM's name
            return "", f"{self!r} failed: {error}"
