"""A separate mean-pooled text encoder (split mode), e.g. all-MiniLM-L6-v2 as a sentence-transformers folder."""

from __future__ import annotations

import numpy as np
import torch

from o1_retriever.pooling import l2_normalize, mean_pool


class MeanPoolEncoder:
    def __init__(self, model, tokenizer, max_tokens: int = 256) -> None:
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.max_tokens = min(max_tokens, getattr(tokenizer, "model_max_length", max_tokens) or max_tokens)

    @classmethod
    def load(
        cls, path: str, *, device: str = "cpu", max_tokens: int = 256, trust_remote_code: bool = False
    ) -> MeanPoolEncoder:
        from transformers import AutoModel, AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(path, trust_remote_code=trust_remote_code)
        model = AutoModel.from_pretrained(path, use_safetensors=True, trust_remote_code=trust_remote_code)
        return cls(model.to(device), tokenizer, max_tokens)

    @property
    def dimension(self) -> int:
        return self.model.config.hidden_size

    def count_tokens(self, text: str) -> int:
        return len(self.tokenizer(text, add_special_tokens=True, verbose=False)["input_ids"])

    @torch.inference_mode()
    def embed(self, texts: list[str]) -> np.ndarray:
        """Unit vectors of one batch of texts: (batch, dim)."""
        device = next(self.model.parameters()).device
        batch = self.tokenizer(
            texts, padding=True, truncation=True, max_length=self.max_tokens, return_tensors="pt"
        ).to(device)
        hidden = self.model(**batch).last_hidden_state
        return l2_normalize(mean_pool(hidden, batch["attention_mask"]).float().cpu().numpy())
