"""The lexical side of hybrid search: BM25 (bm25s, stemmed, English stop words) over a store's documents, and the
lexical query a thinking model sends (the query, optionally followed by its thoughts)."""

from __future__ import annotations

from collections.abc import Sequence

#: how often the query is repeated before its thoughts in an expanded lexical query (Query2doc repeats it so the
#: query's own terms keep their weight against long thoughts)
QUERY_REPEATS = 3


def expanded_query(query: str, thoughts: Sequence[str], repeats: int = QUERY_REPEATS) -> str:
    """``query`` repeated ``repeats`` times, then the thoughts: the BM25 query of thoughts on the lexical side."""
    return " ".join([query] * repeats + [t for t in thoughts if t.strip()])
