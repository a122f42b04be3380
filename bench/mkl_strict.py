"""What MKL's strict reproducible mode (``MKL_CBWR=AUTO,STRICT``, which ``o1_retriever`` sets unless the environment
chose a mode) costs: one child process per mode, alternating, since MKL reads the mode once; each thinks one query at
a time (p50 of 4) and 8 queries together (int8, the shipped settings) and embeds 128 SciFact documents with the
shipped encoder, 2 threads.

    python -m bench.mkl_strict [--rounds 2]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys

from bench.common import write

MODES = ("AUTO,STRICT", "AUTO")
QUERIES = [
    "aspirin use and cancer",
    "coffee intake and stroke",
    "sleep loss and obesity",
    "vitamin C and colds",
    "statin use and dementia",
    "How does aspirin reduce the risk of colorectal cancer?",
    "tea and anxiety",
    "salt and kidney disease",
]


def child() -> None:
    """One measurement in this process, printed as JSON (MKL_CBWR is already in the environment)."""
    import time

    import torch

    from bench.common import DATA
    from o1_retriever import ThinkThenEmbed
    from o1_retriever.model.config import ThinkingConfig
    from o1_retriever.data import load_corpus
    from o1_retriever.model.thinkers import ThinkRequest
    from o1_retriever.model.thinkers.local import LocalThinker

    torch.set_num_threads(2)
    settings = ThinkingConfig(n_thoughts=3, max_new_tokens=48, temperature=0.7, top_p=0.9, seed=0)
    thinker = LocalThinker.load("smollm2-135m-instruct", precision="int8")
    thinker.think([ThinkRequest("a warm-up query")], settings)
    alone = []
    for query in QUERIES[:4]:
        began = time.perf_counter()
        thinker.think([ThinkRequest(f"{query}, alone")], settings)
        alone.append(time.perf_counter() - began)
    began = time.perf_counter()
    thinker.think([ThinkRequest(q) for q in QUERIES], settings)
    eight = time.perf_counter() - began
    model = ThinkThenEmbed.from_pretrained(cache=False, threads=2)
    docs = load_corpus(DATA / "scifact")[:160]
    model.embed_documents([d.text for d in docs[:32]])  # warm-up
    began = time.perf_counter()
    model.embed_documents([d.text for d in docs[32:]], titles=[d.title for d in docs[32:]])
    embed = time.perf_counter() - began
    timings = {"one_query_p50_s": statistics.median(alone), "eight_queries_s": eight, "embed_128_docs_s": embed}
    print(json.dumps(timings))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child()
    runs: dict[str, list[dict]] = {mode: [] for mode in MODES}
    for _ in range(args.rounds):
        for mode in MODES:
            env = {**os.environ, "MKL_CBWR": mode}
            out = subprocess.run(
                [sys.executable, "-m", "bench.mkl_strict", "--child"], env=env, capture_output=True, text=True
            )
            if out.returncode:
                raise SystemExit(out.stderr)
            runs[mode].append(json.loads(out.stdout.strip().splitlines()[-1]))
    keys = ("one_query_p50_s", "eight_queries_s", "embed_128_docs_s")
    summary = {mode: {key: statistics.median(r[key] for r in rows) for key in keys} for mode, rows in runs.items()}
    write(
        "mkl-strict",
        {
            "command": f"python -m bench.mkl_strict --rounds {args.rounds}",
            "threads": 2,
            "runs": runs,
            "median": summary,
            "strict_over_auto": {key: summary["AUTO,STRICT"][key] / summary["AUTO"][key] for key in keys},
        },
    )


if __name__ == "__main__":
    main()
