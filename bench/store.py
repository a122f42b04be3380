"""Store measurements (issue 3): ingest rate split into embedding and Chroma insert time; query latency p50/p95
with encoding="plain", thinking on a cache miss, and on a cache hit; identical results from an embedded store and a
Chroma server on loopback.

    python -m bench.store [--docs 5183] [--queries 20] [--model PATH]
"""

from __future__ import annotations

import argparse
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from bench.common import DATA, write
from o1_retriever import ThinkThenEmbed
from o1_retriever.data import load_corpus, load_queries
from o1_retriever import ChromaIndex


def percentiles(seconds: list[float]) -> dict:
    ms = np.array(seconds) * 1000
    return {"p50_ms": float(np.percentile(ms, 50)), "p95_ms": float(np.percentile(ms, 95)), "n": len(ms)}


def start_server(path: Path, port: int | None = None) -> tuple[subprocess.Popen, int]:
    """``chroma run`` on loopback over ``path`` (on ``port``, else a free one), once it accepts connections."""
    if port is None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
    chroma = shutil.which("chroma") or str(Path(sys.executable).parent / "chroma")
    proc = subprocess.Popen(
        [chroma, "run", "--path", str(path), "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    for _ in range(200):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return proc, port
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("chroma server did not start")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--docs", type=int, default=None)
    parser.add_argument("--queries", type=int, default=20)
    parser.add_argument("--server-docs", type=int, default=1000)
    parser.add_argument("--model", default=None)
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp())
    model = ThinkThenEmbed.from_pretrained(args.model, device="cpu", cache=tmp / "thoughts.sqlite")
    docs = load_corpus(DATA / "scifact")[: args.docs]
    queries = list(load_queries(DATA / "scifact").values())[: args.queries]

    store = ChromaIndex(model, tmp / "embedded")
    began = time.perf_counter()
    report = store.add_documents(docs, batch_size=64)
    total = time.perf_counter() - began
    ingest = {
        "documents": report.added,
        "documents_per_s": report.added / total,
        "embed_seconds": report.embed_seconds,
        "chroma_insert_seconds": report.insert_seconds,
        "embed_documents_per_s": report.added / report.embed_seconds,
        "chroma_insert_documents_per_s": report.added / report.insert_seconds,
    }

    latency = {"think_false": [], "think_cache_miss": [], "think_cache_hit": []}
    for query in queries:
        conditions = (
            ("think_false", {"think": False}),
            ("think_cache_miss", {"think": True}),
            ("think_cache_hit", {"think": True}),
        )
        for name, kwargs in conditions:
            began = time.perf_counter()
            store.query(query, k=10, **kwargs)
            latency[name].append(time.perf_counter() - began)

    proc, port = start_server(tmp / "server")
    try:
        subset = docs[: args.server_docs]
        local = ChromaIndex(model, tmp / "embedded-subset")
        remote = ChromaIndex(model, None, host="127.0.0.1", port=port)
        local.add_documents(subset)
        remote.add_documents(subset)
        same_ids = same_scores = 0
        for query in queries:
            a = local.query(query, k=10, encoding="plain")
            b = remote.query(query, k=10, encoding="plain")
            same_ids += [h.id for h in a] == [h.id for h in b]
            same_scores += np.allclose([h.score for h in a], [h.score for h in b], atol=1e-6)
    finally:
        proc.terminate()
        proc.wait()
    write(
        "store",
        {
            "command": "python -m bench.store"
            + (f" --docs {args.docs}" if args.docs else "")
            + f" --queries {args.queries}",
            "model": args.model or "shipped default",
            "ingest": ingest,
            "query_latency": {k: percentiles(v) for k, v in latency.items()},
            "embedded_vs_server": {
                "queries": len(queries),
                "documents": len(subset),
                "identical_ids": same_ids,
                "identical_scores": same_scores,
            },
        },
    )


if __name__ == "__main__":
    main()
