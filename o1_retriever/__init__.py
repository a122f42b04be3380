"""o1-retriever: a retriever that thinks before it embeds (O1 Embedder, Yan, Liu, Lian, 2025).

Rooms: ``o1_retriever.model`` (ThinkThenEmbed: thinkers, embedders, checkpoints), ``o1_retriever.retrieval``
(Index, stores, BM25, fusion, search options), ``o1_retriever.evaluation`` (benchmarks, metrics, systems);
``o1_retriever.integrations`` (LlamaIndex, LangChain), ``o1_retriever.trainer`` and ``o1_retriever.cli`` build on
them.
"""

import warnings

from o1_retriever import _moved
from o1_retriever.model.config import ModelConfig, ThinkingConfig
from o1_retriever.model.query_encoding import QueryEncoding
from o1_retriever.model.think_then_embed import QueryEmbeddings, ThinkThenEmbed
from o1_retriever.model.thinkers import Thinker, ThinkerError
from o1_retriever.model.weights import MissingWeightsError
from o1_retriever.retrieval.chroma_index import ChromaIndex
from o1_retriever.retrieval.fusion import Fusion
from o1_retriever.retrieval.hits import Hit
from o1_retriever.retrieval.index import EmptyIndexError, Index, IndexMismatchError
from o1_retriever.retrieval.options import SearchOptions
from o1_retriever.retrieval.stores import StoreUnavailableError

_moved.register()

__all__ = [
    "ChromaIndex",
    "EmptyIndexError",
    "Fusion",
    "Hit",
    "Index",
    "IndexMismatchError",
    "MissingWeightsError",
    "ModelConfig",
    "QueryEmbeddings",
    "QueryEncoding",
    "SearchOptions",
    "StoreUnavailableError",
    "ThinkThenEmbed",
    "Thinker",
    "ThinkerError",
    "ThinkingConfig",
]
__version__ = "0.2.0"


def __getattr__(name: str):
    if name == "ChromaStore":  # the 0.1 name of ChromaIndex
        warnings.warn("ChromaStore is now ChromaIndex", DeprecationWarning, stacklevel=2)
        return ChromaIndex
    return _moved.moved_attribute(name)
