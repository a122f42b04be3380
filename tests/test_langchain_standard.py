"""LangChain's own contract tests for retrievers, run against O1Retriever over a real persistent Chroma."""

import pytest

pytest.importorskip("langchain_tests")

from langchain_tests.integration_tests import RetrieversIntegrationTests  # noqa: E402

from o1_retriever.integrations.langchain import O1Retriever  # noqa: E402
from tests.tiny_models import make_causal_lm  # noqa: E402


class TestO1RetrieverStandard(RetrieversIntegrationTests):
    index = None

    @pytest.fixture(scope="class", autouse=True)
    def _index(self, request, tmp_path_factory):
        """One index for the class, in a pytest-managed temporary folder."""
        from o1_retriever import ThinkThenEmbed
        from o1_retriever import ChromaIndex

        root = tmp_path_factory.mktemp("langchain-standard")
        model = ThinkThenEmbed.from_pretrained(make_causal_lm(root / "lm"), device="cpu", cache=root / "c.sqlite")
        index = ChromaIndex(model, root / "index")
        index.add_texts([f"document {i} about cells and genes" for i in range(6)])
        request.cls.index = index
        yield
        request.cls.index = None

    @property
    def retriever_constructor(self):
        return O1Retriever

    @property
    def retriever_constructor_params(self):
        return {"store": self.index, "k": 2, "think": True, "thinking": {"n_thoughts": 1, "max_new_tokens": 4}}

    @property
    def retriever_query_example(self) -> str:
        return "what do cells do?"
