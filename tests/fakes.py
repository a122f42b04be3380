"""A fake thinker for unit tests: deterministic text from the query and seed, optional failures and delay."""

from __future__ import annotations

import time

from o1_retriever.prompts import thinking_messages
from o1_retriever.sampling import row_seed
from o1_retriever.thinkers import Thoughts


class FakeThinker:
    identity = "fake"
    embeds = False

    def __init__(self, empty_for: set[str] = frozenset(), delay: float = 0.0) -> None:
        self.empty_for = set(empty_for)
        self.delay = delay
        self.calls: list[list[str]] = []
        self.prompts: list[list[dict]] = []

    def think(self, requests, settings):
        self.calls.append([r.query for r in requests])
        self.prompts += [thinking_messages(r.query, r.examples) for r in requests]
        time.sleep(self.delay)
        n = settings.n_thoughts
        out = []
        for r in requests:
            if r.query in self.empty_for:
                out.append(Thoughts([], [f"the expert returned empty text ({n} of {n})"]))
            else:
                out.append(
                    Thoughts(
                        [f"thought {i} about {r.query} #{row_seed(settings.seed, r.query, i) % 1000}" for i in range(n)]
                    )
                )
        return out
