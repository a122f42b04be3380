"""The lexical side at scale: building, saving and loading the BM25 index of 5k, 100k and 1M short synthetic
documents (seconds, memory, disk), and hybrid against dense search latency through ``Index.search`` over a real
embedded Chroma (5k and 100k rows; random unit vectors, so no corpus has to be embedded; thinking off, as with
cached thoughts).

    python -m bench.lexical [--sizes 5000,100000,1000000] [--search-sizes 5000,100000] [--queries 50]
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np
import torch

from bench.common import write
from bench.store import percentiles
from o1_retriever.retrieval.lexical import LexicalIndex


def synthetic_corpus(n: int, seed: int = 0, words: int = 20, vocabulary: int = 30_000) -> list[str]:
    """``n`` texts of ``words`` words drawn from a Zipf-like vocabulary of made-up words (as in real text, a few
    words are frequent and most are rare)."""
    rng = np.random.default_rng(seed)
    names = np.array([f"w{i:05d}" for i in range(vocabulary)])
    weights = 1.0 / np.arange(1, vocabulary + 1)
    draws = rng.choice(vocabulary, size=(n, words), p=weights / weights.sum())
    return [" ".join(row) for row in names[draws]]


def folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def build_save_load(n: int, tmp: Path) -> dict:
    texts = synthetic_corpus(n)
    ids = [f"doc{i}" for i in range(n)]
    tracemalloc.start()
    began = time.perf_counter()
    index = LexicalIndex(ids, texts, [{}] * n)
    build = time.perf_counter() - began
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    folder = tmp / f"lexical-{n}"
    began = time.perf_counter()
    index.save(folder, {"count": n})
    save = time.perf_counter() - began
    began = time.perf_counter()
    loaded = LexicalIndex.load(folder, {"count": n})
    load = time.perf_counter() - began
    query = texts[0].split()[:5]
    assert loaded is not None and loaded.search([" ".join(query)], 10) == index.search([" ".join(query)], 10)
    began = time.perf_counter()
    for text in texts[:20]:
        index.search([" ".join(text.split()[:5])], 100)
    per_query = (time.perf_counter() - began) / 20
    row = {
        "documents": n,
        "build_seconds": build,
        "build_peak_python_mb": peak / 2**20,
        "save_seconds": save,
        "load_seconds": load,
        "disk_mb": folder_bytes(folder) / 2**20,
        "search_ms": per_query * 1000,
    }
    print(row, flush=True)
    shutil.rmtree(folder)
    return row


def search_latency(n: int, queries: list[str], tmp: Path, model) -> dict:
    from o1_retriever.retrieval.index import Index
    from o1_retriever.retrieval.stores.chroma import ChromaVectorStore

    texts = synthetic_corpus(n, seed=1)
    rng = np.random.default_rng(1)
    store = ChromaVectorStore(tmp / f"chroma-{n}")
    index = Index(model, store)
    began = time.perf_counter()
    for start in range(0, n, 5000):
        vectors = rng.standard_normal((min(5000, n - start), model.dimension)).astype(np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        ids = [f"doc{i}" for i in range(start, start + len(vectors))]
        store.upsert(ids, vectors, texts[start : start + len(vectors)], [{"n": i} for i in range(len(vectors))])
    insert = time.perf_counter() - began
    index._new_generation()  # rows written around the Index, as a bulk load would: its lexical index is stale
    began = time.perf_counter()
    index.search(queries[:1], 10)  # builds (and saves) the lexical index
    first = time.perf_counter() - began
    timings: dict[str, list[float]] = {"dense": [], "hybrid": []}
    for query in queries:
        for mode in ("dense", "hybrid"):
            began = time.perf_counter()
            index.search([query], 10, mode=mode)
            timings[mode].append(time.perf_counter() - began)
    reopened = Index(model, ChromaVectorStore(tmp / f"chroma-{n}"))
    began = time.perf_counter()
    reopened.search(queries[:1], 10)
    reopen = time.perf_counter() - began
    row = {
        "documents": n,
        "chroma_insert_seconds": insert,
        "first_hybrid_search_seconds (builds and saves the lexical index)": first,
        "first_hybrid_search_after_reopen_seconds (loads it)": reopen,
        **{mode: percentiles(values) for mode, values in timings.items()},
    }
    row["hybrid_minus_dense_p50_ms"] = row["hybrid"]["p50_ms"] - row["dense"]["p50_ms"]
    print(row, flush=True)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="5000,100000,1000000")
    parser.add_argument("--search-sizes", default="5000,100000")
    parser.add_argument("--queries", type=int, default=50)
    parser.add_argument("--model", default=None, help="embeds the queries [default: the shipped model]")
    parser.add_argument("--name", default="lexical", help="bench/results/NAME.json")
    args = parser.parse_args()
    torch.set_num_threads(1)
    tmp = Path(tempfile.mkdtemp())
    try:
        scale = [build_save_load(int(n), tmp) for n in args.sizes.split(",") if n]
        search = []
        if args.search_sizes:
            from o1_retriever import ThinkThenEmbed

            model = ThinkThenEmbed.from_pretrained(args.model, device="cpu", cache=False)
            queries = [" ".join(t.split()[:6]) for t in synthetic_corpus(args.queries, seed=2)]
            search = [search_latency(int(n), queries, tmp, model) for n in args.search_sizes.split(",") if n]
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    write(
        args.name,
        {
            "command": "python -m bench.lexical "
            f"--sizes {args.sizes} --search-sizes {args.search_sizes} --queries {args.queries} --name {args.name}",
            "threads": {"torch": 1, "bm25s": 1},
            "documents": "synthetic: 20 words each from a Zipf-like vocabulary of 30,000 made-up words",
            "build_save_load": scale,
            "search_latency": search,
            "amortisation": "an ingest only marks the store changed; the lexical index is rebuilt once, lazily, "
            "before the next search that needs it, and saved beside the store, so a batch of writes costs one "
            "rebuild and a new process loads it instead of rebuilding",
        },
    )


if __name__ == "__main__":
    main()
