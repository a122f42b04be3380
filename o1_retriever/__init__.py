"""o1-retriever: a retriever that thinks before it embeds (O1 Embedder, Yan, Liu, Lian, 2025)."""

import os

#: MKL's strict reproducible mode, unless the environment chose one: with several threads, MKL splits a matrix
#: product by its row count, so a row's last bits depended on how many rows came with it, and int8 thinking amplifies
#: them (an AVX-512 machine: 4 of 12 thoughts the same alone and in a batch, 12 of 12 with this; README
#: "Deterministic"). Read when MKL first runs, so it holds unless MKL ran before this import.
os.environ.setdefault("MKL_CBWR", "AUTO,STRICT")

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
