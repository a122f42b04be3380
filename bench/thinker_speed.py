"""Seconds a cache-miss thinking query takes with each thinker, in one process, interleaved (so the machine's load
hits every thinker alike): one query alone, and 8 queries in one call (what ``evaluate`` and gathered concurrent
queries see), 3 thoughts x 48 tokens each, with the shipped encoder.

    python -m bench.thinker_speed [--thinker smollm2-135m-instruct --thinker qwen2.5-coder-1.5b-instruct]
        [--precision int8] [--threads 1] [--rounds 3]
"""

from __future__ import annotations

import argparse
import statistics

import torch

from bench.common import DATA, timed, write
from o1_retriever.model.config import ThinkingConfig
from o1_retriever.data import load_queries
from o1_retriever.model.thinkers import ThinkRequest
from o1_retriever.model.thinkers.local import LocalThinker

SETTINGS = ThinkingConfig(n_thoughts=3, max_new_tokens=48, temperature=0.7, top_p=0.9, seed=0)
BATCH = 8


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--thinker", action="append", default=None, help="a local LM (built-in name or folder)")
    parser.add_argument("--precision", default="int8", help="fp32 or int8")
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    parser.add_argument("--rounds", type=int, default=3, help="measurements per thinker and condition")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    names = args.thinker or ["smollm2-135m-instruct", "qwen2.5-coder-1.5b-instruct"]
    thinkers = {name: LocalThinker.load(name, device="cpu", precision=args.precision) for name in names}
    texts = iter(load_queries(DATA / "scifact").values())
    for thinker in thinkers.values():
        thinker.think([ThinkRequest(next(texts))], SETTINGS)  # warm-up (and int8 quantisation)
    alone: dict[str, list[float]] = {name: [] for name in names}
    batched: dict[str, list[float]] = {name: [] for name in names}
    for _ in range(args.rounds):
        one, eight = ThinkRequest(next(texts)), [ThinkRequest(next(texts)) for _ in range(BATCH)]
        for name, thinker in thinkers.items():  # every thinker gets the same queries, in turn
            alone[name].append(timed(thinker.think, [one], SETTINGS)[0])
            batched[name].append(timed(thinker.think, eight, SETTINGS)[0] / BATCH)
    baseline = names[0]
    result = {
        name: {
            "one_query_p50_s": statistics.median(alone[name]),
            "per_query_in_a_batch_of_8_s": statistics.median(batched[name]),
            f"one_query_over_{baseline}": statistics.median(alone[name]) / statistics.median(alone[baseline]),
        }
        for name in names
    }
    flags = " ".join(f"--thinker {name}" for name in names)
    write(
        "thinker-speed",
        {
            "command": f"python -m bench.thinker_speed {flags} --precision {args.precision} --threads {args.threads} "
            f"--rounds {args.rounds}",
            "threads": args.threads,
            "work": "3 thoughts x 48 new tokens per query, temperature 0.7, top-p 0.9",
            "thinkers": result,
        },
    )


if __name__ == "__main__":
    main()
