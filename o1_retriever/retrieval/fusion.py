"""Fusion of a dense and a lexical ranking into one: pure functions of the two candidate lists.

Two methods share one weighting:

- ``"score"`` (default): a convex combination of per-query z-normalised scores (each side's mean and standard
  deviation over its own candidates). A candidate only one side returned gets, on the other side, its exact score
  when the caller has it (BM25 scores every document cheaply) or else that side's lowest candidate score.
- ``"rrf"``: reciprocal-rank fusion, ``sum of weight_side * 2 / (rrf_k + rank)``; with ``dense_weight=0.5`` and no
  gate it is classic RRF (k = 60).

The **agreement gate** guards against a weak lexical side (code, a tokenizer that does not fit the language, a
corpus of titles): the lexical weight is scaled by how much the two sides' top ``gate_depth`` agree for this query
(their overlap, corrected for the overlap two random rankings of ``n_docs`` documents would have), reaching its
full value at ``gate_saturation``. Two useful sides agree on part of their top documents (SciFact, NFCorpus-lite,
Vaswani: a chance-corrected overlap@20 of 0.25–0.35 on average); a lexical side that is noise agrees with nothing
and is then ignored, so the fusion falls back to the dense ranking. The defaults were chosen on training queries
with an encoder that never saw them (``bench/fusion.py``; docs/results.md, "Fusion").
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Literal

import numpy as np

Ranking = Sequence[tuple[str, float]]  # (id, score), best first


def ranking(docs: dict[str, float], depth: int | None = None) -> list[tuple[str, float]]:
    """(doc id, score) pairs best first, ties to the smaller id (as trec_eval breaks them), the ``depth`` best."""
    return sorted(docs.items(), key=lambda item: (-item[1], item[0]))[:depth]


@dataclass(frozen=True)
class Fusion:
    """How a hybrid search combines its dense and lexical candidates."""

    method: Literal["score", "rrf"] = "score"
    dense_weight: float = 0.6  # the dense side's share when the sides agree; 0.5 weighs them equally
    gate_depth: int = 20  # the top documents of each side compared by the agreement gate
    gate_saturation: float | None = 0.1  # agreement at which the lexical side gets its full weight; None: no gate
    rrf_k: int = 60

    def __post_init__(self) -> None:
        if self.method not in ("score", "rrf"):
            raise ValueError(f"fusion method must be 'score' or 'rrf', got {self.method!r}")
        if not 0.0 <= self.dense_weight <= 1.0:
            raise ValueError(f"dense_weight must be in [0, 1], got {self.dense_weight}")
        if self.gate_depth < 1:
            raise ValueError(f"gate_depth must be at least 1, got {self.gate_depth}")
        if self.gate_saturation is not None and not 0.0 < self.gate_saturation <= 1.0:
            raise ValueError(f"gate_saturation must be in (0, 1] or None, got {self.gate_saturation}")
        if self.rrf_k < 1:
            raise ValueError(f"rrf_k must be at least 1, got {self.rrf_k}")

    def __str__(self) -> str:
        gate = "no gate" if self.gate_saturation is None else f"gate {self.gate_saturation} at {self.gate_depth}"
        if self.method == "rrf":
            return f"RRF k={self.rrf_k}, dense weight {self.dense_weight}, {gate}"
        return f"z-score fusion, dense weight {self.dense_weight}, {gate}"

    @classmethod
    def rrf(cls) -> Fusion:
        """Classic equal-weight RRF (k = 60), no gate: the fusion of earlier releases."""
        return cls(method="rrf", dense_weight=0.5, gate_saturation=None)

    @classmethod
    def of(cls, fusion: Fusion | str) -> Fusion:
        """A Fusion as given, or the preset of that name."""
        return cls.named(fusion) if isinstance(fusion, str) else fusion

    @classmethod
    def of_checkpoint(cls, settings: Mapping[str, object] | None) -> Fusion:
        """The fusion a checkpoint records (``ModelConfig.fusion``: ``adapt`` calibrates it), else the default."""
        try:
            return cls(**settings) if settings else cls()
        except TypeError as error:
            raise ValueError(f"the checkpoint's fusion settings {dict(settings)} are not a Fusion: {error}") from None

    def settings(self) -> dict[str, object]:
        """The fields, as a checkpoint records them (``of_checkpoint`` reads them back)."""
        return asdict(self)

    @classmethod
    def named(cls, name: str) -> Fusion:
        """A preset by name, for the CLI and configs: ``guarded`` (the default: z-score fusion, dense weight 0.6, the
        agreement gate), ``unguarded`` (z-score fusion, equal weights, no gate: best on corpora where BM25 is strong)
        or ``rrf`` (equal reciprocal-rank fusion). ``score`` is the 0.1 name of ``unguarded`` (it read like the
        ``method="score"`` every z-score preset has), accepted with a DeprecationWarning."""
        if name == "score":
            warnings.warn("the fusion preset 'score' is now 'unguarded'", DeprecationWarning, stacklevel=3)
            name = "unguarded"
        presets = {"guarded": cls(), "unguarded": cls(dense_weight=0.5, gate_saturation=None), "rrf": cls.rrf()}
        if name not in presets:
            raise ValueError(f"unknown fusion {name!r}; choose from {', '.join(presets)}")
        return presets[name]


def agreement(dense: Ranking, lexical: Ranking, depth: int, n_docs: int) -> float:
    """The overlap of the two sides' top ``depth`` ids as a share of ``depth``, corrected for chance (two random
    rankings of ``n_docs`` documents share ``depth / n_docs`` of their tops): 0 at chance or below, 1 when equal."""
    top_dense = {doc for doc, _ in dense[:depth]}
    top_lexical = {doc for doc, _ in lexical[:depth]}
    if not top_dense or not top_lexical:
        return 0.0
    shared = len(top_dense & top_lexical) / depth
    chance = min(depth / max(n_docs, 1), 1.0)
    if chance >= 1.0:
        return 1.0
    return max(0.0, (shared - chance) / (1.0 - chance))


def lexical_weight(dense: Ranking, lexical: Ranking, n_docs: int, fusion: Fusion) -> float:
    """The lexical side's weight for this query: its full share, scaled down by the agreement gate."""
    full = 1.0 - fusion.dense_weight
    if fusion.gate_saturation is None:
        return full
    return full * min(1.0, agreement(dense, lexical, fusion.gate_depth, n_docs) / fusion.gate_saturation)


def fuse(
    dense: Ranking,
    lexical: Ranking,
    n_docs: int,
    fusion: Fusion = Fusion(),
    lexical_scores: Mapping[str, float] | None = None,
) -> dict[str, float]:
    """The fused score of every candidate of either side (higher is better).

    ``dense`` and ``lexical``: each side's candidates, best first. ``n_docs``: the documents searched (for the
    gate's chance correction). ``lexical_scores``: exact lexical scores of dense candidates the lexical side did
    not return (missing ones count as 0, a document without a query term)."""
    if not lexical:
        return dict(dense)
    if not dense:
        return dict(lexical)
    w_lexical = lexical_weight(dense, lexical, n_docs, fusion)
    w_dense = 1.0 - w_lexical
    if fusion.method == "rrf":
        out: dict[str, float] = {}
        for ranking, weight in ((dense, w_dense), (lexical, w_lexical)):
            for rank, (doc, _) in enumerate(ranking, start=1):
                out[doc] = out.get(doc, 0.0) + 2.0 * weight / (fusion.rrf_k + rank)
        return out
    dense_scores = dict(dense)
    dense_floor = min(dense_scores.values())  # a lexical-only candidate ranks below every dense candidate
    lexical_all = {**(lexical_scores or {}), **dict(lexical)}
    (dense_mean, dense_std), (lexical_mean, lexical_std) = _moments(dense), _moments(lexical)
    out = {}
    for doc in dict.fromkeys([d for d, _ in dense] + [d for d, _ in lexical]):
        dense_z = (dense_scores.get(doc, dense_floor) - dense_mean) / dense_std
        lexical_z = (lexical_all.get(doc, 0.0) - lexical_mean) / lexical_std
        out[doc] = w_dense * dense_z + w_lexical * lexical_z
    return out


def _moments(ranking: Ranking) -> tuple[float, float]:
    """Mean and standard deviation (1 when all scores are equal) of a side's candidate scores."""
    values = np.asarray([score for _, score in ranking], dtype=np.float64)
    std = float(values.std())
    return float(values.mean()), std if std > 0 else 1.0
