"""Synthesis and committee measurements (issue 4): candidate thoughts per second for the local expert, batched vs
one query at a time (same process), and committee records per second.

    python -m bench.synthesis [--records 16] [--tokens 48]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from bench.common import DATA, write
from o1_retriever.trainer.committee import BM25Member, DenseMember, training_corpus, vote
from o1_retriever.model.thinkers.local import LocalThinker
from o1_retriever.trainer.records import beir_records
from o1_retriever.trainer.synthesize import SynthesisConfig, synthesize


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=16)
    parser.add_argument("--tokens", type=int, default=48)
    args = parser.parse_args()
    records = beir_records(DATA / "scifact", "train", negatives=7)[: args.records]
    expert = LocalThinker.load("smollm2-135m-instruct")
    tmp = Path(tempfile.mkdtemp())
    timings = {}
    for name, batch in (("batched", 8), ("one_at_a_time", 1)):
        began = time.perf_counter()
        synthesize(
            records,
            expert,
            tmp / f"{name}.jsonl",
            SynthesisConfig(m=3, batch_size=batch, max_new_tokens=args.tokens),
            progress=False,
        )
        timings[name] = time.perf_counter() - began
    candidates = 3 * len(records)
    from o1_retriever.trainer.records import read_records

    synthesized = read_records(tmp / "batched.jsonl")
    members = [DenseMember("all-minilm-l6-v2"), BM25Member(training_corpus(synthesized))]
    began = time.perf_counter()
    _, summary = vote(synthesized, members, progress=False)
    vote_seconds = time.perf_counter() - began
    write(
        "synthesis",
        {
            "command": f"python -m bench.synthesis --records {args.records} --tokens {args.tokens}",
            "records": len(records),
            "m": 3,
            "max_new_tokens": args.tokens,
            "candidates_per_s_batched": candidates / timings["batched"],
            "candidates_per_s_one_at_a_time": candidates / timings["one_at_a_time"],
            "ratio_batched_over_one_at_a_time_throughput": timings["one_at_a_time"] / timings["batched"],
            "committee": {"members": [m.name for m in members], "records_per_s": summary.voted / vote_seconds},
        },
    )


if __name__ == "__main__":
    main()
