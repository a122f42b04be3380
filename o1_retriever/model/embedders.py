"""Embedders: the one place that turns documents and query + thought into vectors, for training and serving.

Each embedder owns its sequence assembly, its length limits (from ``ModelConfig``), its pooling and its forward pass.
The trainer wraps an embedder's modules with LoRA and calls the same methods with gradients on; serving calls
``embed_documents`` / ``embed_queries``. Two implementations:

- ``LMEmbedder`` (shared mode, the paper): the thinking causal LM reads ``text<emb>`` and
  ``<query>q</query><thought>t<eos><emb>``; the vector is the ``<emb>`` hidden state.
- ``EncoderEmbedder`` (split mode): a separate encoder (all-MiniLM-L6-v2) reads ``text`` and ``q t``, mean-pooled.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Protocol

import numpy as np
import torch
import torch.nn.functional as F

from o1_retriever.model import prompts
from o1_retriever.model.causal_lm import CausalLM
from o1_retriever.model.checkpoint import weights_fingerprint
from o1_retriever.model.config import ModelConfig
from o1_retriever.model.pooling import l2_normalize, last_token_pool, mean_pool
from o1_retriever.validation import warn_truncated

Batch = dict[str, torch.Tensor]


class Embedder(Protocol):
    """What training and serving need of an embedder."""

    #: the module whose weights make the vectors (wrapped with LoRA for training)
    module: torch.nn.Module
    #: the tokenizer its limits count in (a fast one: character offsets)
    tokenizer: object
    dimension: int
    #: what document vectors depend on (weights, template, limits): stored with indexes
    fingerprint: str

    def document_batch(self, texts: Sequence[str]) -> Batch: ...

    def query_batch(self, queries: Sequence[str], thoughts: Sequence[str | None]) -> Batch: ...

    def hidden_states(self, batch: Batch) -> torch.Tensor: ...

    def pool(self, hidden: torch.Tensor, batch: Batch) -> torch.Tensor: ...


def forward(embedder: Embedder, batch: Batch) -> torch.Tensor:
    """Unit vectors (n, dim) float32 of a batch, with gradients when they are on (training)."""
    return F.normalize(embedder.pool(embedder.hidden_states(batch), batch).float(), dim=-1)


@torch.inference_mode()
def embed(embedder: Embedder, batch: Batch) -> np.ndarray:
    """Unit vectors (n, dim) of one batch, as float32 numpy (serving)."""
    return l2_normalize(forward(embedder, batch).cpu().numpy())


def embed_documents(embedder: Embedder, texts: Sequence[str], batch_size: int = 32) -> np.ndarray:
    """Unit vectors (n, dim) of documents in input order, embedded in batches of similar length (longest first)."""
    order = np.argsort([len(t) for t in texts], kind="stable")[::-1]
    out = np.zeros((len(texts), embedder.dimension), dtype=np.float32)
    for start in range(0, len(order), batch_size):
        rows = order[start : start + batch_size]
        out[rows] = embed(embedder, embedder.document_batch([texts[i] for i in rows]))
    return out


def embed_queries(
    embedder: Embedder, queries: Sequence[str], thoughts: Sequence[str | None], batch_size: int = 32
) -> np.ndarray:
    """Unit vectors (n, dim) of queries, each with its thought (None: the thought-free vector)."""
    out = [
        embed(embedder, embedder.query_batch(queries[s : s + batch_size], thoughts[s : s + batch_size]))
        for s in range(0, len(queries), batch_size)
    ]
    return np.concatenate(out) if out else np.zeros((0, embedder.dimension), dtype=np.float32)


def _digest(*parts: object) -> str:
    return hashlib.sha256(":".join(map(str, parts)).encode()).hexdigest()[:16]


class LMEmbedder:
    """Shared mode: the causal LM embeds; the vector is the hidden state at ``<emb>``."""

    def __init__(self, lm: CausalLM, config: ModelConfig) -> None:
        self.lm = lm
        self.config = config

    @property
    def module(self) -> torch.nn.Module:
        return self.lm.model

    @property
    def tokenizer(self):
        return self.lm.tokenizer

    @property
    def dimension(self) -> int:
        return self.lm.dimension

    @property
    def fingerprint(self) -> str:
        c = self.config
        limits = (c.max_query_tokens, c.max_document_tokens, c.max_thought_sequence_tokens)
        return _digest("shared", prompts.PROMPT_VERSION, *limits, weights_fingerprint(self.lm.model))

    def document_batch(self, texts: Sequence[str]) -> Batch:
        sequences = [self.lm.document_sequence(t, self.config.max_document_tokens) for t in texts]
        ids, mask = self.lm.pad(sequences)
        return {"input_ids": ids, "attention_mask": mask}

    def query_batch(self, queries: Sequence[str], thoughts: Sequence[str | None]) -> Batch:
        """``<query>q</query><thought>t<eos><emb>`` (``labels`` on ``t<eos>``: one forward gives both losses)."""
        c = self.config
        sequences = [
            self.lm.thought_sequence(q, t, c.max_query_tokens, c.max_thought_sequence_tokens, with_emb=True)
            for q, t in zip(queries, thoughts)
        ]
        ids, mask = self.lm.pad([s for s, _ in sequences])
        labels, _ = self.lm.pad([labels for _, labels in sequences], value=-100)
        return {"input_ids": ids, "attention_mask": mask, "labels": labels}

    def hidden_states(self, batch: Batch) -> torch.Tensor:
        return self.lm.hidden_states(batch["input_ids"], batch["attention_mask"])

    def pool(self, hidden: torch.Tensor, batch: Batch) -> torch.Tensor:
        return last_token_pool(hidden, batch["attention_mask"])


class EncoderEmbedder:
    """Split mode: a separate encoder reads documents and ``query thought``, mean-pooled."""

    def __init__(self, model, tokenizer, config: ModelConfig) -> None:
        self.model = model.eval()
        self.tokenizer = tokenizer
        cap = getattr(tokenizer, "model_max_length", None) or 10**9  # the encoder's own position limit
        self.max_document_tokens = min(config.max_document_tokens, cap)
        self.max_query_tokens = min(config.max_thought_sequence_tokens, cap)

    @classmethod
    def load(
        cls, path: str, config: ModelConfig, *, device: str = "cpu", trust_remote_code: bool = False
    ) -> EncoderEmbedder:
        from transformers import AutoModel, AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(path, trust_remote_code=trust_remote_code)
        model = AutoModel.from_pretrained(path, use_safetensors=True, trust_remote_code=trust_remote_code)
        return cls(model.to(device), tokenizer, config)

    @property
    def module(self) -> torch.nn.Module:
        return self.model

    @module.setter
    def module(self, value: torch.nn.Module) -> None:
        self.model = value

    @property
    def dimension(self) -> int:
        return self.model.config.hidden_size

    @property
    def fingerprint(self) -> str:
        # unchanged since format 1, so indexes built then still open
        payload = f"split:{prompts.PROMPT_VERSION}:{self.max_document_tokens}:{weights_fingerprint(self.model)}"
        return hashlib.sha256(payload.encode()).hexdigest()[:16]

    def _batch(self, texts: list[str], limit: int, what: str) -> Batch:
        batch = self.tokenizer(texts, padding=True, truncation=True, max_length=limit, return_tensors="pt")
        if batch["attention_mask"].shape[1] == limit and self._any_longer(texts, limit):
            warn_truncated(what, limit)
        device = next(self.model.parameters()).device
        return {"input_ids": batch["input_ids"].to(device), "attention_mask": batch["attention_mask"].to(device)}

    def _any_longer(self, texts: list[str], limit: int) -> bool:
        lengths = self.tokenizer(texts, add_special_tokens=True, verbose=False)["input_ids"]
        return any(len(ids) > limit for ids in lengths)

    def document_batch(self, texts: Sequence[str]) -> Batch:
        return self._batch(list(texts), self.max_document_tokens, "documents")

    def query_batch(self, queries: Sequence[str], thoughts: Sequence[str | None]) -> Batch:
        texts = [prompts.split_query_text(q, t) for q, t in zip(queries, thoughts)]
        return self._batch(texts, self.max_query_tokens, "queries with thoughts")

    def hidden_states(self, batch: Batch) -> torch.Tensor:
        return self.model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).last_hidden_state

    def pool(self, hidden: torch.Tensor, batch: Batch) -> torch.Tensor:
        return mean_pool(hidden, batch["attention_mask"])
