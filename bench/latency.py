"""Query latency of the shipped model, in one process, against plain transformers fp32 ``generate`` of the same
thinker doing the same work (3 samples x 48 new tokens): idle p50/p95 for a cache miss, a cache hit and no thinking,
for fp32 and int8 thinkers, and for each, 8 concurrent thinking queries against 8 sequential ones and a thinking
query while a busy-loop process runs on every core. ``--sentence-stop`` adds int8 cache misses whose thoughts end
with their first sentence (``stop_at_sentence_end``).

    python -m bench.latency [--queries 6] [--threads 1] [--docs 300] [--sentence-stop] [--name latency]

Every thinking query is a cache miss unless said otherwise (each condition uses queries no other one used).
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import statistics
import tempfile
from concurrent.futures import ThreadPoolExecutor
from itertools import count

import torch

from bench.common import DATA, timed, write
from o1_retriever import ThinkThenEmbed
from o1_retriever.data import load_corpus, load_queries
from o1_retriever import ChromaIndex
from o1_retriever.model.thinkers import ThinkRequest

THINKING = dict(encoding="think", n_thoughts=3, max_new_tokens=48, temperature=0.7, top_p=0.9)


def percentiles(seconds: list[float]) -> dict:
    ordered = sorted(seconds)
    return {
        "p50_ms": 1000 * statistics.median(ordered),
        "p95_ms": 1000 * ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))],
        "n": len(ordered),
    }


def plain_generate(model: ThinkThenEmbed, queries: list[str]) -> list[float]:
    """The baseline: transformers' own sampling, fp32, the same chat prompt, 3 samples x 48 new tokens."""
    lm = model.thinker.lm
    times = []
    for query in queries:
        ids = torch.tensor([model.thinker.prompt(ThinkRequest(query))])
        seconds, _ = timed(
            lm.model.generate,
            input_ids=ids,
            attention_mask=torch.ones_like(ids),
            do_sample=True,
            num_return_sequences=3,
            max_new_tokens=48,
            min_new_tokens=48,
            temperature=0.7,
            top_p=0.9,
            pad_token_id=lm.pad_id,
        )
        times.append(seconds)
    return times


def concurrency(store: ChromaIndex, sequential_queries: list[str], concurrent_queries: list[str]) -> dict:
    """8 thinking queries one after another against 8 at once from 8 threads (as a server or ``.batch`` sends them)."""
    sequential, _ = timed(lambda: [store.query(q, k=10, **THINKING) for q in sequential_queries])
    with ThreadPoolExecutor(len(concurrent_queries)) as pool:
        concurrent, _ = timed(lambda: list(pool.map(lambda q: store.query(q, k=10, **THINKING), concurrent_queries)))
    return {
        "sequential_s": sequential,
        "concurrent_s": concurrent,
        "throughput_concurrent_over_sequential": sequential / concurrent,
    }


def under_hog(store: ChromaIndex, idle_queries: list[str], busy_queries: list[str]) -> dict:
    """Thinking queries idle, then while a busy-loop process runs on every core."""
    idle = [timed(store.query, q, k=10, **THINKING)[0] for q in idle_queries]
    stop = multiprocessing.Event()
    hogs = [multiprocessing.Process(target=hog, args=(stop,)) for _ in range(os.cpu_count() or 1)]
    for process in hogs:
        process.start()
    try:
        busy = [timed(store.query, q, k=10, **THINKING)[0] for q in busy_queries]
    finally:
        stop.set()
        for process in hogs:
            process.join()
    return {
        "hog_processes": len(hogs),
        "idle": percentiles(idle),
        "busy": percentiles(busy),
        "busy_p50_over_idle_p50": statistics.median(busy) / statistics.median(idle),
    }


def hog(stop) -> None:  # a busy loop: one per core, like other work on a shared server
    while not stop.is_set():
        pass


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queries", type=int, default=6, help="queries per condition")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (set once, as the product does)")
    parser.add_argument("--docs", type=int, default=300, help="SciFact documents in the index searched")
    parser.add_argument("--sentence-stop", action="store_true", help="also int8 thoughts cut at their first sentence")
    parser.add_argument("--name", default="latency", help="bench/results/NAME.json")
    args = parser.parse_args()
    os.environ["O1_RETRIEVER_THREADS"] = str(args.threads)
    texts = list(load_queries(DATA / "scifact").values())
    fresh = (texts[i] for i in count())  # every thinking query below is a cache miss
    take = lambda n: [next(fresh) for _ in range(n)]  # noqa: E731
    home = tempfile.mkdtemp()
    models = {
        p: ThinkThenEmbed.from_pretrained(precision=p, cache=f"{home}/{p}.sqlite", threads=args.threads)
        for p in ("fp32", "int8")
    }
    store_dir = f"{home}/index"
    docs = load_corpus(DATA / "scifact")[: args.docs]
    ChromaIndex(models["fp32"], store_dir).add_documents(docs)  # both precisions share the encoder and the index
    stores = {p: ChromaIndex(m, store_dir) for p, m in models.items()}
    for store in stores.values():
        store.query(texts[-1], k=10, **THINKING)  # warm-up

    baseline = plain_generate(models["fp32"], take(args.queries))
    result: dict = {
        "command": f"python -m bench.latency --queries {args.queries} --threads {args.threads} --docs {args.docs}"
        + (" --sentence-stop" if args.sentence_stop else "")
        + f" --name {args.name}",
        "threads": args.threads,
        "plain_transformers_fp32_generate": percentiles(baseline),
    }
    for precision, store in stores.items():
        missed = take(args.queries)
        misses = [timed(store.query, q, k=10, **THINKING)[0] for q in missed]
        hits = [timed(store.query, q, k=10, **THINKING)[0] for q in missed]  # the same queries again: cached
        plain = [timed(store.query, q, k=10, encoding="plain")[0] for q in take(args.queries)]
        result[precision] = {
            "cache_miss": percentiles(misses),
            "cache_hit": percentiles(hits),
            "no_thinking": percentiles(plain),
            "miss_p50_over_plain_generate_p50": statistics.median(misses) / statistics.median(baseline),
        }
    if args.sentence_stop:
        misses = [
            timed(stores["int8"].query, q, k=10, stop_at_sentence_end=True, **THINKING)[0] for q in take(args.queries)
        ]
        result["int8_stop_at_sentence_end"] = {
            "cache_miss": percentiles(misses),
            "miss_p50_over_plain_generate_p50": statistics.median(misses) / statistics.median(baseline),
        }
    for precision, store in stores.items():
        result[f"{precision}_8_queries"] = concurrency(store, take(8), take(8))
        result[f"{precision}_under_cpu_hog"] = under_hog(store, take(args.queries), take(args.queries))
    write(args.name, result)


if __name__ == "__main__":
    main()
