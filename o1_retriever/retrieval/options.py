"""How one search runs: the ``QueryEncoding`` of its queries and the ``SearchOptions`` around it.

Every entry point (``Index.search``, both retrievers, the CLI's ``search`` and the evaluation's store path) builds one
``SearchOptions`` and validates it against the model once (``SearchOptions.validated``); the search then reads the
decision from it and never decides again.
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from o1_retriever.model.config import THINKING_SETTINGS
from o1_retriever.model.query_encoding import QueryEncoding
from o1_retriever.retrieval.fusion import Fusion

if TYPE_CHECKING:
    from o1_retriever.model.think_then_embed import ThinkThenEmbed


SearchMode = Literal["hybrid", "dense", "lexical"]
SEARCH_MODES: tuple[str, ...] = ("hybrid", "dense", "lexical")
#: the option names ``SearchOptions.of`` takes besides the thinking settings
OPTION_NAMES = ("encoding", "mode", "fusion", "where", "include_query_vector")


def first_round_unsure(best_cosine: float | None, think_below: float) -> bool:
    """The gate of ``QueryEncoding.GATED``: a query thinks when its plain vector's best cosine (None: nothing found)
    is below the checkpoint's ``think_below``."""
    return best_cosine is None or best_cosine < think_below


@dataclass(frozen=True)
class SearchOptions:
    """Everything that decides how a search runs, besides its queries and ``k``.

    ``encoding``: a ``QueryEncoding`` (None: the model's default, ``distilled`` when the checkpoint has a distilled
    query encoder, else ``plain``). ``mode``: ``"hybrid"`` (dense + BM25, fused), ``"dense"`` or ``"lexical"``.
    ``fusion``: a ``Fusion`` or a preset name (None: the index's). ``where``: a metadata filter, Chroma's ``where``,
    applied to both sides. ``thinking``: overrides of the checkpoint's thinking settings (``ThinkingConfig`` field
    names), for ``think`` and ``gated`` only. ``include_query_vector``: with thinking, whether the thought-free
    query vector joins the mean (None: the checkpoint's)."""

    encoding: QueryEncoding | None = None
    mode: SearchMode = "hybrid"
    fusion: Fusion | None = None
    where: dict[str, Any] | None = None
    thinking: Mapping[str, Any] = field(default_factory=dict)
    include_query_vector: bool | None = None

    def __post_init__(self) -> None:
        if self.encoding is not None:
            object.__setattr__(self, "encoding", QueryEncoding.of(self.encoding))
        if self.mode not in SEARCH_MODES:
            raise ValueError(f"mode must be one of {SEARCH_MODES}, got {self.mode!r}")
        if self.fusion is not None:
            object.__setattr__(self, "fusion", Fusion.of(self.fusion))
        if self.where is not None and not isinstance(self.where, dict):
            raise TypeError(f"where must be a dict (Chroma's where), got {type(self.where).__name__}")
        unknown = sorted(set(self.thinking) - set(THINKING_SETTINGS))
        if unknown:
            raise TypeError(f"unknown thinking settings {unknown}; the settings are {', '.join(THINKING_SETTINGS)}")
        object.__setattr__(self, "thinking", {k: v for k, v in self.thinking.items() if v is not None})

    @classmethod
    def of(cls, options: SearchOptions | None = None, **given: Any) -> SearchOptions:
        """``options`` (default: all defaults) with the keywords ``given`` replacing its fields. A keyword that is
        not a field is a thinking setting; ``think=`` is the 0.1 name of ``encoding`` (True, False, "distilled",
        "gated"; None: unchanged), accepted with a DeprecationWarning."""
        base = options if options is not None else cls()
        if "think" in given:
            think = given.pop("think")
            warnings.warn(
                "think= is deprecated: pass encoding='plain' | 'think' | 'distilled' | 'gated' (QueryEncoding)",
                DeprecationWarning,
                stacklevel=3,
            )
            if think is not None:
                if given.get("encoding") is not None:
                    raise TypeError("pass encoding= or the deprecated think=, not both")
                given["encoding"] = QueryEncoding.of(think)
            elif given.get("encoding") is None:  # think=None with no encoding keeps the encoding as it was
                given.pop("encoding", None)
        fields = {k: given.pop(k) for k in OPTION_NAMES if k in given}
        if "thinking" in given:
            given = {**given.pop("thinking"), **given}
        unknown = sorted(set(given) - set(THINKING_SETTINGS))
        if unknown:
            raise TypeError(
                f"unknown search options {unknown}; the options are {', '.join(OPTION_NAMES)} and the thinking "
                f"settings ({', '.join(THINKING_SETTINGS)})"
            )
        if given:
            fields["thinking"] = {**base.thinking, **given}
        return dataclasses.replace(base, **fields) if fields else base

    def validated(self, model: ThinkThenEmbed) -> SearchOptions:
        """These options with the model's default encoding filled in, or the error a search with them would raise:
        an invalid thinking setting, thinking settings without thinking, ``gated`` with the lexical mode or without
        the checkpoint's ``think_below``, ``distilled`` without a distilled query encoder."""
        encoding = model.default_encoding if self.encoding is None else self.encoding
        model.thinking_config(**self.thinking)  # invalid values
        thinks = encoding in (QueryEncoding.THINK, QueryEncoding.GATED)
        if not thinks and (self.thinking or self.include_query_vector is not None):
            given = sorted(self.thinking) + (["include_query_vector"] if self.include_query_vector is not None else [])
            raise ValueError(f"{', '.join(given)} set how queries are thought about: use encoding='think' or 'gated'")
        if encoding is QueryEncoding.GATED:
            if self.mode == "lexical":
                raise ValueError("encoding 'gated' reads the dense side's first round: use mode 'hybrid' or 'dense'")
            if model.config.think_below is None:
                raise ValueError(
                    "encoding 'gated' needs the checkpoint's think_below (the cosine under which a query thinks); "
                    "this checkpoint has none: set it in its o1_config.json (choose it on dev queries with "
                    "bench/gate.py), or use encoding 'think' or 'plain'"
                )
        if encoding is QueryEncoding.DISTILLED and not model.distilled:
            raise ValueError(
                "encoding 'distilled' needs a checkpoint with a distilled query encoder (query_adapter/); this one "
                "has none: train one with `o1-retriever distill`, or use encoding 'plain' or 'think'"
            )
        return dataclasses.replace(self, encoding=encoding)
