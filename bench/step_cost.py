"""Where a cache-miss thinking query's time goes, and the floor each weight format puts under it.

Generating a thought is one decoder step per token; a step reads every linear layer's weights once. This script
measures, in one process and at one thread count:

- plain transformers fp32 ``generate`` of the shipped thinker (3 samples x 48 tokens): the issue's baseline;
- the product's own generation (int8 thinker) for the same work, and the part of it spent inside linear layers
  (forward hooks around every linear layer and the LM head);
- each weight format's linear-layer time for one step (the thinker's own layer shapes, 3 rows, weights not in
  cache), so ``format_floor_over_plain_generate`` is what the linear layers alone would cost against the baseline,
  with no other work at all: fp32, bf16, int8 with 8-bit dynamic activations ranged per token (the shipped kernel)
  or per call (the one before), int8 weights with bf16 activations, and exact int4 where torch's kernel runs.

    python -m bench.step_cost [--queries 3] [--threads 1]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch

from bench.common import DATA, timed, write
from bench.int8_per_call import PerCallInt8Linear
from bench.latency import plain_generate
from o1_retriever import ThinkThenEmbed
from o1_retriever.data import load_queries
from o1_retriever.model.quantization import Int8Linear
from o1_retriever.model.sampling import row_seed
from o1_retriever.model.thinkers import ThinkRequest

SAMPLES, NEW_TOKENS = 3, 48


def linear_shapes(model: torch.nn.Module) -> list[tuple[int, int]]:
    """(out, in) of every linear layer one decoder step runs, the LM head included."""
    return [(m.out_features, m.in_features) for m in model.modules() if isinstance(m, torch.nn.Linear)]


def weight_formats() -> dict[str, Callable[[int, int], Callable[[torch.Tensor], torch.Tensor]]]:
    """For each format, a function building one layer of shape (out, in) that maps fp32 activations to outputs."""

    def fp32(out: int, inp: int):
        weight = torch.randn(out, inp)
        return lambda x: torch.nn.functional.linear(x, weight)

    def bf16(out: int, inp: int):
        weight = torch.randn(out, inp, dtype=torch.bfloat16)
        return lambda x: torch.nn.functional.linear(x.bfloat16(), weight).float()

    def int8_dynamic(out: int, inp: int):
        return Int8Linear(torch.nn.Linear(inp, out, bias=False))

    def int8_dynamic_per_call(out: int, inp: int):
        return PerCallInt8Linear(torch.nn.Linear(inp, out, bias=False))

    def int8_weights_bf16_activations(out: int, inp: int):
        weight = torch.randint(-127, 128, (out, inp), dtype=torch.int8)
        scales = torch.rand(out, dtype=torch.bfloat16)
        return lambda x: torch.ops.aten._weight_int8pack_mm(x.bfloat16(), weight, scales).float()

    formats = {
        "fp32": fp32,
        "bf16": bf16,
        "int8 weights, 8-bit dynamic activations per token (shipped)": int8_dynamic,
        "int8 weights, 8-bit dynamic activations, one range per call": int8_dynamic_per_call,
        "int8 weights, bf16 activations": int8_weights_bf16_activations,
    }
    from bench.int4_grid import GROUP, Int4Linear, four_bit_grid, int4_supported

    if int4_supported():

        def int4(out: int, inp: int):
            out -= out % 16  # the kernel packs rows by 16: the head's 4 added special tokens are left out
            linear = torch.nn.Linear(inp, out, bias=False)
            grid = four_bit_grid(torch.randint(0, 16, (out, inp)).float() * 0.01) if inp % GROUP == 0 else None
            return Int4Linear(linear, *grid) if grid else fp32(out, inp)

        formats["exact int4 (torch CPU kernel, bf16 activations)"] = int4
    return formats


@torch.inference_mode()
def step_seconds(layers: list[Callable], inputs: dict[int, torch.Tensor], repeats: int = 5) -> float:
    """Median seconds to run every layer once (one decoder step's linear work)."""
    times = []
    for _ in range(repeats + 1):
        start = time.perf_counter()
        for layer, width in layers:
            layer(inputs[width])
        times.append(time.perf_counter() - start)
    return statistics.median(times[1:])  # the first run pays for first-touch allocation


def instrumented_generate(model: ThinkThenEmbed, queries: list[str]) -> tuple[list[float], list[float]]:
    """The product's generation (3 x 48 tokens, as the thinker runs it) per query, and the seconds of it spent in
    linear layers (every layer with ``in_features``: fp32 or int8)."""
    thinker, spent = model.thinker, [0.0]
    lm = thinker.lm  # quantised now, before timing
    starts: list[float] = []
    hooks = []
    for module in lm.model.modules():
        if hasattr(module, "in_features"):
            hooks.append(module.register_forward_pre_hook(lambda *_: starts.append(time.perf_counter())))
            hooks.append(
                module.register_forward_hook(
                    lambda *_: spent.__setitem__(0, spent[0] + time.perf_counter() - starts.pop())
                )
            )
    totals, linear = [], []
    try:
        for query in queries:
            spent[0] = 0.0
            prompt = thinker.prompt(ThinkRequest(query))
            seconds, _ = timed(
                lm.generate,
                [prompt],
                [row_seed(0, query, i) for i in range(SAMPLES)],
                max_new_tokens=NEW_TOKENS,
                temperature=0.7,
                top_p=0.9,
                embed=False,
                samples_per_prompt=SAMPLES,
            )
            totals.append(seconds)
            linear.append(spent[0])
    finally:
        for hook in hooks:
            hook.remove()
    return totals, linear


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queries", type=int, default=3, help="queries per measurement")
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    texts = list(load_queries(DATA / "scifact").values())
    fp32 = ThinkThenEmbed.from_pretrained(precision="fp32", cache=False, threads=args.threads)
    int8 = ThinkThenEmbed.from_pretrained(precision="int8", cache=False, threads=args.threads)
    shapes = linear_shapes(fp32.thinker.lm.model)
    instrumented_generate(int8, texts[-1:])  # warm-up (and int8 quantisation)
    plain_generate(fp32, texts[-1:])

    baseline = statistics.median(plain_generate(fp32, texts[: args.queries]))
    totals, linear = instrumented_generate(int8, texts[args.queries : 2 * args.queries])
    steps = NEW_TOKENS + 1  # the prompt's step (prefill, batched) and one per new token
    widths = {inp for _, inp in shapes}
    inputs = {w: torch.randn(SAMPLES, w) for w in widths}
    formats = {}
    for name, build in weight_formats().items():
        layers = [(build(out, inp), inp) for out, inp in shapes]
        seconds = step_seconds(layers, inputs)
        formats[name] = {
            "linear_ms_per_step": 1000 * seconds,
            "format_floor_over_plain_generate": seconds * NEW_TOKENS / baseline,
        }
        del layers
        print(
            f"{name:52} {1000 * seconds:7.1f} ms/step  floor {formats[name]['format_floor_over_plain_generate']:.2f}x"
        )
    total, inside = statistics.median(totals), statistics.median(linear)
    write(
        "step-cost",
        {
            "command": f"python -m bench.step_cost --queries {args.queries} --threads {args.threads}",
            "threads": args.threads,
            "work": f"{SAMPLES} samples x {NEW_TOKENS} new tokens, one query",
            "linear_layers_per_step": len(shapes),
            "plain_transformers_fp32_generate_ms": 1000 * baseline,
            "product_int8_generate": {
                "ms": 1000 * total,
                "over_plain_generate": total / baseline,
                "ms_in_linear_layers": 1000 * inside,
                "linear_share": inside / total,
                "ms_per_step": 1000 * total / steps,
                "linear_ms_per_step": 1000 * inside / steps,
                "linear_over_plain_generate": inside / baseline,
            },
            "weight_formats": formats,
            "target_over_plain_generate": 0.25,
        },
    )


if __name__ == "__main__":
    main()
