"""Whether a query's thoughts are the same alone and inside a batch: for each precision, 4 queries of one prompt
length and 4 of different lengths (padded to the longest), each thought alone and then all together, the shipped
settings (3 thoughts, 48 tokens, temperature 0.7, top-p 0.9, seed 0); counts how many thoughts are identical.

    python -m bench.batch_invariance [--thinker smollm2-135m-instruct] [--threads 2]
"""

from __future__ import annotations

import argparse

import torch

from bench.common import write
from o1_retriever.config import ThinkingConfig
from o1_retriever.thinkers import ThinkRequest, build_thinker

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--thinker", default="smollm2-135m-instruct")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    results = {}
    for precision in ("fp32", "int8"):
        thinker = build_thinker("local", args.thinker, device="cpu", precision=precision)
        results[precision] = {
            "same_length": identical_thoughts(thinker, SAME_LENGTH),
            "other_lengths": identical_thoughts(thinker, OTHER_LENGTHS),
        }
        print(precision, results[precision])
    write(
        "batch-invariance",
        {
            "command": f"python -m bench.batch_invariance --thinker {args.thinker} --threads {args.threads}",
            "settings": "3 thoughts, 48 tokens, temperature 0.7, top-p 0.9, seed 0",
            "precisions": results,
        },
    )


if __name__ == "__main__":
    main()
