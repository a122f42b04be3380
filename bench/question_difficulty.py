"""How hard the writer's questions are for the base retriever: for each question prompt (``QUESTION_PROMPTS``),
the usable questions a writer yields on a sample of each corpus and where the base checkpoint's hybrid ranks each
question's own passage over the whole corpus (1st: the pair teaches nothing; 2nd-20th: the pairs worth training on;
below: likely off the point). Reads the corpus only, never its queries or qrels.

    python -m bench.question_difficulty --writer qwen2.5-coder-1.5b-instruct --passages 48 --threads 2 \
        --name question-difficulty-qwen
"""

from __future__ import annotations

import argparse
import time
from collections import Counter

import torch

from bench.common import DATA, write
from o1_retriever.data import load_corpus
from o1_retriever.model.think_then_embed import ThinkThenEmbed
from o1_retriever.model import prompts
from o1_retriever.model.thinkers import ThinkRequest, build_thinker
from o1_retriever.retrieval.fusion import Fusion
from o1_retriever.trainer.adapt import passages as passage_stage
from o1_retriever.trainer.adapt.pairs import CorpusSearch, source_rank
from o1_retriever.trainer.adapt.questions import QuestionSettings, question_of

BUCKETS = ((1, 1, "1"), (2, 5, "2-5"), (6, 20, "6-20"), (21, 100, "21-100"))


def bucket(rank: int | None) -> str:
    for low, high, name in BUCKETS:
        if rank is not None and low <= rank <= high:
            return name
    return "not in 100"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sets", default="scifact,nfcorpus-lite")
    parser.add_argument("--writer", default="smollm2-135m-instruct")
    parser.add_argument("--prompts", default="after,own-words", help="of prompts.QUESTION_PROMPTS")
    parser.add_argument("--passages", type=int, default=48)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--name", required=True)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    writer = build_thinker("local", args.writer, precision="int8")
    base = ThinkThenEmbed.from_pretrained("default")
    fusion = Fusion.of_checkpoint(base.config.fusion)
    settings = QuestionSettings()
    out = {}
    for name in args.sets.split(","):
        documents = load_corpus(DATA / name)
        usable, _ = passage_stage.eligible(documents)
        chosen = passage_stage.sample(usable, args.passages, args.seed)
        texts = [passage_stage.passage_text(d) for d in chosen]
        search = CorpusSearch(base, documents)
        for prompt in args.prompts.split(","):
            began = time.perf_counter()
            requests = [
                ThinkRequest(d.id, messages=tuple(prompts.question_messages(t, (), prompt)))
                for d, t in zip(chosen, texts)
            ]
            answers = writer.think(requests, settings.sampling)
            seconds = (time.perf_counter() - began) / len(chosen)
            outcomes: Counter = Counter()
            asked = []
            for document, text, answer in zip(chosen, texts, answers):
                question, why = question_of(answer, text)
                outcomes[why or "usable"] += 1
                if question:
                    asked.append((document.id, question))
            ranks: Counter = Counter()
            examples = []
            if asked:
                keys = [f"q{i}" for i in range(len(asked))]
                questions = [q for _, q in asked]
                dense = search.dense(keys, search.query_vectors(questions, base.default_encoding))
                fused = search.hybrid(dense, search.lexical(keys, questions), fusion)
                for key, (source, question) in zip(keys, asked):
                    rank = source_rank(source, fused[key])
                    ranks[bucket(rank)] += 1
                    examples.append({"passage": source, "question": question, "rank": rank})
            out[f"{name}:{prompt}"] = {
                "outcomes": dict(outcomes),
                "source_rank": {b: ranks[b] for _, _, b in BUCKETS} | {"not in 100": ranks["not in 100"]},
                "seconds_per_passage": round(seconds, 2),
                "examples": examples,
            }
            shown = {k: v for k, v in out[f"{name}:{prompt}"].items() if k != "examples"}
            print(name, prompt, shown, flush=True)
    command = (
        f"python -m bench.question_difficulty --sets {args.sets} --writer {args.writer} --prompts {args.prompts} "
        f"--passages {args.passages} --seed {args.seed} --threads {args.threads} --name {args.name}"
    )
    write(args.name, {"command": command, "results": out})


if __name__ == "__main__":
    main()
