"""A LlamaIndex RAG query engine over a small corpus, offline: the retriever is real, a mock LLM writes the answer.

python examples/llamaindex_rag.py [--model CHECKPOINT] [--store DIR]
"""

from __future__ import annotations

import argparse
import tempfile

from llama_index.core.llms import MockLLM
from llama_index.core.query_engine import RetrieverQueryEngine

from o1_retriever import ThinkThenEmbed
from o1_retriever.integrations.llamaindex import O1Retriever
from o1_retriever import ChromaIndex

CORPUS = {
    "tides": "Tides are the rise and fall of sea levels caused by the gravity of the Moon and the Sun.",
    "photosynthesis": "Photosynthesis turns light, water and carbon dioxide into sugar and oxygen in plants.",
    "vaccines": "Vaccines train the immune system to recognise a pathogen without causing the disease.",
    "volcanoes": "Volcanoes erupt when magma from the mantle rises through cracks in the crust.",
}


def build_engine(model: str | None, store_dir: str) -> RetrieverQueryEngine:
    store = ChromaIndex(ThinkThenEmbed.from_pretrained(model), store_dir)
    store.add_texts(list(CORPUS.values()), ids=list(CORPUS))  # idempotent: reruns skip stored ids
    retriever = O1Retriever(store, similarity_top_k=2, encoding="think", n_thoughts=2, max_new_tokens=32)
    return RetrieverQueryEngine.from_args(retriever, llm=MockLLM(max_tokens=16))


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default=None, help="checkpoint folder [default: the shipped model]")
    parser.add_argument("--store", default=None, help="Chroma folder [default: a temporary one]")
    parser.add_argument("--question", default="Why does the sea rise and fall twice a day?")
    args = parser.parse_args(argv)
    engine = build_engine(args.model, args.store or tempfile.mkdtemp())
    response = engine.query(args.question)
    sources = [(n.node.node_id, round(n.score, 3)) for n in response.source_nodes]
    print(f"question: {args.question}\nsources:  {sources}\nanswer:   {response}")
    return {"answer": str(response), "sources": sources}


if __name__ == "__main__":
    main()
