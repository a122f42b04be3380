"""A million documents in a Chroma server (issue 35): hybrid and dense query latency of a serving process, its
start-up with the persisted lexical index (loaded, never rebuilt), its resident memory, the server's, and the lexical
index's size on disk.

Documents are synthetic (20 words each from a Zipf-like vocabulary, as in ``bench.lexical``) and their vectors come
from a stand-in encoder — the normalised sum of a fixed random 384-d vector per word, so documents that share words
are near — which fills a million rows in minutes instead of the ~14 hours the shipped encoder would take here. The
serving process embeds its queries with the shipped encoder (real query cost; the ranks it returns are meaningless
against stand-in vectors, the latency is not). The ingest is resumable: rerun the same command and it goes on from
the rows the server already holds.

    python -m bench.million --docs 1000000 --work ~/.cache/o1-million --queries 200 --name million
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from bench.common import write
from bench.lexical import folder_bytes, synthetic_corpus
from bench.million_serve import COLLECTION
from bench.process import rss_mb
from bench.store import start_server

DIMENSION = 384
VOCABULARY = 30_000
BATCH = 5_000


@functools.cache
def word_vectors(seed: int) -> np.ndarray:
    """The stand-in encoder's table: a fixed random vector for each made-up word ``wNNNNN``, drawn once."""
    return np.random.default_rng(seed).standard_normal((VOCABULARY, DIMENSION)).astype(np.float32)


def stand_in_vectors(texts: list[str], seed: int = 0) -> np.ndarray:
    """The stand-in encoder: a text is the normalised sum of its words' vectors."""
    table = word_vectors(seed)
    rows = np.array([[int(word[1:]) for word in text.split()] for text in texts])
    vectors = table[rows].sum(axis=1)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def ingest(store, n: int) -> dict:
    """Upsert rows ``doc0``..``doc{n-1}`` in order from where the server's count says the last run stopped."""
    texts = synthetic_corpus(n, seed=1)
    start = (store.count() // BATCH) * BATCH
    resumed_at = start
    began = time.perf_counter()
    for start in range(start, n, BATCH):
        batch = texts[start : start + BATCH]
        ids = [f"doc{i}" for i in range(start, start + len(batch))]
        store.upsert(ids, stand_in_vectors(batch), batch, [{"n": i} for i in range(start, start + len(batch))])
        done = start + len(batch)
        if (done // BATCH) % 10 == 0 or done == n:
            rate = (done - resumed_at) / (time.perf_counter() - began)
            print(f"ingest: {done:,} rows, {rate:,.0f} rows/s since {resumed_at:,}", flush=True)
    return {"resumed_at_row": resumed_at, "seconds": time.perf_counter() - began, "rows": store.count()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=1_000_000)
    parser.add_argument("--work", type=Path, default=Path.home() / ".cache" / "o1-million")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--model", default=None, help="embeds the queries [default: the shipped model]")
    parser.add_argument("--ingest-only", action="store_true", help="stop after the ingest (resume it later)")
    parser.add_argument("--name", default="million", help="bench/results/NAME.json")
    args = parser.parse_args()

    from o1_retriever import ChromaIndex, ThinkThenEmbed

    args.work.mkdir(parents=True, exist_ok=True)
    server, port = start_server(args.work / "chroma")
    try:
        # opened before the first row, so the collection records the model its query vectors must come from
        model = ThinkThenEmbed.from_pretrained(args.model, cache=False, threads=args.threads)
        index = ChromaIndex(
            model, host="127.0.0.1", port=port, collection=COLLECTION, lexical_path=args.work / "lexical"
        )
        loaded = ingest(index.store, args.docs)
        if args.ingest_only:
            return
        lexical = build_lexical(index, args.work / "lexical" / COLLECTION)
        runs = []
        for _ in range(2):  # the second start finds the page cache warm, as a restarted server process would
            spawned = time.time()
            out = subprocess.run(
                [sys.executable, "-m", "bench.million_serve", "--work", str(args.work), "--port", str(port)]
                + ["--queries", str(args.queries), "--threads", str(args.threads), "--spawned", str(spawned)]
                + (["--model", args.model] if args.model else []),
                capture_output=True,
                text=True,
                check=True,
            )
            runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
            print(runs[-1], flush=True)
        server_rss = rss_mb(server.pid)
    finally:
        server.kill()
    write(
        args.name,
        {
            "command": f"python -m bench.million --docs {args.docs} --queries {args.queries} "
            f"--threads {args.threads} --name {args.name}",
            "documents": "synthetic: 20 words each from a Zipf-like vocabulary of 30,000 made-up words; vectors from "
            "a stand-in encoder (normalised sum of fixed random 384-d word vectors); queries: 6 words, embedded by the "
            "shipped encoder",
            "store": "chroma run on loopback (HNSW cosine, ef_construction 200, ef_search 200)",
            "ingest": loaded,
            "lexical": lexical,
            "serving_runs": runs,
            "chroma_server_rss_mb": server_rss,
            "environment": {"cpus": os.cpu_count()},
        },
    )


def build_lexical(index, folder: Path) -> dict:
    """Build the lexical index once after the ingest (as ``o1-retriever index`` does) and save it where the serving
    processes load it."""
    began = time.perf_counter()
    index.prepare_lexical_index()
    return {
        "prepare_seconds (loads a saved one, else reads the store and builds)": time.perf_counter() - began,
        "disk_mb": folder_bytes(folder) / 2**20 if folder.exists() else None,
    }


if __name__ == "__main__":
    main()
