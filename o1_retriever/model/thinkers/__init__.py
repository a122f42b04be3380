"""Thinkers: whatever writes thoughts, at query time and as the expert of data synthesis.

One small interface, one implementation per backend:

- ``LocalThinker``: a transformers causal LM on this machine (the chat template, or the trained special-token prompt;
  in shared mode it also returns the ``<emb>`` vectors of its own generation pass);
- ``OpenAIThinker``: any OpenAI-compatible chat endpoint (vLLM, llama.cpp server, Ollama, a hosted API);
- ``o1_retriever.integrations.langchain.LangChainThinker`` and ``o1_retriever.integrations.llamaindex.
  LlamaIndexThinker``: a LangChain chat model or a LlamaIndex LLM the application already runs.

Every thinker samples candidate ``i`` of a query with the seed ``row_seed(settings.seed, query, i)`` where its
backend takes a seed; its ``identity`` names what its thoughts depend on, so the thought cache keys by it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from o1_retriever.model import prompts
from o1_retriever.model.config import ThinkingConfig

#: few-shot examples: (query, positive passage) pairs shown before the query
Examples = tuple[tuple[str, str], ...]


class ThinkerError(RuntimeError):
    """A thinker could not think (an endpoint that fails, times out or answers nonsense); the message names it."""


@dataclass(frozen=True)
class ThinkRequest:
    """One query to think about, with optional few-shot examples (synthesis); query time passes none.

    ``messages``: another conversation to answer instead of the thinking prompt (``adapt`` asks the writer for the
    questions a passage answers); ``query`` then keys the request's seeds."""

    query: str
    examples: Examples = ()
    messages: tuple[dict[str, str], ...] = ()

    def conversation(self) -> list[dict[str, str]]:
        """The chat messages a chat model answers for this request."""
        return list(self.messages) or prompts.thinking_messages(self.query, self.examples)


@dataclass
class Thoughts:
    """The thoughts written for one request (a model may write an empty one), why any candidate failed, and (fused
    thinkers only) the unit ``<emb>`` vector of each thought, (k, dim)."""

    texts: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    vectors: np.ndarray | None = None


class Thinker(Protocol):
    #: what the thoughts depend on (backend, model, prompt): part of every thought-cache key
    identity: str
    #: whether ``think`` also returns the vectors the model embeds the thoughts with (shared mode)
    embeds: bool

    def think(self, requests: list[ThinkRequest], settings: ThinkingConfig) -> list[Thoughts]:
        """``settings.n_thoughts`` candidates per request, in request order. A candidate that fails is reported in
        ``errors`` and left out of ``texts``, never returned as an empty thought."""
        ...


def refuse_local_only_settings(settings: ThinkingConfig, thinker: str) -> None:
    """A remote or framework thinker samples with its own engine: refuse settings only the local thinker honours,
    rather than cache thoughts under settings that were not applied."""
    if settings.no_repeat_ngram:
        raise ValueError(f"no_repeat_ngram is applied by the local thinker only, not by {thinker}: leave it at 0")
    if settings.stop_at_sentence_end:
        raise ValueError(
            f"stop_at_sentence_end is applied by the local thinker only, not by {thinker}: leave it off (a server "
            "stops at its own stop sequences)"
        )


def collect(outcomes: list[tuple[str, str | None]], source: str) -> Thoughts:
    """Thoughts from per-candidate (text, error) outcomes of a remote backend: a failed candidate or an empty answer
    is an error naming ``source``, never an empty thought."""
    thoughts = Thoughts()
    for text, error in outcomes:
        if error is not None:
            thoughts.errors.append(error)
        elif not text.strip():
            thoughts.errors.append(f"empty answer from {source}")
        else:
            thoughts.texts.append(text.strip())
    return thoughts


#: one chat conversation: OpenAI-style messages ({"role": ..., "content": ...})
Conversation = list[dict[str, str]]


def chat_thoughts(
    thinker: Thinker,
    requests: list[ThinkRequest],
    settings: ThinkingConfig,
    answer_all: Callable[[list[Conversation]], list[tuple[str, str | None]]],
) -> list[Thoughts]:
    """The thoughts of a thinker that samples with its own engine (a LangChain or LlamaIndex model): the thinking
    conversation of each request ``n_thoughts`` times, answered by ``answer_all`` as a (text, error) pair each, and
    collected per request. Settings only the local thinker honours are refused."""
    refuse_local_only_settings(settings, repr(thinker))
    k = settings.n_thoughts
    conversations = [r.conversation() for r in requests for _ in range(k)]
    outcomes = answer_all(conversations)
    return [collect(outcomes[j * k : (j + 1) * k], repr(thinker)) for j in range(len(requests))]


def build_thinker(
    backend: str,
    model: str,
    *,
    base_url: str | None = None,
    api_key_env: str = "OPENAI_API_KEY",
    concurrency: int = 8,
    timeout: float = 60.0,
    device: str | None = None,
    precision: str | None = None,
) -> Thinker:
    """A thinker from command-line words: ``local`` (a causal LM: built-in name, folder or hub id; ``precision``
    its weights, fp32 by default) or ``openai`` (``model`` served at ``base_url``)."""
    if backend == "local":
        from o1_retriever.model.thinkers.local import LocalThinker

        return LocalThinker.load(model, device=device, precision=precision or "fp32")
    if precision is not None:
        raise ValueError(f"precision applies to a local thinker's weights; a {backend!r} thinker runs elsewhere")
    if backend == "openai":
        from o1_retriever.model.thinkers.openai import OpenAIThinker

        if not base_url:
            raise ValueError("an 'openai' thinker needs a base URL (e.g. http://127.0.0.1:8000/v1)")
        return OpenAIThinker(base_url, model, api_key_env=api_key_env, concurrency=concurrency, timeout=timeout)
    raise ValueError(f"unknown thinker {backend!r}: use 'local' or 'openai'")
