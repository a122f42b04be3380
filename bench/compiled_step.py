"""Whether ``torch.compile`` shortens a thinking step on a CPU: the shipped thinker's decoder (fp32), one token for 3
rows on a static KV cache, eager against compiled (inductor), alternating in one process.

A thinking query is ~49 decoder steps; around its matrix products each step runs 30 layers of small operators from
Python (the query-time issue's remaining cost). Inductor fuses those operators into generated C++ and drops the
Python between them, so this measures what that is worth, and what compiling costs before the first query.

    python -m bench.compiled_step [--threads 1] [--steps 48] [--rounds 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time

import torch

from bench.common import write
from o1_retriever.model.weights import resolve_weights

ROWS, PROMPT = 3, 24


def per_step_ms(model, forward, steps: int) -> float:
    """Milliseconds a decoding step takes: a prompt of ``PROMPT`` tokens, then ``steps`` greedy tokens, 3 rows."""
    from transformers import StaticCache

    cache = StaticCache(config=model.config, max_cache_len=PROMPT + steps + 1)
    ids = torch.randint(0, 1000, (ROWS, PROMPT), generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        forward(input_ids=ids, past_key_values=cache, use_cache=True, cache_position=torch.arange(PROMPT))
        token = ids[:, -1:]
        start = time.perf_counter()
        for step in range(steps):
            position = torch.tensor([PROMPT + step])
            hidden = forward(input_ids=token, past_key_values=cache, use_cache=True, cache_position=position)
            token = model.lm_head(hidden.last_hidden_state[:, -1]).argmax(-1, keepdim=True)
        return (time.perf_counter() - start) / steps * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--steps", type=int, default=48)
    parser.add_argument("--rounds", type=int, default=3, help="eager and compiled runs, alternating")
    parser.add_argument("--name", default="compiled-step", help="bench/results/NAME.json")
    args = parser.parse_args()
    os.environ["TORCHINDUCTOR_CACHE_DIR"] = tempfile.mkdtemp()  # a cold compile, as a fresh install's first query
    torch.set_num_threads(args.threads)
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(resolve_weights("smollm2-135m-instruct"), dtype=torch.float32).eval()
    decoder = model.get_decoder()
    eager = decoder.forward
    compiled = torch.compile(decoder.forward, dynamic=False)
    start = time.perf_counter()
    first = per_step_ms(model, compiled, args.steps)  # compiles the prompt's and the step's graphs
    compile_seconds = time.perf_counter() - start
    times: dict[str, list[float]] = {"eager": [], "compiled": []}
    for _ in range(args.rounds):
        times["eager"].append(per_step_ms(model, eager, args.steps))
        times["compiled"].append(per_step_ms(model, compiled, args.steps))
    eager_ms, compiled_ms = (statistics.median(times[k]) for k in ("eager", "compiled"))
    write(
        args.name,
        {
            "command": f"python -m bench.compiled_step --threads {args.threads} --steps {args.steps} "
            f"--rounds {args.rounds} --name {args.name}",
            "threads": args.threads,
            "rows": ROWS,
            "step_ms": times,
            "compiled_over_eager": compiled_ms / eager_ms,
            "first_call_with_compilation_s": compile_seconds,
            "first_call_step_ms": first,
        },
    )


if __name__ == "__main__":
    main()
