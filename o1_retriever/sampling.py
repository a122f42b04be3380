"""Seeded next-token selection: temperature, nucleus (top-p) filtering, one generator per row."""

from __future__ import annotations

import hashlib

import torch


def row_seed(seed: int, query: str, sample_index: int) -> int:
    """A seed for one (query, sample) pair, independent of batch composition and order."""
    digest = hashlib.sha256(f"{seed}\x00{sample_index}\x00{query}".encode()).digest()
    return int.from_bytes(digest[:8], "little") & 0x7FFF_FFFF_FFFF_FFFF


def top_p_filter(logits: torch.Tensor, top_p: float) -> torch.Tensor:
    """Set to -inf every logit outside the smallest set whose probability mass reaches top_p.

    logits: (batch, vocab). The most likely token always stays.
    """
    if top_p >= 1.0:
        return logits
    sorted_logits, order = logits.sort(dim=-1, descending=True)
    cumulative = sorted_logits.softmax(-1).cumsum(-1)
    # drop a token when the mass *before* it already reaches top_p
    drop_sorted = (cumulative - sorted_logits.softmax(-1)) >= top_p
    drop = drop_sorted.scatter(-1, order, drop_sorted)
    return logits.masked_fill(drop, float("-inf"))


def select_next_tokens(
    logits: torch.Tensor, temperature: float, top_p: float, generators: list[torch.Generator]
) -> torch.Tensor:
    """One next token per row. temperature 0 is greedy; otherwise each row samples with its own generator."""
    if temperature == 0:
        return logits.argmax(-1)
    probs = top_p_filter(logits.float() / temperature, top_p).softmax(-1)
    return torch.stack(
        [torch.multinomial(row, 1, generator=gen)[0] for row, gen in zip(probs, generators)]
    )
