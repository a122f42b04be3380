"""Committee voting over candidate thoughts: pure functions of score arrays.

``scores`` has shape (members, candidates): each member's score of each candidate (already reduced over the
query's positives). Members score on different scales (BM25 vs cosine), so each member's row is standardised
before it is combined. Ties go to the lowest candidate index, so a vote is deterministic.
"""

from __future__ import annotations

import numpy as np


def standardise(scores: np.ndarray) -> np.ndarray:
    """Per member (row): (s - mean) / std over candidates; a row with no spread becomes all zeros."""
    scores = np.asarray(scores, dtype=np.float64)
    spread = scores.std(axis=-1, keepdims=True)
    centred = scores - scores.mean(axis=-1, keepdims=True)
    return np.divide(centred, spread, out=np.zeros_like(centred), where=spread > 0)


def softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    shifted = np.exp(x - x.max(axis=axis, keepdims=True))
    return shifted / shifted.sum(axis=axis, keepdims=True)


def _weights(weights, members: int) -> np.ndarray:
    w = np.ones(members) if weights is None else np.asarray(weights, dtype=np.float64)
    if w.shape != (members,) or (w < 0).any() or w.sum() == 0:
        raise ValueError(f"need {members} non-negative member weights, not all zero; got {weights}")
    return w


def soft_vote(scores: np.ndarray, weights=None, temperature: float = 1.0) -> tuple[int, np.ndarray]:
    """Winner and totals: sum over members of weight * softmax(standardised scores / temperature)."""
    scores = np.atleast_2d(scores)
    totals = _weights(weights, scores.shape[0]) @ softmax(standardise(scores) / temperature)
    return int(np.argmax(totals)), totals  # argmax returns the first maximum


def hard_vote(scores: np.ndarray, weights=None) -> tuple[int, np.ndarray]:
    """Winner and weighted vote counts: each member votes for its best candidate (lowest index on a tie);
    a tie in votes goes to the better soft-vote total, then to the lowest index."""
    scores = np.atleast_2d(scores)
    w = _weights(weights, scores.shape[0])
    votes = np.zeros(scores.shape[1])
    np.add.at(votes, np.argmax(scores, axis=1), w)
    tied = np.flatnonzero(votes == votes.max())
    if len(tied) == 1:
        return int(tied[0]), votes
    _, totals = soft_vote(scores, w)
    return int(tied[np.argmax(totals[tied])]), votes
