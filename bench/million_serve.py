"""One fresh serving process of ``bench.million``: imports, loads the model, opens the index and answers its first
hybrid query (which loads the persisted lexical index), each step timed from the moment the parent spawned it, then
times ``--queries`` queries in each mode and prints one JSON line. Only the standard library is imported before the
clock starts, so each library's import is its own step.

    python -m bench.million_serve --work ~/.cache/o1-million --port PORT --spawned "$(date +%s.%N)"
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from bench.process import rss_mb

COLLECTION = "million"


def main() -> None:
    marks = {"python": time.time()}  # each mark: when that step ended
    parser = argparse.ArgumentParser()
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--model", default=None)
    parser.add_argument("--spawned", type=float, required=True, help="time.time() when the parent spawned this")
    args = parser.parse_args()
    import torch

    marks["import torch"] = time.time()
    import transformers.modeling_utils  # noqa: F401  (what loading an encoder imports)

    marks["import transformers"] = time.time()
    import chromadb  # noqa: F401

    marks["import chromadb"] = time.time()
    from o1_retriever import ChromaIndex, ThinkThenEmbed

    marks["import o1_retriever"] = time.time()
    model = ThinkThenEmbed.from_pretrained(args.model, cache=False, threads=args.threads)
    marks["load the model"] = time.time()
    index = ChromaIndex(
        model, host="127.0.0.1", port=args.port, collection=COLLECTION, lexical_path=args.work / "lexical"
    )
    marks["open the index"] = time.time()
    index.query("w00001 w00002", k=10, mode="hybrid")
    marks["first hybrid query (loads the lexical index)"] = time.time()
    steps, previous = {}, args.spawned
    for step, moment in marks.items():
        steps[step], previous = moment - previous, moment
    steps["total (spawn to first answer)"] = previous - args.spawned
    from bench.lexical import synthetic_corpus
    from bench.store import percentiles

    queries = [" ".join(t.split()[:6]) for t in synthetic_corpus(args.queries, seed=2)]
    timings: dict[str, list[float]] = {"hybrid": [], "dense": [], "lexical": []}
    for query in queries:
        for mode in timings:
            began = time.perf_counter()
            index.query(query, k=10, mode=mode)
            timings[mode].append(time.perf_counter() - began)
    print(
        json.dumps(
            {
                "torch_threads": torch.get_num_threads(),
                "startup_seconds": steps,
                "latency": {mode: percentiles(values) for mode, values in timings.items()},
                "rss_mb": rss_mb(),
                "peak_rss_mb": rss_mb(field="VmHWM"),
            }
        ),
        flush=True,
    )


if __name__ == "__main__":
    main()
