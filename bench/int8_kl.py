"""How far int8 thinkers stray from fp32, before any retrieval: along thoughts the fp32 thinker samples (3 per query,
48 tokens, the README's settings, on training queries of a set), the next-token KL divergence KL(fp32 || int8) and
top-1 agreement, decoding 3 rows a step as generation does; and the seconds of a thinking call against fp32's in
the same run.

    python -m bench.int8_kl [--data ../shared/data/scifact] [--queries 8] [--threads 1]

Schemes: ``dynamic-body`` (torch's ``quantize_dynamic`` of the body: per-tensor weights, 7-bit activations; the
first scheme of ``--precision int8``), ``per-channel`` (every linear layer, per-channel weights, 8-bit activations
with one range per call, no smoothing), ``smoothed-per-call`` (the same after smoothing: the second scheme),
``smoothed`` (smoothed, activations ranged per token: what ``--precision int8`` does now) and ``exact-int4`` (layers
whose weights already are 4-bit in exact int4, the rest smoothed int8; an experiment: ``bench/int4_grid.py``).
"""

from __future__ import annotations

import argparse
import copy
import statistics
import warnings

import torch
from transformers import DynamicCache

from bench.common import DATA, timed, write
from bench.int4_grid import exact_int4_layers
from bench.int8_per_call import PerCallInt8Linear
from o1_retriever import ThinkThenEmbed
from o1_retriever.evaluation.benchmark import load_benchmark
from o1_retriever.model.causal_lm import CausalLM
from o1_retriever.model.config import ThinkingConfig
from o1_retriever.model.quantization import int8_linear_layers, quantize_int8
from o1_retriever.model.thinkers import ThinkRequest

SETTINGS = ThinkingConfig(n_thoughts=3, max_new_tokens=48, temperature=0.7, top_p=0.9, seed=0)


def dynamic_body(model):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        body = torch.ao.quantization.quantize_dynamic(model.model, {torch.nn.Linear}, dtype=torch.qint8)
    model.model = body
    return model


def exact_int4(model, calibration):
    exact_int4_layers(model)
    return quantize_int8(model, calibration)


@torch.inference_mode()
def forced_log_probs(model, prompt: list[int], rows: list[list[int]], eos: int) -> torch.Tensor:
    """Next-token log-probabilities (rows, steps, vocabulary) with ``rows`` fed one token a step after ``prompt``."""
    cache = DynamicCache()
    out = model(input_ids=torch.tensor([prompt] * len(rows)), past_key_values=cache, use_cache=True)
    steps = [out.logits[:, -1].float().log_softmax(-1)]
    for t in range(max(len(r) for r in rows) - 1):
        feed = torch.tensor([[r[t] if t < len(r) else eos] for r in rows])
        out = model(input_ids=feed, past_key_values=out.past_key_values, use_cache=True)
        steps.append(out.logits[:, -1].float().log_softmax(-1))
    return torch.stack(steps, 1)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", default=str(DATA / "scifact"))
    parser.add_argument("--queries", type=int, default=8)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    model = ThinkThenEmbed.from_pretrained("default", precision="fp32", cache=False, threads=args.threads)
    thinker, fp32 = model.thinker, model.thinker.lm
    queries = list(load_benchmark(args.data, split="train", max_queries=args.queries).queries.values())
    calibration = thinker.calibration()
    schemes = {
        "dynamic-body": dynamic_body(copy.deepcopy(fp32.model)),
        "per-channel": int8_linear_layers(copy.deepcopy(fp32.model), PerCallInt8Linear),
        "smoothed-per-call": quantize_int8(copy.deepcopy(fp32.model), calibration, PerCallInt8Linear),
        "smoothed": quantize_int8(copy.deepcopy(fp32.model), calibration),
        "exact-int4": exact_int4(copy.deepcopy(fp32.model), calibration),
    }
    totals = {name: {"kl": 0.0, "top1": 0.0, "tokens": 0} for name in schemes}
    seconds: dict[str, list[float]] = {name: [] for name in ["fp32", *schemes]}
    for query in queries:
        prompt = thinker.prompt(ThinkRequest(query))
        sampled = fp32.generate(
            [prompt], [1, 2, 3], max_new_tokens=48, temperature=0.7, top_p=0.9, embed=False, samples_per_prompt=3
        )
        rows = [r + [fp32.eos_id] for r in sampled.token_ids]
        reference = forced_log_probs(fp32.model, prompt, rows, fp32.eos_id)
        valid = torch.zeros(reference.shape[:2], dtype=torch.bool)
        for i, row in enumerate(rows):
            valid[i, : len(row)] = True
        for name, quantised in schemes.items():
            log_probs = forced_log_probs(quantised, prompt, rows, fp32.eos_id)
            kl = (reference.exp() * (reference - log_probs)).sum(-1)[valid]
            agree = (reference.argmax(-1) == log_probs.argmax(-1))[valid]
            totals[name]["kl"] += kl.sum().item()
            totals[name]["top1"] += agree.sum().item()
            totals[name]["tokens"] += int(valid.sum())
        for name in seconds:
            thinker.lm = fp32 if name == "fp32" else CausalLM(schemes[name], fp32.tokenizer)
            seconds[name].append(timed(thinker.think, [ThinkRequest(query)], SETTINGS)[0])
        thinker.lm = fp32
    fp32_p50 = statistics.median(seconds["fp32"])
    write(
        "int8-kl",
        {
            "command": f"python -m bench.int8_kl --data {args.data} --queries {args.queries} --threads {args.threads}",
            "queries": len(queries),
            "schemes": {
                name: {
                    "kl_nats_per_token": t["kl"] / t["tokens"],
                    "top1_agreement": t["top1"] / t["tokens"],
                    "tokens": t["tokens"],
                    "think_p50_over_fp32": statistics.median(seconds[name]) / fp32_p50,
                }
                for name, t in totals.items()
            },
            "fp32_think_p50_ms": 1000 * fp32_p50,
        },
    )


if __name__ == "__main__":
    main()
