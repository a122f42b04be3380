"""Adapting a checkpoint to a user's corpus without judged queries (``o1-retriever adapt``): see ``run``."""

from o1_retriever.trainer.adapt.config import AdaptConfig
from o1_retriever.trainer.adapt.run import AdaptError, adapt

__all__ = ["AdaptConfig", "AdaptError", "adapt"]
