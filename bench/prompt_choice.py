"""Which question prompt ``adapt --question-prompt auto`` picks on each corpus: the same passages (seed, first
``PROMPT_PROBE`` of the sample), the same writer, MKL mode and count of usable questions, without running the rest of
``adapt``. Tells whether an earlier run's prompt is still the one ``auto`` picks.

    python -m bench.prompt_choice --sets scifact,nfcorpus-lite,vaswani,adi --threads 2 --name prompt-choice
"""

from __future__ import annotations

import argparse
import os

import torch

from bench.common import DATA, write
from o1_retriever.model.thinkers import build_thinker
from o1_retriever.trainer.adapt import passages, questions
from o1_retriever.trainer.adapt.config import AdaptConfig
from o1_retriever.trainer.adapt.run import PROMPT_PROBE, corpus_passages


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sets", default="scifact,nfcorpus-lite,vaswani,adi")
    parser.add_argument("--queries", type=int, default=500, help="adapt's budget (the sample it draws from)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--name", required=True)
    args = parser.parse_args()
    os.environ.setdefault("MKL_CBWR", "AUTO,STRICT")  # as the CLI sets it: MKL reads it when it first multiplies
    torch.set_num_threads(args.threads)
    out = {}
    writer = None
    for name in args.sets.split(","):
        config = AdaptConfig(corpus=str(DATA / name), out="-", queries=args.queries)
        if writer is None:
            writer = build_thinker("local", config.writer_model, precision=config.writer_precision)
        usable, _ = passages.eligible(corpus_passages(config))
        chosen = passages.sample(usable, config.queries, config.seed)[:PROMPT_PROBE]
        rows = [{"id": d.id, "text": passages.passage_text(d)} for d in chosen]
        settings = questions.QuestionSettings.of_run(config)
        probe = questions.choose_prompt(rows, writer, settings)
        out[name] = {"usable": probe, "chosen": questions.preferred_prompt(probe)}
        print(name, out[name], flush=True)
    command = (
        f"python -m bench.prompt_choice --sets {args.sets} --queries {args.queries} --threads {args.threads} "
        f"--name {args.name}"
    )
    write(args.name, {"command": command, "results": out})


if __name__ == "__main__":
    main()
