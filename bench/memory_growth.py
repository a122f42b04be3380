"""Where a serving process's memory grows (issue 35's soak): write-then-search cycles against a Chroma server, with
client threads querying meanwhile, resident memory sampled each cycle. Each variant runs in a fresh process:
``plain``; ``trim`` (glibc's ``malloc_trim(0)`` after each cycle: what returns to the OS was freed heap, not a leak);
``arenas`` (``MALLOC_ARENA_MAX=2``: growth from per-thread malloc arenas).

    python -m bench.memory_growth --cycles 300 --clients 4 --mode hybrid --name memory-growth
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

from bench.common import DATA, write
from bench.process import rss_mb
from bench.store import start_server

VARIANTS = ("plain", "trim", "arenas")


def cycles(args: argparse.Namespace) -> None:
    """In this process: ``--cycles`` rounds of one edit then one search while ``--clients`` threads search."""
    from o1_retriever import ChromaIndex, ThinkThenEmbed
    from o1_retriever.data import Document, load_corpus, load_queries

    corpus = load_corpus(args.data)[: args.docs]
    queries = list(load_queries(args.data).values())
    model = ThinkThenEmbed.from_pretrained(cache=False, threads=2)
    index = ChromaIndex(
        model,
        host="127.0.0.1",
        port=args.port,
        collection=f"growth-{args.variant}",
        lexical_path=Path(args.work) / f"lexical-{args.variant}",
    )
    index.add_documents(corpus)
    trim = ctypes.CDLL("libc.so.6").malloc_trim if args.variant == "trim" else None
    stop = threading.Event()

    def client(seed: int) -> None:
        i = seed
        while not stop.is_set():
            index.query(queries[i % len(queries)], k=10, mode=args.mode)
            i += args.clients

    threads = [threading.Thread(target=client, args=(i,)) for i in range(args.clients)]
    for thread in threads:
        thread.start()
    samples = []
    for cycle in range(args.cycles):
        doc = corpus[cycle % len(corpus)]  # an edit: the store keeps its size, the lexical index is rebuilt
        index.add_documents([Document(doc.id, f"edit {cycle} {doc.text}", doc.title, {})])
        index.query(queries[cycle % len(queries)], k=10, mode=args.mode)
        if trim is not None:
            trim(0)
        samples.append(rss_mb())
    stop.set()
    for thread in threads:
        thread.join()
    print(json.dumps({"variant": args.variant, "rss_mb": samples}), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(DATA / "scifact"))
    parser.add_argument("--docs", type=int, default=500)
    parser.add_argument("--cycles", type=int, default=300)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--mode", default="hybrid", choices=["hybrid", "dense", "lexical"])
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--name", default="memory-growth", help="bench/results/NAME.json")
    parser.add_argument("--variant", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--work", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.variant:
        return cycles(args)
    work = Path(tempfile.mkdtemp(prefix="o1-growth-"))
    server, port = start_server(work / "chroma")
    rows = []
    try:
        for variant in args.variants.split(","):
            env = {**os.environ, **({"MALLOC_ARENA_MAX": "2"} if variant == "arenas" else {})}
            out = subprocess.run(
                [sys.executable, "-m", "bench.memory_growth", "--variant", variant, "--port", str(port)]
                + ["--work", str(work), "--data", args.data, "--docs", str(args.docs), "--cycles", str(args.cycles)]
                + ["--clients", str(args.clients), "--mode", args.mode],
                capture_output=True,
                text=True,
                check=True,
                env=env,
            )
            result = json.loads(out.stdout.strip().splitlines()[-1])
            samples = result["rss_mb"]
            warm = samples[len(samples) // 5]
            row = {
                "variant": variant,
                "rss_mb_after_warmup": warm,
                "rss_mb_last": samples[-1],
                "growth_after_warmup": samples[-1] / warm - 1,
                "rss_mb_every_10th_cycle": [round(s) for s in samples[::10]],
            }
            print(row, flush=True)
            rows.append(row)
    finally:
        server.kill()
    write(
        args.name,
        {"command": "python -m bench.memory_growth " + " ".join(sys.argv[1:]), "threads": {"torch": 2}, "rows": rows},
    )


if __name__ == "__main__":
    main()
