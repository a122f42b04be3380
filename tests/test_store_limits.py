"""Any batch works: a store splits its calls under its backend's limit (Chroma's: rows per call), so any number of
queries and any k up to the collection size give what one query at a time gives."""

import numpy as np
import pytest

from o1_retriever.retrieval.stores.chroma import ROWS_PER_CALL, ChromaVectorStore


@pytest.fixture
def vectors_store(tmp_path):
    """400 random unit vectors in a real persistent Chroma."""
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(400, 16)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    store = ChromaVectorStore(tmp_path / "chroma", collection="limits")
    ids = [f"d{i}" for i in range(len(vectors))]
    store.upsert(ids, vectors, [f"text {i}" for i in ids], [{"n": i} for i in range(len(vectors))])
    return store, rng


def test_a_thousand_queries_in_one_call_are_what_one_query_at_a_time_gives(vectors_store):
    """1,000 queries of k = 100 are 100,000 rows: past what one Chroma call returns (328 such queries fail)."""
    store, rng = vectors_store
    queries = rng.normal(size=(1000, 16)).astype(np.float32)
    assert len(queries) * 100 > ROWS_PER_CALL
    together = store.nearest(queries, 100)
    alone = [store.nearest(q[None], 100)[0] for q in queries]
    assert len(together) == 1000 and together == alone
    assert all(len(row) == 100 for row in together)


def test_k_beyond_one_calls_rows_reads_the_rows_by_id(vectors_store, monkeypatch):
    import o1_retriever.retrieval.stores.chroma as chroma_module

    store, rng = vectors_store
    query = rng.normal(size=(2, 16)).astype(np.float32)
    whole = store.nearest(query, 400)  # every row, within one call's limit
    monkeypatch.setattr(chroma_module, "ROWS_PER_CALL", 150)  # k = 400 is now past it: ids first, then the rows
    assert store.nearest(query, 400) == whole
    assert store.nearest(query, 100) == [row[:100] for row in whole]  # 1 query a call
    assert len(store.fetch([f"d{i}" for i in range(400)])) == 400


def test_an_index_searches_a_thousand_queries_at_once_as_one_by_one(store, monkeypatch):
    """The product path: ``Index.search`` with 1,000 queries, hybrid and dense, as each query alone (the same hits
    and ranks; scores up to the last bits a query's vector takes from the padding of the batch it is embedded in)."""
    import o1_retriever.retrieval.stores.chroma as chroma_module

    words = ["cancer", "risk", "gene", "cells", "energy", "light", "drug", "data", "brain", "protein"]
    rng = np.random.default_rng(1)
    queries = [" ".join(rng.choice(words, size=3)) for _ in range(1000)]
    monkeypatch.setattr(chroma_module, "ROWS_PER_CALL", 40)  # the tiny store's k rows x 1,000 queries: many calls
    for mode in ("hybrid", "dense"):
        together = store.search(queries, 4, mode=mode, encoding="plain")
        distinct = sorted(set(queries))
        alone = {q: store.query(q, 4, mode=mode, encoding="plain") for q in distinct}
        expected = [alone[q] for q in queries]
        assert [[(h.id, h.dense_rank, h.lexical_rank) for h in row] for row in together] == [
            [(h.id, h.dense_rank, h.lexical_rank) for h in row] for row in expected
        ]
        scores = np.array([[h.score for h in row] for row in together])
        assert np.allclose(scores, [[h.score for h in row] for row in expected], atol=1e-5)
