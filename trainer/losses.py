"""Losses of joint training, computed from embeddings and hidden states (pure functions, shape comments).

Both return per-item losses; the caller divides sums by global counts so that any split of a batch over
processes or micro-batches gives the same gradient as one big batch.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def info_nce(
    queries: torch.Tensor,
    passages: torch.Tensor,
    positive: torch.Tensor,
    temperature: float,
    ignore: torch.Tensor | None = None,
) -> torch.Tensor:
    """Per-query InfoNCE: -log softmax(q·p / τ)[positive] over every passage given (hard and in-batch negatives).

    queries: (B, dim) unit rows; passages: (N, dim) unit rows; positive: (B,) index of each query's positive;
    ignore: optional (B, N) bool, passages left out of a query's softmax (see ``false_negatives``). Returns (B,).
    """
    scores = (queries @ passages.T / temperature).float()  # (B, N)
    if ignore is not None:
        scores = scores.masked_fill(ignore, float("-inf"))
    return F.cross_entropy(scores, positive, reduction="none")


def false_negatives(positive_keys: torch.Tensor, passage_keys: torch.Tensor, positive: torch.Tensor) -> torch.Tensor:
    """Which passages are known positives of a query other than the one it is trained towards: another query's
    positive, or a hard negative, that the query's own judgments mark relevant. Left in, they would be pushed away
    (on NFCorpus a third of the queries of a batch of 32 meet one).

    positive_keys: (B, P) keys of each query's judged positives, padded with -1; passage_keys: (N,) keys (>= 0) of
    the passages; positive: (B,) the column of each query's own positive, never ignored. Returns (B, N) bool.
    """
    known = (passage_keys[None, :, None] == positive_keys[:, None, :]).any(-1)  # (B, N)
    known[torch.arange(len(positive)), positive] = False
    return known


def thought_token_nll(hidden: torch.Tensor, labels: torch.Tensor, lm_head: torch.nn.Module) -> torch.Tensor:
    """Next-token loss at thought positions only: the LM head runs on the few positions that predict a labelled
    token, never on the whole (batch, length, vocab) grid.

    hidden: (B, L, dim) last hidden states; labels: (B, L) token ids, -100 where not trained. Returns (T,) for the
    T labelled tokens.
    """
    targets = labels[:, 1:]  # position j predicts token j + 1
    selected = targets != -100  # (B, L - 1)
    logits = lm_head(hidden[:, :-1][selected])  # (T, vocab)
    return F.cross_entropy(logits.float(), targets[selected], reduction="none")


def full_logits_nll(hidden: torch.Tensor, labels: torch.Tensor, lm_head: torch.nn.Module) -> torch.Tensor:
    """The same loss computed the usual way, with logits at every position (for comparison and benchmarks)."""
    logits = lm_head(hidden)[:, :-1]  # (B, L - 1, vocab)
    targets = labels[:, 1:]
    selected = targets != -100
    return F.cross_entropy(logits[selected].float(), targets[selected], reduction="none")


def cosine_distance(vectors: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Per-row 1 − cos(vector, target) of unit rows (distillation towards a target vector). (B, dim) x2 → (B,)."""
    return 1.0 - (vectors * targets).sum(-1)
