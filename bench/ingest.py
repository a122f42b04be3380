"""Ingest at the machine's speed (issue 35): documents/s of ``Index.add_documents`` (the shipped encoder into a real
Chroma) against sentence-transformers ``encode`` of the same encoder architecture, same threads, alternating in one
process; and 2 shards x 1 thread into one Chroma server against 1 process x 2 threads (wall time), same run.

    python -m bench.ingest --docs 2000 --rounds 3 --threads 2 [--shards] --name ingest
(the comparison needs sentence-transformers, not a dependency: pip install sentence-transformers)
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.common import DATA, write
from bench.store import start_server
from o1_retriever import ChromaIndex, ThinkThenEmbed
from o1_retriever.data import load_corpus
from o1_retriever.model.prompts import document_text
from o1_retriever.model.threads import set_threads
from o1_retriever.model.weights import resolve_weights


def index_rate(model: ThinkThenEmbed, documents: list, folder: Path) -> float:
    """Documents per second of one ingest into a new embedded Chroma (embedding and insert)."""
    began = time.perf_counter()
    ChromaIndex(model, folder).add_documents(documents, batch_size=64)
    return len(documents) / (time.perf_counter() - began)


def encode_rate(encoder, documents: list) -> float:
    """Documents per second of sentence-transformers ``encode`` of the same texts (no store)."""
    texts = [document_text(d.text, d.title) for d in documents]
    began = time.perf_counter()
    encoder.encode(texts, batch_size=64, normalize_embeddings=True)
    return len(documents) / (time.perf_counter() - began)


def shard_seconds(corpus: Path, shards: int, threads: int, workdir: Path) -> float:
    """Wall seconds for ``shards`` processes of ``threads`` threads each to index ``corpus`` into one fresh server."""
    server, port = start_server(workdir / f"server-{shards}")
    try:
        command = [sys.executable, "-m", "o1_retriever", "--threads", str(threads), "index", str(corpus)]
        command += ["--host", "127.0.0.1", "--port", str(port), "--lexical-path", str(workdir / f"lexical-{shards}")]
        began = time.perf_counter()
        parts = [f"{i}/{shards}" for i in range(shards)] if shards > 1 else [None]
        processes = [
            subprocess.Popen(command + (["--shard", part] if part else []), stdout=subprocess.DEVNULL) for part in parts
        ]
        if any(p.wait() for p in processes):
            raise RuntimeError("an index process failed")
        return time.perf_counter() - began
    finally:
        server.kill()
        server.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(DATA / "scifact"))
    parser.add_argument("--docs", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--shards", action="store_true", help="also time 2 shards x 1 thread vs 1 process x 2")
    parser.add_argument("--name", required=True, help="bench/results/NAME.json")
    args = parser.parse_args()
    set_threads(args.threads)
    from sentence_transformers import SentenceTransformer

    documents = load_corpus(args.data)[: args.docs]
    model = ThinkThenEmbed.from_pretrained(cache=False)
    encoder = SentenceTransformer(str(resolve_weights("all-minilm-l6-v2")), device="cpu")
    encoder.max_seq_length = model.config.max_document_tokens
    rates: dict[str, list[float]] = {"index": [], "sentence-transformers encode": []}
    with tempfile.TemporaryDirectory() as tmp:
        for round_ in range(args.rounds):  # alternating, so both see the same machine load
            rates["sentence-transformers encode"].append(encode_rate(encoder, documents))
            rates["index"].append(index_rate(model, documents, Path(tmp) / f"index-{round_}"))
        medians = {name: statistics.median(values) for name, values in rates.items()}
        payload = {
            "command": "python -m bench.ingest " + " ".join(sys.argv[1:]),
            "documents": len(documents),
            "threads": args.threads,
            "documents_per_second": rates,
            "median_documents_per_second": medians,
            "index_vs_encode": medians["index"] / medians["sentence-transformers encode"],
        }
        if args.shards:
            corpus = Path(tmp) / "corpus.jsonl"
            rows = (json.dumps({"_id": d.id, "title": d.title, "text": d.text}) for d in documents)
            corpus.write_text("".join(row + "\n" for row in rows))
            one = [shard_seconds(corpus, 1, 2, Path(tmp) / f"one-{r}") for r in range(args.rounds)]
            two = [shard_seconds(corpus, 2, 1, Path(tmp) / f"two-{r}") for r in range(args.rounds)]
            payload["wall_seconds"] = {"1 process x 2 threads": one, "2 shards x 1 thread": two}
            payload["shards_vs_one"] = statistics.median(two) / statistics.median(one)
    write(args.name, payload)


if __name__ == "__main__":
    main()
