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
    logits: torch.Tensor, temperature: float, top_p: float, generators: list[torch.Generator], candidates: int = 256
) -> torch.Tensor:
    """One next token per row. temperature 0 is greedy; otherwise each row samples from its nucleus with its own
    generator. The nucleus is looked for among the ``candidates`` most likely tokens first (no sort of the whole
    vocabulary); a row whose nucleus does not fit there is filtered over the full vocabulary."""
    if temperature == 0:
        return logits.argmax(-1)
    probs = (logits.float() / temperature).softmax(-1)
    top_probs, top_ids = probs.topk(min(candidates, probs.shape[-1]), dim=-1)  # sorted, most likely first
    kept = top_probs * ((top_probs.cumsum(-1) - top_probs) < top_p)  # drop once the mass before reaches top_p
    fits = top_probs.sum(-1) >= top_p
    picked = []
    for row, generator in enumerate(generators):
        if fits[row]:
            picked.append(top_ids[row, torch.multinomial(kept[row], 1, generator=generator)[0]])
        else:
            full = top_p_filter(probs[row : row + 1].log(), top_p).softmax(-1)[0]
            picked.append(torch.multinomial(full, 1, generator=generator)[0])
    return torch.stack(picked)


def repeated_ngram_tokens(history: list[int], n: int) -> list[int]:
    """The tokens that would complete an n-gram already in ``history`` (after its last n - 1 tokens)."""
    if n < 2 or len(history) < n:
        return []
    prefix = history[len(history) - n + 1 :]
    return [history[i + n - 1] for i in range(len(history) - n + 1) if history[i : i + n - 1] == prefix]
