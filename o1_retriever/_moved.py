"""The 0.1 module paths, from before the core was grouped into rooms (model, retrieval, evaluation).

``import o1_retriever.store`` and the like keep working for one release: each old path is a light module object that
forwards attribute access to the module's new home, with a DeprecationWarning naming it. Nothing is imported until
an attribute is read.
"""

from __future__ import annotations

import importlib
import sys
import types
import warnings
from typing import Any

#: old path -> new path
MOVED = {
    **{
        f"o1_retriever.{name}": f"o1_retriever.model.{name}"
        for name in (
            "batching",
            "causal_lm",
            "checkpoint",
            "config",
            "embedders",
            "loading",
            "pooling",
            "prompts",
            "quantization",
            "sampling",
            "thought_cache",
            "vector_cache",
            "weights",
            "thinkers",
            "thinkers.local",
            "thinkers.openai",
        )
    },
    **{
        f"o1_retriever.{name}": f"o1_retriever.retrieval.{name}"
        for name in ("index", "lexical", "fusion", "stores", "stores.chroma")
    },
    "o1_retriever.bm25": "o1_retriever.retrieval.lexical",
    "o1_retriever.store": "o1_retriever.retrieval.chroma_index",
    "o1_retriever.benchmark": "o1_retriever.evaluation.benchmark",
    "o1_retriever.metrics": "o1_retriever.evaluation.metrics",
    "o1_retriever.reports": "o1_retriever.evaluation.reports",
    "o1_retriever.evaluate": "o1_retriever.evaluation.systems",
}


class MovedModule(types.ModuleType):
    """A module that moved: attribute access reads the new module, with a DeprecationWarning."""

    def __init__(self, old: str, new: str) -> None:
        super().__init__(old, f"Moved to {new}.")
        self._new = new

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        warnings.warn(f"{self.__name__} moved to {self._new}", DeprecationWarning, stacklevel=2)
        return getattr(importlib.import_module(self._new), name)


def register() -> None:
    """Make every old path importable (``sys.modules`` entries under ``o1_retriever.`` only)."""
    for old, new in MOVED.items():
        sys.modules.setdefault(old, MovedModule(old, new))


def moved_attribute(name: str) -> Any:
    """``o1_retriever.<name>`` for a moved module's old name (so ``o1_retriever.store`` works after an import)."""
    module = sys.modules.get(f"o1_retriever.{name}")
    if isinstance(module, MovedModule):
        return module
    raise AttributeError(f"module 'o1_retriever' has no attribute {name!r}")
