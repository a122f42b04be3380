"""LangChain adapters: a ``BaseRetriever`` over an Index, an ``Embeddings`` whose ``embed_query`` thinks, and a
``LangChainThinker`` that lets any LangChain chat model write the thoughts."""

from __future__ import annotations

import asyncio
import hashlib
import json
import warnings
from typing import Any

from langchain_core.callbacks import AsyncCallbackManagerForRetrieverRun, CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.embeddings import Embeddings
from langchain_core.language_models import BaseChatModel
from langchain_core.retrievers import BaseRetriever
from pydantic import ConfigDict, Field, model_validator

from o1_retriever.model import prompts
from o1_retriever.model.config import ThinkingConfig
from o1_retriever.model.query_encoding import QueryEncoding, embeddable
from o1_retriever.model.think_then_embed import ThinkThenEmbed
from o1_retriever.model.thinkers import Conversation, ThinkRequest, Thoughts, chat_thoughts
from o1_retriever.retrieval.hits import Hit, hit_metadata
from o1_retriever.retrieval.index import Index
from o1_retriever.retrieval.options import SearchOptions


def hit_to_document(hit: Hit) -> Document:
    return Document(id=hit.id, page_content=hit.text, metadata={**hit.metadata, **hit_metadata(hit)})


class O1Retriever(BaseRetriever):
    """Retrieves the ``k`` best documents from an Index (e.g. a ``ChromaIndex``), searched as ``options`` say (a
    ``SearchOptions``: by default hybrid, with the model's default query encoding).

    The options' fields can be given as keywords when it is built (``O1Retriever(index=index, encoding="think")``)
    and per call with ``k``: ``retriever.invoke(query, k=3, mode="dense")``,
    ``retriever.invoke(query, encoding="think", temperature=0.1)``; any other keyword is a TypeError, never silently
    ignored. ``store=`` and ``think=`` are the deprecated 0.1 names of ``index=`` and ``encoding=``.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    index: Index
    k: int = Field(default=4, ge=1)
    options: SearchOptions = Field(default_factory=SearchOptions)

    @model_validator(mode="before")
    @classmethod
    def _gather_options(cls, values: Any) -> Any:
        """Keywords naming a ``SearchOptions`` field (or a thinking setting, or ``thinking={...}``) go into
        ``options``; ``store=`` is the deprecated name of ``index=``."""
        if not isinstance(values, dict):
            return values
        values = dict(values)
        if "store" in values:
            warnings.warn("O1Retriever(store=...) is deprecated: pass index=", DeprecationWarning, stacklevel=4)
            values.setdefault("index", values.pop("store"))
        given = {name: values.pop(name) for name in list(values) if name not in cls.model_fields}
        if given:
            values["options"] = SearchOptions.of(values.get("options"), **given)
        return values

    @model_validator(mode="after")
    def _options_are_valid(self) -> O1Retriever:
        self.index.check_options(self.options)
        return self

    def _get_relevant_documents(
        self, query: str, *, run_manager: CallbackManagerForRetrieverRun, k: int | None = None, **given: Any
    ) -> list[Document]:
        hits = self.index.query(query, self.k if k is None else k, self.options, **given)
        return [hit_to_document(h) for h in hits]

    async def _aget_relevant_documents(
        self, query: str, *, run_manager: AsyncCallbackManagerForRetrieverRun, k: int | None = None, **given: Any
    ) -> list[Document]:
        return await asyncio.to_thread(
            self._get_relevant_documents, query, run_manager=run_manager.get_sync(), k=k, **given
        )


class O1Embeddings(Embeddings):
    """ThinkThenEmbed as LangChain ``Embeddings`` (e.g. for ``langchain_chroma.Chroma``); queries are embedded with
    ``encoding`` (default: they think first; ``gated`` needs a search, so it is refused here)."""

    def __init__(
        self, model: ThinkThenEmbed, encoding: QueryEncoding | str = QueryEncoding.THINK, *, think: Any = None
    ) -> None:
        self.model = model
        self.encoding = embeddable(encoding, think)

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self.model.embed_documents(texts).tolist()

    def embed_query(self, text: str) -> list[float]:
        return self.model.embed_queries([text], self.encoding).vectors[0].tolist()

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
        return chat_thoughts(self, requests, settings, self._answer_all)

    def _answer_all(self, conversations: list[Conversation]) -> list[tuple[str, str | None]]:
        answers = self.chat_model.batch(
            [[(_ROLES[m["role"]], m["content"]) for m in messages] for messages in conversations],
            config={"max_concurrency": self.max_concurrency},
            return_exceptions=True,
        )
        return [
            ("", f"{self!r} failed: {answer}") if isinstance(answer, Exception) else (_text(answer.content), None)
            for answer in answers
        ]


def _text(content: Any) -> str:
    """A chat message's text: a string, or the text parts of a list of content blocks."""
    if isinstance(content, str):
        return content
    return "".join(b if isinstance(b, str) else b.get("text", "") for b in content if isinstance(b, (str, dict)))
