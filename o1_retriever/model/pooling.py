"""Pooling and aggregation: pure tensor/array functions, written once."""

from __future__ import annotations

import numpy as np
import torch


def last_token_pool(hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """The hidden state of each row's last real token, for left or right padding.

    hidden: (batch, seq, dim); attention_mask: (batch, seq) of 0/1. Returns (batch, dim).
    """
    seq_len = attention_mask.shape[1]
    # index of the last 1 in each row: seq_len - 1 - (position of the first 1 in the reversed row)
    last = seq_len - 1 - attention_mask.flip(-1).long().argmax(-1)
    return hidden[torch.arange(hidden.shape[0], device=hidden.device), last]


def mean_pool(hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """Mean of the hidden states of real tokens. hidden: (batch, seq, dim) -> (batch, dim)."""
    mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)


def l2_normalize(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to unit L2 norm, as float32 (zero rows stay zero)."""
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=-1, keepdims=True)
    return vectors / np.maximum(norms, 1e-12)


def mean_of_unit_vectors(vectors: np.ndarray) -> np.ndarray:
    """Aggregate k unit vectors (k, dim) into one unit vector (dim,): the renormalised mean."""
    return l2_normalize(np.mean(l2_normalize(vectors), axis=0, keepdims=True))[0]
