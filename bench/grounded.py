"""Look, then think (issue 14, step 3), a probe: the untrained chat thinker reads the first round's top passages
before it writes its thoughts, then ``evaluate`` runs as usual (o1 = query + grounded thoughts; hybrid = o1 fused
with BM25). The first round is an earlier evaluation's run (e.g. ``dense-hybrid``, no thinking) of the same queries.

Grounded thoughts must not share the thought cache with thoughts from memory or with other groundings (the cache
keys thoughts by query and thinker, not by prompt): the run gets a home of its own, ``OUT/home``, whose ``models/``
and ``corpus-vectors/`` link to the usual home's (weights and document vectors are shared).

python -m bench.grounded --data ../shared/data/scifact \
    --first-round runs/dev-memory-scifact/runs/dense-hybrid.trec --model data/dev-default \
    --out runs/dev-grounded-scifact
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
from pathlib import Path

from bench.compare import read_trec
from o1_retriever.model import prompts
from o1_retriever.data import load_corpus, load_queries
from o1_retriever.retrieval.fusion import ranking
from o1_retriever.model.weights import home_dir


def top_passages(data: str, first_round: Path, n: int, words: int) -> dict[str, list[str]]:
    """{query text: the first ``words`` words of each of its ``n`` best documents in ``first_round`` (ties broken as
    ``metrics.ranking`` breaks them)}."""
    corpus = {d.id: d for d in load_corpus(data)}
    queries = load_queries(data)
    out = {}
    for query, docs in read_trec(first_round).items():
        best = [corpus[doc] for doc, _ in ranking(docs, n)]
        out[queries[query]] = [" ".join(prompts.document_text(d.text, d.title).split()[:words]) for d in best]
    return out


def grounded_messages(passages: dict[str, list[str]], plain=prompts.thinking_messages):
    """``prompts.thinking_messages`` with the query's passages before the instruction (queries without: as before)."""

    def messages(query: str, examples=()) -> list[dict[str, str]]:
        if examples or query not in passages:
            return plain(query, examples)
        context = "\n".join(f"[{i + 1}] {text}" for i, text in enumerate(passages[query]))
        content = f"Passages from the collection:\n{context}\n\n{prompts.CHAT_THINKING_INSTRUCTION}\n\nQuery: {query}"
        return [{"role": "user", "content": content}]

    return messages


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="BEIR folder")
    parser.add_argument("--first-round", required=True, type=Path, help="TREC run whose top passages are read")
    parser.add_argument("--model", default="default", help="a checkpoint whose thinker is the untrained chat model")
    parser.add_argument("--passages", type=int, default=3, help="passages read per query")
    parser.add_argument("--words", type=int, default=40, help="words read of each passage")
    parser.add_argument("--split", default="train")
    parser.add_argument("--max-queries", type=int, default=150)
    parser.add_argument("--systems", default="bm25,dense,o1,dense-hybrid,hybrid")
    parser.add_argument("--out", required=True, type=Path)
    args = parser.parse_args()
    usual = home_dir()
    home = args.out.resolve() / "home"
    home.mkdir(parents=True, exist_ok=True)
    for shared in ("models", "corpus-vectors"):
        if not (home / shared).exists():
            (usual / shared).mkdir(parents=True, exist_ok=True)
            (home / shared).symlink_to(usual / shared)
    os.environ["O1_RETRIEVER_HOME"] = str(home)  # a thought cache of this grounding's own
    prompts.thinking_messages = grounded_messages(top_passages(args.data, args.first_round, args.passages, args.words))
    from o1_retriever.cli import app

    evaluate = ["--threads", "2", "evaluate", "--data", args.data, "--split", args.split, "--model", args.model]
    evaluate += ["--max-queries", str(args.max_queries), "--systems", args.systems, "--out", str(args.out)]
    try:
        app(evaluate)
    except SystemExit as done:
        if done.code:
            raise
    results = args.out / "results.json"
    summary = json.loads(results.read_text())
    summary["command"] = "python -m bench.grounded " + shlex.join(sys.argv[1:])
    summary["grounding"] = {"first_round": str(args.first_round), "passages": args.passages, "words": args.words}
    results.write_text(json.dumps(summary, indent=2) + "\n")


if __name__ == "__main__":
    main()
