import asyncio

import pytest

from tests.tiny_models import DOCS

THINKING = {"n_thoughts": 2, "max_new_tokens": 4}


def test_llamaindex_retriever_sync_and_async(store):
    from llama_index.core.schema import NodeWithScore

    from o1_retriever.integrations.llamaindex import O1Retriever

    retriever = O1Retriever(store, similarity_top_k=3, encoding="think", **THINKING)
    nodes = retriever.retrieve("cancer risk")
    assert len(nodes) == 3 and all(isinstance(n, NodeWithScore) for n in nodes)
    assert len(nodes[0].node.metadata["o1_thoughts"]) == 2
    assert "o1_thoughts" not in nodes[0].node.get_content(metadata_mode="llm")
    async_nodes = asyncio.run(retriever.aretrieve("cancer risk"))
    assert [n.node.node_id for n in async_nodes] == [n.node.node_id for n in nodes]
    lexical = O1Retriever(store, similarity_top_k=2, mode="lexical").retrieve("cancer risk drug")
    assert lexical[0].node.node_id == "d1" and lexical[0].node.metadata["lexical_rank"] == 1
    assert "lexical_rank" not in lexical[0].node.get_content(metadata_mode="llm")  # ours, hidden from the LLM


def test_llamaindex_metadata_filters_reach_both_sides(store):
    from llama_index.core.vector_stores.types import MetadataFilter, MetadataFilters

    from o1_retriever.integrations.llamaindex import O1Retriever

    def found(**options):
        return {n.node.node_id for n in O1Retriever(store, similarity_top_k=4, **options).retrieve("cancer gene data")}

    def rule(key, value, operator="=="):
        return MetadataFilter(key=key, value=value, operator=operator)

    assert found(filters=MetadataFilters(filters=[rule("year", 2021, ">=")])) == {"d2"}
    either = MetadataFilters(filters=[rule("year", 2021), rule("title", "Genes")], condition="or")
    assert found(filters=either) == {"d2", "d3"}
    titled = MetadataFilters(filters=[rule("title", "Drug"), rule("title", "Genes")], condition="or")
    assert found(filters=MetadataFilters(filters=[rule("year", 2020), titled])) == {"d1", "d3"}  # nested
    assert found(filters=MetadataFilters(filters=[rule("title", ["Genes", "Drug"], "in")]), where={"year": 2020}) == {
        "d1",
        "d3",
    }
    assert found(filters=MetadataFilters(filters=[rule("title", "Genes")]), mode="lexical") == {"d3"}
    with pytest.raises(ValueError, match="'text_match', which Chroma cannot filter by"):
        O1Retriever(store, filters=MetadataFilters(filters=[rule("title", "Gen", "text_match")]))
    with pytest.raises(ValueError, match="'and' or 'or', not 'not'"):
        O1Retriever(store, filters=MetadataFilters(filters=[rule("year", 1), rule("year", 2)], condition="not"))


def test_llamaindex_query_engine_with_mock_llm(store):
    from llama_index.core.llms import MockLLM
    from llama_index.core.query_engine import RetrieverQueryEngine
    from llama_index.core.response_synthesizers import get_response_synthesizer

    from o1_retriever.integrations.llamaindex import O1Retriever

    retriever = O1Retriever(store, similarity_top_k=2, encoding="think", **THINKING)
    engine = RetrieverQueryEngine(retriever, response_synthesizer=get_response_synthesizer(llm=MockLLM()))
    response = engine.query("which drug raises cancer risk?")
    assert len(response.source_nodes) == 2
    assert {n.node.node_id for n in response.source_nodes} <= {d.id for d in DOCS}


def test_llamaindex_embedding_thinks_for_queries(shared_model):
    from o1_retriever.integrations.llamaindex import O1Embedding

    embedding = O1Embedding(shared_model)
    thinking = embedding.get_query_embedding("cancer risk")
    plain = O1Embedding(shared_model, encoding="plain").get_query_embedding("cancer risk")
    assert len(thinking) == shared_model.dimension and thinking != plain
    assert plain == pytest.approx(shared_model.embed_queries(["cancer risk"], encoding="plain").vectors[0].tolist())
    docs = embedding.get_text_embedding_batch(["gene", "cell"])
    assert len(docs) == 2 and len(docs[0]) == shared_model.dimension


def test_langchain_retriever_k_and_async(store):
    from langchain_core.documents import Document as LCDocument

    from o1_retriever.integrations.langchain import O1Retriever

    retriever = O1Retriever(index=store, k=2, encoding="think", thinking=THINKING)
    docs = retriever.invoke("cancer risk")
    assert len(docs) == 2 and all(isinstance(d, LCDocument) for d in docs)
    assert len(retriever.invoke("cancer risk", k=4)) == 4
    assert len(docs[0].metadata["o1_thoughts"]) == 2
    assert {"dense_rank", "score"} <= set(docs[0].metadata)  # the ranks that put it there
    dense = retriever.invoke("cancer risk", mode="dense")
    assert all("lexical_rank" not in d.metadata for d in dense)
    assert [d.id for d in asyncio.run(retriever.ainvoke("cancer risk"))] == [d.id for d in docs]
    with pytest.raises(ValueError):
        O1Retriever(index=store, k=0)
    with pytest.raises(ValueError, match="k must be >= 1"):  # a per-call k of 0 is refused too, not replaced
        retriever.invoke("cancer risk", k=0)
    plain = O1Retriever(index=store, k=2)
    assert plain.invoke("cancer risk")[0].metadata["o1_thoughts"] == []
    thought = plain.invoke("cancer risk", encoding="think", **THINKING)  # thinking per call, with its settings
    assert len(thought[0].metadata["o1_thoughts"]) == 2
    with pytest.raises(TypeError, match=r"unknown search options \['mdoe'\]; the options are encoding, mode"):
        plain.invoke("cancer risk", mdoe="dense")  # a misspelt option is an error, not silently ignored


def test_langchain_lcel_chain(store):
    from langchain_core.language_models.fake import FakeListLLM
    from langchain_core.output_parsers import StrOutputParser
    from langchain_core.prompts import PromptTemplate
    from langchain_core.runnables import RunnablePassthrough

    from o1_retriever.integrations.langchain import O1Retriever

    retriever = O1Retriever(index=store, k=2, encoding="think", thinking=THINKING)
    seen = {}

    def join(docs):
        seen["docs"] = docs
        return "\n".join(d.page_content for d in docs)

    chain = (
        {"context": retriever | join, "question": RunnablePassthrough()}
        | PromptTemplate.from_template("{context}\n{question}")
        | FakeListLLM(responses=["an answer"])
        | StrOutputParser()
    )
    assert chain.invoke("cancer risk") == "an answer"
    assert len(seen["docs"]) == 2


def test_langchain_embeddings(shared_model):
    from o1_retriever.integrations.langchain import O1Embeddings

    embeddings = O1Embeddings(shared_model)
    assert len(embeddings.embed_documents(["gene", "cell"])) == 2
    assert embeddings.embed_query("gene") != O1Embeddings(shared_model, encoding="plain").embed_query("gene")
    assert len(asyncio.run(embeddings.aembed_query("gene"))) == shared_model.dimension


def test_langchain_embeddings_with_langchain_chroma(shared_model, tmp_path):
    langchain_chroma = pytest.importorskip("langchain_chroma")
    from o1_retriever.integrations.langchain import O1Embeddings

    vectorstore = langchain_chroma.Chroma(
        collection_name="docs",
        embedding_function=O1Embeddings(shared_model, encoding="plain"),
        persist_directory=str(tmp_path / "lc"),
    )
    vectorstore.add_texts([d.text for d in DOCS], ids=[d.id for d in DOCS])
    found = vectorstore.similarity_search("gene expression in human cells", k=2)
    assert len(found) == 2 and found[0].page_content in {d.text for d in DOCS}


def test_both_retrievers_gate_thinking(store, shared_model):
    import dataclasses

    from o1_retriever.integrations.langchain import O1Retriever as LangChainRetriever
    from o1_retriever.integrations.llamaindex import O1Retriever as LlamaIndexRetriever

    shared_model.config = dataclasses.replace(shared_model.config, think_below=1.0)  # every query is unsure
    docs = LangChainRetriever(index=store, k=2, encoding="gated", thinking=THINKING).invoke("cancer risk")
    nodes = LlamaIndexRetriever(store, similarity_top_k=2, encoding="gated", **THINKING).retrieve("cancer risk")
    assert len(docs[0].metadata["o1_thoughts"]) == 2 == len(nodes[0].node.metadata["o1_thoughts"])
    shared_model.config = dataclasses.replace(shared_model.config, think_below=-1.0)  # none is
    docs = LangChainRetriever(index=store, k=2, encoding="gated", thinking=THINKING).invoke("cancer risk")
    assert docs[0].metadata["o1_thoughts"] == []


def test_both_retrievers_refuse_bad_options_when_built(store):
    from o1_retriever.integrations.langchain import O1Retriever as LangChainRetriever
    from o1_retriever.integrations.llamaindex import O1Retriever as LlamaIndexRetriever

    with pytest.raises(TypeError, match=r"unknown search options \['temprature'\]"):
        LlamaIndexRetriever(store, encoding="think", temprature=0.1)
    with pytest.raises(ValueError, match="n_thoughts set how queries are thought about: use encoding='think'"):
        LlamaIndexRetriever(store, n_thoughts=2)
    with pytest.raises(ValueError, match="mode must be one of"):
        LlamaIndexRetriever(store, mode="sparse")
    with pytest.raises(ValueError, match="unknown fusion 'equal'"):
        LlamaIndexRetriever(store, fusion="equal")
    with pytest.raises(TypeError, match=r"unknown search options \['temprature'\]"):
        LangChainRetriever(index=store, encoding="think", thinking={"temprature": 0.1})
    with pytest.raises(ValueError, match="temperature must be >= 0"):
        LangChainRetriever(index=store, encoding="think", thinking={"temperature": -1})
    with pytest.raises(ValueError, match="unknown fusion 'equal'"):
        LangChainRetriever(index=store, fusion="equal")
