"""The hybrid a LlamaIndex user builds by hand, scored on a BEIR set's test queries: ``QueryFusionRetriever``
(``relative_score``, one query: no LLM rewriting) over a Chroma ``VectorStoreIndex`` with the untrained
all-MiniLM-L6-v2 (``HuggingFaceEmbedding``) and the bm25s-based ``BM25Retriever`` (English stemmer), 100 candidates
each. Per-query nDCG@10 is compared, paired, with ``evaluate`` results of our systems (``--vs NAME=FILE:SYSTEM``).

    pip install llama-index-retrievers-bm25 llama-index-vector-stores-chroma llama-index-embeddings-huggingface
    python -m bench.llamaindex_hybrid --data ../shared/data/scifact --threads 2 \
        --vs adapted=bench/results/eval/adapt-scifact.json.gz:store-distilled-hybrid
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time

import numpy as np
import torch

from bench.common import RESULTS, read_json, write_gzip
from o1_retriever.evaluation.benchmark import load_benchmark
from o1_retriever.evaluation.metrics import mean_scores, paired_randomization_test, per_query_scores
from o1_retriever.model.weights import resolve_weights

K = 100


def llamaindex_run(bench, threads: int) -> tuple[dict, dict]:
    import chromadb
    from llama_index.core import StorageContext, VectorStoreIndex
    from llama_index.core.llms import MockLLM
    from llama_index.core.retrievers import QueryFusionRetriever
    from llama_index.core.schema import TextNode
    from llama_index.embeddings.huggingface import HuggingFaceEmbedding
    from llama_index.retrievers.bm25 import BM25Retriever
    from llama_index.vector_stores.chroma import ChromaVectorStore
    import Stemmer

    torch.set_num_threads(threads)
    nodes = [TextNode(id_=d.id, text=f"{d.title} {d.text}".strip()) for d in bench.corpus]
    embed = HuggingFaceEmbedding(model_name=str(resolve_weights("all-minilm-l6-v2")), device="cpu")
    with tempfile.TemporaryDirectory() as folder:
        collection = chromadb.PersistentClient(folder).get_or_create_collection("docs")
        storage = StorageContext.from_defaults(vector_store=ChromaVectorStore(chroma_collection=collection))
        began = time.perf_counter()
        index = VectorStoreIndex(nodes, storage_context=storage, embed_model=embed, show_progress=True)
        bm25 = BM25Retriever.from_defaults(nodes=nodes, similarity_top_k=K, stemmer=Stemmer.Stemmer("english"),
                                           language="english")
        index_seconds = time.perf_counter() - began
        fusion = QueryFusionRetriever([index.as_retriever(similarity_top_k=K), bm25], mode="relative_score",
                                      num_queries=1, similarity_top_k=K, use_async=False, llm=MockLLM())
        began, run = time.perf_counter(), {}
        for qid, text in bench.queries.items():
            run[qid] = {hit.node.node_id: float(hit.score) for hit in fusion.retrieve(text)}
        query_ms = 1000 * (time.perf_counter() - began) / len(bench.queries)
    return run, {"index_seconds": index_seconds, "query_ms": query_ms}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", required=True)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--vs", action="append", default=[], help="NAME=EVALUATE_JSON:SYSTEM (repeatable)")
    parser.add_argument("--name", default=None, help="result file name [default: llamaindex-hybrid-SET]")
    args = parser.parse_args()
    bench = load_benchmark(args.data, "test")
    run, timing = llamaindex_run(bench, args.threads)
    scores = per_query_scores(bench.qrels, run, ("nDCG@10", "Recall@100"))
    ours = {}
    for given in args.vs:
        name, _, rest = given.partition("=")
        path, _, system = rest.rpartition(":")
        theirs = read_json(path)["per_query"][system]["nDCG@10"]
        ids = sorted(scores["nDCG@10"])
        a, b = [theirs[q] for q in ids], [scores["nDCG@10"][q] for q in ids]
        ours[name] = {"file": path, "system": system, "nDCG@10": float(np.mean(a)),
                      "minus_llamaindex": float(np.mean(a) - np.mean(b)), "p": paired_randomization_test(a, b)}
    summary = {
        "command": "python -m bench.llamaindex_hybrid " + " ".join(
            f"--{k} {v}" for k, vs in vars(args).items() for v in (vs if isinstance(vs, list) else [vs]) if v),
        "dataset": bench.name, "queries": len(bench.queries), "documents": len(bench.corpus), "threads": args.threads,
        "llamaindex": {**mean_scores(scores), **timing}, "vs": ours, "per_query": scores,
    }
    name = args.name or f"llamaindex-hybrid-{bench.name}"
    write_gzip(RESULTS / f"{name}.json.gz", json.dumps(summary, indent=1).encode())
    print(json.dumps({k: v for k, v in summary.items() if k != "per_query"}, indent=1))


if __name__ == "__main__":
    main()
