"""LangChain's own contract tests for retrievers, run against O1Retriever over a real persistent Chroma."""

import tempfile

import pytest

pytest.importorskip("langchain_tests")

from langchain_tests.integration_tests import RetrieversIntegrationTests  # noqa: E402

from o1_retriever.integrations.langchain import O1Retriever  # noqa: E402
from tests.tiny_models import make_causal_lm  # noqa: E402

_STORE = None


def _store():
    global _STORE
    if _STORE is None:
        from pathlib import Path

        from o1_retriever import ThinkThenEmbed
        from o1_retriever.store import ChromaStore

        root = Path(tempfile.mkdtemp(prefix="o1-lc-"))
        model = ThinkThenEmbed.from_pretrained(make_causal_lm(root / "lm"), device="cpu", cache=root / "c.sqlite")
        _STORE = ChromaStore(model, root / "index")
        _STORE.add_texts([f"document {i} about cells and genes" for i in range(6)])
    return _STORE


class TestO1RetrieverStandard(RetrieversIntegrationTests):
    @property
    def retriever_constructor(self):
        return O1Retriever

    @property
    def retriever_constructor_params(self):
        return {"store": _store(), "k": 2, "thinking": {"n_thoughts": 1, "max_new_tokens": 4}}

    @property
    def retriever_query_example(self) -> str:
        return "what do cells do?"
