"""Your own LLM writes the thoughts; the shipped encoder embeds them and searches Chroma.

python examples/own_llm_thinker.py                                          # offline: a LangChain fake chat model
python examples/own_llm_thinker.py --base-url http://127.0.0.1:8000/v1 --thinker-model NAME   # vLLM, llama.cpp, Ollama

Any split-mode checkpoint pairs with any thinker: an OpenAI-compatible endpoint (``OpenAIThinker``), a LangChain chat
model (``LangChainThinker``) or a LlamaIndex LLM (``LlamaIndexThinker``). The checkpoint's own LM is not loaded.
"""

from __future__ import annotations

import argparse
import tempfile

from o1_retriever import ThinkThenEmbed
from o1_retriever import ChromaIndex

CORPUS = {
    "tides": "Tides are the rise and fall of sea levels caused by the gravity of the Moon and the Sun.",
    "photosynthesis": "Photosynthesis turns light, water and carbon dioxide into sugar and oxygen in plants.",
    "vaccines": "Vaccines train the immune system to recognise a pathogen without causing the disease.",
    "volcanoes": "Volcanoes erupt when magma from the mantle rises through cracks in the crust.",
}


def make_thinker(base_url: str | None, model_name: str | None):
    if base_url:  # any OpenAI-compatible server; the key, if it needs one, comes from $OPENAI_API_KEY
        from o1_retriever.model.thinkers.openai import OpenAIThinker

        return OpenAIThinker(base_url, model_name or "default", timeout=30)
    from langchain_core.language_models.fake_chat_models import FakeListChatModel

    from o1_retriever.integrations.langchain import LangChainThinker

    answers = ["The Moon's gravity pulls the oceans into two bulges, so the sea rises and falls twice a day."]
    return LangChainThinker(FakeListChatModel(responses=answers))  # stands in for ChatOpenAI, ChatOllama, ...


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default=None, help="a split-mode checkpoint [default: the shipped model]")
    parser.add_argument("--store", default=None, help="Chroma folder [default: a temporary one]")
    parser.add_argument("--base-url", default=None, help="an OpenAI-compatible endpoint [default: a fake chat model]")
    parser.add_argument("--thinker-model", default=None, help="the endpoint's model name")
    parser.add_argument("--question", default="Why does the sea rise and fall twice a day?")
    args = parser.parse_args(argv)
    model = ThinkThenEmbed.from_pretrained(args.model, thinker=make_thinker(args.base_url, args.thinker_model))
    store = ChromaIndex(model, args.store or tempfile.mkdtemp())
    store.add_texts(list(CORPUS.values()), ids=list(CORPUS))
    hits = store.query(args.question, k=2, encoding="think", n_thoughts=1)
    print(f"question: {args.question}\nthought:  {hits[0].thoughts[0]}\nsources:  {[h.id for h in hits]}")
    return {"thoughts": hits[0].thoughts, "sources": [h.id for h in hits]}


if __name__ == "__main__":
    main()
