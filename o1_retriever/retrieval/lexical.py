"""The lexical side of hybrid search: BM25 (bm25s, stemmed, English stop words) over a store's documents, kept in a
folder between processes and rebuilt when the store changed; ``BM25`` itself (search, and scores of every document)
serves evaluation and the trainer's hard negatives too."""

from __future__ import annotations

import errno
import json
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

logger = logging.getLogger(__name__)

#: the saved layout; bump it when the files change
FORMAT = "o1-lexical 2"
STAMP = "stamp.json"
ID_ORDER = "id-order.npy"
#: a folder being written is named ``{folder}{PARTIAL}{random}``; one older than an hour was left by a killed writer
PARTIAL = ".partial-"


@dataclass(frozen=True)
class LexicalResult:
    ranking: list[tuple[str, float]]  # (id, BM25 score), best first
    exact: dict[str, float]  # BM25 scores of the ids asked for


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
        # memory-mapped (POSIX, where a mapped file may be replaced): loads at once, and processes share its pages
        self.index = None if empty else self._bm25s.BM25.load(str(folder), mmap=os.name == "posix", show_progress=False)
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


def tokenizer_version() -> str:
    """What decides how texts become BM25 terms; an index saved under another version is rebuilt, never mixed."""
    import bm25s

    return f"{FORMAT};bm25s {bm25s.__version__};snowball english stemmer;stop words en;{{title}} {{text}}"


class LexicalIndex:
    """BM25 over the documents of a store, as they are embedded (``{title} {text}``), built from the store's
    contents. ``search`` returns, per query, the best (id, score) pairs restricted to ``allowed`` ids, and exact
    scores of ids asked for. ``save``/``load`` keep it in a folder with a ``stamp`` (what the store looked like when
    it was built) so a reader can tell whether it is still current."""

    def __init__(self, ids: list[str], texts: list[str], metadatas: list[dict], progress: bool = False) -> None:
        from o1_retriever.model.prompts import document_text

        texts = [document_text(t, str(m.get("title") or "")) for t, m in zip(texts, metadatas)]
        bm25 = BM25(texts, ids, progress=progress)
        self._init(list(ids), bm25)

    def _init(self, ids: list[str], bm25, id_order: np.ndarray | None = None) -> None:
        self.ids = ids
        self.bm25 = bm25
        self._position = {doc: j for j, doc in enumerate(ids)}
        # each id's rank in sorted order (ties go to the smaller id); saved with the index: sorting a million ids
        # took most of a serving process's 3 s to load one
        self._id_order = id_order if id_order is not None else np.argsort(np.argsort(np.array(ids)))

    def save(self, folder: Path, stamp: dict[str, Any]) -> None:
        """Write the index and ``stamp`` into ``folder``, replacing what was there only once all is written. Each
        writer writes into its own temporary folder beside it, so two processes saving at once never mix files."""
        folder = Path(folder)
        folder.parent.mkdir(parents=True, exist_ok=True)
        _remove_abandoned_partials(folder)
        partial = Path(tempfile.mkdtemp(prefix=folder.name + PARTIAL, dir=folder.parent))
        try:
            self.bm25.save(partial / "bm25")
            (partial / "ids.json").write_text(json.dumps(self.ids))
            np.save(partial / ID_ORDER, self._id_order)
            (partial / STAMP).write_text(json.dumps({**stamp, "tokenizer": tokenizer_version()}))
            _move_into_place(partial, folder)
        finally:
            shutil.rmtree(partial, ignore_errors=True)

    @classmethod
    def load(cls, folder: Path, stamp: dict[str, Any]) -> LexicalIndex | None:
        """The index saved in ``folder`` if its stamp equals ``stamp`` under this tokenizer version, else None
        (missing, stale, from another tokenizer version, or unreadable: the caller rebuilds it)."""

        folder = Path(folder)
        try:
            saved = json.loads((folder / STAMP).read_text())
        except (OSError, ValueError):
            return None
        if saved.get("tokenizer") != tokenizer_version():
            logger.warning("the lexical index in %s was built by another tokenizer version: rebuilding it", folder)
            return None
        if {k: saved.get(k) for k in stamp} != stamp:
            logger.info("the lexical index in %s is stale (%s, store now %s): rebuilding it", folder, saved, stamp)
            return None
        try:
            ids = json.loads((folder / "ids.json").read_text())
            index = cls.__new__(cls)
            index._init(ids, BM25.load(folder / "bm25", ids), np.load(folder / ID_ORDER))
        except (OSError, ValueError, KeyError) as error:
            logger.warning("the lexical index in %s is unreadable (%s): rebuilding it", folder, error)
            return None
        return index

    def search(
        self, queries: Sequence[str], k: int, allowed: set[str] | None = None, exact: Sequence[Sequence[str]] = ()
    ) -> list[LexicalResult]:
        """Per query, its ``k`` best (id, score) pairs with a score above 0, restricted to ``allowed`` ids, and the
        exact scores of the ids in ``exact[i]`` (BM25 scores every document, so a fusion can use them)."""
        mask = None if allowed is None else np.array([i in allowed for i in self.ids])
        out = []
        for i, query in enumerate(queries):
            scores = self.bm25.scores(query)
            if mask is not None:
                scores = np.where(mask, scores, 0.0)
            top = self._top(scores, k)
            wanted = exact[i] if i < len(exact) else ()
            out.append(
                LexicalResult(
                    [(self.ids[j], float(scores[j])) for j in top if scores[j] > 0],
                    {doc: float(scores[self._position[doc]]) for doc in wanted if doc in self._position},
                )
            )
        return out

    def _top(self, scores, k: int):
        """Indices of the ``k`` highest scores, ties to the smaller id: a partition, then a sort of the few."""
        if k < len(scores):
            threshold = np.partition(scores, len(scores) - k)[len(scores) - k]
            candidates = np.flatnonzero(scores >= threshold)  # every tie at the threshold, so ties stay exact
        else:
            candidates = np.arange(len(scores))
        order = np.lexsort((self._id_order[candidates], -scores[candidates]))
        return candidates[order][:k]


def _move_into_place(partial: Path, folder: Path, attempts: int = 8) -> None:
    """Rename ``partial`` to ``folder``. Only whole folders move: the one in place is first renamed aside (atomic)
    and deleted there, never deleted where it stands, so a writer racing another never leaves a half-deleted index.
    If other writers keep taking the place, theirs stays (each of them is a complete index of the store)."""
    for attempt in range(attempts):
        try:
            partial.rename(folder)
            return
        except OSError as error:
            if error.errno not in (errno.ENOTEMPTY, errno.EEXIST):
                raise  # not another writer's folder: a real failure
            if attempt == attempts - 1:
                break  # the last attempt leaves the other writer's folder in place
            aside = Path(tempfile.mkdtemp(prefix=folder.name + PARTIAL, dir=folder.parent))
            try:
                folder.rename(aside / "old")
            except FileNotFoundError:
                pass  # another writer moved it aside meanwhile
            finally:
                shutil.rmtree(aside, ignore_errors=True)
    logger.debug("other writers kept taking %s: their lexical index stays", folder)


def _remove_abandoned_partials(folder: Path, older_than_s: float = 3600.0) -> None:
    """Delete the half-written folders beside ``folder`` that killed writers left (none is written for an hour)."""
    for leftover in folder.parent.glob(folder.name + PARTIAL + "*"):
        try:
            if time.time() - leftover.stat().st_mtime > older_than_s:
                shutil.rmtree(leftover, ignore_errors=True)
        except OSError:
            pass  # removed by another writer meanwhile
