"""int8 thinking with projections that read the same input sharing one product (a layer's q/k/v, an MLP's gate/up:
``quantization.share_inputs``) against the same layers separate, in one process: the thinker quantised twice from
one fp32 copy, the two generating the same queries in alternation (3 thoughts x 48 tokens, seeded as the product
seeds them); the seconds a query of each (p50), their ratio, and whether every thought is the same token for token.

    python -m bench.shared_inputs [--thinker smollm2-135m-instruct] [--queries 6] [--threads 1]
"""

from __future__ import annotations

import argparse
import copy
import statistics
import time

import torch

from bench.common import DATA, write
from o1_retriever.causal_lm import CausalLM
from o1_retriever.data import load_queries
from o1_retriever.quantization import Int8Linear, quantize_int8
from o1_retriever.sampling import row_seed
from o1_retriever.thinkers import ThinkRequest
from o1_retriever.thinkers.local import LocalThinker

SAMPLES, NEW_TOKENS = 3, 48


def generate(lm: CausalLM, prompt: list[int], query: str) -> tuple[float, list[list[int]]]:
    began = time.perf_counter()
    out = lm.generate(
        [prompt],
        [row_seed(0, query, i) for i in range(SAMPLES)],
        max_new_tokens=NEW_TOKENS,
        temperature=0.7,
        top_p=0.9,
        embed=False,
        samples_per_prompt=SAMPLES,
        pad_multiple=LocalThinker.PAD_MULTIPLE,
    )
    return time.perf_counter() - began, out.token_ids


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--thinker", default="smollm2-135m-instruct")
    parser.add_argument("--queries", type=int, default=6)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    thinker = LocalThinker.load(args.thinker, precision="fp32")
    fp32, calibration = thinker.lm, thinker.calibration()
    lms = {
        shared: CausalLM(quantize_int8(copy.deepcopy(fp32.model), calibration, shared_inputs=shared), fp32.tokenizer)
        for shared in (True, False)
    }
    queries = list(load_queries(DATA / "scifact").values())[: args.queries + 1]
    seconds: dict[bool, list[float]] = {True: [], False: []}
    same = 0
    for n, query in enumerate(queries):
        prompt = thinker.prompt(ThinkRequest(query))
        order = (True, False) if n % 2 else (False, True)  # alternate who goes first
        tokens = {}
        for shared in order:
            took, tokens[shared] = generate(lms[shared], prompt, query)
            if n:  # the first query warms both up
                seconds[shared].append(took)
        same += sum(a == b for a, b in zip(tokens[True], tokens[False]))
    p50 = {shared: statistics.median(values) for shared, values in seconds.items()}
    write(
        "shared-inputs",
        {
            "command": f"python -m bench.shared_inputs --thinker {args.thinker} --queries {args.queries} "
            f"--threads {args.threads}",
            "work": f"{SAMPLES} samples x {NEW_TOKENS} new tokens a query, {args.queries} queries each, alternating",
            "int8_products_a_step": {
                ("shared" if shared else "separate"): sum(isinstance(m, Int8Linear) for m in lm.model.modules())
                for shared, lm in lms.items()
            },
            "shared_p50_s": p50[True],
            "separate_p50_s": p50[False],
            "shared_over_separate": p50[True] / p50[False],
            "identical_thoughts": same,
            "of": SAMPLES * len(queries),
        },
    )


if __name__ == "__main__":
    main()
