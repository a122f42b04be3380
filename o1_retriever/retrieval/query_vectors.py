"""The dense side of a search: the query vectors its ``QueryEncoding`` asks for, and their nearest rows.

The one place that turns a validated ``SearchOptions`` into query vectors; ``gated`` is decided here, per query,
from the plain vector's first round (``options.first_round_unsure``)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from o1_retriever.model.query_encoding import QueryEncoding
from o1_retriever.model.think_then_embed import QueryEmbeddings, ThinkThenEmbed
from o1_retriever.retrieval.options import SearchOptions, first_round_unsure
from o1_retriever.retrieval.stores import StoredHit

Nearest = Callable[[np.ndarray], list[list[StoredHit]]]


def dense_side(
    model: ThinkThenEmbed, queries: list[str], options: SearchOptions, nearest: Nearest
) -> tuple[QueryEmbeddings, list[list[StoredHit]] | None]:
    """The queries embedded as ``options`` (validated) say, and each query's nearest rows (None in lexical mode,
    where no query is embedded and no thought written)."""
    encoding = options.encoding
    if options.mode == "lexical":
        return QueryEmbeddings(None, [[] for _ in queries]), None
    thinking = {**options.thinking, "include_query_vector": options.include_query_vector}
    if encoding is not QueryEncoding.GATED:
        embedded = model.embed_queries(queries, encoding, **(thinking if encoding is QueryEncoding.THINK else {}))
        return embedded, nearest(embedded.vectors)
    plain = model.embed_queries(queries, QueryEncoding.PLAIN)
    found = nearest(plain.vectors)
    threshold = model.config.think_below
    unsure = [i for i, row in enumerate(found) if first_round_unsure(row[0].score if row else None, threshold)]
    if not unsure:
        return plain, found
    thought = model.embed_queries([queries[i] for i in unsure], QueryEncoding.THINK, **thinking)
    again = nearest(thought.vectors)
    vectors, thoughts = plain.vectors.copy(), list(plain.thoughts)
    for row, i in enumerate(unsure):
        vectors[i], thoughts[i], found[i] = thought.vectors[row], thought.thoughts[row], again[row]
    return QueryEmbeddings(vectors, thoughts), found
