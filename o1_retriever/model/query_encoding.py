"""``QueryEncoding``: the ways a query can become a vector, one name each."""

from __future__ import annotations

import warnings
from enum import Enum


class QueryEncoding(str, Enum):
    """How a query becomes a vector.

    - ``plain``: the query alone through the encoder;
    - ``think``: thoughts are written at query time and embedded with the query (seconds a query on a CPU);
    - ``distilled``: the query alone through the checkpoint's distilled query encoder, trained to land where its
      thoughts would take it (the cost of ``plain``; the checkpoint needs a ``query_adapter/``);
    - ``gated``: ``plain`` first, and ``think`` only for queries whose best cosine in the store is below the
      checkpoint's ``think_below`` (a search only: it reads the store's first round).
    """

    PLAIN = "plain"
    THINK = "think"
    DISTILLED = "distilled"
    GATED = "gated"

    @classmethod
    def of(cls, value: QueryEncoding | str | bool) -> QueryEncoding:
        """``value`` as an encoding; the 0.1 spelling ``think=True`` / ``False`` means ``think`` / ``plain``."""
        if value is True or value is False:
            return cls.THINK if value else cls.PLAIN
        try:
            return cls(value)
        except ValueError:
            names = ", ".join(repr(e.value) for e in cls)
            raise ValueError(f"a query encoding is one of {names}, got {value!r}") from None

    def __str__(self) -> str:
        return self.value


def embeddable(encoding: QueryEncoding | str | bool, think: bool | str | None = None) -> QueryEncoding:
    """``encoding`` for an embedding adapter, which embeds one query with no search around it: ``gated`` refused.
    ``think``: the deprecated 0.1 name of ``encoding`` (True, False, "distilled"), used when given."""
    if think is not None:
        warnings.warn("think= is deprecated: pass encoding= (a QueryEncoding)", DeprecationWarning, stacklevel=3)
        encoding = think
    encoding = QueryEncoding.of(encoding)
    if encoding is QueryEncoding.GATED:
        raise ValueError("encoding 'gated' decides from a search's first round: use a retriever, or 'think' / 'plain'")
    return encoding
