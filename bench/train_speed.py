"""Trainer measurements (issue 5), SmolLM2-135M in shared mode on a fixed small config:
training throughput (tokens/s) and peak memory; peak memory with thought-only vs full-vocabulary logits;
two-process vs one-process step time (same global batch).

    python -m bench.train_speed [--steps 3]

Each variant runs in its own process so that its peak resident memory (ru_maxrss) is its own; the memory figure
is the growth of the peak over the process's size after loading the model.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.common import DATA, write

ROOT = Path(__file__).resolve().parents[1]


def worker(variant: str, steps: int, out: str) -> None:
    import torch

    from o1_retriever.trainer.batches import Collator
    from o1_retriever.trainer.config import TrainConfig
    from o1_retriever.trainer.modeling import TrainableModel
    from o1_retriever.trainer.records import beir_records
    from o1_retriever.trainer.distributed import sum_gradients, world
    from o1_retriever.trainer.train import batch_tokens, local_batches, step_gradients

    rank, size = world()
    config = TrainConfig(
        model={"base": "smollm2-135m-instruct", "max_document_tokens": 128},
        batch_size=8,
        group_size=2,
        lora_r=8,
        lora_alpha=16,
    )
    records = beir_records(DATA / "scifact", "train", negatives=1)[:64]
    for r in records:
        r["thought"] = r["pos"][0][:400]  # a thought of realistic length
    model = TrainableModel.build(config)
    model.train()
    collate = Collator(model)
    optimizer = torch.optim.AdamW(list(model.named_trainable().values()), lr=1e-4)
    base_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    tokens, began = 0, None
    for step in range(steps + 1):
        if step == 1:
            began = time.perf_counter()  # step 0 warms up
        batches, queries, n_tokens = local_batches(step, records, config, collate, rank, size)
        step_gradients(model, batches, queries, n_tokens, config, full_logits=variant == "full_logits")
        sum_gradients(list(model.named_trainable().values()))
        optimizer.step()
        optimizer.zero_grad()
        if step:
            tokens += batch_tokens(batches)
    seconds = time.perf_counter() - began
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    if rank == 0:
        Path(out).write_text(
            json.dumps(
                {
                    "seconds_per_step": seconds / steps,
                    "tokens_per_s_per_process": tokens / seconds,
                    "peak_rss_mb": peak / 1024,
                    "peak_growth_mb": (peak - base_rss) / 1024,
                    "processes": size,
                }
            )
        )


def run(variant: str, steps: int, processes: int = 1) -> dict:
    out = tempfile.mktemp(suffix=".json")
    env = {**os.environ, "OMP_NUM_THREADS": str(max(1, 2 // processes))}
    launcher = (
        [sys.executable]
        if processes == 1
        else [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--nproc_per_node",
            str(processes),
            "--master_addr",
            "127.0.0.1",
            "--master_port",
            "29533",
        ]
    )
    subprocess.run(
        [*launcher, "-m", "bench.train", "--worker", variant, "--steps", str(steps), "--out", out],
        check=True,
        cwd=ROOT,
        env=env,
    )
    return json.loads(Path(out).read_text())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--worker", default=None)
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker, args.steps, args.out)
        return
    thought_only = run("thought_only", args.steps)
    full = run("full_logits", args.steps)
    two = run("thought_only", args.steps, processes=2)
    write(
        "train",
        {
            "command": f"python -m bench.train_speed --steps {args.steps}",
            "config": "shared, SmolLM2-135M, LoRA r=8, batch 8, group 2, passages <=128 tokens, thought <=400 chars",
            "one_process_thought_only_logits": thought_only,
            "one_process_full_logits": full,
            "peak_growth_ratio_thought_only_over_full": thought_only["peak_growth_mb"] / full["peak_growth_mb"],
            "two_processes": two,
            "step_time_ratio_two_over_one_process": two["seconds_per_step"] / thought_only["seconds_per_step"],
        },
    )


if __name__ == "__main__":
    main()
