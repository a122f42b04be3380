"""o1-retriever: a retriever that thinks before it embeds (O1 Embedder, Yan, Liu, Lian, 2025)."""

from o1_retriever.config import ModelConfig, ThinkingConfig
from o1_retriever.fusion import Fusion
from o1_retriever.index import Hit, Index
from o1_retriever.model import QueryEmbeddings, ThinkThenEmbed
from o1_retriever.thinkers import Thinker, ThinkerError
from o1_retriever.weights import MissingWeightsError

__all__ = [
    "Fusion",
    "Hit",
    "Index",
    "MissingWeightsError",
    "ModelConfig",
    "QueryEmbeddings",
    "ThinkThenEmbed",
    "Thinker",
    "ThinkerError",
    "ThinkingConfig",
]
__version__ = "0.1.0"
