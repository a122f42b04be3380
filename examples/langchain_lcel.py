"""A LangChain LCEL chain over a small corpus, offline: the retriever is real, a fake LLM writes the answer.

python examples/langchain_lcel.py [--model CHECKPOINT] [--store DIR]
"""

from __future__ import annotations

import argparse
import tempfile

from langchain_core.language_models.fake import FakeListLLM
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import PromptTemplate
from langchain_core.runnables import RunnableParallel, RunnablePassthrough

from o1_retriever import ThinkThenEmbed
from o1_retriever.integrations.langchain import O1Retriever
from o1_retriever import ChromaIndex

CORPUS = {
    "tides": "Tides are the rise and fall of sea levels caused by the gravity of the Moon and the Sun.",
    "photosynthesis": "Photosynthesis turns light, water and carbon dioxide into sugar and oxygen in plants.",
    "vaccines": "Vaccines train the immune system to recognise a pathogen without causing the disease.",
    "volcanoes": "Volcanoes erupt when magma from the mantle rises through cracks in the crust.",
}
PROMPT = PromptTemplate.from_template(
    "Answer from the context.\n\nContext:\n{context}\n\nQuestion: {question}\nAnswer:"
)


def build_chain(model: str | None, store_dir: str):
    store = ChromaIndex(ThinkThenEmbed.from_pretrained(model), store_dir)
    store.add_texts(list(CORPUS.values()), ids=list(CORPUS))
    retriever = O1Retriever(index=store, k=2, encoding="think", thinking={"n_thoughts": 2, "max_new_tokens": 32})
    answer = (
        RunnablePassthrough.assign(context=lambda x: "\n".join(d.page_content for d in x["docs"]))
        | PROMPT
        | FakeListLLM(responses=["The Moon's gravity pulls the oceans."])
        | StrOutputParser()
    )
    return RunnableParallel(docs=retriever, question=RunnablePassthrough()).assign(answer=answer)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default=None, help="checkpoint folder [default: the shipped model]")
    parser.add_argument("--store", default=None, help="Chroma folder [default: a temporary one]")
    parser.add_argument("--question", default="Why does the sea rise and fall twice a day?")
    args = parser.parse_args(argv)
    result = build_chain(args.model, args.store or tempfile.mkdtemp()).invoke(args.question)
    sources = [d.id for d in result["docs"]]
    print(f"question: {args.question}\nsources:  {sources}\nanswer:   {result['answer']}")
    return {"answer": result["answer"], "sources": sources}


if __name__ == "__main__":
    main()
