"""BM25 over a corpus with bm25s (stemmed, English stop words): search, and scoring of given documents."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def _bm25s():
    try:
        import bm25s
        import Stemmer
    except ImportError:  # pragma: no cover
        raise ImportError("BM25 needs bm25s and PyStemmer: pip install bm25s PyStemmer") from None
    return bm25s, Stemmer.Stemmer("english")


#: the file that marks a saved index of a corpus without terms
EMPTY = "empty-vocabulary"


class BM25:
    """A bm25s index whose statistics (IDF, average length) come from ``texts``."""

    def __init__(self, texts: list[str], ids: list[str] | None = None, progress: bool = False) -> None:
        if not texts:
            raise ValueError("BM25 needs at least one document")
        self._bm25s, self._stemmer = _bm25s()
        self.ids = list(ids) if ids is not None else [str(i) for i in range(len(texts))]
        tokens = self._tokens(texts, progress)
        # a corpus of stop words and punctuation only has no terms: nothing can match (bm25s cannot index it)
        self.index = None if not tokens.vocab else self._bm25s.BM25()
        if self.index is not None:
            self.index.index(tokens, show_progress=progress)

    def save(self, folder: Path) -> None:
        """Write the index (bm25s files) into ``folder``; ``load`` reads it back with the same ids."""
        folder.mkdir(parents=True, exist_ok=True)
        if self.index is None:
            (folder / EMPTY).touch()
        else:
            self.index.save(str(folder), show_progress=False)

    @classmethod
    def load(cls, folder: Path, ids: list[str]) -> BM25:
        self = cls.__new__(cls)
        self._bm25s, self._stemmer = _bm25s()
        self.ids = list(ids)
        empty = (folder / EMPTY).exists()
        self.index = None if empty else self._bm25s.BM25.load(str(folder), show_progress=False)
        return self

    def _tokens(self, texts: list[str], progress: bool = False):
        return self._bm25s.tokenize(texts, stopwords="en", stemmer=self._stemmer, show_progress=progress)

    def search(self, queries: list[str], k: int) -> list[dict[str, float]]:
        """The k best documents per query as {doc id: score}."""
        k = min(k, len(self.ids))
        if self.index is None:
            return [{} for _ in queries]
        tokens = self._tokens(queries)
        docs, scores = self.index.retrieve(tokens, k=k, show_progress=False, n_threads=1)
        return [
            {self.ids[d]: float(s) for d, s in zip(row_docs, row_scores) if s > 0}
            for row_docs, row_scores in zip(docs, scores)
        ]

    def scores(self, query: str) -> np.ndarray:
        """BM25 score of every indexed document for one query (n_docs,)."""
        words = self._bm25s.tokenize(
            [query], stopwords="en", stemmer=self._stemmer, return_ids=False, show_progress=False
        )[0]
        if not words or self.index is None:  # only stop words or punctuation: no term matches anything
            return np.zeros(len(self.ids))
        return np.asarray(self.index.get_scores(words), dtype=np.float64)
