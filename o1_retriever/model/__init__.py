"""The model room: a ``ThinkThenEmbed`` is a thinker, an embedder, their configuration and a thought cache.

Configuration (``config``), building and loading (``loading``, ``checkpoint``, ``weights``), embedding
(``embedders``, ``pooling``, ``prompts``), thinking (``thinkers``, ``causal_lm``, ``sampling``, ``quantization``,
``batching``) and caches (``thought_cache``, ``vector_cache``). Nothing here knows about stores or evaluation.
"""

from o1_retriever.model.config import ModelConfig, ThinkingConfig
from o1_retriever.model.think_then_embed import QueryEmbeddings, ThinkThenEmbed

__all__ = ["ModelConfig", "QueryEmbeddings", "ThinkThenEmbed", "ThinkingConfig"]
