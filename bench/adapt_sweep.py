"""Settings of ``adapt``'s later stages (distillation, thoughts) chosen by its label-free check: each variant reuses
one run's questions (and the thoughts already written for the same questions: a question's thoughts depend on the
question and the seed alone), trains and checks; the held-out questions decide, never a test query.

    python -m bench.adapt_sweep --corpus ../shared/data/scifact --from runs/adapt-scifact --out runs/sweep-scifact \
        --variant 'shipped={}' --variant 'w1={"distill": {"distill_weight": 1, "anchor_weight": 1}}' --name adapt-sweep
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from dataclasses import replace
from pathlib import Path

from bench.common import RESULTS
from o1_retriever.trainer.adapt import AdaptConfig, adapt
from o1_retriever.trainer.adapt.run import RUN_DIR, Run, corpus_passages
from o1_retriever.evaluation.benchmark import corpus_hash
from o1_retriever.trainer.records import read_finished, write_jsonl_atomic


def seed_run(source: Path, config: AdaptConfig) -> None:
    """A fresh run folder for ``config`` holding the questions of ``source`` and every thought it wrote, by question."""
    if Path(config.out).exists():
        return
    Run(config, corpus_hash(corpus_passages(config)), overwrite=False)
    folder = Path(config.out) / RUN_DIR
    shutil.copy2(source / RUN_DIR / "questions.jsonl", folder / "questions.jsonl")
    thoughts = {r["query"]: r for path in (source / RUN_DIR).glob("thoughts*.jsonl") for r in read_finished(path)}
    (folder / "known-thoughts.json").write_text(json.dumps(thoughts))


def reuse_thoughts(config: AdaptConfig) -> None:
    """Write the thoughts file of ``config``'s training questions from the known thoughts, in order, up to the first
    question without one (the stage resumes from there)."""
    folder = Path(config.out) / RUN_DIR
    known = json.loads((folder / "known-thoughts.json").read_text())
    rows = []
    for record in read_finished(folder / "pairs.jsonl"):
        if record["query"] not in known:
            break
        rows.append({**record, "thoughts": known[record["query"]]["thoughts"]})
    target = folder / f"thoughts-{config.thoughts_key()}.jsonl"
    if rows and not target.exists():
        write_jsonl_atomic(target, rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", required=True)
    parser.add_argument("--from", dest="source", required=True, type=Path, help="an adapt --out whose questions serve")
    parser.add_argument("--out", required=True, type=Path, help="a folder for the variants' checkpoints")
    parser.add_argument("--queries", type=int, default=500)
    parser.add_argument("--variant", action="append", required=True, help="NAME=JSON of AdaptConfig fields")
    parser.add_argument("--name", required=True, help="bench/results/NAME.json")
    args = parser.parse_args()
    results = {}
    for given in args.variant:
        name, _, fields = given.partition("=")
        config = replace(AdaptConfig(corpus=args.corpus, out=str(args.out / name), queries=args.queries),
                         **json.loads(fields))
        seed_run(args.source, config)
        began = time.perf_counter()
        if config.thoughts:
            # the filter stage writes pairs.jsonl; run it alone first (a budget of 0 minutes for writing), then reuse
            adapt_filter_only(config)
            reuse_thoughts(config)
        report = adapt(config, progress=False)
        check = report["check"]
        results[name] = {"fields": json.loads(fields), "seconds": time.perf_counter() - began, "check": check}
        print(f"{name:24s} base {check['base']['nDCG@10']:.4f}  adapted {check['adapted']['nDCG@10']:.4f} "
              f"({check['gain_nDCG@10']:+.4f}, p = {check['p']:.3f}); dense alone "
              f"{check['fusions']['dense alone']['base']['nDCG@10']:.4f} -> "
              f"{check['fusions']['dense alone']['adapted']['nDCG@10']:.4f}", flush=True)
    summary = {"command": "python -m bench.adapt_sweep " + " ".join(f"--variant '{v}'" for v in args.variant),
               "corpus": args.corpus, "from": str(args.source), "variants": results}
    (RESULTS / f"{args.name}.json").write_text(json.dumps(summary, indent=1) + "\n")


def adapt_filter_only(config: AdaptConfig) -> None:
    """Run the stages up to the filter (pairs.jsonl) without thinking or training: the thoughts can then be reused."""
    from o1_retriever.trainer.adapt import run as run_module

    def stop(*args, **kwargs):
        raise _Stop

    saved = run_module.thoughts_stage
    run_module.thoughts_stage = stop
    try:
        adapt(config, progress=False)
    except _Stop:
        pass
    finally:
        run_module.thoughts_stage = saved


class _Stop(Exception):
    pass


if __name__ == "__main__":
    main()
