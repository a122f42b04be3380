"""Building a ThinkThenEmbed from a checkpoint, base weights or a configuration: the one place that asks which
mode a model is in and which implementations it therefore needs."""

from __future__ import annotations

import copy
import dataclasses
import logging
from pathlib import Path

import torch

from o1_retriever.model.causal_lm import CausalLM, default_device, load_causal_lm
from o1_retriever.model.special_tokens import add_special_tokens
from o1_retriever.model.checkpoint import (
    ADAPTER_DIR,
    ENCODER_ADAPTER_DIR,
    QUERY_ADAPTER_DIR,
    adapter_dirs,
    is_checkpoint,
    load_special_token_rows,
    read_config,
)
from o1_retriever.model.config import ModelConfig
from o1_retriever.model.embedders import EncoderEmbedder, LMEmbedder
from o1_retriever.model.merged import merge_adapter
from o1_retriever.model.think_then_embed import OnThinkerError, ThinkThenEmbed
from o1_retriever.model.thinkers import Thinker
from o1_retriever.model.thinkers.lazy import LazyThinker
from o1_retriever.model.thinkers.local import LocalThinker
from o1_retriever.model.thought_cache import ThoughtCache
from o1_retriever.model.threads import set_threads
from o1_retriever.model.weights import home_dir, resolve_weights

logger = logging.getLogger(__name__)

#: Checkpoints that ship inside the package, by name (a folder of that name in the working directory wins).
#: "default" is what ``from_pretrained()`` loads with no argument; "default-distilled" is the same model with a
#: distilled query encoder, its default query encoding (better in domain, worse out of domain: its model card);
#: "default-qwen" is the same encoder with Qwen2.5-Coder-1.5B-Instruct as its thinker (thoughts that pay, at a few
#: seconds a query; its weights are optional: ``o1-retriever download-weights qwen2.5-coder-1.5b-instruct``);
#: "default-mpnet" is the same thinker with the larger, untrained all-mpnet-base-v2 encoder (its own index; optional
#: weights: ``o1-retriever download-weights all-mpnet-base-v2``); "default-mpnet-distilled" is that one with a
#: distilled query encoder (the same index serves both).
CHECKPOINTS_DIR = Path(__file__).parent.parent / "checkpoints"
SHIPPED_CHECKPOINTS = {
    name: CHECKPOINTS_DIR / name
    for name in ("default", "default-distilled", "default-qwen", "default-mpnet", "default-mpnet-distilled")
}
DEFAULT_MODEL = SHIPPED_CHECKPOINTS["default"]


def load(
    name_or_path: str | Path | None = None,
    *,
    mode: str | None = None,
    encoder: str | None = None,
    thinker: Thinker | None = None,
    device: str | None = None,
    cache: str | Path | bool = True,
    trust_remote_code: bool = False,
    on_thinker_error: OnThinkerError = "raise",
    threads: int | None = None,
    precision: str | None = None,
) -> ThinkThenEmbed:
    """A checkpoint folder (has ``o1_config.json``), or an untrained model on base weights: ``name_or_path`` is then
    the causal LM (a folder, a built-in name, a hub id while online) and ``encoder`` (split mode) the encoder.
    ``None`` or ``"default"`` (unless a folder of that name exists) is the shipped checkpoint, ``"default-distilled"``
    the shipped one with a distilled query encoder, ``"default-qwen"`` the shipped one with Qwen2.5-Coder-1.5B
    thinking (optional weights: ``o1-retriever download-weights qwen2.5-coder-1.5b-instruct``), ``"default-mpnet"``
    the shipped thinker with the all-mpnet-base-v2 encoder (``download-weights all-mpnet-base-v2``) and
    ``"default-mpnet-distilled"`` that one with a distilled query encoder. ``thinker``:
    another thinker than the checkpoint's LM (split mode only). ``cache``: True for the default thought cache, a path
    for another, False for none. ``precision``: the local thinker's weights, "fp32" or "int8" (default: the config's).
    ``threads``: CPU threads for torch (default: ``$O1_RETRIEVER_THREADS``; neither: torch's setting is left alone)."""
    set_threads(threads)
    if name_or_path is None:
        name_or_path = SHIPPED_CHECKPOINTS["default"]
    elif str(name_or_path) in SHIPPED_CHECKPOINTS and not Path(name_or_path).exists():
        name_or_path = SHIPPED_CHECKPOINTS[str(name_or_path)]
    source = Path(name_or_path)
    if is_checkpoint(source):
        config = read_config(source)
        if mode is not None and mode != config.mode:
            raise ValueError(f"{source} is a {config.mode}-mode checkpoint; mode={mode!r} conflicts")
        checkpoint_dir: Path | None = source
    else:
        config = ModelConfig(mode=mode or ("split" if encoder else "shared"), base=str(name_or_path), encoder=encoder)
        checkpoint_dir = None
    if precision is not None:
        config = dataclasses.replace(config, thinker_precision=precision)
    thought_cache = None
    if cache:
        thought_cache = ThoughtCache(home_dir() / "thoughts.sqlite" if cache is True else cache)
    return build(
        config,
        checkpoint_dir=checkpoint_dir,
        thinker=thinker,
        device=device,
        cache=thought_cache,
        trust_remote_code=trust_remote_code,
        on_thinker_error=on_thinker_error,
    )


def build(
    config: ModelConfig,
    *,
    checkpoint_dir: Path | None = None,
    thinker: Thinker | None = None,
    device: str | None = None,
    dtype: torch.dtype | None = None,
    cache: ThoughtCache | None = None,
    trust_remote_code: bool = False,
    on_thinker_error: OnThinkerError = "raise",
) -> ThinkThenEmbed:
    """The model ``config`` describes, with the trained parts of ``checkpoint_dir`` (merged into the weights) when
    given. Training builds its model here too (``dtype=torch.float32``), then wraps its modules with LoRA."""
    device = device or default_device()
    adapters = adapter_dirs(checkpoint_dir) if checkpoint_dir is not None else {}
    shared = config.mode == "shared"
    if shared and thinker is not None:
        raise ValueError("in shared mode the model's own LM thinks and embeds: pass thinker= with a split-mode model")
    lm = None

    def own_lm() -> CausalLM:
        """The checkpoint's causal LM, with its special-token rows and its adapter merged."""
        base = _relative_to(checkpoint_dir, config.base)
        model, tokenizer = load_causal_lm(
            resolve_weights(base), device, dtype=dtype, trust_remote_code=trust_remote_code
        )
        add_special_tokens(model, tokenizer)
        if checkpoint_dir is not None:
            load_special_token_rows(checkpoint_dir, model, tokenizer)
        if ADAPTER_DIR in adapters:
            model = merge_adapter(model, adapters[ADAPTER_DIR])
        return CausalLM(model, tokenizer)

    if thinker is None and shared:  # one LM thinks and embeds: it is needed now
        lm = own_lm()
        thinker = LocalThinker.from_config(lm, config, embeds=True)
    elif thinker is None:  # split mode: the LM only thinks, so it loads when a query first thinks
        description = f"LocalThinker({config.base!r}, trained={config.thinker_trained}, embeds=False)"
        thinker = LazyThinker(
            lambda: LocalThinker.from_config(own_lm(), config, embeds=False), embeds=False, description=description
        )
    query_embedder = None
    if shared:
        embedder = LMEmbedder(lm, config)
        if QUERY_ADAPTER_DIR in adapters:
            raise ValueError(f"{checkpoint_dir}: a {QUERY_ADAPTER_DIR}/ (distilled queries) needs a split-mode model")
    else:
        path = resolve_weights(_relative_to(checkpoint_dir, config.encoder))
        embedder = EncoderEmbedder.load(path, config, device=device, trust_remote_code=trust_remote_code)
        if ENCODER_ADAPTER_DIR in adapters:
            embedder.module = merge_adapter(embedder.module, adapters[ENCODER_ADAPTER_DIR], cache=True)
        if QUERY_ADAPTER_DIR in adapters:  # its own copy of the encoder: documents keep the encoder they had
            query_module = merge_adapter(copy.deepcopy(embedder.module), adapters[QUERY_ADAPTER_DIR], cache=True)
            query_embedder = EncoderEmbedder(query_module, embedder.tokenizer, config)
    model = ThinkThenEmbed(
        config, thinker, embedder, cache, on_thinker_error=on_thinker_error, query_embedder=query_embedder
    )
    model.adapter_sources = adapters
    return model


def _relative_to(folder: Path | None, reference: str) -> str:
    """A reference in a checkpoint's config: a path relative to the checkpoint if it exists there, else as written."""
    if folder is None:
        return reference
    candidate = folder / reference
    return str(candidate) if candidate.exists() else reference
