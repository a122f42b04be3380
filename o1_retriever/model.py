"""ThinkThenEmbed: a query is thought about, then embedded; documents are embedded directly.

Two modes behind one interface (DESIGN.md §4):
- ``shared``: one causal LM thinks and embeds (``<emb>`` last-token pooling, fused with generation);
- ``split``: a causal LM thinks, a separate mean-pooled encoder embeds ``query + thought`` and documents.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from o1_retriever import prompts
from o1_retriever.causal_lm import CausalLM, add_special_tokens, default_device, load_causal_lm
from o1_retriever.checkpoint import (
    ADAPTER_DIR,
    ENCODER_ADAPTER_DIR,
    is_checkpoint,
    load_special_token_rows,
    model_card,
    read_config,
    save_special_token_rows,
    weights_fingerprint,
    write_config,
)
from o1_retriever.config import ModelConfig, ThinkingConfig
from o1_retriever.encoder import MeanPoolEncoder
from o1_retriever.pooling import mean_of_unit_vectors
from o1_retriever.sampling import row_seed
from o1_retriever.thought_cache import CachedThoughts, ThoughtCache, cache_key
from o1_retriever.validation import check_positive, check_texts
from o1_retriever.weights import home_dir, resolve_weights

logger = logging.getLogger(__name__)

#: The checkpoint that ``from_pretrained()`` loads with no argument: it ships inside the package.
DEFAULT_MODEL = Path(__file__).parent / "default_model"
DEFAULT_NAME = "default"


@dataclass
class QueryEmbeddings:
    """Unit query vectors (n_queries, dim) float32, and the thoughts behind each (empty lists without thinking)."""

    vectors: np.ndarray
    thoughts: list[list[str]]


class ThinkThenEmbed:
    """Think (sample thoughts), embed queries with their thoughts, embed documents; save and load checkpoints."""

    def __init__(
        self,
        config: ModelConfig,
        lm: CausalLM,
        encoder: MeanPoolEncoder | None = None,
        cache: ThoughtCache | None = None,
    ) -> None:
        if config.mode == "split" and encoder is None:
            raise ValueError("split mode needs an encoder")
        self.config = config
        self.lm = lm
        self.encoder = encoder
        self.cache = cache
        self._warned_truncation = False
        self._fingerprint: str | None = None
        self._document_fingerprint: str | None = None
        self._thinker_fingerprint: str | None = None
        self._adapter_sources: dict[str, Path] = {}  # adapters merged at load time, copied on save

    # ------------------------------------------------------------------ loading and saving
    @classmethod
    def from_pretrained(
        cls,
        name_or_path: str | Path | None = None,
        *,
        mode: str | None = None,
        encoder: str | None = None,
        device: str | None = None,
        cache: str | Path | bool = True,
        trust_remote_code: bool = False,
    ) -> ThinkThenEmbed:
        """Load a checkpoint folder, or build an untrained model on base weights.

        ``name_or_path``: a checkpoint folder (has ``o1_config.json``), a plain causal-LM folder, a built-in name
        (``smollm2-135m-instruct``), or a hub id while online; ``None`` or ``"default"`` (unless a folder of that name
        exists) loads the shipped default checkpoint.
        ``encoder`` (split mode) names the separate encoder the same way (``all-minilm-l6-v2``).
        ``cache``: True for the default thought cache, a path for another, False for none.
        """
        if name_or_path is None or (str(name_or_path) == DEFAULT_NAME and not Path(DEFAULT_NAME).exists()):
            name_or_path = DEFAULT_MODEL
        source = Path(name_or_path)
        device = device or default_device()
        checkpoint_dir = source if is_checkpoint(source) else None
        if checkpoint_dir is not None:
            config = read_config(checkpoint_dir)
            if mode is not None and mode != config.mode:
                raise ValueError(f"{checkpoint_dir} is a {config.mode}-mode checkpoint; mode={mode!r} conflicts")
            base = _relative_to(checkpoint_dir, config.base)
            encoder_name = _relative_to(checkpoint_dir, config.encoder) if config.encoder else None
        else:
            config = ModelConfig(
                mode=mode or ("split" if encoder else "shared"), base=str(name_or_path), encoder=encoder
            )
            base, encoder_name = config.base, config.encoder

        adapters = {
            name: checkpoint_dir / name
            for name in (ADAPTER_DIR, ENCODER_ADAPTER_DIR)
            if checkpoint_dir is not None and (checkpoint_dir / name).is_dir()
        }
        model, tokenizer = load_causal_lm(resolve_weights(base), device, trust_remote_code=trust_remote_code)
        add_special_tokens(model, tokenizer)
        if checkpoint_dir is not None:
            load_special_token_rows(checkpoint_dir, model, tokenizer)
        if ADAPTER_DIR in adapters:
            model = _merge_adapter(model, adapters[ADAPTER_DIR])
        text_encoder = None
        if config.mode == "split":
            text_encoder = MeanPoolEncoder.load(
                resolve_weights(encoder_name),
                device=device,
                max_tokens=config.encoder_max_tokens,
                trust_remote_code=trust_remote_code,
            )
            if ENCODER_ADAPTER_DIR in adapters:
                text_encoder.model = _merge_adapter(text_encoder.model, adapters[ENCODER_ADAPTER_DIR])
        thought_cache = None
        if cache:
            thought_cache = ThoughtCache(home_dir() / "thoughts.sqlite" if cache is True else cache)
        loaded = cls(config, CausalLM(model, tokenizer), text_encoder, thought_cache)
        loaded._adapter_sources = adapters
        return loaded

    def save_pretrained(self, folder: str | Path) -> Path:
        """Write config, special-token rows, adapter (if any) and a model card; base weights are referenced."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        write_config(folder, self.config)
        save_special_token_rows(folder, self.lm.model, self.lm.tokenizer)
        if hasattr(self.lm.model, "peft_config"):
            # special-token rows are saved on their own: keep the full embedding matrix out of the adapter
            self.lm.model.save_pretrained(str(folder / ADAPTER_DIR), save_embedding_layers=False)
        if self.encoder is not None and hasattr(self.encoder.model, "peft_config"):
            self.encoder.model.save_pretrained(str(folder / ENCODER_ADAPTER_DIR), save_embedding_layers=False)
        for name, source in self._adapter_sources.items():  # loaded adapters are merged: copy their files
            if not (folder / name).exists():
                shutil.copytree(source, folder / name)
        (folder / "README.md").write_text(model_card(self.config))
        return folder

    @property
    def fingerprint(self) -> str:
        """Identifies what the vectors depend on: weights, mode, templates and lengths. Stored with indexes."""
        if self._fingerprint is None:
            digest = hashlib.sha256()
            settings = {k: v for k, v in self.config.to_dict().items() if k not in ("thinking", "base", "encoder")}
            digest.update(json.dumps({"prompt_version": prompts.PROMPT_VERSION, **settings}, sort_keys=True).encode())
            digest.update(weights_fingerprint(self.lm.model).encode())
            if self.encoder is not None:
                digest.update(weights_fingerprint(self.encoder.model).encode())
            self._fingerprint = digest.hexdigest()[:16]
        return self._fingerprint

    @property
    def document_fingerprint(self) -> str:
        """Identifies what document vectors depend on: the encoder in split mode (any thinker can query its index),
        the whole model in shared mode. Keys Chroma collections and corpus-vector caches."""
        if self.encoder is None:
            return self.fingerprint
        if self._document_fingerprint is None:
            weights = weights_fingerprint(self.encoder.model)
            payload = f"split:{prompts.PROMPT_VERSION}:{self.encoder.max_tokens}:{weights}"
            self._document_fingerprint = hashlib.sha256(payload.encode()).hexdigest()[:16]
        return self._document_fingerprint

    @property
    def dimension(self) -> int:
        return self.encoder.dimension if self.encoder is not None else self.lm.dimension

    # ------------------------------------------------------------------ thinking
    def thinking_config(self, **overrides) -> ThinkingConfig:
        """The checkpoint's thinking settings with the non-None ``overrides`` applied (validated)."""
        return dataclasses.replace(self.config.thinking, **{k: v for k, v in overrides.items() if v is not None})

    def think(
        self,
        queries: Sequence[str],
        n: int | None = None,
        max_new_tokens: int | None = None,
        temperature: float | None = None,
        top_p: float | None = None,
        seed: int | None = None,
    ) -> list[list[str]]:
        """``n`` thoughts per query; the same seed gives the same thoughts (cached on disk)."""
        queries = check_texts(queries, "queries")
        settings = self.thinking_config(
            n_thoughts=n, max_new_tokens=max_new_tokens, temperature=temperature, top_p=top_p, seed=seed
        )
        return [entry.thoughts for entry in self.think_with_vectors(queries, settings)]

    def think_with_vectors(
        self, queries: list[str], settings: ThinkingConfig, batch_rows: int = 24
    ) -> list[CachedThoughts]:
        """Thoughts and their vectors for each query: from the cache, else generated (and cached per batch). In split
        mode thoughts depend on the thinker alone, so thoughts another encoder cached are reused and re-embedded."""
        key_settings = {"thinking": dataclasses.asdict(settings), "prompt_version": prompts.PROMPT_VERSION}
        key = lambda fingerprint, query: cache_key(fingerprint, query, key_settings)  # noqa: E731
        keys = [key(self.fingerprint, q) for q in queries]
        found = self.cache.get_many(keys) if self.cache is not None else {}
        missing = list(dict.fromkeys(q for q, k in zip(queries, keys) if k not in found))
        by_thinker = self.thinker_fingerprint if self.cache is not None else None
        thinker_keys = {q: key(by_thinker, q) for q in missing} if by_thinker is not None else {}
        if thinker_keys:
            cached = self.cache.get_many(list(thinker_keys.values()))
            reuse = [q for q in missing if thinker_keys[q] in cached]
            if reuse:
                texts = [t for q in reuse for t in cached[thinker_keys[q]].thoughts]
                new = dict(zip((key(self.fingerprint, q) for q in reuse), self._entries(reuse, texts)))
                self.cache.put_many(new)
                found.update(new)
                missing = [q for q in missing if thinker_keys[q] not in cached]
        per_batch = max(1, batch_rows // settings.n_thoughts)
        for start in range(0, len(missing), per_batch):
            batch = missing[start : start + per_batch]
            generated = self._generate(batch, settings)
            new = {key(self.fingerprint, q): e for q, e in zip(batch, generated)}
            if self.cache is not None:
                by_thinker_entries = {thinker_keys[q]: e for q, e in zip(batch, generated) if q in thinker_keys}
                self.cache.put_many({**new, **by_thinker_entries})
            found.update(new)
        return [found[k] for k in keys]

    @property
    def thinker_fingerprint(self) -> str | None:
        """Split mode: what thoughts depend on (the thinker's weights and prompt), not the encoder. None in shared
        mode, where the thoughts' vectors come from the generation pass itself."""
        if self.encoder is None:
            return None
        if self._thinker_fingerprint is None:
            payload = {
                "prompt_version": prompts.PROMPT_VERSION,
                "thinker_trained": self.config.thinker_trained,
                "max_query_tokens": self.config.max_query_tokens,
                "weights": weights_fingerprint(self.lm.model),
            }
            digest = hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]
            self._thinker_fingerprint = "thinker:" + digest
        return self._thinker_fingerprint

    def _generate(self, queries: list[str], settings: ThinkingConfig) -> list[CachedThoughts]:
        k = settings.n_thoughts
        shared = self.config.mode == "shared"
        seeds = [row_seed(settings.seed, q, i) for q in queries for i in range(k)]
        generated = self.lm.generate(
            [self._thinking_prompt(q) for q in queries],
            seeds,
            max_new_tokens=settings.max_new_tokens,
            temperature=settings.temperature,
            top_p=settings.top_p,
            embed=shared,
            samples_per_prompt=k,
        )
        texts = [self.lm.tokenizer.decode(ids, skip_special_tokens=True).strip() for ids in generated.token_ids]
        return self._entries(queries, texts, generated.vectors if shared else None)

    def _entries(
        self, queries: list[str], texts: list[str], thought_vectors: np.ndarray | None = None
    ) -> list[CachedThoughts]:
        """Cache entries: k = len(texts) / len(queries) thoughts per query with their vectors; without
        ``thought_vectors`` (split mode) the encoder embeds each query with each of its thoughts."""
        k = len(texts) // len(queries)
        if thought_vectors is None:
            pairs = [prompts.split_query_text(q, t) for q, t in zip((q for q in queries for _ in range(k)), texts)]
            thought_vectors = self.encoder.embed(pairs)
        query_vectors = self._plain_query_vectors(queries)
        return [
            CachedThoughts(texts[i * k : (i + 1) * k], thought_vectors[i * k : (i + 1) * k], query_vectors[i])
            for i in range(len(queries))
        ]

    def _thinking_prompt(self, query: str) -> list[int]:
        if self.config.mode == "shared" or self.config.thinker_trained:
            return self.lm.thinking_prompt_ids(self._tokens(query, self.config.max_query_tokens))
        return self.lm.chat_prompt_ids(query)

    # ------------------------------------------------------------------ embedding
    def embed_queries(
        self,
        queries: Sequence[str],
        think: bool = True,
        n_thoughts: int | None = None,
        *,
        include_query_vector: bool | None = None,
        max_new_tokens: int | None = None,
        temperature: float | None = None,
        top_p: float | None = None,
        seed: int | None = None,
    ) -> QueryEmbeddings:
        """Unit query vectors: the renormalised mean of the k query+thought vectors (and, by default, the
        thought-free query vector); with ``think=False``, the thought-free vector alone."""
        queries = check_texts(queries, "queries")
        if n_thoughts is not None:
            check_positive(n_thoughts, "n_thoughts")
        if not think:
            return QueryEmbeddings(self._plain_query_vectors(queries), [[] for _ in queries])
        settings = self.thinking_config(
            n_thoughts=n_thoughts, max_new_tokens=max_new_tokens, temperature=temperature, top_p=top_p, seed=seed
        )
        with_query = self.config.include_query_vector if include_query_vector is None else include_query_vector
        entries = self.think_with_vectors(queries, settings)
        vectors = np.stack(
            [
                mean_of_unit_vectors(
                    np.vstack([e.thought_vectors, e.query_vector[None]]) if with_query else e.thought_vectors
                )
                for e in entries
            ]
        )
        return QueryEmbeddings(vectors, [e.thoughts for e in entries])

    def _plain_query_vectors(self, queries: list[str]) -> np.ndarray:
        if self.encoder is not None:
            return self.encoder.embed(queries)
        emb = self.lm.emb_id
        return self.lm.embed_ids(
            [self.lm.thinking_prompt_ids(self._tokens(q, self.config.max_query_tokens)) + [emb] for q in queries]
        )

    def embed_documents(
        self, texts: Sequence[str], titles: Sequence[str] | None = None, batch_size: int = 32
    ) -> np.ndarray:
        """Unit document vectors (n, dim), float32, in input order. Batches are sorted by length."""
        texts = check_texts(texts, "texts")
        check_positive(batch_size, "batch_size")
        if titles is not None and len(titles) != len(texts):
            raise ValueError(f"titles has {len(titles)} items but texts has {len(texts)}")
        full = [prompts.document_text(t, titles[i] if titles else "") for i, t in enumerate(texts)]
        if self.encoder is not None:
            sequences: list = full
            lengths = [len(t) for t in full]
            embed = self.encoder.embed
            if any(
                self.encoder.count_tokens(t) > self.encoder.max_tokens for t in full if len(t) > self.encoder.max_tokens
            ):
                self._warn_truncation("documents", self.encoder.max_tokens)
        else:
            sequences = [self._tokens(t, self.config.max_document_tokens - 1) + [self.lm.emb_id] for t in full]
            lengths = [len(s) for s in sequences]
            embed = self.lm.embed_ids
        order = np.argsort(lengths, kind="stable")[::-1]
        out = np.zeros((len(full), self.dimension), dtype=np.float32)
        for start in range(0, len(order), batch_size):
            rows = order[start : start + batch_size]
            out[rows] = embed([sequences[i] for i in rows])
        return out

    def _tokens(self, text: str, max_tokens: int) -> list[int]:
        ids, cut = self.lm.tokenize(text, max_tokens)
        if cut:
            self._warn_truncation("texts", max_tokens)
        return ids

    def _warn_truncation(self, what: str, limit: int) -> None:
        if not self._warned_truncation:
            self._warned_truncation = True
            logger.warning("some %s are longer than %d tokens and were truncated (warned once)", what, limit)


def _relative_to(folder: Path, reference: str) -> str:
    """A reference in a checkpoint's config: a path relative to the checkpoint if it exists there, else as written."""
    candidate = folder / reference
    return str(candidate) if candidate.exists() else reference


def _merge_adapter(model, adapter_dir: Path):
    """A LoRA adapter merged into the weights: inference runs at the base model's speed (unmerged LoRA made
    all-MiniLM-L6-v2 embed documents about 1.4x slower on a CPU)."""
    from peft import PeftModel

    return PeftModel.from_pretrained(model, str(adapter_dir)).merge_and_unload().eval()
