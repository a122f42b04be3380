"""Seeded next-token selection: temperature, nucleus (top-p) filtering, one generator per row; where a thought
stops (repeated n-grams, the end of its first sentence)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

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


#: what may close a sentence after its final mark: ``"... end." she said`` ends at the quote
_CLOSERS = "\"')]»”’"


@dataclass(frozen=True)
class SentenceMarks:
    """Which tokens of a vocabulary end a sentence and which open the next one, from their decoded texts.

    A thought stops at the end of its first sentence when the token just sampled opens a new one: a space after a
    token ending in ``.``, ``!`` or ``?`` (``3.5`` goes on: no space; an abbreviation such as ``e.g.`` ends the
    thought early), or a line break once the thought holds a word. The token that opened the next sentence is not
    kept."""

    ends: frozenset[int]  # the text ends with . ! or ? (closing quotes and brackets after it allowed)
    spaced: frozenset[int]  # the text starts with a space
    breaks: frozenset[int]  # the text starts with a line break
    blank: frozenset[int]  # the text is whitespace only (or nothing)

    @classmethod
    def of(cls, texts: list[str]) -> SentenceMarks:
        """Marks for a vocabulary whose token ``i`` decodes to ``texts[i]``."""
        ends = {i for i, t in enumerate(texts) if t.rstrip(_CLOSERS).endswith((".", "!", "?"))}
        spaced = {i for i, t in enumerate(texts) if t.startswith(" ")}
        breaks = {i for i, t in enumerate(texts) if t.startswith(("\n", "\r"))}
        blank = {i for i, t in enumerate(texts) if not t.strip()}
        return cls(frozenset(ends), frozenset(spaced), frozenset(breaks), frozenset(blank))

    def stops_before(self, history: list[int], token: int) -> bool:
        """Whether ``token``, sampled after ``history`` (the thought so far), begins a second sentence."""
        if not history:
            return False
        if token in self.breaks:
            return any(t not in self.blank for t in history)
        return token in self.spaced and history[-1] in self.ends
