"""ThinkThenEmbed: a query is thought about, then embedded; documents are embedded directly.

A model is a thinker (``thinkers``), an embedder (``embedders``), the configuration that describes both, and a thought
cache. ``from_pretrained`` (``loading``) decides which implementations a checkpoint needs; nothing here asks which
mode it is in.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
import warnings
from typing import TYPE_CHECKING, Literal

import numpy as np

from o1_retriever.model import embedders, prompts
from o1_retriever.model.batching import MicroBatcher
from o1_retriever.model.checkpoint import save_checkpoint
from o1_retriever.model.config import THINKING_SETTINGS, ModelConfig, ThinkingConfig, ThinkingOptions
from o1_retriever.model.embedders import Embedder
from o1_retriever.model.pooling import mean_of_unit_vectors
from o1_retriever.model.query_encoding import QueryEncoding
from o1_retriever.model.thinkers import Thinker, ThinkerError, ThinkRequest, Thoughts
from o1_retriever.model.thought_cache import CachedThoughts, ThoughtCache, cache_key
from o1_retriever.validation import check_positive, check_texts, cut_to_tokens

if TYPE_CHECKING:
    from typing_extensions import Unpack

logger = logging.getLogger(__name__)

OnThinkerError = Literal["raise", "no-think"]


@dataclass
class QueryEmbeddings:
    """Unit query vectors (n_queries, dim) float32, and the thoughts behind each (empty lists without thinking)."""

    vectors: np.ndarray
    thoughts: list[list[str]]


class ThinkThenEmbed:
    """Think (sample thoughts), embed queries with their thoughts, embed documents; save and load checkpoints.

    ``batch_window_s``: how long concurrent thinking calls are gathered into one batch.
    ``on_thinker_error``: ``"raise"`` (default) stops with a ``ThinkerError`` naming the thinker when it cannot
    think about a query; ``"no-think"`` logs it and embeds that query without thoughts (not cached, so a later call
    thinks again).
    ``query_embedder``: the distilled query encoder (``encoding="distilled"``), when the checkpoint has one.
    """

    def __init__(
        self,
        config: ModelConfig,
        thinker: Thinker,
        embedder: Embedder,
        cache: ThoughtCache | None = None,
        *,
        on_thinker_error: OnThinkerError = "raise",
        batch_window_s: float = 0.005,
        query_embedder: Embedder | None = None,
    ) -> None:
        if on_thinker_error not in ("raise", "no-think"):
            raise ValueError(f"on_thinker_error must be 'raise' or 'no-think', got {on_thinker_error!r}")
        self.config = config
        self.thinker = thinker
        self.embedder = embedder
        self.query_embedder = query_embedder
        self.cache = cache
        self.on_thinker_error = on_thinker_error
        self.adapter_sources: dict[str, Path] = {}  # adapters merged at load time, copied on save
        self._batcher = MicroBatcher(self._embed_thinking, _split_embeddings, window_s=batch_window_s)

    # ------------------------------------------------------------------ loading and saving
    @classmethod
    def from_pretrained(cls, name_or_path: str | Path | None = None, **options) -> ThinkThenEmbed:
        """Load a checkpoint folder, or build an untrained model on base weights; see ``loading.load``.

        ``name_or_path``: a checkpoint folder, a plain causal-LM folder, a built-in name, a hub id while online;
        ``None`` or ``"default"`` loads the shipped checkpoint. ``thinker=``: any ``Thinker`` (an endpoint, a LangChain
        or LlamaIndex LLM) in place of the checkpoint's own LM, in split mode.
        """
        from o1_retriever.model.loading import load

        return load(name_or_path, **options)

    def save_pretrained(self, folder: str | Path) -> Path:
        """Write config, special-token rows, trained adapters and a model card; base weights are referenced."""
        return save_checkpoint(self, Path(folder))

    @functools.cached_property
    def fingerprint(self) -> str:
        """Identifies what query vectors depend on: the embedder, the thinker and how vectors are combined."""
        payload = {
            "prompt_version": prompts.PROMPT_VERSION,
            "embedder": self.embedder.fingerprint,
            "thinker": self.thinker.identity,
            "include_query_vector": self.config.include_query_vector,
        }
        return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]

    @functools.cached_property
    def document_fingerprint(self) -> str:
        """Identifies what document vectors depend on (the embedder alone: any thinker can query its index).
        Keys Chroma collections and corpus-vector caches."""
        return self.embedder.fingerprint

    @property
    def dimension(self) -> int:
        return self.embedder.dimension

    # ------------------------------------------------------------------ thinking
    def thinking_config(self, **overrides) -> ThinkingConfig:
        """The checkpoint's thinking settings with the non-None ``overrides`` applied (validated)."""
        unknown = sorted(set(overrides) - set(THINKING_SETTINGS))
        if unknown:
            raise TypeError(f"unknown thinking settings {unknown}; the settings are {', '.join(THINKING_SETTINGS)}")
        return dataclasses.replace(self.config.thinking, **{k: v for k, v in overrides.items() if v is not None})

    def think(
        self, queries: Sequence[str], n: int | None = None, **settings: Unpack[ThinkingOptions]
    ) -> list[list[str]]:
        """``n`` thoughts per query; the same seed gives the same thoughts (cached on disk). ``settings`` override
        the checkpoint's (``ThinkingOptions``: max_new_tokens, temperature, top_p, seed, ...)."""
        queries = check_texts(queries, "queries")
        return [
            entry.thoughts for entry in self.think_with_vectors(queries, self.thinking_config(n_thoughts=n, **settings))
        ]

    def think_with_vectors(
        self, queries: list[str], settings: ThinkingConfig, batch_rows: int = 24
    ) -> list[CachedThoughts]:
        """Thoughts and their vectors for each query: from the cache, else generated (and cached per batch). Thoughts
        of a thinker that does not embed depend on the thinker alone, so thoughts cached with another embedder are
        reused and re-embedded."""
        key_settings = {"thinking": settings.cache_settings(), "prompt_version": prompts.PROMPT_VERSION}
        key = lambda fingerprint, query: cache_key(fingerprint, query, key_settings)  # noqa: E731
        keys = [key(self.fingerprint, q) for q in queries]
        found = self.cache.get_many(keys) if self.cache is not None else {}
        missing = list(dict.fromkeys(q for q, k in zip(queries, keys) if k not in found))
        reusable = self.cache is not None and not self.thinker.embeds
        thinker_keys = {q: key(self.thinker.identity, q) for q in missing} if reusable else {}
        if thinker_keys:
            cached = self.cache.get_many(list(thinker_keys.values()))
            reuse = [q for q in missing if thinker_keys[q] in cached]
            if reuse:
                written = [Thoughts(cached[thinker_keys[q]].thoughts) for q in reuse]
                new = dict(zip((key(self.fingerprint, q) for q in reuse), self._entries(reuse, written)))
                self.cache.put_many(new)
                found.update(new)
                missing = [q for q in missing if thinker_keys[q] not in cached]
        per_batch = max(1, batch_rows // settings.n_thoughts)
        for start in range(0, len(missing), per_batch):
            batch = missing[start : start + per_batch]
            written = self.thinker.think([ThinkRequest(self._thinkable(q)) for q in batch], settings)
            thought_free = [self._failed(q, t) for q, t in zip(batch, written)]
            entries = self._entries(batch, [Thoughts() if f else t for t, f in zip(written, thought_free)])
            kept = [(q, e) for q, e, f in zip(batch, entries, thought_free) if not f]  # failures are not cached
            if self.cache is not None and kept:
                new = {key(self.fingerprint, q): e for q, e in kept}
                self.cache.put_many({**new, **{thinker_keys[q]: e for q, e in kept if q in thinker_keys}})
            found.update({key(self.fingerprint, q): e for q, e in zip(batch, entries)})
        return [found[k] for k in keys]

    def _thinkable(self, query: str) -> str:
        """The query as every thinker reads it: cut to the longest query + thought sequence the model embeds
        (``max_thought_sequence_tokens`` of its tokenizer), before any prompt template, with a one-time warning. A
        longer query could only slow thinking down (or overflow the thinker's positions) and leave no room for the
        thought."""
        return cut_to_tokens(self.embedder.tokenizer, query, self.config.max_thought_sequence_tokens, "queries")

    def _failed(self, query: str, thoughts: Thoughts) -> bool:
        """Whether ``query`` goes thought-free because the thinker failed (``on_thinker_error="no-think"``)."""
        if not thoughts.errors:
            return False
        reason = "; ".join(dict.fromkeys(thoughts.errors))
        if self.on_thinker_error == "raise":
            raise ThinkerError(
                f"{self.thinker!r} could not think about {query[:80]!r}: {reason}. Check the thinker, or pass "
                "on_thinker_error='no-think' to embed such queries without thoughts."
            )
        logger.warning("%r failed (%s): %r is embedded without thoughts", self.thinker, reason, query[:80])
        return True

    def _entries(self, queries: list[str], written: list[Thoughts]) -> list[CachedThoughts]:
        """Cache entries: each query's thoughts with their vectors (the thinker's own, or the embedder's of
        query + thought) and its thought-free vector."""
        unfused = [(q, t) for q, w in zip(queries, written) if w.vectors is None for t in w.texts]
        unfused_vectors = iter(
            embedders.embed_queries(self.embedder, [q for q, _ in unfused], [t for _, t in unfused]) if unfused else ()
        )
        query_vectors = self._plain_query_vectors(queries)
        entries = []
        for w, query_vector in zip(written, query_vectors):
            vectors = w.vectors if w.vectors is not None else [next(unfused_vectors) for _ in w.texts]
            stacked = np.asarray(vectors, dtype=np.float32).reshape(len(w.texts), self.dimension)
            entries.append(CachedThoughts(list(w.texts), stacked, query_vector))
        return entries

    # ------------------------------------------------------------------ embedding
    def embed_queries(
        self,
        queries: Sequence[str],
        encoding: QueryEncoding | str = QueryEncoding.THINK,
        n_thoughts: int | None = None,
        *,
        include_query_vector: bool | None = None,
        think: bool | str | None = None,
        **settings: Unpack[ThinkingOptions],
    ) -> QueryEmbeddings:
        """Unit query vectors. ``think``: the renormalised mean of the k query+thought vectors (and, by default, the
        thought-free query vector); ``plain``: the thought-free vector alone; ``distilled``: the query alone through
        the distilled query encoder (the checkpoint must have one). ``settings`` override the checkpoint's thinking
        settings (``ThinkingOptions``). ``think=`` is the deprecated 0.1 name of ``encoding`` (True, False,
        "distilled").

        Calls from several threads at once (a server, LangChain ``batch``, async retrievers) are gathered for
        ``batch_window_s`` into one batch; each query's thoughts are seeded by the query, so they are the same as
        when it comes alone."""
        if think is not None:
            warnings.warn("think= is deprecated: pass encoding= (a QueryEncoding)", DeprecationWarning, stacklevel=2)
            encoding = think
        encoding = QueryEncoding.of(encoding)
        queries = check_texts(queries, "queries")
        if n_thoughts is not None:
            check_positive(n_thoughts, "n_thoughts")
        thinking = self.thinking_config(n_thoughts=n_thoughts, **settings)  # checked even when not thinking
        if encoding is QueryEncoding.GATED:
            raise ValueError(
                "encoding 'gated' decides per query from a search's first round: use Index.search or a retriever; "
                "to embed a query here choose 'think', 'plain' or 'distilled'"
            )
        if encoding is QueryEncoding.DISTILLED:
            return QueryEmbeddings(self._distilled_query_vectors(queries), [[] for _ in queries])
        if encoding is QueryEncoding.PLAIN:
            return QueryEmbeddings(self._plain_query_vectors(queries), [[] for _ in queries])
        with_query = self.config.include_query_vector if include_query_vector is None else include_query_vector
        return self._batcher.submit(queries, (thinking, with_query))

    def _embed_thinking(self, queries: list[str], key: tuple[ThinkingConfig, bool]) -> QueryEmbeddings:
        settings, with_query = key
        entries = self.think_with_vectors(queries, settings)
        vectors = np.stack(
            [
                mean_of_unit_vectors(
                    np.vstack([e.thought_vectors, e.query_vector[None]])
                    if with_query or not len(e.thoughts)
                    else e.thought_vectors
                )
                for e in entries
            ]
        )
        return QueryEmbeddings(vectors, [e.thoughts for e in entries])

    def _plain_query_vectors(self, queries: list[str]) -> np.ndarray:
        return embedders.embed_queries(self.embedder, queries, [None] * len(queries))

    @property
    def distilled(self) -> bool:
        """Whether this model can embed queries with ``encoding="distilled"``."""
        return self.query_embedder is not None

    @property
    def default_encoding(self) -> QueryEncoding:
        """How retrievers embed a query unless told: through the distilled query encoder when the checkpoint has
        one, else the plain query vector (thinking at query time is always asked for explicitly)."""
        return QueryEncoding.DISTILLED if self.distilled else QueryEncoding.PLAIN

    def _distilled_query_vectors(self, queries: list[str]) -> np.ndarray:
        if self.query_embedder is None:
            raise ValueError(
                "encoding 'distilled' needs a checkpoint with a distilled query encoder (query_adapter/); this one "
                "has none: train one with `o1-retriever distill`, or use encoding 'plain' or 'think'"
            )
        return embedders.embed_queries(self.query_embedder, queries, [None] * len(queries))

    def embed_documents(
        self, texts: Sequence[str], titles: Sequence[str] | None = None, batch_size: int = 32
    ) -> np.ndarray:
        """Unit document vectors (n, dim), float32, in input order. Batches are sorted by length."""
        texts = check_texts(texts, "texts")
        check_positive(batch_size, "batch_size")
        if titles is not None and len(titles) != len(texts):
            raise ValueError(f"titles has {len(titles)} items but texts has {len(texts)}")
        full = [prompts.document_text(t, titles[i] if titles else "") for i, t in enumerate(texts)]
        return embedders.embed_documents(self.embedder, full, batch_size)


def _split_embeddings(embedded: QueryEmbeddings, sizes: list[int]) -> list[QueryEmbeddings]:
    """One batch's query embeddings cut back into each caller's share."""
    bounds = np.cumsum([0, *sizes])
    return [QueryEmbeddings(embedded.vectors[a:b], embedded.thoughts[a:b]) for a, b in zip(bounds[:-1], bounds[1:])]
