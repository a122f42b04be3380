"""How fast can a CPU decode thoughts? The shipped thinker's generation through three engines, in one process, each
query through all three in turn: plain transformers fp32 ``generate`` (the latency issue's baseline: 3 samples x 48
new tokens, forced to 48), the product's int8 thinker (``LocalThinker``, stops at ``<eos>``) and CTranslate2's
int8 generator (a C++ inference engine; once stopping at ``<eos>`` like the product, once forced to 48 like the
baseline). It answers whether the latency target (a cache-miss query at 0.25x the baseline) is within reach of a
dedicated int8 engine on this machine; CTranslate2 is not a dependency of the product.

    pip install ctranslate2
    python -m bench.engine_speed [--queries 6] [--threads 1] [--name engine-speed]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile

import torch

from bench.common import DATA, timed, write
from o1_retriever.model.config import ThinkingConfig
from o1_retriever.data import load_queries
from o1_retriever.model.thinkers import ThinkRequest
from o1_retriever.model.thinkers.local import LocalThinker
from o1_retriever.model.weights import resolve_weights

THINKER = "smollm2-135m-instruct"
SAMPLES, NEW_TOKENS, TEMPERATURE, TOP_P = 3, 48, 0.7, 0.9


def ctranslate2_generator(folder: str, threads: int):
    try:
        import ctranslate2
    except ImportError as error:
        raise SystemExit("this benchmark compares against CTranslate2: pip install ctranslate2") from error
    converted = tempfile.mkdtemp()
    ctranslate2.converters.TransformersConverter(folder).convert(converted, quantization="int8", force=True)
    return ctranslate2.Generator(converted, device="cpu", compute_type="int8", intra_threads=threads)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queries", type=int, default=6)
    parser.add_argument("--threads", type=int, default=1, help="threads of every engine")
    parser.add_argument("--name", default="engine-speed", help="bench/results/NAME.json")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    queries = list(load_queries(DATA / "scifact").values())[: args.queries + 1]  # the first one warms up
    fp32 = LocalThinker.load(THINKER)
    int8 = LocalThinker.load(THINKER, precision="int8")
    generator = ctranslate2_generator(resolve_weights(THINKER), args.threads)
    settings = ThinkingConfig(n_thoughts=SAMPLES, max_new_tokens=NEW_TOKENS, temperature=TEMPERATURE, top_p=TOP_P)
    lm, tokenizer = fp32.lm, fp32.lm.tokenizer

    def plain_generate(prompt: list[int]):
        ids = torch.tensor([prompt])
        with torch.inference_mode():
            out = lm.model.generate(
                input_ids=ids, attention_mask=torch.ones_like(ids), do_sample=True, num_return_sequences=SAMPLES,
                max_new_tokens=NEW_TOKENS, min_new_tokens=NEW_TOKENS, temperature=TEMPERATURE, top_p=TOP_P,
                pad_token_id=lm.pad_id,
            )  # fmt: skip
        return out.shape[0] * (out.shape[1] - ids.shape[1])

    def product_int8(query: str):
        thoughts = int8.think([ThinkRequest(query)], settings)[0]
        return sum(len(tokenizer(t, add_special_tokens=False)["input_ids"]) for t in thoughts.texts)

    def ctranslate2_int8(prompt: list[int], forced: bool):
        results = generator.generate_batch(
            [tokenizer.convert_ids_to_tokens(prompt)], num_hypotheses=SAMPLES, max_length=NEW_TOKENS,
            min_length=NEW_TOKENS if forced else 0, sampling_topk=0, sampling_topp=TOP_P,
            sampling_temperature=TEMPERATURE, include_prompt_in_result=False, end_token=tokenizer.eos_token,
        )  # fmt: skip
        return sum(len(s) for s in results[0].sequences_ids)

    engines = {
        "plain_transformers_fp32_generate": lambda q, p: plain_generate(p),
        "product_int8_thinker": lambda q, p: product_int8(q),
        "ctranslate2_int8_stops_at_eos": lambda q, p: ctranslate2_int8(p, forced=False),
        "ctranslate2_int8_forced_48": lambda q, p: ctranslate2_int8(p, forced=True),
    }
    seconds: dict[str, list[float]] = {name: [] for name in engines}
    tokens: dict[str, list[int]] = {name: [] for name in engines}
    for n, query in enumerate(queries):
        prompt = fp32.prompt(ThinkRequest(query))
        for name, run in engines.items():
            took, generated = timed(run, query, prompt)
            if n:  # the first query warms every engine up (int8 calibration, CTranslate2's first call)
                seconds[name].append(took)
                tokens[name].append(generated)
    baseline = statistics.median(seconds["plain_transformers_fp32_generate"])
    result = {
        "command": f"python -m bench.engine_speed --queries {args.queries} --threads {args.threads} --name {args.name}",
        "threads": args.threads,
        "work": f"{SAMPLES} samples x up to {NEW_TOKENS} new tokens, temperature {TEMPERATURE}, top-p {TOP_P}",
    }
    for name in engines:
        result[name] = {
            "p50_ms": 1000 * statistics.median(seconds[name]),
            "p50_over_plain_generate": statistics.median(seconds[name]) / baseline,
            "mean_tokens_generated": statistics.mean(tokens[name]),
            "ms_per_generated_token": 1000 * sum(seconds[name]) / max(1, sum(tokens[name])),
        }
    write(args.name, result)


if __name__ == "__main__":
    main()
