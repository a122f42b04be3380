"""How many usable questions the built-in writer yields with the question prompt's instruction after the passage and
before it, on a slice of each corpus (what ``adapt --question-prompt auto`` decides on its first passages).

    python -m bench.question_prompts --start 200 --passages 32 --threads 1 --name question-prompts
"""

from __future__ import annotations

import argparse
import time
from collections import Counter

import torch

from bench.common import DATA, write
from o1_retriever.data import load_corpus
from o1_retriever.model import prompts
from o1_retriever.model.thinkers import ThinkRequest, build_thinker
from o1_retriever.trainer.adapt.passages import passage_text
from o1_retriever.trainer.adapt.questions import QuestionSettings, question_of


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sets", default="scifact,nfcorpus-lite")
    parser.add_argument("--start", type=int, default=200)
    parser.add_argument("--passages", type=int, default=32)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--name", required=True)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    writer = build_thinker("local", "smollm2-135m-instruct", precision="int8")
    settings = QuestionSettings()
    out = {}
    for name in args.sets.split(","):
        documents = load_corpus(DATA / name)[args.start : args.start + args.passages]
        texts = [passage_text(d) for d in documents]
        for prompt in prompts.QUESTION_PROMPTS:
            began = time.perf_counter()
            requests = [
                ThinkRequest(d.id, messages=tuple(prompts.question_messages(t, (), prompt)))
                for d, t in zip(documents, texts)
            ]
            answers = writer.think(requests, settings.sampling)
            outcomes = Counter()
            kept = set()
            for text, answer in zip(texts, answers):
                question, why = question_of(answer, text)
                outcomes[why or "usable"] += 1
                if question:
                    kept.add(question.lower())
            out[f"{name}:{prompt}"] = {
                "distinct usable": len(kept),
                "outcomes": dict(outcomes),
                "seconds_per_passage": (time.perf_counter() - began) / len(documents),
            }
            print(name, prompt, out[f"{name}:{prompt}"], flush=True)
    command = (
        f"python -m bench.question_prompts --sets {args.sets} --start {args.start} --passages {args.passages} "
        f"--threads {args.threads} --name {args.name}"
    )
    write(args.name, {"command": command, "results": out})


if __name__ == "__main__":
    main()
