"""LangChain adapters: a ``BaseRetriever`` over an Index, an ``Embeddings`` whose ``embed_query`` thinks, and a
``LangChainThinker`` that lets any LangChain chat model write the thoughts."""

from __future__ import annotations

import asyncio
import hashlib
import json
from typing import Any

from langchain_core.callbacks import AsyncCallbackManagerForRetrieverRun, CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.embeddings import Embeddings
from langchain_core.language_models import BaseChatModel
from langchain_core.retrievers import BaseRetriever
from pydantic import ConfigDict, Field, model_validator

from o1_retriever import prompts
from o1_retriever.config import THINKING_SETTINGS, ThinkingConfig
from o1_retriever.index import Hit, Index, Mode, hit_metadata
from o1_retriever.fusion import Fusion
from o1_retriever.model import Think, ThinkThenEmbed, check_think
from o1_retriever.thinkers import ThinkRequest, Thoughts, collect, refuse_local_only_settings


#: the search options a call may set besides ``k`` and the thinking settings
PER_CALL = ("where", "mode", "fusion", "think")


def hit_to_document(hit: Hit) -> Document:
    return Document(id=hit.id, page_content=hit.text, metadata={**hit.metadata, **hit_metadata(hit)})


class O1Retriever(BaseRetriever):
    """Retrieves the ``k`` best documents from an Index (e.g. a ChromaStore): hybrid search, the query's thoughts
    joining its vector with ``think=True`` (never by default: see ``Index.search``); ``think="distilled"`` embeds the
    query with the checkpoint's distilled query encoder (no thinking at query time), ``think=False`` with the plain
    one; ``think="gated"`` thinks only for queries whose plain vector finds nothing close (the checkpoint's
    ``think_below``); ``None`` (default) is the model's ``default_think`` (distilled when the checkpoint has it).

    ``k``, ``mode`` (``"hybrid"``, ``"dense"``, ``"lexical"``), ``where``, ``fusion`` (``o1_retriever.Fusion``;
    None: the Index's), ``think`` and the thinking settings (``ThinkingConfig``'s fields) can also be given per call:
    ``retriever.invoke(query, k=3, mode="dense")``, ``retriever.invoke(query, think=True, temperature=0.1)``; any
    other keyword is a TypeError, never silently ignored.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    store: Index
    k: int = Field(default=4, ge=1)
    think: Think | None = None
    mode: Mode = "hybrid"
    where: dict[str, Any] | None = None
    fusion: Fusion | str | None = None
    thinking: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _options_are_valid(self) -> O1Retriever:
        self.store.check_options(think=self.think, mode=self.mode, fusion=self.fusion, **self.thinking)
        return self

    def _get_relevant_documents(
        self, query: str, *, run_manager: CallbackManagerForRetrieverRun, k: int | None = None, **kwargs: Any
    ) -> list[Document]:
        unknown = sorted(set(kwargs) - set(PER_CALL) - set(THINKING_SETTINGS))
        if unknown:
            raise TypeError(
                f"unknown search options {unknown}; per call: k, {', '.join(PER_CALL)} and the thinking settings "
                f"({', '.join(THINKING_SETTINGS)})"
            )
        options = {"where": self.where, "mode": self.mode, "fusion": self.fusion, "think": self.think}
        hits = self.store.query(query, self.k if k is None else k, **{**options, **self.thinking, **kwargs})
        return [hit_to_document(h) for h in hits]

    async def _aget_relevant_documents(
        self, query: str, *, run_manager: AsyncCallbackManagerForRetrieverRun, k: int | None = None, **kwargs: Any
    ) -> list[Document]:
        return await asyncio.to_thread(
            self._get_relevant_documents, query, run_manager=run_manager.get_sync(), k=k, **kwargs
        )


class O1Embeddings(Embeddings):
    """ThinkThenEmbed as LangChain ``Embeddings`` (e.g. for ``langchain_chroma.Chroma``); queries think first."""

    def __init__(self, model: ThinkThenEmbed, think: Think = True) -> None:
        self.model = model
        self.think = check_think(think)

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self.model.embed_documents(texts).tolist()

    def embed_query(self, text: str) -> list[float]:
        return self.model.embed_queries([text], think=self.think).vectors[0].tolist()

    async def aembed_documents(self, texts: list[str]) -> list[list[float]]:
        return await asyncio.to_thread(self.embed_documents, texts)

    async def aembed_query(self, text: str) -> list[float]:
        return await asyncio.to_thread(self.embed_query, text)


_ROLES = {"system": "system", "user": "human", "assistant": "ai"}


class LangChainThinker:
    """A LangChain chat model writes the thoughts: ``ThinkThenEmbed.from_pretrained(thinker=LangChainThinker(llm))``.

    Sampling settings (temperature, max tokens) are the chat model's own; ``n_thoughts`` calls are made per query,
    ``max_concurrency`` at a time. LangChain has no common seed parameter, so thoughts are as deterministic as the
    chat model is: the thought cache keeps the first answer for each (query, settings)."""

    embeds = False

    def __init__(self, chat_model: BaseChatModel, *, max_concurrency: int = 8) -> None:
        self.chat_model = chat_model
        self.max_concurrency = max_concurrency
        params = json.dumps(getattr(chat_model, "_identifying_params", {}), sort_keys=True, default=str)
        digest = hashlib.sha256(f"{type(chat_model).__name__}\x00{params}\x00{prompts.PROMPT_VERSION}".encode())
        self.identity = f"langchain:{type(chat_model).__name__}:{digest.hexdigest()[:16]}"

    def __repr__(self) -> str:
        return f"LangChainThinker({type(self.chat_model).__name__})"

    def think(self, requests: list[ThinkRequest], settings: ThinkingConfig) -> list[Thoughts]:
        refuse_local_only_settings(settings, repr(self))
        k = settings.n_thoughts
        conversations = [
            [(_ROLES[m["role"]], m["content"]) for m in prompts.thinking_messages(r.query, r.examples)]
            for r in requests
            for _ in range(k)
        ]
        answers = self.chat_model.batch(
            conversations, config={"max_concurrency": self.max_concurrency}, return_exceptions=True
        )
        outcomes = [
            ("", f"{self!r} failed: {answer}") if isinstance(answer, Exception) else (_text(answer.content), None)
            for answer in answers
        ]
        return [collect(outcomes[j * k : (j + 1) * k], repr(self)) for j in range(len(requests))]


def _text(content: Any) -> str:
    """A chat message's text: a string, or the text parts of a list of content blocks."""
    if isinstance(content, str):
        return content
    return "".join(b if isinstance(b, str) else b.get("text", "") for b in content if isinstance(b, (str, dict)))
