"""Peak resident memory of a retriever process (issue 35): the shipped default retriever that never thinks (its
thinker loads on first use), the same with its thinker loaded (what 0.1 paid at load), and LangChain's own hybrid
(EnsembleRetriever over langchain-chroma with the same encoder and BM25Retriever), each in a fresh process: index
the same documents, answer the same queries.

    python -m bench.memory --docs 300 --queries 20 --name memory
(LangChain's side needs: pip install langchain-community langchain-classic rank_bm25 langchain-huggingface)
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile

from bench.common import DATA, write

VARIANTS = ("o1-retriever", "o1-retriever, thinker loaded", "langchain EnsembleRetriever")


def run(variant: str, data: str, docs: int, queries: int) -> dict:
    """In this process: build ``variant`` over the corpus, answer the queries, report peak RSS."""
    from o1_retriever.data import load_corpus, load_queries
    from o1_retriever.model.threads import set_threads

    set_threads(2)
    corpus = load_corpus(data)[:docs]
    asked = list(load_queries(data).values())[:queries]
    folder = tempfile.mkdtemp()
    if variant.startswith("o1-retriever"):
        from o1_retriever import ChromaIndex, ThinkThenEmbed
        from o1_retriever.integrations.langchain import O1Retriever

        model = ThinkThenEmbed.from_pretrained(cache=False)
        if variant.endswith("thinker loaded"):
            model.thinker.lm  # noqa: B018  (loads and quantises the LM, as 0.1 did at load)
        index = ChromaIndex(model, folder)
        index.add_documents(corpus)
        retriever = O1Retriever(index=index, k=10)
    else:
        from langchain_chroma import Chroma
        from langchain_classic.retrievers import EnsembleRetriever
        from langchain_community.retrievers import BM25Retriever
        from langchain_core.documents import Document
        from langchain_huggingface import HuggingFaceEmbeddings

        from o1_retriever.model.weights import resolve_weights

        documents = [Document(page_content=f"{d.title} {d.text}".strip(), id=d.id) for d in corpus]
        embeddings = HuggingFaceEmbeddings(model_name=str(resolve_weights("all-minilm-l6-v2")))
        store = Chroma.from_documents(documents, embeddings, persist_directory=folder)
        dense = store.as_retriever(search_kwargs={"k": 10})
        lexical = BM25Retriever.from_documents(documents, k=10)
        retriever = EnsembleRetriever(retrievers=[dense, lexical], weights=[0.5, 0.5])
    for query in asked:
        retriever.invoke(query)
    return {"variant": variant, "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(DATA / "scifact"))
    parser.add_argument("--docs", type=int, default=300)
    parser.add_argument("--queries", type=int, default=20)
    parser.add_argument("--variant", help=argparse.SUPPRESS)
    parser.add_argument("--name", default="memory", help="bench/results/NAME.json")
    args = parser.parse_args()
    if args.variant:
        print(json.dumps(run(args.variant, args.data, args.docs, args.queries)))
        return
    rows = []
    for variant in VARIANTS:
        command = [sys.executable, "-m", "bench.memory", "--variant", variant]
        command += ["--data", args.data, "--docs", str(args.docs), "--queries", str(args.queries)]
        done = subprocess.run(command, capture_output=True, text=True)
        failed = {"variant": variant, "error": done.stderr.strip().splitlines()[-1:]}
        rows.append(json.loads(done.stdout.strip().splitlines()[-1]) if done.returncode == 0 else failed)
    measured = [r["peak_rss_mb"] for r in rows if r["variant"].startswith("langchain") and "peak_rss_mb" in r]
    baseline = measured[0] if measured else None
    for row in rows:
        if baseline and "peak_rss_mb" in row:
            row["vs_langchain"] = row["peak_rss_mb"] / baseline
    write(args.name, {"command": "python -m bench.memory " + " ".join(sys.argv[1:]), "processes": rows})


if __name__ == "__main__":
    main()
