"""A thinker built on first use, so a retriever that never thinks (plain or distilled queries: the defaults) never
loads its LM or pays memory for it."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from o1_retriever.model.config import ThinkingConfig
from o1_retriever.model.thinkers import Thinker, ThinkRequest, Thoughts


class LazyThinker:
    """Stands for the thinker ``build()`` returns, building it once, when something first asks for more than whether
    it embeds (thinking, its identity, its LM). ``loaded`` says whether it has been built."""

    def __init__(self, build: Callable[[], Thinker], *, embeds: bool, description: str) -> None:
        self.embeds = embeds
        self._build = build
        self._description = description
        self._thinker: Thinker | None = None
        self._lock = threading.Lock()

    @property
    def loaded(self) -> bool:
        return self._thinker is not None

    @property
    def thinker(self) -> Thinker:
        """The thinker itself, built now if it was not."""
        if self._thinker is None:
            with self._lock:
                if self._thinker is None:
                    self._thinker = self._build()
        return self._thinker

    @property
    def identity(self) -> str:
        return self.thinker.identity

    def think(self, requests: list[ThinkRequest], settings: ThinkingConfig) -> list[Thoughts]:
        return self.thinker.think(requests, settings)

    def __getattr__(self, name: str) -> Any:  # anything else the thinker has (its LM, prompt, precision, ...)
        if name.startswith("__") or name in ("_build", "_description", "_thinker", "_lock"):
            raise AttributeError(name)  # copies and half-built objects never load the thinker
        return getattr(self.thinker, name)

    def __repr__(self) -> str:
        return self._description
