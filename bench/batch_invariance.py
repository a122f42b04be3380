"""Whether a query's thoughts are the same alone and inside a batch: for each precision, 4 queries of one prompt
length and 4 of different lengths, each thought alone and then all together, the shipped settings (3 thoughts, 48
tokens, temperature 0.7, top-p 0.9, seed 0); counts how many thoughts are identical. Then what the padding that makes
int8 thoughts independent of their batch costs, in one process: seconds to think one query alone (p50 of 8) and 8
queries at once (best of 2), the product's padding (each prompt to a multiple of ``LocalThinker.PAD_MULTIPLE``,
generation calls grouped by width) against the padding before (one call, every prompt padded to the longest).

    python -m bench.batch_invariance [--thinker smollm2-135m-instruct] [--threads 2]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from bench.common import DATA, write
from o1_retriever.model.config import ThinkingConfig
from o1_retriever.data import load_queries
from o1_retriever.model.sampling import row_seed
from o1_retriever.model.thinkers import ThinkRequest, build_thinker

SETTINGS = ThinkingConfig(n_thoughts=3, max_new_tokens=48, temperature=0.7, top_p=0.9, seed=0)
SAME_LENGTH = ["aspirin use and cancer", "coffee intake and stroke", "sleep loss and obesity", "vitamin C and colds"]
OTHER_LENGTHS = [
    "Does vitamin D deficiency raise the risk of multiple sclerosis?",
    "statin use and dementia",
    "What are the effects of a long-term high-fat diet on liver enzymes in mice and in humans?",
    "How does aspirin reduce the risk of colorectal cancer?",
]


def identical_thoughts(thinker, queries: list[str]) -> dict:
    alone = [thinker.think([ThinkRequest(q)], SETTINGS)[0].texts for q in queries]
    together = [t.texts for t in thinker.think([ThinkRequest(q) for q in queries], SETTINGS)]
    same = sum(x == y for a, b in zip(alone, together) for x, y in zip(a, b))
    lengths = sorted({len(thinker.prompt(ThinkRequest(q))) for q in queries})
    return {"identical": same, "of": sum(len(a) for a in alone), "prompt_lengths": lengths}


def think_in_one_call(thinker, queries: list[str]) -> None:
    """The padding before: every prompt of the call left-padded to the longest."""
    prompts = [thinker.prompt(ThinkRequest(q)) for q in queries]
    seeds = [row_seed(SETTINGS.seed, q, i) for q in queries for i in range(SETTINGS.n_thoughts)]
    thinker.lm.generate(
        prompts,
        seeds,
        max_new_tokens=SETTINGS.max_new_tokens,
        temperature=SETTINGS.temperature,
        top_p=SETTINGS.top_p,
        embed=False,
        samples_per_prompt=SETTINGS.n_thoughts,
    )


def padding_cost(thinker, queries: list[str]) -> dict:
    ways = {
        "grouped_by_padded_width": lambda qs: thinker.think([ThinkRequest(q) for q in qs], SETTINGS),
        "one_call_padded_to_longest": lambda qs: think_in_one_call(thinker, qs),
    }
    alone: dict[str, list[float]] = {name: [] for name in ways}
    together: dict[str, list[float]] = {name: [] for name in ways}
    for query in queries[:8]:
        for name, way in ways.items():
            start = time.perf_counter()
            way([query])
            alone[name].append(time.perf_counter() - start)
    for _ in range(2):
        for name, way in ways.items():
            start = time.perf_counter()
            way(queries[8:16])
            together[name].append(time.perf_counter() - start)
    return {
        name: {"one_query_p50_s": statistics.median(alone[name]), "eight_queries_s": min(together[name])}
        for name in ways
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--thinker", default="smollm2-135m-instruct")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    thinkers = {p: build_thinker("local", args.thinker, device="cpu", precision=p) for p in ("fp32", "int8")}
    results = {}
    for precision, thinker in thinkers.items():
        results[precision] = {
            "same_length": identical_thoughts(thinker, SAME_LENGTH),
            "other_lengths": identical_thoughts(thinker, OTHER_LENGTHS),
        }
        print(precision, results[precision])
    queries = list(load_queries(DATA / "scifact").values())[:16]
    cost = padding_cost(thinkers["int8"], queries)  # the shipped precision
    print("int8 padding cost", cost)
    write(
        "batch-invariance",
        {
            "command": f"python -m bench.batch_invariance --thinker {args.thinker} --threads {args.threads}",
            "settings": "3 thoughts, 48 tokens, temperature 0.7, top-p 0.9, seed 0",
            "precisions": results,
            "int8_seconds": cost,
        },
    )


if __name__ == "__main__":
    main()
