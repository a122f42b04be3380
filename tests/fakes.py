"""A fake expert for unit tests: deterministic text from the prompt key, optional failures and delay."""

from __future__ import annotations

import time

from o1_retriever.sampling import row_seed
from o1_retriever.trainer.experts import Completion


class FakeExpert:
    name = "fake"

    def __init__(self, empty_for: set[str] = frozenset(), delay: float = 0.0) -> None:
        self.empty_for = set(empty_for)
        self.delay = delay
        self.calls: list[list[str]] = []
        self.prompts: list[list[dict]] = []

    def complete(self, prompts, keys, n, seed):
        self.calls.append(list(keys))
        self.prompts += prompts
        time.sleep(self.delay)
        out = []
        for key in keys:
            if key in self.empty_for:
                out.append(Completion([], [f"the expert returned empty text ({n} of {n})"]))
            else:
                out.append(Completion([f"thought {i} about {key} #{row_seed(seed, key, i) % 1000}" for i in range(n)]))
        return out
