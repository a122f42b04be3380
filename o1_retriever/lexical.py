"""The lexical side of hybrid search: BM25 (bm25s, stemmed, English stop words) over a store's documents, and the
lexical query a thinking model sends (the query, optionally followed by its thoughts)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

#: how often the query is repeated before its thoughts in an expanded lexical query (Query2doc repeats it so the
#: query's own terms keep their weight against long thoughts)
QUERY_REPEATS = 3


def expanded_query(query: str, thoughts: Sequence[str], repeats: int = QUERY_REPEATS) -> str:
    """``query`` repeated ``repeats`` times, then the thoughts: the BM25 query of thoughts on the lexical side."""
    return " ".join([query] * repeats + [t for t in thoughts if t.strip()])


@dataclass(frozen=True)
class LexicalResult:
    ranking: list[tuple[str, float]]  # (id, BM25 score), best first
    exact: dict[str, float]  # BM25 scores of the ids asked for


class LexicalIndex:
    """BM25 over the documents of a store, as they are embedded (``{title} {text}``); held in memory, built from the
    store's contents. ``search`` returns, per query, (id, score) pairs best first, restricted to ``allowed`` ids."""

    def __init__(self, ids: list[str], texts: list[str], metadatas: list[dict]) -> None:
        from o1_retriever.bm25 import BM25
        from o1_retriever.prompts import document_text

        import numpy as np

        self.ids = ids
        self._position = {doc: j for j, doc in enumerate(ids)}
        self.rows = {i: (t, m) for i, t, m in zip(ids, texts, metadatas)}
        self._id_order = np.argsort(np.argsort(np.array(ids, dtype=object)))  # ties go to the smaller id
        self.bm25 = BM25([document_text(t, str(m.get("title") or "")) for t, m in zip(texts, metadatas)], ids)

    def search(
        self, queries: Sequence[str], k: int, allowed: set[str] | None = None, exact: Sequence[Sequence[str]] = ()
    ) -> list[LexicalResult]:
        """Per query, its ``k`` best (id, score) pairs with a score above 0, restricted to ``allowed`` ids, and the
        exact scores of the ids in ``exact[i]`` (BM25 scores every document, so a fusion can use them)."""
        import numpy as np

        mask = None if allowed is None else np.array([i in allowed for i in self.ids])
        out = []
        for i, query in enumerate(queries):
            scores = self.bm25.scores(query)
            if mask is not None:
                scores = np.where(mask, scores, 0.0)
            top = np.lexsort((self._id_order, -scores))[:k]
            wanted = exact[i] if i < len(exact) else ()
            out.append(
                LexicalResult(
                    [(self.ids[j], float(scores[j])) for j in top if scores[j] > 0],
                    {doc: float(scores[self._position[doc]]) for doc in wanted if doc in self._position},
                )
            )
        return out
